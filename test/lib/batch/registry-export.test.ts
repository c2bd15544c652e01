import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RUN_SAFETY_MARGIN_MS } from '../../../lambdas/registry-export/handler.ts';
import {
  REGISTRY_EXPORT_ENV,
  REGISTRY_EXPORT_METRICS,
  REGISTRY_EXPORT_SERVICE_NAME,
} from '../../../lambdas/registry-export/names.ts';
import { METRICS_NAMESPACE } from '../../../lambdas/shared/pipeline-names.ts';
import {
  DEFAULT_REGISTRY_EXPORT_LOG_RETENTION_DAYS,
  DEFAULT_REGISTRY_EXPORT_MEMORY_MB,
  DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION,
  DEFAULT_REGISTRY_EXPORT_TIMEOUT_SECONDS,
  REGISTRY_EXPORT_ASYNC_RETRY_ATTEMPTS,
  REGISTRY_EXPORT_MAX_EVENT_AGE_SECONDS,
  REGISTRY_EXPORT_SCHEDULE_RETRY_ATTEMPTS,
  RegistryExport,
  type RegistryExportProps,
} from '../../../lib/batch/registry-export.ts';
import { DEFAULT_WEATHER_SCHEDULE_EXPRESSION } from '../../../lib/batch/weather-ingest.ts';
import { DEFAULT_ETL_SCHEDULE_EXPRESSION, DEFAULT_REGISTRY_EXPORT_SCHEDULE } from '../../../lib/config.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import {
  grantsOf,
  nagFindings,
  resourceOf,
  type StatementJson,
  statementsOfRole,
  testStack,
} from '../support/cdk.ts';

function build(stack: Stack, props: Partial<RegistryExportProps> = {}) {
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const registryExport = new RegistryExport(stack, 'RegistryExport', {
    rawBucket: lake.rawBucket,
    encryptionKey: lake.key,
    ...props,
  });
  return { lake, registryExport };
}

