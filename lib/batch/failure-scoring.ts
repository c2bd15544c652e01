import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  FAILURE_SCORING_ENV,
  FAILURE_SCORING_SERVICE_NAME,
  ML_FEATURES_PREFIX,
  SCORING_VARIANT,
} from '../../lambdas/failure-scoring/names.ts';
import { PREDICTIONS } from '../../warehouse/curated-tables.ts';
import type { TelemetryLake } from '../lake/telemetry-lake.ts';
import { acknowledge } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';

const SCORING_ENTRY = join(REPO_ROOT, 'lambdas', 'failure-scoring', 'handler.ts');
/**
 * Lambda's longest. A scheduled window is at most about 200 hours (7 days of late readings and
 * the period), a backfill run 24: each hour is one read of its features and one call or a few, well
 * under a second; the time left covers the calls' retries (up to 4 attempts of 30 s each) on one of them.
 */
export const FAILURE_SCORING_TIMEOUT_SECONDS = 900;
/** One hour's features at a time: thousands of rows of 40 columns, far from the limit. */
export const FAILURE_SCORING_MEMORY_MB = 1024;
export const DEFAULT_FAILURE_SCORING_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;

export interface FailureScoringProps {
  /** The lake whose `ml_features/` is read and `predictions/` rewritten. */
  readonly lake: TelemetryLake;
  /** The SageMaker endpoint serving the failure model; invoking it is granted by the caller. */
  readonly endpointName: string;
  /**
   * The version of the model the endpoint's champion serves, written into every prediction
   * (`modelVersionOf` of the model's JSON, lambdas/failure-scoring/names.ts).
   */
  readonly modelVersion: string;
  /** @default {@link DEFAULT_FAILURE_SCORING_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The function the ETL workflow calls after each window's Glue run: it scores the window's
 * device-hours (`ml_features/`) with the failure model on its SageMaker endpoint (always the
 * champion variant) and rewrites the window's `predictions/` partitions, which the warehouse load
 * then merges into `fact_prediction` (see lambdas/failure-scoring/). It reads `ml_features/` and
 * rewrites `predictions/` of the curated bucket, and nothing else of the lake.
 */
export class FailureScoring extends Construct {
  public readonly function: lambda.IFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: FailureScoringProps) {
    super(scope, id);
    const { lake } = props;
    if (!/^[0-9a-f]{16}$/.test(props.modelVersion)) {
      throw new Error(
        `FailureScoring modelVersion: received '${props.modelVersion}', expected 16 hex digits (modelVersionOf the model's JSON)`,
      );
    }
    this.timeout = Duration.seconds(FAILURE_SCORING_TIMEOUT_SECONDS);
    const parts = createProjectFunction(this, {
      entry: SCORING_ENTRY,
      description: `Scores each ETL window's device-hours on ${props.endpointName} into predictions/`,
      roleDescription: 'Execution role of the failure-scoring function',
      serviceName: FAILURE_SCORING_SERVICE_NAME,
      memorySizeMb: FAILURE_SCORING_MEMORY_MB,
      timeoutSeconds: FAILURE_SCORING_TIMEOUT_SECONDS,
      logRetentionDays: props.logRetentionDays ?? DEFAULT_FAILURE_SCORING_LOG_RETENTION_DAYS,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      environment: {
        [FAILURE_SCORING_ENV.curatedBucket]: lake.curatedBucket.bucketName,
        [FAILURE_SCORING_ENV.endpointName]: props.endpointName,
        [FAILURE_SCORING_ENV.endpointVariant]: SCORING_VARIANT,
        [FAILURE_SCORING_ENV.modelVersion]: props.modelVersion,
      },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;

    lake.grantRead(this.role, 'curated', [ML_FEATURES_PREFIX], 'the ML features the ETL writes');
    lake.grantReadWriteCurated(this.role, [PREDICTIONS.prefix], 'the predictions of each window');
    acknowledge(
      parts.function,
      'Serverless-LambdaDLQ',
      'Only the ETL workflow invokes this function, synchronously; it retries transient failures and reports the rest to on-call. There is no asynchronous invocation to dead-letter.',
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray tracing supports no resource-level permission.',
    );
  }
}
