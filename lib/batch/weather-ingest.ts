import { join } from 'node:path';
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  IOT_REGISTRY_THING_GROUPS_KEY,
  METRICS_NAMESPACE,
  WEATHER_ENV,
  WEATHER_METRICS,
  WEATHER_PREFIX,
  WEATHER_SERVICE_NAME,
} from '../../lambdas/shared/pipeline-names.ts';
import { DEFAULT_LOOKBACK_HOURS, MAX_RANGE_HOURS } from '../../lambdas/weather/weather-event.ts';
import { acknowledge, nagReference } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';
import { createFunctionSchedule, SCHEDULE_EXPRESSION_PATTERN } from './function-schedule.ts';

/** The weather function's handler module; its export `handler` is the Lambda entry point. */
export const WEATHER_ENTRY = join(REPO_ROOT, 'lambdas', 'weather', 'handler.ts');

/**
 * Minute 5 of every hour (UTC): the provider has the past hour by then, and the run (seconds) is done
 * before the hourly ETL starts at minute 15 (the stage's default ETL schedule), which joins it.
 */
export const DEFAULT_WEATHER_SCHEDULE_EXPRESSION = 'cron(5 * * * ? *)';
/** The `source` written on every value line. */
export const DEFAULT_WEATHER_PROVIDER_NAME = 'open-meteo';
/** A day: each run refetches it, so gaps from a provider outage of up to a day fill themselves. */
export const DEFAULT_WEATHER_LOOKBACK_HOURS = DEFAULT_LOOKBACK_HOURS;
export const DEFAULT_WEATHER_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;
/**
 * 256 MB: the run is I/O-bound (one small JSON answer per site, a few KB per object); the memory buys
 * CPU for JSON and TLS, not buffers.
 */
export const DEFAULT_WEATHER_MEMORY_MB = 256;
/**
 * 5 minutes: with 4 sites in flight, hundreds of sites take seconds when the provider is healthy; when
 * it is down the circuit breaker stops after three failed sites (about a minute). The run stops
 * starting sites 45 s before the timeout (`RUN_SAFETY_MARGIN_MS`), so it ends on its own terms.
 */
export const DEFAULT_WEATHER_TIMEOUT_SECONDS = 300;
/**
 * Async invocations (the schedule's) are retried this many times by Lambda after a failure (only the
 * lake can fail a run). Retries reuse the event, hence the same hours: a run is idempotent.
 */
export const WEATHER_ASYNC_RETRY_ATTEMPTS = 2;
/**
 * An hour: older failed events are dropped rather than retried, since the next scheduled run covers
 * the same hours again (its lookback).
 */
export const WEATHER_MAX_EVENT_AGE_SECONDS = 3600;

const PROVIDER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An EMF metric the weather function emits (see `WEATHER_METRICS`). */
export type WeatherMetricName = keyof typeof WEATHER_METRICS;

