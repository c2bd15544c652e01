import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.ts';

/** Provisioned shards (fixed throughput, cheapest for a small steady fleet) or on-demand (scales itself). */
export type TelemetryStreamCapacity =
  | { readonly mode: 'on-demand' }
  | { readonly mode: 'provisioned'; readonly shardCount: number };

export const DEFAULT_STREAM_CAPACITY: TelemetryStreamCapacity = { mode: 'on-demand' };
export const DEFAULT_STREAM_RETENTION_HOURS = 24;

export interface TelemetryStreamProps {
  /**
   * Encrypts the stream at rest. Producers then need `kms:GenerateDataKey` and consumers
   * `kms:Decrypt` on it.
   * @default - a new customer-managed key with rotation
   */
  readonly encryptionKey?: kms.IKey;
  /** @default {@link DEFAULT_STREAM_CAPACITY} = {"mode":"on-demand"} */
  readonly capacity?: TelemetryStreamCapacity;
  /**
   * How long the stream keeps records (24 to 8760 hours): the replay window, and the horizon the
   * consumer's maximum record age and the iterator-age alarm are derived from.
   * @default {@link DEFAULT_STREAM_RETENTION_HOURS} = 24
   */
  readonly retentionHours?: number;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** The Kinesis data stream between the IoT rule and the validator, partitioned by device. */
export class TelemetryStream extends Construct {
  public readonly stream: kinesis.Stream;
  public readonly encryptionKey: kms.IKey;
  /** The configured retention, for the thresholds derived from it. */
  public readonly retention: Duration;

  constructor(scope: Construct, id: string, props: TelemetryStreamProps = {}) {
    super(scope, id);
    const capacity = props.capacity ?? DEFAULT_STREAM_CAPACITY;
    const retentionHours = props.retentionHours ?? DEFAULT_STREAM_RETENTION_HOURS;
    if (!Number.isInteger(retentionHours) || retentionHours < 24 || retentionHours > 8760) {
      throw new Error(
        `TelemetryStream retentionHours: received ${retentionHours}, expected an integer from 24 to 8760`,
      );
    }
    this.retention = Duration.hours(retentionHours);
    this.encryptionKey =
      props.encryptionKey ??
      new kms.Key(this, 'Key', {
        description: 'Encrypts the telemetry stream',
        enableKeyRotation: true,
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      });
    this.stream = new kinesis.Stream(this, 'Stream', {
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: this.encryptionKey,
      retentionPeriod: this.retention,
      streamMode:
        capacity.mode === 'on-demand' ? kinesis.StreamMode.ON_DEMAND : kinesis.StreamMode.PROVISIONED,
      shardCount: capacity.mode === 'provisioned' ? capacity.shardCount : undefined,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.stream,
      'AwsSolutions-KDS3',
      'A customer-managed key on purpose: its key policy and rotation are ours, producers and consumers need explicit kms grants, and key use is auditable per principal.',
    );
  }

  /**
   * Lets `grantee` put single records (the IoT rule's Kinesis action uses PutRecord) with the data
   * key the stream's encryption needs; no read, no PutRecords.
   */
  public grantPutRecord(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [this.stream.streamArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [this.encryptionKey.keyArn] }),
    );
  }
}
