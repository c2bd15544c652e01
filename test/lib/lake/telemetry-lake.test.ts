import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_TYPES } from '../../../lambdas/shared/contract.ts';
import {
  ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS,
  DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
  DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS,
  FAILURE_PREFIXES,
  KEEP_FOREVER,
  RAW_TABLE_NAME,
  TelemetryLake,
} from '../../../lib/lake/telemetry-lake.ts';
import { flatten, grantsOf, nagFindings, resourceOf, statementsOfRole, testStack } from '../support/cdk.ts';

const DATA_BUCKETS = ['LakeRawBucket', 'LakeQuarantineBucket', 'LakeFailuresBucket', 'LakeCuratedBucket'];

describe('TelemetryLake', () => {
  let stack: Stack;
  let lake: TelemetryLake;
  let template: Template;

  beforeAll(() => {
    stack = testStack();
    lake = new TelemetryLake(stack, 'Lake', {
      databaseName: 'sdap_test',
      removalPolicy: RemovalPolicy.DESTROY,
      rawLifecycle: { infrequentAccessAfterDays: 30, archiveAfterDays: 90, expireAfterDays: 1095 },
    });
    const writer = new iam.Role(stack, 'Writer', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    lake.grantWriteRaw(writer);
    lake.grantWriteAlerts(writer);
    lake.grantWriteQuarantine(writer);
    const ruleRole = new iam.Role(stack, 'RuleRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com'),
    });
    lake.grantWriteIotRuleErrors(ruleRole);
    const etlRole = new iam.Role(stack, 'EtlRole', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
    });
    lake.grantRead(etlRole, 'raw', ['telemetry/', 'iot-registry/things.ndjson'], 'raw readings');
    lake.grantReadWriteCurated(etlRole, ['hourly/', 'etl-runs/'], 'hourly tables');
    lake.allowLogGroupEncryption('/aws-glue/jobs/*');
    lake.allowLogGroupEncryption('/aws/vendedlogs/states/test');
    template = Template.fromStack(stack);
  });

  it('encrypts with a customer-managed key that rotates', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it.each(DATA_BUCKETS)('encrypts %s with the lake key and a bucket key', (prefix) => {
    // Act
    const bucket = resourceOf(template, 'AWS::S3::Bucket', prefix).properties;

    // Assess
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
      {
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: {
          SSEAlgorithm: 'aws:kms',
          KMSMasterKeyID: { 'Fn::GetAtt': [resourceOf(template, 'AWS::KMS::Key').id, 'Arn'] },
        },
      },
    ]);
    expect(bucket.LoggingConfiguration.DestinationBucketName).toEqual({
      Ref: resourceOf(template, 'AWS::S3::Bucket', 'LakeAccessLogsBucket').id,
    });
  });

  it('encrypts the access-log bucket with SSE-S3, which log delivery supports', () => {
    expect(
      resourceOf(template, 'AWS::S3::Bucket', 'LakeAccessLogsBucket').properties.BucketEncryption,
    ).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
  });

  it('blocks public access and versions every bucket', () => {
    const buckets = Object.values(template.findResources('AWS::S3::Bucket'));
    expect(buckets).toHaveLength(5);
    for (const bucket of buckets) {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    }
  });

  it('denies every request without TLS on every bucket', () => {
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(5);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Principal: { AWS: '*' },
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('applies the given lifecycle and bounds noncurrent versions', () => {
    expect(
      resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').properties.LifecycleConfiguration.Rules,
    ).toEqual([
      {
        Id: 'tiering-and-expiry',
        Status: 'Enabled',
        Transitions: [
          { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
          { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
        ],
        ExpirationInDays: 1095,
        NoncurrentVersionExpiration: { NoncurrentDays: DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS },
      },
    ]);
  });

  it('keeps objects forever by default, expiring only old versions and access logs', () => {
    // Assess
    expect(KEEP_FOREVER).toEqual({
      infrequentAccessAfterDays: null,
      archiveAfterDays: null,
      expireAfterDays: null,
    });
    const quarantineRule = resourceOf(template, 'AWS::S3::Bucket', 'LakeQuarantineBucket').properties
      .LifecycleConfiguration.Rules[0];
    expect(quarantineRule.ExpirationInDays).toBeUndefined();
    expect(quarantineRule.Transitions).toBeUndefined();
    expect(quarantineRule.NoncurrentVersionExpiration).toEqual({
      NoncurrentDays: DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS,
    });
    expect(
      resourceOf(template, 'AWS::S3::Bucket', 'LakeAccessLogsBucket').properties.LifecycleConfiguration
        .Rules[0].ExpirationInDays,
    ).toBe(DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS);
  });

  it('empties and deletes the buckets only when told to destroy', () => {
    // Prepare
    const retained = new TelemetryLake(testStack('Retained'), 'Lake', { databaseName: 'sdap_retained' });
    const retainedTemplate = Template.fromStack(Stack.of(retained));

    // Assess
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 5);
    retainedTemplate.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    for (const bucket of Object.values(retainedTemplate.findResources('AWS::S3::Bucket'))) {
      expect(bucket.DeletionPolicy).toBe('Retain');
    }
    retainedTemplate.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
  });

  it('counts writes per failure prefix with request metrics', () => {
    expect(
      resourceOf(template, 'AWS::S3::Bucket', 'LakeFailuresBucket').properties.MetricsConfigurations,
    ).toEqual([
      { Id: 'StreamFailures', Prefix: FAILURE_PREFIXES.streamFailures },
      { Id: 'IotRuleErrors', Prefix: FAILURE_PREFIXES.iotRuleErrors },
    ]);
    const metric = stack.resolve(
      lake.metricFailureObjectsWritten('iotRuleErrors').toMetricConfig().metricStat,
    );
    expect(metric).toMatchObject({
      namespace: 'AWS/S3',
      metricName: 'PutRequests',
      statistic: 'Sum',
      dimensions: [
        {
          name: 'BucketName',
          value: { Ref: resourceOf(template, 'AWS::S3::Bucket', 'LakeFailuresBucket').id },
        },
        { name: 'FilterId', value: 'IotRuleErrors' },
      ],
    });
  });

  it('grants writers PutObject on their prefix only, with the data key', () => {
    // Prepare
    const raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;
    const quarantine = resourceOf(template, 'AWS::S3::Bucket', 'LakeQuarantineBucket').id;
    const failures = resourceOf(template, 'AWS::S3::Bucket', 'LakeFailuresBucket').id;
    const key = resourceOf(template, 'AWS::KMS::Key').id;

    // Act
    const writer = statementsOfRole(template, 'Writer');
    const ruleRole = statementsOfRole(template, 'RuleRole');

    // Assess
    expect(writer.flatMap((statement) => [statement.Action].flat()).sort()).toEqual([
      'kms:GenerateDataKey',
      's3:PutObject',
    ]);
    expect(grantsOf(writer, 's3:PutObject').sort()).toEqual([
      `<${quarantine}.Arn>/rejected/*`,
      `<${raw}.Arn>/alerts/*`,
      `<${raw}.Arn>/telemetry/*`,
    ]);
    expect(grantsOf(writer, 'kms:GenerateDataKey')).toEqual([`<${key}.Arn>`]);
    expect(grantsOf(ruleRole, 's3:PutObject')).toEqual([`<${failures}.Arn>/iot-rule-errors/*`]);
  });

  it('grants readers GetObject on their prefixes and keys, listing only under them, with Decrypt', () => {
    // Prepare
    const raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;
    const key = resourceOf(template, 'AWS::KMS::Key').id;

    // Act
    const statements = statementsOfRole(template, 'EtlRole');
    const list = statements.find(
      (statement) => statement.Action === 's3:ListBucket' && flatten(statement.Resource) === `<${raw}.Arn>`,
    );

    // Assess
    expect(
      grantsOf(statements, 's3:GetObject')
        .filter((arn) => arn.startsWith(`<${raw}`))
        .sort(),
    ).toEqual([
      `<${raw}.Arn>/iot-registry/things.ndjson`,
      `<${raw}.Arn>/telemetry`,
      `<${raw}.Arn>/telemetry/*`,
    ]);
    expect(list?.Condition?.StringLike?.['s3:prefix']).toEqual(
      expect.arrayContaining(['telemetry', 'telemetry/*', 'iot-registry/things.ndjson']),
    );
    expect(grantsOf(statements, 'kms:Decrypt')).toContain(`<${key}.Arn>`);
    expect(grantsOf(statements, 's3:PutObject').some((arn) => arn.startsWith(`<${raw}`))).toBe(false);
  });

  it('lets the ETL rewrite exactly its curated prefixes, deleting old partition files', () => {
    // Prepare
    const curated = resourceOf(template, 'AWS::S3::Bucket', 'LakeCuratedBucket').id;
    const expected = [
      `<${curated}.Arn>/etl-runs`,
      `<${curated}.Arn>/etl-runs/*`,
      `<${curated}.Arn>/hourly`,
      `<${curated}.Arn>/hourly/*`,
    ];

    // Act
    const statements = statementsOfRole(template, 'EtlRole');

    // Assess
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']) {
      expect(
        grantsOf(statements, action)
          .filter((arn) => arn.startsWith(`<${curated}`))
          .sort(),
      ).toEqual(expected);
    }
    expect(grantsOf(statements, 'kms:GenerateDataKey')).toHaveLength(1);
  });

  it('fails on a curated grant that is not a prefix, or an empty key pattern', () => {
    const role = new iam.Role(testStack('Bad'), 'Role', { assumedBy: new iam.AccountRootPrincipal() });
    expect(() => lake.grantReadWriteCurated(role, ['hourly'], 'x')).toThrow(
      `grantReadWriteCurated: received ["hourly"], expected prefixes ending in '/'`,
    );
    expect(() => lake.grantRead(role, 'raw', [''], 'x')).toThrow(/expected one or more keys or prefixes/);
  });

  it('lets CloudWatch Logs use the key for the named log groups only, in one key-policy statement', () => {
    // Act
    const statement = (
      resourceOf(template, 'AWS::KMS::Key').properties.KeyPolicy.Statement as {
        Sid?: string;
        Condition?: Record<string, Record<string, unknown[]>>;
      }[]
    ).filter((candidate) => candidate.Sid === 'CloudWatchLogsEncryptLogGroups');

    // Assess
    expect(statement).toHaveLength(1);
    expect(statement[0]?.Condition?.ArnLike?.['kms:EncryptionContext:aws:logs:arn']?.map(flatten)).toEqual([
      'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/jobs/*',
      'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/vendedlogs/states/test',
    ]);
  });

  it('catalogs the raw zone with partition projection over telemetry/', () => {
    // Act
    const table = resourceOf(template, 'AWS::Glue::Table').properties.TableInput;
    const raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;

    // Assess
    expect(table.Name).toBe(RAW_TABLE_NAME);
    expect(flatten(table.StorageDescriptor.Location)).toBe(`s3://<${raw}>/telemetry/`);
    expect(table.PartitionKeys).toEqual([
      { Name: 'device_type', Type: 'string' },
      { Name: 'ingest_date', Type: 'string' },
      { Name: 'ingest_hour', Type: 'int' },
    ]);
    expect(table.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.device_type.type': 'enum',
      'projection.device_type.values': DEVICE_TYPES.join(','),
      'projection.ingest_date.type': 'date',
      'projection.ingest_date.format': 'yyyy-MM-dd',
      'projection.ingest_hour.type': 'integer',
      'projection.ingest_hour.range': '0,23',
      'projection.ingest_hour.digits': '2',
      compressionType: 'gzip',
    });
    expect(flatten(table.Parameters['storage.location.template'])).toBe(
      `s3://<${raw}>/telemetry/device_type=\${device_type}/ingest_date=\${ingest_date}/ingest_hour=\${ingest_hour}/`,
    );
    expect(table.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(table.StorageDescriptor.Columns).toContainEqual(
      expect.objectContaining({ Name: 'event_id', Type: 'string' }),
    );
  });

  it('registers the database under the given name', () => {
    template.hasResourceProperties('AWS::Glue::Database', {
      DatabaseInput: Match.objectLike({ Name: 'sdap_test' }),
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
