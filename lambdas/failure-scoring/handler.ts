/**
 * The failure-scoring Lambda: a thin middy adapter around `scoreWindow`. The ETL workflow invokes it
 * after each window's Glue run with the event hours the run rebuilt (see scoring-event.ts); it
 * scores their device-hours on the failure model's endpoint and rewrites their predictions, before
 * the warehouse load picks them up. Errors are named for the workflow (names.ts): an unavailable
 * endpoint is retried once more after a pause, everything else is caught and reported.
 *
 * Metrics (namespace `Sdap`): `RowsScored` (dimensions `service`, `Model`), `HighScoreShare` with
 * `Model` alone, the dimensions the failure model's drift alarm watches (lib/ml/model-endpoints.ts,
 * `HIGH_SCORE_SHARE_SERVICE`), and `PredictionPartitionsWritten` (`service`).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createS3Client, createSageMakerRuntimeClient } from '../shared/aws-clients.ts';
import { requiredEnv } from '../shared/env.ts';
import { SCORING_DIMENSIONS, SCORING_METRICS } from '../shared/pipeline-names.ts';
import { FAILURE_SCORING_ENV, FAILURE_SCORING_METRICS } from './names.ts';
import { logger, metrics } from './observability.ts';
import { type ScoreWindowDeps, scoreWindow } from './score-window.ts';
import { parseScoringEvent, type ScoringResult } from './scoring-event.ts';

/** Where the function's metrics go: Powertools' single metrics, each flushed with its own dimensions. */
export interface ScoringMetricsSink {
  singleMetric(): {
    clearDefaultDimensions(): void;
    addDimension(name: string, value: string): unknown;
    addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): unknown;
  };
}

export interface FailureScoringHandlerDeps extends ScoreWindowDeps {
  /** @default the function's Powertools metrics */
  readonly metrics?: ScoringMetricsSink;
}

/** Puts the run's metrics: `RowsScored` (service, Model) and `HighScoreShare` (Model alone). */
export function publishScoringMetrics(result: ScoringResult, sink: ScoringMetricsSink = metrics): void {
  const rows = sink.singleMetric();
  rows.addDimension(SCORING_DIMENSIONS.model, result.model.name);
  rows.addMetric(SCORING_METRICS.rowsScored, MetricUnit.Count, result.rowsScored);
  if (result.highScoreShare === null) return;
  const share = sink.singleMetric();
  // A CloudWatch metric is its full set of dimensions: the drift alarm's has no `service`.
  share.clearDefaultDimensions();
  share.addDimension(SCORING_DIMENSIONS.model, result.model.name);
  share.addMetric(SCORING_METRICS.highScoreShare, MetricUnit.Percent, result.highScoreShare);
}

/** Builds the handler around its dependencies; Lambda uses `handler` below, the twin and tests their own. */
export function createHandler(resolveDeps: () => FailureScoringHandlerDeps) {
  return middy(async (event: unknown, _context: Context): Promise<ScoringResult> => {
    const window = parseScoringEvent(event);
    const deps = resolveDeps();
    let result: ScoringResult;
    try {
      result = await scoreWindow(window, deps);
    } catch (error) {
      logger.error('failure scoring failed: no prediction of the window was written', {
        window: event as Record<string, unknown>,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      throw error;
    }
    publishScoringMetrics(result, deps.metrics);
    metrics.addMetric(FAILURE_SCORING_METRICS.partitionsWritten, MetricUnit.Count, result.partitionsWritten);
    logger.info('failure scoring done', { ...result });
    return result;
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}

/** Bounded S3 attempts: a call that still fails fails the run, which the workflow reports. */
const S3_MAX_ATTEMPTS = 3;
let clients: { s3: S3Client; sageMakerRuntime: SageMakerRuntimeClient } | undefined;

/** Dependencies of the deployed function: names from the environment, clients built once. */
function depsFromEnvironment(): FailureScoringHandlerDeps {
  // The SageMaker client makes one attempt per call: the scoring retries itself.
  clients ??= { s3: createS3Client({}, S3_MAX_ATTEMPTS), sageMakerRuntime: createSageMakerRuntimeClient() };
  return {
    ...clients,
    curatedBucket: requiredEnv(FAILURE_SCORING_ENV.curatedBucket),
    endpointName: requiredEnv(FAILURE_SCORING_ENV.endpointName),
    endpointVariant: requiredEnv(FAILURE_SCORING_ENV.endpointVariant),
    modelVersion: requiredEnv(FAILURE_SCORING_ENV.modelVersion),
  };
}

export const handler = createHandler(depsFromEnvironment);
