import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import {
  REGISTRY_EXPORT_ENV,
  REGISTRY_EXPORT_METRICS,
  REGISTRY_EXPORT_SERVICE_NAME,
} from '../../lambdas/registry-export/names.ts';
import {
  IOT_REGISTRY_THING_GROUPS_KEY,
  IOT_REGISTRY_THINGS_KEY,
  METRICS_NAMESPACE,
} from '../../lambdas/shared/pipeline-names.ts';
import { acknowledge } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';
import { createFunctionSchedule, SCHEDULE_EXPRESSION_PATTERN } from './function-schedule.ts';

/** The registry-export function's handler module; its export `handler` is the Lambda entry point. */
export const REGISTRY_EXPORT_ENTRY = join(REPO_ROOT, 'lambdas', 'registry-export', 'handler.ts');

/**
 * Minute 0 of every hour (UTC): before the weather function (minute 5), which reads the sites from the
 * export, and the ETL (minute 15), which reads devices and locations from it. A run that takes longer
 * leaves them the previous export, never half a file.
 */
export const DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION = 'cron(0 * * * ? *)';
export const DEFAULT_REGISTRY_EXPORT_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;
/**
 * 256 MB: the run holds the registry in memory (about 300 bytes a thing: 3 MB for 10,000 things) and
 * spends its time waiting on IoT's API; the memory buys CPU for JSON and TLS.
 */
export const DEFAULT_REGISTRY_EXPORT_MEMORY_MB = 256;
/**
 * 15 minutes, Lambda's maximum: a run's length grows with the fleet, bounded by IoT's API quotas (by
 * default 25 ListThingsInThingGroup and 100 DescribeThingGroup calls a second). With about one group
 * per four things that is some 50 things a second when throttling slows every call to the lowest
 * quota: 40,000 things within the timeout. Larger fleets need higher quotas.
 */
export const DEFAULT_REGISTRY_EXPORT_TIMEOUT_SECONDS = 900;
/**
 * No retry by Lambda of a failed run: it failed after the SDK's own retries (throttling that would not
 * clear, or a denied call), an immediate rerun would spend the account's shared API quota again, and
 * the next scheduled run redoes it anyway. The failure shows in the Errors metric, which alarms.
 */
export const REGISTRY_EXPORT_ASYNC_RETRY_ATTEMPTS = 0;
/** Delivery retries of the schedule (invoking the function, not rerunning it). */
export const REGISTRY_EXPORT_SCHEDULE_RETRY_ATTEMPTS = 2;
/** An hour: a run delivered later than that is replaced by the next scheduled one. */
export const REGISTRY_EXPORT_MAX_EVENT_AGE_SECONDS = 3600;

/** The IoT registry calls the function makes, read-only. */
export const REGISTRY_READ_ACTIONS = {
  /** These support no resource-level permissions. */
  unscoped: ['iot:ListThingGroups', 'iot:ListThings'],
  /** These take thing-group ARNs. */
  thingGroups: ['iot:DescribeThingGroup', 'iot:ListThingsInThingGroup'],
} as const;

/** An EMF metric the registry-export function emits (see `REGISTRY_EXPORT_METRICS`). */
export type RegistryExportMetricName = keyof typeof REGISTRY_EXPORT_METRICS;

export interface RegistryExportProps {
  /** The lake's raw bucket: the export is written to `iot-registry/`. */
  readonly rawBucket: s3.IBucket;
  /** The raw bucket's SSE-KMS key; also encrypts the schedule. */
  readonly encryptionKey: kms.IKey;
  /** An EventBridge Scheduler `cron(...)` or `rate(...)` expression, in UTC. @default {@link DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION} = "cron(0 * * * ? *)" */
  readonly scheduleExpression?: string;
  /** @default {@link DEFAULT_REGISTRY_EXPORT_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The IoT registry into the lake: an EventBridge Scheduler schedule invokes a Node.js Lambda hourly; it
 * reads every thing group and thing of the account's registry in the stack's region and writes
 * `iot-registry/thing-groups.ndjson` and `iot-registry/things.ndjson` to the raw bucket, each whole, for
 * the ETL's device and location snapshots and the weather function's sites. The function may read the
 * registry and write those two objects; nothing else.
 */
export class RegistryExport extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  /** The read-only IoT registry permissions of the role. */
  public readonly registryReadPolicy: iam.Policy;
  public readonly schedule: scheduler.Schedule;
  /** Assumed by EventBridge Scheduler to invoke the function. */
  public readonly scheduleRole: iam.Role;

