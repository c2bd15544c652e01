import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import type { ReplicableZone, ReplicaStorageClass } from '../config.ts';
import { acknowledge } from '../nag.ts';
import { replicaBucketName, replicaKeyAlias } from './lake-replication.ts';
import {
  type BucketLifecycle,
  DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
  DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS,
  lifecycleRule,
} from './telemetry-lake.ts';

// The lake's defaults are the replica's: re-exported as this construct's own.
export { DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS, DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS };

export interface LakeReplicaProps {
  /** The prefix the source stack's {@link LakeReplication} names the replicas with, e.g. `sdap-prod`. */
  readonly namePrefix: string;
  /** The region this replica lives in (its stack's region). */
  readonly region: string;
  /** The replicated zones, each with the lifecycle of its source bucket. */
  readonly zones: ReadonlyMap<ReplicableZone, BucketLifecycle>;
  /**
   * Storage class the replicas arrive in. Only replicas arriving in S3 Standard take the source's
   * storage-class steps; every replica takes its expiry.
   */
  readonly storageClass: ReplicaStorageClass;
  /**
   * Days a replaced or deleted replica version is kept, as in the source lake.
   * @default {@link DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS} = 30
   */
  readonly noncurrentVersionExpireAfterDays?: number;
  /** @default {@link DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS} = 365 */
  readonly accessLogsExpireAfterDays?: number;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The lake's replicas in a second region: one versioned bucket per replicated zone (S3 replication
 * requires versioning on both sides), encrypted with a key of this region found by its alias, TLS
 * only, public access blocked, access-logged; each replica ages like its source (S3 does not
 * replicate lifecycle expiries, so the replica expires objects itself).
 */
export class LakeReplica extends Construct {
  /** Encrypts the replicas; the source's replication role finds it by {@link replicaKeyAlias}. */
  public readonly key: kms.Key;
  public readonly buckets: ReadonlyMap<ReplicableZone, s3.Bucket>;
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: LakeReplicaProps) {
    super(scope, id);
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    const noncurrentDays =
      props.noncurrentVersionExpireAfterDays ?? DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS;

    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts the ${props.namePrefix} lake replicas`,
      alias: replicaKeyAlias(props.namePrefix),
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: destroy ? Duration.days(7) : Duration.days(30),
    });

    const common: s3.BucketProps = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      removalPolicy,
      autoDeleteObjects: destroy,
    };
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      ...common,
      encryption: s3.BucketEncryption.S3_MANAGED,
      lifecycleRules: [
        lifecycleRule(
          {
            infrequentAccessAfterDays: null,
            archiveAfterDays: null,
            expireAfterDays: props.accessLogsExpireAfterDays ?? DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
          },
          noncurrentDays,
        ),
      ],
    });
    acknowledge(
      this.accessLogsBucket,
      'AwsSolutions-S1',
      'This is the server access log bucket of the replicas; logging its own access would log every log delivery.',
    );

    const buckets = new Map<ReplicableZone, s3.Bucket>();
    for (const [zone, lifecycle] of props.zones) {
      const aged: BucketLifecycle =
        props.storageClass === 'STANDARD'
          ? lifecycle
          : {
              infrequentAccessAfterDays: null,
              archiveAfterDays: null,
              expireAfterDays: lifecycle.expireAfterDays,
            };
      buckets.set(
        zone,
        new s3.Bucket(this, `${zone.charAt(0).toUpperCase()}${zone.slice(1)}Bucket`, {
          ...common,
          bucketName: replicaBucketName(props.namePrefix, zone, props.region),
          encryption: s3.BucketEncryption.KMS,
          encryptionKey: this.key,
          bucketKeyEnabled: true,
          serverAccessLogsBucket: this.accessLogsBucket,
          serverAccessLogsPrefix: `${zone}/`,
          lifecycleRules: [lifecycleRule(aged, noncurrentDays)],
        }),
      );
    }
    this.buckets = buckets;
  }
}
