import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, S3OnFailureDestination } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  DEVICE_BASELINES_PREFIX,
  METRICS_NAMESPACE,
  VALIDATOR_ENV,
  VALIDATOR_METRICS,
  VALIDATOR_SERVICE_NAME,
} from '../../lambdas/shared/pipeline-names.ts';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_BATCHING_WINDOW_SECONDS,
  DEFAULT_PARALLELIZATION_FACTOR,
  DEFAULT_RETRY_ATTEMPTS,
  MAX_EVENT_SOURCE_RECORD_AGE_SECONDS,
} from '../config.ts';
import { FAILURE_PREFIXES } from '../lake/telemetry-lake.ts';
import { acknowledge, nagReference } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';
import type { TelemetryStream } from './telemetry-stream.ts';

// The event source mapping's defaults are the stage defaults; re-exported as this construct's own.
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_BATCHING_WINDOW_SECONDS,
  DEFAULT_PARALLELIZATION_FACTOR,
  DEFAULT_RETRY_ATTEMPTS,
};

/** The validator's handler module; its export `handler` is the Lambda entry point. */
export const VALIDATOR_ENTRY = join(REPO_ROOT, 'lambdas', 'validator', 'handler.ts');

/**
 * 512 MB: Lambda allots CPU in proportion to memory, and a batch of up to 6 MB of base64 payloads
 * is decoded, gunzipped, parsed with zod and gzipped again in one go; 512 MB gives about a third of a
 * vCPU and headroom for that buffer several times over, at a cost per record that is not the
 * pipeline's driver (AWS-FACTS: IoT messaging is). The benchmark is where a change is justified.
 */
export const DEFAULT_VALIDATOR_MEMORY_MB = 512;
/**
 * 60 s: a batch takes well under a second of CPU plus a few S3/EventBridge/SNS calls; 60 s leaves
 * room for the SDK's retries with backoff on a throttled S3 prefix, while a hung call fails the batch
 * within a minute so that bisection and the bounded retries take over instead of the shard stalling
 * for Lambda's maximum of 15 minutes.
 */
export const DEFAULT_VALIDATOR_TIMEOUT_SECONDS = 60;
export const DEFAULT_VALIDATOR_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;
/**
 * The default maximum record age as a share of the stream retention: records are handed to the
 * on-failure destination well before the stream trims them.
 */
export const DEFAULT_MAX_RECORD_AGE_FRACTION = 0.8;

/** An EMF metric the validator emits (see `VALIDATOR_METRICS`). */
export type ValidatorMetricName = keyof typeof VALIDATOR_METRICS;

export interface TelemetryValidatorProps {
  readonly stream: TelemetryStream;
  readonly rawBucket: s3.IBucket;
  readonly quarantineBucket: s3.IBucket;
  /** The event source mapping's on-failure destination: it keeps whole records (SQS/SNS keep metadata only). */
  readonly failuresBucket: s3.IBucket;
  /** Encrypts the alert bus and the critical-alert topic. */
  readonly encryptionKey: kms.IKey;
  /** @default {@link DEFAULT_VALIDATOR_MEMORY_MB} = 512 */
  readonly memorySizeMb?: number;
  /** @default {@link DEFAULT_VALIDATOR_TIMEOUT_SECONDS} = 60 */
  readonly timeoutSeconds?: number;
  /** @default {@link DEFAULT_VALIDATOR_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** @default - no reserved concurrency */
  readonly reservedConcurrency?: number;
  /** @default {@link DEFAULT_BATCH_SIZE} = 100 */
  readonly batchSize?: number;
  /** @default {@link DEFAULT_MAX_BATCHING_WINDOW_SECONDS} = 1 */
  readonly maxBatchingWindowSeconds?: number;
  /** @default {@link DEFAULT_PARALLELIZATION_FACTOR} = 1 */
  readonly parallelizationFactor?: number;
  /** @default {@link DEFAULT_RETRY_ATTEMPTS} = 10 */
  readonly retryAttempts?: number;
  /**
   * Must be below the stream's retention, or records expire before reaching the on-failure
   * destination.
   * @default {@link DEFAULT_MAX_RECORD_AGE_FRACTION} = 0.8 of the stream's retention
   */
  readonly maxRecordAgeSeconds?: number;
  /** For the log group, the alert bus and the topic. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The S3 on-failure destination with the permissions Lambda documents for it (s3:PutObject,
 * s3:ListBucket, and kms:GenerateDataKey for a KMS-encrypted bucket), scoped to the objects the
 * event source mapping writes. The stock destination grants read and write on the whole bucket.
 */
export class FailureRecordsDestination extends S3OnFailureDestination {
  private readonly failuresBucket: s3.IBucket;

