import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  IOT_REGISTRY_THING_GROUPS_KEY,
  METRICS_NAMESPACE,
  WEATHER_ENV,
  WEATHER_METRICS,
  WEATHER_SERVICE_NAME,
} from '../../../lambdas/shared/pipeline-names.ts';
import { RUN_SAFETY_MARGIN_MS } from '../../../lambdas/weather/weather-event.ts';
import {
  DEFAULT_WEATHER_LOG_RETENTION_DAYS,
  DEFAULT_WEATHER_LOOKBACK_HOURS,
  DEFAULT_WEATHER_MEMORY_MB,
  DEFAULT_WEATHER_PROVIDER_NAME,
  DEFAULT_WEATHER_SCHEDULE_EXPRESSION,
  DEFAULT_WEATHER_TIMEOUT_SECONDS,
  WEATHER_ASYNC_RETRY_ATTEMPTS,
  WEATHER_MAX_EVENT_AGE_SECONDS,
  WeatherIngest,
  type WeatherIngestProps,
} from '../../../lib/batch/weather-ingest.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import {
  grantsOf,
  nagFindings,
  resourceOf,
  type StatementJson,
  statementsOfRole,
  testStack,
} from '../support/cdk.ts';

const PROVIDER_URL = 'https://api.open-meteo.com/v1/forecast';
const SECRET_NAME = 'sdap/test/weather-api-key';

function build(stack: Stack, props: Partial<WeatherIngestProps> = {}) {
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const weather = new WeatherIngest(stack, 'Weather', {
    rawBucket: lake.rawBucket,
    encryptionKey: lake.key,
    providerUrl: PROVIDER_URL,
    apiKeySecret: SECRET_NAME,
    ...props,
  });
  return { lake, weather };
}