export interface WeatherIngestProps {
  /** The lake's raw bucket: the registry export is read from it, weather is written to `weather/`. */
  readonly rawBucket: s3.IBucket;
  /** The raw bucket's SSE-KMS key; also encrypts the schedule. */
  readonly encryptionKey: kms.IKey;
  /** The provider endpoint, `https://` only, e.g. `https://api.open-meteo.com/v1/forecast`. */
  readonly providerUrl: string;
  /** @default {@link DEFAULT_WEATHER_PROVIDER_NAME} = "open-meteo" */
  readonly providerName?: string;
  /**
   * The secret holding the provider's API key (the secret string, or `{"apiKey": "..."}`): the secret
   * itself or its name. Created outside the stack, so the key never passes through a template.
   * @default - no API key (the provider needs none)
   */
  readonly apiKeySecret?: secretsmanager.ISecret | string;
  /** An EventBridge Scheduler `cron(...)` or `rate(...)` expression, in UTC. @default {@link DEFAULT_WEATHER_SCHEDULE_EXPRESSION} = "cron(5 * * * ? *)" */
  readonly scheduleExpression?: string;
  /** Whole hours before the scheduled hour each run fetches (1 to 744). @default {@link DEFAULT_WEATHER_LOOKBACK_HOURS} = 24 */
  readonly lookbackHours?: number;
  /** @default {@link DEFAULT_WEATHER_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

function check(condition: boolean, prop: string, received: unknown, expected: string): void {
  if (!condition) {
    throw new Error(`WeatherIngest ${prop}: received ${JSON.stringify(received)}, expected ${expected}`);
  }
}

function validate(props: WeatherIngestProps): void {
  if (!Token.isUnresolved(props.providerUrl)) {
    const url = URL.canParse(props.providerUrl) ? new URL(props.providerUrl) : undefined;
    check(url?.protocol === 'https:', 'providerUrl', props.providerUrl, 'an https:// URL');
  }
  if (props.providerName !== undefined) {
    check(
      PROVIDER_NAME_PATTERN.test(props.providerName),
      'providerName',
      props.providerName,
      'up to 64 letters, digits, ".", "_" or "-"',
    );
  }
  if (props.scheduleExpression !== undefined) {
    check(
      SCHEDULE_EXPRESSION_PATTERN.test(props.scheduleExpression),
      'scheduleExpression',
      props.scheduleExpression,
      'an EventBridge Scheduler expression such as cron(5 * * * ? *) or rate(1 hour)',
    );
  }
  if (props.lookbackHours !== undefined) {
    check(
      Number.isInteger(props.lookbackHours) &&
        props.lookbackHours >= 1 &&
        props.lookbackHours <= MAX_RANGE_HOURS,
      'lookbackHours',
      props.lookbackHours,
      `a whole number of hours from 1 to ${MAX_RANGE_HOURS}`,
    );
  }
}

/**
 * External weather into the lake: an EventBridge Scheduler schedule invokes a Node.js Lambda hourly;
 * it reads the sites (with coordinates) from the registry export in the raw bucket, fetches each
 * site's hourly weather from the configured provider, and writes
 * `weather/weather_date=YYYY-MM-DD/<siteId>.ndjson`. A provider outage is recorded as gap lines, not
 * a failure. The function may read the registry export and `weather/`, write `weather/`, and read the
 * one API-key secret; nothing else.
 */
export class WeatherIngest extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly schedule: scheduler.Schedule;
  /** Assumed by EventBridge Scheduler to invoke the function. */
  public readonly scheduleRole: iam.Role;
  /** The API-key secret, when the provider has one. */
  public readonly apiKeySecret?: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: WeatherIngestProps) {
    super(scope, id);
    validate(props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const secret = props.apiKeySecret;
    this.apiKeySecret =
      typeof secret === 'string'
        ? secretsmanager.Secret.fromSecretNameV2(this, 'ApiKeySecret', secret)
        : secret;

    const parts = createProjectFunction(this, {
      entry: WEATHER_ENTRY,
      description: 'Fetches hourly weather per site into the raw zone (weather/)',
      roleDescription: 'Execution role of the weather ingest function',
      serviceName: WEATHER_SERVICE_NAME,
      memorySizeMb: DEFAULT_WEATHER_MEMORY_MB,
      timeoutSeconds: DEFAULT_WEATHER_TIMEOUT_SECONDS,
      logRetentionDays: props.logRetentionDays ?? DEFAULT_WEATHER_LOG_RETENTION_DAYS,
      removalPolicy,
      environment: {
        [WEATHER_ENV.rawBucket]: props.rawBucket.bucketName,
        [WEATHER_ENV.providerUrl]: props.providerUrl,
        [WEATHER_ENV.providerName]: props.providerName ?? DEFAULT_WEATHER_PROVIDER_NAME,
        [WEATHER_ENV.lookbackHours]: String(props.lookbackHours ?? DEFAULT_WEATHER_LOOKBACK_HOURS),
        ...(secret !== undefined && {
          [WEATHER_ENV.apiKeySecretId]: typeof secret === 'string' ? secret : secret.secretArn,
        }),
      },
      functionOptions: {
        retryAttempts: WEATHER_ASYNC_RETRY_ATTEMPTS,
        maxEventAge: Duration.seconds(WEATHER_MAX_EVENT_AGE_SECONDS),
      },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;
    const nothingToKeep =
      'A failed run leaves nothing worth keeping: runs are idempotent and each scheduled run refetches the lookback window, so the next run redoes a failed one. Failures show in the Errors metric.';
    acknowledge(this.function, 'Serverless-LambdaDLQ', nothingToKeep);
    acknowledge(this.function, 'Serverless-LambdaAsyncFailureDestination', nothingToKeep);
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    );

    this.grantLake(props.rawBucket, props.encryptionKey);
    this.apiKeySecret?.grantRead(this.role);

    // The scheduled time, not the clock, decides the hours: a retried invocation covers the same ones.
    // Delivery retries only (Lambda's own async retries cover failed runs); a late run is pointless
    // once the next one is due.
    ({ schedule: this.schedule, role: this.scheduleRole } = createFunctionSchedule(this, {
      function: this.function,
      scheduleExpression: props.scheduleExpression ?? DEFAULT_WEATHER_SCHEDULE_EXPRESSION,
      description: 'Hourly weather fetch into the raw zone',
      roleDescription: 'Lets EventBridge Scheduler invoke the weather ingest function',
      encryptionKey: props.encryptionKey,
      retryAttempts: WEATHER_ASYNC_RETRY_ATTEMPTS,
      maxEventAgeSeconds: WEATHER_MAX_EVENT_AGE_SECONDS,
    }));
  }

  /**
   * Read the registry export (one object) and `weather/`, write `weather/`, with the key for SSE-KMS.
   * s3:ListBucket makes a missing object read as 404 (a day not written yet) rather than 403.
   */
  private grantLake(bucket: s3.IBucket, key: kms.IKey): void {
    const weatherObjects = `${WEATHER_PREFIX}/*`;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(weatherObjects)],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          bucket.arnForObjects(weatherObjects),
          bucket.arnForObjects(IOT_REGISTRY_THING_GROUPS_KEY),
        ],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }),
    );
    const bucketResource = bucket.node.defaultChild;
    if (bucketResource instanceof s3.CfnBucket) {
      acknowledge(
        this.role,
        `AwsSolutions-IAM5[Resource::${nagReference(bucketResource)}/${weatherObjects}]`,
        'Reads and writes weather objects only; their keys name a date and a site, one object each.',
      );
    }
  }

  /** One of the weather function's own EMF metrics (namespace `Sdap`, dimension `service`), summed per period. */
  public metricCount(name: WeatherMetricName, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: WEATHER_METRICS[name],
      dimensionsMap: { service: WEATHER_SERVICE_NAME },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.hours(1),
      ...props,
    });
  }
}