  constructor(bucket: s3.IBucket) {
    super(bucket);
    this.failuresBucket = bucket;
  }

  override bind(
    _target: lambda.IEventSourceMapping,
    targetHandler: lambda.IFunction,
  ): lambda.DlqDestinationConfig {
    const keyPattern = `${FAILURE_PREFIXES.streamFailures}*`;
    targetHandler.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.failuresBucket.arnForObjects(keyPattern)],
      }),
    );
    targetHandler.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.failuresBucket.bucketArn] }),
    );
    if (this.failuresBucket.encryptionKey) {
      targetHandler.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kms:GenerateDataKey'],
          resources: [this.failuresBucket.encryptionKey.keyArn],
        }),
      );
    }
    const bucketResource = this.failuresBucket.node.defaultChild;
    if (targetHandler.role && bucketResource instanceof s3.CfnBucket) {
      acknowledge(
        targetHandler.role,
        `AwsSolutions-IAM5[Resource::${nagReference(bucketResource)}/${keyPattern}]`,
        'Lambda names on-failure objects aws/lambda/<mapping id>/<shard>/<date>/...; the prefix is as narrow as the service allows.',
      );
    }
    return { destination: this.failuresBucket.bucketArn };
  }
}

/**
 * The validator: a Node.js Lambda fed by the telemetry stream through an event source mapping that
 * reports partial batch failures, bisects failing batches, bounds retries and record age, and keeps
 * what it gives up on in the failures bucket. It writes valid readings and the alerts they raise to
 * raw and rejected input to quarantine (the stack grants those, with the lake's `grantWriteRaw`,
 * `grantWriteAlerts` and `grantWriteQuarantine`), and raises alerts on its EventBridge bus and SNS
 * topic.
 */
