/**
 * The lake's cross-region replication: the rules on the source buckets, the replication role's exact
 * permissions, and the replica buckets of the destination region's stack.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LakeReplica } from '../../../lib/lake/lake-replica.ts';
import {
  LakeReplication,
  REPLICATION_RULE_ID,
  REPLICATION_TIME_CONTROL_MINUTES,
  replicaKeyAlias,
} from '../../../lib/lake/lake-replication.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import {
  flatten,
  nagFindings,
  resourceOf,
  type StatementJson,
  statementsOfRole,
  testApp,
} from '../support/cdk.ts';

const DESTINATION = 'eu-central-1';
// References as `flatten` (and cdk-nag) spell them.
const ACCOUNT = '<AWS::AccountId>';
const PARTITION = '<AWS::Partition>';

function build(options: {
  replicationTimeControl: boolean;
  zones?: ('raw' | 'quarantine' | 'failures' | 'curated')[];
}) {
  const stack = new Stack(testApp(), 'Source');
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const replication = new LakeReplication(stack, 'LakeReplication', {
    lake,
    namePrefix: 'sdap-test',
    destinationRegion: DESTINATION,
    zones: options.zones ?? ['raw', 'quarantine', 'failures', 'curated'],
    replicationTimeControl: options.replicationTimeControl,
    storageClass: 'STANDARD',
  });
  return { stack, lake, replication, template: Template.fromStack(stack) };
}

describe('LakeReplication', () => {
  let built: ReturnType<typeof build>;

  beforeAll(() => {
    built = build({ replicationTimeControl: true });
  });

  it.each([
    ['LakeRawBucket', 'raw'],
    ['LakeQuarantineBucket', 'quarantine'],
    ['LakeFailuresBucket', 'failures'],
    ['LakeCuratedBucket', 'curated'],
  ])(
    'replicates %s into its replica bucket, re-encrypted with the replica key, under Replication Time Control',
    (prefix, zone) => {
      // Act
      const bucket = resourceOf(built.template, 'AWS::S3::Bucket', prefix).properties;
      const [rule] = bucket.ReplicationConfiguration.Rules;

      // Assess
      expect(bucket.ReplicationConfiguration.Role).toEqual({
        'Fn::GetAtt': [resourceOf(built.template, 'AWS::IAM::Role', 'LakeReplicationRole').id, 'Arn'],
      });
      expect(bucket.ReplicationConfiguration.Rules).toHaveLength(1);
      expect(flatten(rule.Destination.Bucket)).toBe(
        `arn:${PARTITION}:s3:::sdap-test-${zone}-replica-${ACCOUNT}-${DESTINATION}`,
      );
      expect(flatten(rule.Destination.EncryptionConfiguration.ReplicaKmsKeyID)).toBe(
        `arn:${PARTITION}:kms:${DESTINATION}:${ACCOUNT}:alias/sdap-test-lake-replica`,
      );
      built.template.hasResource('AWS::S3::Bucket', {
        Properties: Match.objectLike({
          ReplicationConfiguration: {
            Role: Match.anyValue(),
            Rules: [
              Match.objectLike({
                Id: REPLICATION_RULE_ID,
                Status: 'Enabled',
                Filter: { Prefix: '' },
                DeleteMarkerReplication: { Status: 'Enabled' },
                SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
                Destination: Match.objectLike({
                  Bucket: rule.Destination.Bucket,
                  StorageClass: 'STANDARD',
                  EncryptionConfiguration: {
                    ReplicaKmsKeyID: rule.Destination.EncryptionConfiguration.ReplicaKmsKeyID,
                  },
                  ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
                  Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
                }),
              }),
            ],
          },
        }),
      });
      expect(REPLICATION_TIME_CONTROL_MINUTES).toBe(15);
    },
  );

  it('leaves the access-log bucket unreplicated', () => {
    expect(
      resourceOf(built.template, 'AWS::S3::Bucket', 'LakeAccessLogsBucket').properties,
    ).not.toHaveProperty('ReplicationConfiguration');
  });

  it('lets only S3 assume the replication role', () => {
    built.template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({ Action: 'sts:AssumeRole', Principal: { Service: 's3.amazonaws.com' } }),
        ],
      },
    });
  });

  describe('the replication role', () => {
    let statements: StatementJson[];
    const byAction = (action: string) =>
      statements.filter((statement) => [statement.Action].flat().includes(action));

    beforeAll(() => {
      statements = statementsOfRole(built.template, 'LakeReplicationRole');
    });

    it('grants exactly the replication actions, the lake key decrypt and the replica key encrypt', () => {
      expect(statements.map((statement) => [statement.Action].flat().sort())).toEqual([
        ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        ['s3:GetObjectVersionAcl', 's3:GetObjectVersionForReplication', 's3:GetObjectVersionTagging'],
        ['s3:ReplicateDelete', 's3:ReplicateObject', 's3:ReplicateTags'],
        ['kms:Decrypt'],
        ['kms:Encrypt', 'kms:GenerateDataKey'],
      ]);
      expect(statements.every((statement) => statement.Effect === 'Allow')).toBe(true);
    });

    it('reads object versions of the four replicated buckets only', () => {
      const [read] = byAction('s3:GetObjectVersionForReplication');
      const resources = [read?.Resource].flat().map(flatten);
      expect(resources).toHaveLength(4);
      for (const bucket of [
        'LakeRawBucket',
        'LakeQuarantineBucket',
        'LakeFailuresBucket',
        'LakeCuratedBucket',
      ]) {
        const id = resourceOf(built.template, 'AWS::S3::Bucket', bucket).id;
        expect(resources).toContain(`<${id}.Arn>/*`);
      }
    });

    it('writes replicas into the replica buckets only', () => {
      const [write] = byAction('s3:ReplicateObject');
      expect([write?.Resource].flat().map(flatten).sort()).toEqual(
        ['curated', 'failures', 'quarantine', 'raw'].map(
          (zone) => `arn:${PARTITION}:s3:::sdap-test-${zone}-replica-${ACCOUNT}-${DESTINATION}/*`,
        ),
      );
    });

    it('decrypts with the lake key only through S3 in its own region, for the replicated buckets', () => {
      const [decrypt] = byAction('kms:Decrypt');
      expect(decrypt?.Resource).toEqual({
        'Fn::GetAtt': [resourceOf(built.template, 'AWS::KMS::Key', 'LakeKey').id, 'Arn'],
      });
      expect(flatten(decrypt?.Condition?.StringEquals?.['kms:ViaService'])).toBe(
        's3.<AWS::Region>.amazonaws.com',
      );
      expect(decrypt?.Condition?.StringLike?.['kms:EncryptionContext:aws:s3:arn']).toHaveLength(8);
    });

    it('encrypts only with the key behind the replica alias, through S3 in the destination region', () => {
      const [encrypt] = byAction('kms:Encrypt');
      expect(flatten(encrypt?.Resource)).toBe(`arn:${PARTITION}:kms:${DESTINATION}:${ACCOUNT}:key/*`);
      expect(encrypt?.Condition).toEqual({
        StringEquals: { 'kms:ViaService': `s3.${DESTINATION}.amazonaws.com` },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': replicaKeyAlias('sdap-test') },
      });
    });
  });

  it('has no unacknowledged cdk-nag finding', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });

  it('leaves Replication Time Control out when switched off', () => {
    // Act
    const { template } = build({ replicationTimeControl: false, zones: ['raw'] });
    const bucket = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').properties;

    // Assess
    expect(bucket.ReplicationConfiguration.Rules[0].Destination).not.toHaveProperty('ReplicationTime');
    expect(bucket.ReplicationConfiguration.Rules[0].Destination).not.toHaveProperty('Metrics');
    expect(resourceOf(template, 'AWS::S3::Bucket', 'LakeCuratedBucket').properties).not.toHaveProperty(
      'ReplicationConfiguration',
    );
  });

  it('fails when no zone is given', () => {
    expect(() => build({ replicationTimeControl: true, zones: [] })).toThrow(
      'LakeReplication: received no zones, expected at least one of the lake zones',
    );
  });
});

describe('LakeReplica', () => {
  let stack: Stack;
  let template: Template;

  beforeAll(() => {
    stack = new Stack(testApp(), 'Replica', { env: { region: DESTINATION } });
    new LakeReplica(stack, 'LakeReplica', {
      namePrefix: 'sdap-test',
      region: DESTINATION,
      zones: new Map([
        ['raw', { infrequentAccessAfterDays: 30, archiveAfterDays: 90, expireAfterDays: 1095 }],
        ['curated', { infrequentAccessAfterDays: null, archiveAfterDays: null, expireAfterDays: 30 }],
      ]),
      storageClass: 'STANDARD',
      noncurrentVersionExpireAfterDays: 30,
    });
    template = Template.fromStack(stack);
  });

  it('keeps a rotating key under the alias the replication rules name', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/sdap-test-lake-replica' });
  });

  it.each([
    ['LakeReplicaRawBucket', 'raw'],
    ['LakeReplicaCuratedBucket', 'curated'],
  ])('names %s as the source expects, versioned and encrypted with the replica key', (prefix, zone) => {
    // Act
    const bucket = resourceOf(template, 'AWS::S3::Bucket', prefix).properties;

    // Assess
    expect(flatten(bucket.BucketName)).toBe(`sdap-test-${zone}-replica-${ACCOUNT}-${DESTINATION}`);
    expect(bucket.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
      {
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: {
          SSEAlgorithm: 'aws:kms',
          KMSMasterKeyID: { 'Fn::GetAtt': [resourceOf(template, 'AWS::KMS::Key').id, 'Arn'] },
        },
      },
    ]);
  });

  it('ages each replica like its source: same steps and expiry, noncurrent versions gone after 30 days', () => {
    expect(
      resourceOf(template, 'AWS::S3::Bucket', 'LakeReplicaRawBucket').properties.LifecycleConfiguration
        .Rules[0],
    ).toMatchObject({
      ExpirationInDays: 1095,
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
      ],
    });
    expect(
      resourceOf(template, 'AWS::S3::Bucket', 'LakeReplicaCuratedBucket').properties.LifecycleConfiguration
        .Rules[0],
    ).toMatchObject({ ExpirationInDays: 30, NoncurrentVersionExpiration: { NoncurrentDays: 30 } });
  });

  it('creates only the replicated zones (plus the access logs) and retains them', () => {
    expect(Object.keys(template.findResources('AWS::S3::Bucket'))).toHaveLength(3);
    for (const [, bucket] of Object.entries(template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.DeletionPolicy).toBe('Retain');
    }
  });

  it('takes only the expiry of the source lifecycle when replicas arrive in a colder class', () => {
    // Prepare
    const cold = new Stack(testApp(), 'Cold', { env: { region: DESTINATION } });
    new LakeReplica(cold, 'LakeReplica', {
      namePrefix: 'sdap-test',
      region: DESTINATION,
      zones: new Map([
        ['raw', { infrequentAccessAfterDays: 30, archiveAfterDays: 90, expireAfterDays: 1095 }],
      ]),
      storageClass: 'GLACIER_IR',
    });

    // Act
    const rule = resourceOf(Template.fromStack(cold), 'AWS::S3::Bucket', 'LakeReplicaRawBucket').properties
      .LifecycleConfiguration.Rules[0];

    // Assess
    expect(rule.ExpirationInDays).toBe(1095);
    expect(rule).not.toHaveProperty('Transitions');
  });

  it('has no unacknowledged cdk-nag finding', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
