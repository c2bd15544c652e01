import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { ReplicableZone, StageConfig } from './config.ts';
import { LakeReplica } from './lake/lake-replica.ts';
import type { BucketLifecycle } from './lake/telemetry-lake.ts';

export interface LakeReplicaStackProps extends StackProps {
  /** The stage whose lake is replicated; its `disasterRecovery.replication` must be enabled. */
  readonly config: StageConfig;
}

/** The stack name of a stage's replicas: `Sdap-prod-replica`. */
export function replicaStackNameOf(stage: string): string {
  return `Sdap-${stage}-replica`;
}

/**
 * The second region of a stage: the replicas of its lake. Deployed before the stage's own stack,
 * whose replication rules need the replica buckets and key to exist.
 */
export class LakeReplicaStack extends Stack {
  public readonly replica: LakeReplica;

  constructor(scope: Construct, id: string, props: LakeReplicaStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { replication } = config.disasterRecovery;
    if (!replication.enabled || replication.destinationRegion === null) {
      throw new Error(
        `LakeReplicaStack: stage '${config.stage}' has disasterRecovery.replication.enabled ${replication.enabled} and destinationRegion ${replication.destinationRegion}, expected replication enabled into a region`,
      );
    }
    const lifecycles: Record<ReplicableZone, BucketLifecycle> = {
      raw: config.lake.raw,
      quarantine: config.lake.quarantine,
      failures: config.lake.failures,
      curated: config.lake.curated,
    };
    this.replica = new LakeReplica(this, 'LakeReplica', {
      namePrefix: `sdap-${config.stage}`,
      region: replication.destinationRegion,
      zones: new Map(replication.zones.map((zone) => [zone, lifecycles[zone]])),
      storageClass: replication.storageClass,
      noncurrentVersionExpireAfterDays: config.lake.noncurrentVersionExpireAfterDays,
      accessLogsExpireAfterDays: config.lake.accessLogsExpireAfterDays,
      removalPolicy: config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    for (const [zone, bucket] of this.replica.buckets) {
      new CfnOutput(this, `${zone.charAt(0).toUpperCase()}${zone.slice(1)}ReplicaBucketName`, {
        value: bucket.bucketName,
        description: `Replica of the ${zone} bucket`,
      });
    }
    new CfnOutput(this, 'ReplicaKeyArn', {
      value: this.replica.key.keyArn,
      description: 'KMS key of the replicas (a restore copying out of them needs kms:Decrypt on it)',
    });
  }
}