export class TelemetryValidator extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly eventSource: KinesisEventSource;
  /** Receives every telemetry alert (source `sdap.telemetry`). */
  public readonly alertBus: events.EventBus;
  /** Receives critical alerts only, for humans to subscribe to. */
  public readonly criticalAlertTopic: sns.Topic;
  public readonly maxRecordAge: Duration;

  constructor(scope: Construct, id: string, props: TelemetryValidatorProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retentionSeconds = props.stream.retention.toSeconds();
    const maxRecordAgeSeconds =
      props.maxRecordAgeSeconds ??
      Math.min(
        Math.floor(retentionSeconds * DEFAULT_MAX_RECORD_AGE_FRACTION),
        MAX_EVENT_SOURCE_RECORD_AGE_SECONDS,
      );
    if (maxRecordAgeSeconds >= retentionSeconds) {
      throw new Error(
        `TelemetryValidator maxRecordAgeSeconds: received ${maxRecordAgeSeconds}, expected below the stream retention (${retentionSeconds} s)`,
      );
    }
    this.maxRecordAge = Duration.seconds(maxRecordAgeSeconds);

    this.alertBus = new events.EventBus(this, 'AlertBus', {
      description: 'Telemetry alerts raised by the validator',
      kmsKey: props.encryptionKey,
    });
    this.alertBus.applyRemovalPolicy(removalPolicy);
    this.criticalAlertTopic = new sns.Topic(this, 'CriticalAlertTopic', {
      displayName: 'SDAP critical telemetry alerts',
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });
    this.criticalAlertTopic.applyRemovalPolicy(removalPolicy);

    const parts = createProjectFunction(this, {
      entry: VALIDATOR_ENTRY,
      description: 'Validates telemetry from the stream into the raw and quarantine zones',
      roleDescription: 'Execution role of the telemetry validator',
      serviceName: VALIDATOR_SERVICE_NAME,
      memorySizeMb: props.memorySizeMb ?? DEFAULT_VALIDATOR_MEMORY_MB,
      timeoutSeconds: props.timeoutSeconds ?? DEFAULT_VALIDATOR_TIMEOUT_SECONDS,
      logRetentionDays: props.logRetentionDays ?? DEFAULT_VALIDATOR_LOG_RETENTION_DAYS,
      removalPolicy,
      environment: {
        [VALIDATOR_ENV.rawBucket]: props.rawBucket.bucketName,
        [VALIDATOR_ENV.quarantineBucket]: props.quarantineBucket.bucketName,
        [VALIDATOR_ENV.alertBus]: this.alertBus.eventBusName,
        [VALIDATOR_ENV.criticalAlertTopic]: this.criticalAlertTopic.topicArn,
      },
      functionOptions: { reservedConcurrentExecutions: props.reservedConcurrency },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;
    acknowledge(
      this.function,
      'Serverless-LambdaDLQ',
      "Only the Kinesis event source mapping invokes this function, synchronously; a DLQ serves asynchronous invocations. Failed records go to the mapping's S3 on-failure destination.",
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    );

    this.alertBus.grantPutEventsTo(this.role);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.criticalAlertTopic.topicArn] }),
    );
    // The topic's SSE needs a data key from the publisher's side.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [props.encryptionKey.keyArn],
      }),
    );

    this.eventSource = new KinesisEventSource(props.stream.stream, {
      // The oldest record first: a new mapping (or one recreated) must not skip retained data.
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize ?? DEFAULT_BATCH_SIZE,
      maxBatchingWindow: Duration.seconds(
        props.maxBatchingWindowSeconds ?? DEFAULT_MAX_BATCHING_WINDOW_SECONDS,
      ),
      parallelizationFactor: props.parallelizationFactor ?? DEFAULT_PARALLELIZATION_FACTOR,
      // Invalid records are quarantined and reported processed; only transient failures come back,
      // and Lambda retries from the lowest failed sequence number.
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: props.retryAttempts ?? DEFAULT_RETRY_ATTEMPTS,
      maxRecordAge: this.maxRecordAge,
      onFailure: new FailureRecordsDestination(props.failuresBucket),
    });
    this.function.addEventSource(this.eventSource);
  }

  /**
   * Scores every batch's valid readings with the anomaly model's endpoint: the function learns the
   * endpoint and the curated bucket, may list that bucket's baselines and read them (decrypting with
   * its key). Calling the endpoint is granted by the endpoint's owner (`ModelEndpoints.grantInvoke`).
   */
  public scoreWith(endpointName: string, curatedBucket: s3.IBucket): void {
    this.function.addEnvironment(VALIDATOR_ENV.anomalyEndpoint, endpointName);
    this.function.addEnvironment(VALIDATOR_ENV.curatedBucket, curatedBucket.bucketName);
    const baselines = `${DEVICE_BASELINES_PREFIX}/`;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [curatedBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${baselines}*`] } },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [curatedBucket.arnForObjects(`${baselines}*`)],
      }),
    );
    curatedBucket.encryptionKey?.grantDecrypt(this.role);
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::${nagReference(curatedBucket.node.defaultChild as s3.CfnBucket)}/${baselines}*]`,
      "Reads the device baselines the ETL writes as one Parquet partition a day (device_baselines/event_date=D/): the day's object names are the ETL's, so the read covers that prefix only, and nothing else of the curated bucket.",
    );
  }

  /** One of the validator's own EMF metrics (namespace `Sdap`, dimension `service`), summed per period. */
  public metricCount(name: ValidatorMetricName, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: VALIDATOR_METRICS[name],
      dimensionsMap: { service: VALIDATOR_SERVICE_NAME },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  /**
   * Times Lambda failed to deliver to the on-failure destination: records that neither the function
   * nor the destination kept.
   */
  public metricDestinationDeliveryFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metric('DestinationDeliveryFailures', {
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }
}