describe('WeatherIngest', () => {
  let stack: Stack;
  let weather: WeatherIngest;
  let template: Template;
  const ids: Record<string, string> = {};

  beforeAll(() => {
    stack = testStack();
    ({ weather } = build(stack));
    template = Template.fromStack(stack);
    ids.raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;
    ids.key = resourceOf(template, 'AWS::KMS::Key').id;
    ids.function = resourceOf(template, 'AWS::Lambda::Function', 'WeatherFunction').id;
  });

  it('runs the weather handler on the newest Node.js runtime, on arm64, traced, in its own log group', () => {
    expect(resourceOf(template, 'AWS::Lambda::Function', 'WeatherFunction').properties).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: DEFAULT_WEATHER_MEMORY_MB,
      Timeout: DEFAULT_WEATHER_TIMEOUT_SECONDS,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: { Ref: resourceOf(template, 'AWS::Logs::LogGroup', 'Weather').id } },
    });
    expect(DEFAULT_WEATHER_LOG_RETENTION_DAYS).toBe(30);
    expect(resourceOf(template, 'AWS::Logs::LogGroup', 'Weather').properties.RetentionInDays).toBe(30);
  });

  it('leaves the run time for requests beyond its safety margin', () => {
    expect(DEFAULT_WEATHER_TIMEOUT_SECONDS * 1000).toBeGreaterThan(2 * RUN_SAFETY_MARGIN_MS);
  });

  it('passes the names the handler reads, the default provider name and lookback, and the secret name', () => {
    // Act
    const variables = resourceOf(template, 'AWS::Lambda::Function', 'WeatherFunction').properties.Environment
      .Variables;

    // Assess
    expect(variables).toEqual({
      [WEATHER_ENV.rawBucket]: { Ref: ids.raw },
      [WEATHER_ENV.providerUrl]: PROVIDER_URL,
      [WEATHER_ENV.providerName]: DEFAULT_WEATHER_PROVIDER_NAME,
      [WEATHER_ENV.lookbackHours]: String(DEFAULT_WEATHER_LOOKBACK_HOURS),
      [WEATHER_ENV.apiKeySecretId]: SECRET_NAME,
      POWERTOOLS_SERVICE_NAME: WEATHER_SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      NODE_OPTIONS: '--enable-source-maps',
    });
    expect(DEFAULT_WEATHER_PROVIDER_NAME).toBe('open-meteo');
    expect(DEFAULT_WEATHER_LOOKBACK_HOURS).toBe(24);
  });

  it('bounds the retries and age of its asynchronous invocations', () => {
    expect(resourceOf(template, 'AWS::Lambda::EventInvokeConfig').properties).toMatchObject({
      FunctionName: { Ref: ids.function },
      MaximumRetryAttempts: WEATHER_ASYNC_RETRY_ATTEMPTS,
      MaximumEventAgeInSeconds: WEATHER_MAX_EVENT_AGE_SECONDS,
    });
  });

  describe('schedule', () => {
    it('invokes the function at minute 5 of every hour with the scheduled time, encrypted with the key', () => {
      // Act
      const schedule = resourceOf(template, 'AWS::Scheduler::Schedule').properties;

      // Assess
      expect(DEFAULT_WEATHER_SCHEDULE_EXPRESSION).toBe('cron(5 * * * ? *)');
      expect(schedule).toMatchObject({
        ScheduleExpression: DEFAULT_WEATHER_SCHEDULE_EXPRESSION,
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        KmsKeyArn: { 'Fn::GetAtt': [ids.key, 'Arn'] },
        Target: {
          Arn: { 'Fn::GetAtt': [ids.function, 'Arn'] },
          RetryPolicy: {
            MaximumRetryAttempts: WEATHER_ASYNC_RETRY_ATTEMPTS,
            MaximumEventAgeInSeconds: WEATHER_MAX_EVENT_AGE_SECONDS,
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

    beforeAll(() => {
      statements = statementsOfRole(template, 'WeatherRole');
    });

    it('carries no AWS managed policy', () => {
      expect(
        resourceOf(template, 'AWS::IAM::Role', 'WeatherRole').properties.ManagedPolicyArns,
      ).toBeUndefined();
    });

    it('may write weather objects only', () => {
      expect(grantsOf(statements, 's3:PutObject')).toEqual([`<${ids.raw}.Arn>/weather/*`]);
    });

    it('may read weather objects and the registry export only, and list the bucket', () => {
      expect(grantsOf(statements, 's3:GetObject').sort()).toEqual(
        [`<${ids.raw}.Arn>/weather/*`, `<${ids.raw}.Arn>/${IOT_REGISTRY_THING_GROUPS_KEY}`].sort(),
      );
      expect(grantsOf(statements, 's3:ListBucket')).toEqual([`<${ids.raw}.Arn>`]);
    });

    it('may use the lake key for SSE-KMS', () => {
      expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([`<${ids.key}.Arn>`]);
      expect(grantsOf(statements, 'kms:Decrypt')).toEqual([`<${ids.key}.Arn>`]);
    });

    it('may read the one API-key secret', () => {
      // Act
      const secrets = grantsOf(statements, 'secretsmanager:GetSecretValue');

      // Assess
      expect(secrets).toHaveLength(1);
      expect(secrets[0]).toMatch(new RegExp(`:secret:${SECRET_NAME}-\\?{6}$`));
    });

    it('may delete nothing and holds no other wildcard', () => {
      // Act
      const actions = statements.flatMap((statement) => [statement.Action].flat());
      const resources = statements.flatMap((statement) => [statement.Resource].flat().map(String));

      // Assess
      expect(actions.filter((action) => /Delete|\*/.test(action))).toEqual([]);
      expect(resources.filter((resource) => resource === '*')).toEqual(['*']); // X-Ray only
    });
  });

  it('exposes its EMF metrics with the service dimension the handler emits', () => {
    expect(stack.resolve(weather.metricCount('hoursMissing').toMetricConfig().metricStat)).toMatchObject({
      namespace: METRICS_NAMESPACE,
      metricName: WEATHER_METRICS.hoursMissing,
      dimensions: [{ name: 'service', value: WEATHER_SERVICE_NAME }],
      statistic: 'Sum',
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(stack)).toEqual([]);
  });

  describe('with a secret object and no defaults', () => {
    let other: Template;
    let otherStack: Stack;

    beforeAll(() => {
      otherStack = testStack('Other');
      const secret = new secretsmanager.Secret(otherStack, 'ApiKey');
      build(otherStack, {
        apiKeySecret: secret,
        providerName: 'acme-weather',
        scheduleExpression: 'rate(30 minutes)',
        lookbackHours: 48,
      });
      other = Template.fromStack(otherStack);
    });

    it('passes the secret ARN and the given settings', () => {
      expect(
        resourceOf(other, 'AWS::Lambda::Function', 'WeatherFunction').properties.Environment.Variables,
      ).toMatchObject({
        [WEATHER_ENV.apiKeySecretId]: { Ref: resourceOf(other, 'AWS::SecretsManager::Secret').id },
        [WEATHER_ENV.providerName]: 'acme-weather',
        [WEATHER_ENV.lookbackHours]: '48',
      });
      expect(resourceOf(other, 'AWS::Scheduler::Schedule').properties.ScheduleExpression).toBe(
        'rate(30 minutes)',
      );
    });

    it('may read that secret only', () => {
      expect(grantsOf(statementsOfRole(other, 'WeatherRole'), 'secretsmanager:GetSecretValue')).toEqual([
        `<${resourceOf(other, 'AWS::SecretsManager::Secret').id}>`,
      ]);
    });
  });

  it('needs no secret when the provider takes no key', () => {
    // Prepare
    const noKey = testStack('NoKey');
    build(noKey, { apiKeySecret: undefined });

    // Act
    const variables = resourceOf(Template.fromStack(noKey), 'AWS::Lambda::Function', 'WeatherFunction')
      .properties.Environment.Variables;

    // Assess
    expect(variables[WEATHER_ENV.apiKeySecretId]).toBeUndefined();
    expect(nagFindings(noKey)).toEqual([]);
  });

  it('fails when the provider URL is not https, naming the value', () => {
    expect(() => build(testStack(), { providerUrl: 'http://weather.example.com/v1/forecast' })).toThrow(
      'WeatherIngest providerUrl: received "http://weather.example.com/v1/forecast", expected an https:// URL',
    );
  });

  it('fails when the schedule expression or the lookback is not one the service or the handler takes', () => {
    expect(() => build(testStack(), { scheduleExpression: 'hourly' })).toThrow(
      'WeatherIngest scheduleExpression: received "hourly", expected an EventBridge Scheduler expression',
    );
    expect(() => build(testStack(), { lookbackHours: 0 })).toThrow(
      'WeatherIngest lookbackHours: received 0, expected a whole number of hours from 1 to 744',
    );
  });
});