  constructor(scope: Construct, id: string, props: RegistryExportProps) {
    super(scope, id);
    const scheduleExpression = props.scheduleExpression ?? DEFAULT_REGISTRY_EXPORT_SCHEDULE_EXPRESSION;
    if (!SCHEDULE_EXPRESSION_PATTERN.test(scheduleExpression)) {
      throw new Error(
        `RegistryExport scheduleExpression: received ${JSON.stringify(scheduleExpression)}, expected an EventBridge Scheduler expression such as cron(0 * * * ? *) or rate(1 hour)`,
      );
    }

    const parts = createProjectFunction(this, {
      entry: REGISTRY_EXPORT_ENTRY,
      description: 'Exports the IoT registry (things, thing groups) into the raw zone (iot-registry/)',
      roleDescription: 'Execution role of the IoT registry export function',
      serviceName: REGISTRY_EXPORT_SERVICE_NAME,
      memorySizeMb: DEFAULT_REGISTRY_EXPORT_MEMORY_MB,
      timeoutSeconds: DEFAULT_REGISTRY_EXPORT_TIMEOUT_SECONDS,
      logRetentionDays: props.logRetentionDays ?? DEFAULT_REGISTRY_EXPORT_LOG_RETENTION_DAYS,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      environment: { [REGISTRY_EXPORT_ENV.rawBucket]: props.rawBucket.bucketName },
      functionOptions: {
        retryAttempts: REGISTRY_EXPORT_ASYNC_RETRY_ATTEMPTS,
        maxEventAge: Duration.seconds(REGISTRY_EXPORT_MAX_EVENT_AGE_SECONDS),
      },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;
    const nothingToKeep =
      'A failed run leaves nothing worth keeping: it wrote nothing, the previous export stays in place, and the next scheduled run exports the whole registry again. Failures show in the Errors metric, which alarms.';
    acknowledge(this.function, 'Serverless-LambdaDLQ', nothingToKeep);
    acknowledge(this.function, 'Serverless-LambdaAsyncFailureDestination', nothingToKeep);
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    );

    this.registryReadPolicy = this.grantRegistryRead();
    this.grantWriteExport(props.rawBucket, props.encryptionKey);

    ({ schedule: this.schedule, role: this.scheduleRole } = createFunctionSchedule(this, {
      function: this.function,
      scheduleExpression,
      description: 'Hourly export of the IoT registry into the raw zone',
      roleDescription: 'Lets EventBridge Scheduler invoke the IoT registry export function',
      encryptionKey: props.encryptionKey,
      retryAttempts: REGISTRY_EXPORT_SCHEDULE_RETRY_ATTEMPTS,
      maxEventAgeSeconds: REGISTRY_EXPORT_MAX_EVENT_AGE_SECONDS,
    }));
  }

  /**
   * Read the registry: the two list calls that support no resource-level permissions on `*`, the
   * per-group calls on this account's and region's thing groups. A policy of its own, so that each
   * wildcard is acknowledged with its own reason.
   */
  private grantRegistryRead(): iam.Policy {
    const thingGroups = Stack.of(this).formatArn({
      service: 'iot',
      resource: 'thinggroup',
      resourceName: '*',
    });
    const policy = new iam.Policy(this, 'RegistryReadPolicy', {
      statements: [
        new iam.PolicyStatement({ actions: [...REGISTRY_READ_ACTIONS.unscoped], resources: ['*'] }),
        new iam.PolicyStatement({
          actions: [...REGISTRY_READ_ACTIONS.thingGroups],
          resources: [thingGroups],
        }),
      ],
    });
    this.role.attachInlinePolicy(policy);
    acknowledge(
      policy,
      'AwsSolutions-IAM5[Resource::*]',
      'iot:ListThings and iot:ListThingGroups support no resource-level permissions (AWS IoT: how AWS IoT works with IAM); both only list names and attributes, read-only.',
    );
    acknowledge(
      policy,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thinggroup/*]',
      'The export describes and lists the members of every thing group of this account and region, whatever their names; read-only.',
    );
    return policy;
  }

  /**
   * Write the two export objects, and nothing else, with the key for SSE-KMS. A single PUT needs
   * kms:GenerateDataKey only (kms:Decrypt is for multipart uploads, which the function does not make).
   */
  private grantWriteExport(bucket: s3.IBucket, key: kms.IKey): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [
          bucket.arnForObjects(IOT_REGISTRY_THING_GROUPS_KEY),
          bucket.arnForObjects(IOT_REGISTRY_THINGS_KEY),
        ],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [key.keyArn] }),
    );
  }

  /** One of the function's own EMF metrics (namespace `Sdap`, dimension `service`), summed per period. */
  public metricCount(name: RegistryExportMetricName, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: REGISTRY_EXPORT_METRICS[name],
      dimensionsMap: { service: REGISTRY_EXPORT_SERVICE_NAME },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.hours(1),
      ...props,
    });
  }
}