const minuteOf = (cron: string) => Number(/^cron\((\d+) /.exec(cron)?.[1]);

describe('RegistryExport', () => {
  let stack: Stack;
  let registryExport: RegistryExport;
  let template: Template;
  const ids: Record<string, string> = {};

  beforeAll(() => {
    stack = testStack();
    ({ registryExport } = build(stack));
    template = Template.fromStack(stack);
    ids.raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;
    ids.key = resourceOf(template, 'AWS::KMS::Key').id;
    ids.function = resourceOf(template, 'AWS::Lambda::Function', 'RegistryExportFunction').id;
  });

  it('runs the export handler on the newest Node.js runtime, on arm64, traced, in its own log group', () => {
    expect(resourceOf(template, 'AWS::Lambda::Function', 'RegistryExportFunction').properties).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: DEFAULT_REGISTRY_EXPORT_MEMORY_MB,
      Timeout: DEFAULT_REGISTRY_EXPORT_TIMEOUT_SECONDS,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: { Ref: resourceOf(template, 'AWS::Logs::LogGroup', 'RegistryExport').id } },
      Environment: {
        Variables: {
          [REGISTRY_EXPORT_ENV.rawBucket]: { Ref: ids.raw },
          POWERTOOLS_SERVICE_NAME: REGISTRY_EXPORT_SERVICE_NAME,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        },
      },
    });
    expect(DEFAULT_REGISTRY_EXPORT_MEMORY_MB).toBe(256);
    expect(DEFAULT_REGISTRY_EXPORT_TIMEOUT_SECONDS).toBe(900);
    expect(DEFAULT_REGISTRY_EXPORT_LOG_RETENTION_DAYS).toBe(30);
    expect(resourceOf(template, 'AWS::Logs::LogGroup', 'RegistryExport').properties.RetentionInDays).toBe(30);
  });

  it('leaves the run time for reading the registry beyond its safety margin', () => {
    expect(DEFAULT_REGISTRY_EXPORT_TIMEOUT_SECONDS * 1000).toBeGreaterThan(10 * RUN_SAFETY_MARGIN_MS);
  });

  it('does not rerun a failed run itself, and drops invocations older than an hour', () => {
    expect(resourceOf(template, 'AWS::Lambda::EventInvokeConfig').properties).toMatchObject({
      FunctionName: { Ref: ids.function },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 3600,
    });
    expect(REGISTRY_EXPORT_ASYNC_RETRY_ATTEMPTS).toBe(0);
  });

  describe('schedule', () => {
    it('invokes the function at minute 0 of every hour, before weather and the ETL, encrypted with the key', () => {
      // Act
      const schedule = resourceOf(template, 'AWS::Scheduler::Schedule').properties;

      // Assess
      expect(DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION).toBe('cron(0 * * * ? *)');
      expect(DEFAULT_REGISTRY_EXPORT_SCHEDULE).toBe(DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION);
      expect(minuteOf(DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION)).toBeLessThan(
        minuteOf(DEFAULT_WEATHER_SCHEDULE_EXPRESSION),
      );
      expect(minuteOf(DEFAULT_WEATHER_SCHEDULE_EXPRESSION)).toBeLessThan(
        minuteOf(DEFAULT_ETL_SCHEDULE_EXPRESSION),
      );
      expect(schedule).toMatchObject({
        ScheduleExpression: DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION,
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        KmsKeyArn: { 'Fn::GetAtt': [ids.key, 'Arn'] },
        Target: {
          Arn: { 'Fn::GetAtt': [ids.function, 'Arn'] },
          RetryPolicy: {
            MaximumRetryAttempts: REGISTRY_EXPORT_SCHEDULE_RETRY_ATTEMPTS,
            MaximumEventAgeInSeconds: REGISTRY_EXPORT_MAX_EVENT_AGE_SECONDS,
          },
        },
      });
      expect(JSON.parse(schedule.Target.Input)).toEqual({ scheduledTime: '<aws.scheduler.scheduled-time>' });
    });

    it('has a role that may invoke this function only', () => {
      // Prepare
      const roleId = (
        resourceOf(template, 'AWS::Scheduler::Schedule').properties.Target.RoleArn as {
          'Fn::GetAtt': string[];
        }
      )['Fn::GetAtt'][0] as string;

      // Act
      const statements = statementsOfRole(template, roleId);

      // Assess
      expect(statements.flatMap((s) => [s.Action].flat()).filter((a) => !a.startsWith('kms:'))).toEqual([
        'lambda:InvokeFunction',
      ]);
      expect(
        grantsOf(statements, 'lambda:InvokeFunction').every((r) => r.startsWith(`<${ids.function}.Arn>`)),
      ).toBe(true);
    });
  });

  describe('execution role', () => {
    let statements: StatementJson[];
    const thingGroups = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thinggroup/*';

    beforeAll(() => {
      statements = statementsOfRole(template, 'RegistryExportRole');
    });

    it('carries no AWS managed policy', () => {
      expect(
        resourceOf(template, 'AWS::IAM::Role', 'RegistryExportRole').properties.ManagedPolicyArns,
      ).toBeUndefined();
    });

    it('may list things and thing groups, which take no resource, and nothing else on every resource', () => {
      expect(grantsOf(statements, 'iot:ListThings')).toEqual(['*']);
      expect(grantsOf(statements, 'iot:ListThingGroups')).toEqual(['*']);
      const unscoped = statements.filter((s) => [s.Resource].flat().includes('*'));
      expect(unscoped.flatMap((s) => [s.Action].flat()).sort()).toEqual([
        'iot:ListThingGroups',
        'iot:ListThings',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
    });

    it("may describe and list the members of this account's and region's thing groups only", () => {
      expect(grantsOf(statements, 'iot:DescribeThingGroup')).toEqual([thingGroups]);
      expect(grantsOf(statements, 'iot:ListThingsInThingGroup')).toEqual([thingGroups]);
    });

    it('may read the registry only: no write, no per-thing call', () => {
      // Act
      const iotActions = statements.flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('iot:'));

      // Assess
      expect(iotActions.sort()).toEqual([
        'iot:DescribeThingGroup',
        'iot:ListThingGroups',
        'iot:ListThings',
        'iot:ListThingsInThingGroup',
      ]);
    });

    it('may write the two export objects only, with the lake key for SSE-KMS, and read nothing', () => {
      expect(grantsOf(statements, 's3:PutObject').sort()).toEqual([
        `<${ids.raw}.Arn>/iot-registry/thing-groups.ndjson`,
        `<${ids.raw}.Arn>/iot-registry/things.ndjson`,
      ]);
      expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([`<${ids.key}.Arn>`]);
      const actions = statements.flatMap((s) => [s.Action].flat());
      expect(actions.filter((a) => /^s3:(Get|List|Delete)|^kms:Decrypt/.test(a))).toEqual([]);
    });
  });

  it('exposes its EMF metrics with the service dimension the handler emits', () => {
    expect(stack.resolve(registryExport.metricCount('things').toMetricConfig().metricStat)).toMatchObject({
      namespace: METRICS_NAMESPACE,
      metricName: REGISTRY_EXPORT_METRICS.things,
      dimensions: [{ name: 'service', value: REGISTRY_EXPORT_SERVICE_NAME }],
      statistic: 'Sum',
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(stack)).toEqual([]);
  });

  it('takes another schedule', () => {
    // Prepare
    const other = testStack('Other');
    build(other, { scheduleExpression: 'rate(6 hours)' });

    // Act
    const schedule = resourceOf(Template.fromStack(other), 'AWS::Scheduler::Schedule').properties;

    // Assess
    expect(schedule.ScheduleExpression).toBe('rate(6 hours)');
  });

  it('fails when the schedule expression is not one the service takes, naming the value', () => {
    expect(() => build(testStack(), { scheduleExpression: 'hourly' })).toThrow(
      'RegistryExport scheduleExpression: received "hourly", expected an EventBridge Scheduler expression',
    );
  });
});
