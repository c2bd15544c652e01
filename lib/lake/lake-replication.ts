import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { ReplicableZone, ReplicaStorageClass } from '../config.ts';
import { acknowledge, nagReference } from '../nag.ts';
import type { TelemetryLake } from './telemetry-lake.ts';

/**
 * Minutes of S3 Replication Time Control: the only value S3 accepts, for the replication time and
 * for the metrics' event threshold alike (AWS: S3 RTC replicates 99.99 % of new objects within it).
 */
export const REPLICATION_TIME_CONTROL_MINUTES = 15;
/** Id of the one replication rule each replicated bucket carries. */
export const REPLICATION_RULE_ID = 'disaster-recovery';

/**
 * Name of the replica bucket of `zone` in `destinationRegion`. Both stacks derive it, so the
 * replication rule names its destination without a cross-region reference; the account and the
 * region keep it unique among S3's global bucket names.
 */
export function replicaBucketName(
  namePrefix: string,
  zone: ReplicableZone,
  destinationRegion: string,
): string {
  return `${namePrefix}-${zone}-replica-${Aws.ACCOUNT_ID}-${destinationRegion}`;
}

/** The ARN of the replica bucket of `zone`. */
export function replicaBucketArn(
  namePrefix: string,
  zone: ReplicableZone,
  destinationRegion: string,
): string {
  return `arn:${Aws.PARTITION}:s3:::${replicaBucketName(namePrefix, zone, destinationRegion)}`;
}

/** The alias of the key that encrypts the replicas, created in the destination region. */
export function replicaKeyAlias(namePrefix: string): string {
  return `alias/${namePrefix}-lake-replica`;
}

/** The alias ARN S3 resolves to the replica key (a key ARN is only known after the replica stack deploys). */
export function replicaKeyAliasArn(namePrefix: string, destinationRegion: string): string {
  return `arn:${Aws.PARTITION}:kms:${destinationRegion}:${Aws.ACCOUNT_ID}:${replicaKeyAlias(namePrefix)}`;
}

export interface LakeReplicationProps {
  /** The lake whose buckets are replicated. */
  readonly lake: TelemetryLake;
  /** Prefix of the replica buckets' names and of the replica key's alias, e.g. `sdap-prod`. */
  readonly namePrefix: string;
  /** Region of the replica stack ({@link LakeReplica}); not the region of this stack. */
  readonly destinationRegion: string;
  /** The zones replicated, each into its own replica bucket. */
  readonly zones: readonly ReplicableZone[];
  /** Adds S3 Replication Time Control (15 minutes) and its metrics to each rule. */
  readonly replicationTimeControl: boolean;
  /** Storage class of the replicas. */
  readonly storageClass: ReplicaStorageClass;
}

/**
 * Replicates lake buckets into the replica buckets a {@link LakeReplica} keeps in another region:
 * one rule per bucket covering every object, SSE-KMS objects included and re-encrypted with the
 * replica key, optionally under S3 Replication Time Control. The replication role may read object
 * versions of the replicated buckets only, decrypt with the lake key only through S3 for those
 * buckets, replicate into the replica buckets only, and encrypt only with the key behind the replica
 * alias, through S3 in the destination region.
 *
 * Delete markers are replicated. The ETL overwrites a partition by deleting its old files, so a
 * replica that kept them would restore duplicate curated rows; and the erasure procedure deletes
 * objects that held only the erased subject, which the replica must forget too. A delete marker is
 * itself undone by deleting it, in both regions, while the noncurrent versions last. Deleting a
 * version permanently (by version id) is never replicated by S3: a replica survives it.
 */
export class LakeReplication extends Construct {
  /** The role S3 assumes to replicate. */
  public readonly role: iam.Role;
  /** The replicated zones and the ARNs of their replica buckets. */
  public readonly destinations: ReadonlyMap<ReplicableZone, string>;

  constructor(scope: Construct, id: string, props: LakeReplicationProps) {
    super(scope, id);
    const { lake, namePrefix, destinationRegion, zones } = props;
    if (zones.length === 0) {
      throw new Error('LakeReplication: received no zones, expected at least one of the lake zones');
    }
    const sourceRegion = Stack.of(this).region;
    this.role = new iam.Role(this, 'Role', {
      description: `S3 replication of the lake into ${destinationRegion}`,
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
    });
    const destinations = new Map<ReplicableZone, string>();
    const sources = zones.map((zone) => {
      const bucket = bucketOfZone(lake, zone);
      const destination = replicaBucketArn(namePrefix, zone, destinationRegion);
      destinations.set(zone, destination);
      (bucket.node.defaultChild as s3.CfnBucket).replicationConfiguration = {
        role: this.role.roleArn,
        rules: [
          {
            id: REPLICATION_RULE_ID,
            status: 'Enabled',
            priority: 1,
            filter: { prefix: '' },
            deleteMarkerReplication: { status: 'Enabled' },
            sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: 'Enabled' } },
            destination: {
              bucket: destination,
              storageClass: props.storageClass,
              encryptionConfiguration: {
                replicaKmsKeyId: replicaKeyAliasArn(namePrefix, destinationRegion),
              },
              ...(props.replicationTimeControl && {
                replicationTime: { status: 'Enabled', time: { minutes: REPLICATION_TIME_CONTROL_MINUTES } },
                metrics: { status: 'Enabled', eventThreshold: { minutes: REPLICATION_TIME_CONTROL_MINUTES } },
              }),
            },
          },
        ],
      };
      return { zone, bucket, destination };
    });
    this.destinations = destinations;

    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: sources.map(({ bucket }) => bucket.bucketArn),
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
        ],
        resources: sources.map(({ bucket }) => bucket.arnForObjects('*')),
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'],
        resources: sources.map(({ destination }) => `${destination}/*`),
      }),
    );
    // With bucket keys the encryption context is the bucket's ARN; an object's ARN otherwise.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [lake.key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${sourceRegion}.amazonaws.com` },
          StringLike: {
            'kms:EncryptionContext:aws:s3:arn': sources.flatMap(({ bucket }) => [
              bucket.bucketArn,
              bucket.arnForObjects('*'),
            ]),
          },
        },
      }),
    );
    const replicaKeys = `arn:${Aws.PARTITION}:kms:${destinationRegion}:${Aws.ACCOUNT_ID}:key/*`;
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [replicaKeys],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${destinationRegion}.amazonaws.com` },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': replicaKeyAlias(namePrefix) },
        },
      }),
    );

    const account = '<AWS::AccountId>';
    for (const { zone, bucket } of sources) {
      acknowledge(
        this.role,
        `AwsSolutions-IAM5[Resource::${nagReference(bucket.node.defaultChild as s3.CfnBucket)}/*]`,
        `Replication reads every object version of the ${zone} bucket, whose keys are not known in advance.`,
      );
      acknowledge(
        this.role,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${namePrefix}-${zone}-replica-${account}-${destinationRegion}/*]`,
        `Replication writes every object of the ${zone} zone into its replica bucket, keys not known in advance.`,
      );
    }
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:${destinationRegion}:${account}:key/*]`,
      "The replica key's id exists only in the destination region's stack; the kms:ResourceAliases condition limits the grant to the key behind the replica alias.",
    );
  }
}

function bucketOfZone(lake: TelemetryLake, zone: ReplicableZone): s3.Bucket {
  return zone === 'failures' ? lake.failuresBucket : lake.bucketOf(zone);
}
