import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  METRICS_NAMESPACE,
  VALIDATOR_ENV,
  VALIDATOR_METRICS,
  VALIDATOR_SERVICE_NAME,
} from '../../../lambdas/shared/pipeline-names.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_RETRY_ATTEMPTS } from '../../../lib/config.ts';
import { TelemetryStream } from '../../../lib/ingestion/telemetry-stream.ts';
import {
  DEFAULT_MAX_RECORD_AGE_FRACTION,
  DEFAULT_VALIDATOR_LOG_RETENTION_DAYS,
  DEFAULT_VALIDATOR_MEMORY_MB,
  DEFAULT_VALIDATOR_TIMEOUT_SECONDS,
  TelemetryValidator,
} from '../../../lib/ingestion/telemetry-validator.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import {
  type CfnProperties,
  grantsOf,
  nagFindings,
  resourceOf,
  type StatementJson,
  statementsOfRole,
  testStack,
} from '../support/cdk.ts';

function build(stack: Stack, props: { maxRecordAgeSeconds?: number } = {}) {
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const stream = new TelemetryStream(stack, 'Stream', { encryptionKey: lake.key, retentionHours: 24 });
  const validator = new TelemetryValidator(stack, 'Validator', {
    stream,
    rawBucket: lake.rawBucket,
    quarantineBucket: lake.quarantineBucket,
    failuresBucket: lake.failuresBucket,
    encryptionKey: lake.key,
    ...props,
  });
  return { lake, stream, validator };
}

describe('TelemetryValidator', () => {
  let stack: Stack;
  let validator: TelemetryValidator;
  let template: Template;
  const ids: Record<string, string> = {};

  beforeAll(() => {
    stack = testStack();
    ({ validator } = build(stack));
    template = Template.fromStack(stack);
    ids.failures = resourceOf(template, 'AWS::S3::Bucket', 'LakeFailuresBucket').id;
    ids.key = resourceOf(template, 'AWS::KMS::Key').id;
    ids.stream = resourceOf(template, 'AWS::Kinesis::Stream').id;
    ids.function = resourceOf(template, 'AWS::Lambda::Function', 'ValidatorFunction').id;
  });

  it('runs the validator handler on the newest Node.js runtime, on arm64, traced', () => {
    expect(resourceOf(template, 'AWS::Lambda::Function', 'ValidatorFunction').properties).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: DEFAULT_VALIDATOR_MEMORY_MB,
      Timeout: DEFAULT_VALIDATOR_TIMEOUT_SECONDS,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: { Ref: resourceOf(template, 'AWS::Logs::LogGroup').id } },
    });
    expect(DEFAULT_VALIDATOR_MEMORY_MB).toBe(512);
    expect(DEFAULT_VALIDATOR_TIMEOUT_SECONDS).toBe(60);
  });

  it('passes the names the handler reads, and its metrics identity', () => {
    // Act
    const variables = resourceOf(template, 'AWS::Lambda::Function', 'ValidatorFunction').properties
      .Environment.Variables;

    // Assess
    expect(variables).toMatchObject({
      [VALIDATOR_ENV.rawBucket]: { Ref: resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id },
      [VALIDATOR_ENV.quarantineBucket]: {
        Ref: resourceOf(template, 'AWS::S3::Bucket', 'LakeQuarantineBucket').id,
      },
      [VALIDATOR_ENV.alertBus]: { Ref: resourceOf(template, 'AWS::Events::EventBus').id },
      [VALIDATOR_ENV.criticalAlertTopic]: { Ref: resourceOf(template, 'AWS::SNS::Topic').id },
      POWERTOOLS_SERVICE_NAME: VALIDATOR_SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    });
  });

  it('keeps its logs for the default retention in its own log group', () => {
    expect(DEFAULT_VALIDATOR_LOG_RETENTION_DAYS).toBe(30);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  describe('event source mapping', () => {
    let mapping: CfnProperties;

    beforeAll(() => {
      mapping = resourceOf(template, 'AWS::Lambda::EventSourceMapping').properties;
    });

    it('reports partial batch failures and bisects failing batches', () => {
      expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(mapping.BisectBatchOnFunctionError).toBe(true);
    });

    it('bounds retries and record age, below the stream retention', () => {
      // Prepare
      const retentionSeconds =
        resourceOf(template, 'AWS::Kinesis::Stream').properties.RetentionPeriodHours * 3600;

      // Assess
      expect(mapping.MaximumRetryAttempts).toBe(DEFAULT_RETRY_ATTEMPTS);
      expect(mapping.MaximumRetryAttempts).toBeGreaterThanOrEqual(0);
      expect(mapping.MaximumRecordAgeInSeconds).toBe(
        Math.floor(retentionSeconds * DEFAULT_MAX_RECORD_AGE_FRACTION),
      );
      expect(mapping.MaximumRecordAgeInSeconds).toBeGreaterThan(0);
      expect(mapping.MaximumRecordAgeInSeconds).toBeLessThan(retentionSeconds);
    });

    it('sends what it gives up on to the failures bucket', () => {
      expect(mapping.DestinationConfig).toEqual({
        OnFailure: { Destination: { 'Fn::GetAtt': [ids.failures, 'Arn'] } },
      });
    });

    it('reads the stream from its oldest record in batches of the default size', () => {
      expect(mapping).toMatchObject({
        EventSourceArn: { 'Fn::GetAtt': [ids.stream, 'Arn'] },
        FunctionName: { Ref: ids.function },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: DEFAULT_BATCH_SIZE,
        MaximumBatchingWindowInSeconds: 1,
        ParallelizationFactor: 1,
      });
    });
  });

  describe('execution role', () => {
    let statements: StatementJson[];

    beforeAll(() => {
      statements = statementsOfRole(template, 'ValidatorRole');
    });

    it('carries no AWS managed policy', () => {
      expect(
        resourceOf(template, 'AWS::IAM::Role', 'ValidatorRole').properties.ManagedPolicyArns,
      ).toBeUndefined();
    });

    it('lets the event source mapping write failure records, list the bucket and get a data key', () => {
      expect(grantsOf(statements, 's3:PutObject')).toEqual([`<${ids.failures}.Arn>/aws/lambda/*`]);
      expect(grantsOf(statements, 's3:ListBucket')).toEqual([`<${ids.failures}.Arn>`]);
      expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([`<${ids.key}.Arn>`]);
    });

    it('may publish alerts to its own bus and topic only', () => {
      expect(grantsOf(statements, 'events:PutEvents')).toEqual([
        `<${resourceOf(template, 'AWS::Events::EventBus').id}.Arn>`,
      ]);
      expect(grantsOf(statements, 'sns:Publish')).toEqual([
        `<${resourceOf(template, 'AWS::SNS::Topic').id}>`,
      ]);
    });

    it('may read the stream and nothing in S3', () => {
      // Act
      const actions = statements.flatMap((statement) => [statement.Action].flat());

      // Assess
      expect(grantsOf(statements, 'kinesis:GetRecords')).toEqual([`<${ids.stream}.Arn>`]);
      expect(actions.filter((action) => /^s3:(Get|Delete|\*)/.test(action) || action === '*')).toEqual([]);
    });
  });

  it('encrypts the alert bus and the critical-alert topic with the given key, topic TLS-only', () => {
    // Assess
    expect(resourceOf(template, 'AWS::Events::EventBus').properties.KmsKeyIdentifier).toEqual({
      'Fn::GetAtt': [ids.key, 'Arn'],
    });
    expect(resourceOf(template, 'AWS::SNS::Topic').properties.KmsMasterKeyId).toEqual({
      'Fn::GetAtt': [ids.key, 'Arn'],
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('exposes its EMF metrics with the service dimension the handler emits', () => {
    expect(
      stack.resolve(validator.metricCount('readingsQuarantined').toMetricConfig().metricStat),
    ).toMatchObject({
      namespace: METRICS_NAMESPACE,
      metricName: VALIDATOR_METRICS.readingsQuarantined,
      dimensions: [{ name: 'service', value: VALIDATOR_SERVICE_NAME }],
      statistic: 'Sum',
    });
    expect(
      stack.resolve(validator.metricDestinationDeliveryFailures().toMetricConfig().metricStat),
    ).toMatchObject({
      namespace: 'AWS/Lambda',
      metricName: 'DestinationDeliveryFailures',
      dimensions: [{ name: 'FunctionName', value: { Ref: ids.function } }],
    });
  });

  it('fails when the maximum record age is not below the stream retention', () => {
    expect(() => build(testStack(), { maxRecordAgeSeconds: 24 * 3600 })).toThrow(
      'TelemetryValidator maxRecordAgeSeconds: received 86400, expected below the stream retention (86400 s)',
    );
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
