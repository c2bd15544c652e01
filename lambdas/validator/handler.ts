/**
 * The validator Lambda: a thin middy adapter around `processKinesisBatch`.
 * Wired to the telemetry stream by an event source mapping with ReportBatchItemFailures.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { createSageMakerRuntimeClient, createValidatorClients } from '../shared/aws-clients.ts';
import { optionalPositiveIntegerEnv, requiredEnv } from '../shared/env.ts';
import { logger, metrics } from '../shared/observability.ts';
import { VALIDATOR_ENV, VALIDATOR_METRICS } from '../shared/pipeline-names.ts';
import { type AnomalyScoring, createAnomalyScoring } from './anomaly-scoring.ts';
import { type BatchOutcome, processKinesisBatch, type ValidatorDeps } from './process-batch.ts';

/**
 * Builds the handler around its dependencies. Lambda uses `handler` below (dependencies from the
 * environment); the twin and the tests pass their own clients and bucket names.
 */
export function createHandler(resolveDeps: () => ValidatorDeps) {
  return middy(async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
    const outcome = await processKinesisBatch(event, resolveDeps());
    record(outcome);
    return outcome.response;
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}

function record(outcome: BatchOutcome): void {
  metrics.addMetric(VALIDATOR_METRICS.readingsValid, MetricUnit.Count, outcome.valid);
  metrics.addMetric(VALIDATOR_METRICS.readingsQuarantined, MetricUnit.Count, outcome.quarantined);
  metrics.addMetric(VALIDATOR_METRICS.duplicatesDropped, MetricUnit.Count, outcome.duplicatesDropped);
  metrics.addMetric(VALIDATOR_METRICS.alertsRaised, MetricUnit.Count, outcome.alerts.length);
  metrics.addMetric(VALIDATOR_METRICS.recordsRetried, MetricUnit.Count, outcome.failed.length);
  const { response: _response, alerts: _alerts, ...counts } = outcome;
  if (outcome.failed.length > 0) {
    logger.warn('records failed transiently and will be retried', { ...counts });
  } else {
    logger.info('batch processed', { ...counts });
  }
}

let environmentDeps: ValidatorDeps | undefined;

/**
 * Dependencies of the deployed function, read once per execution environment (so the baseline
 * cache, the devices' signal history and the circuit breaker last as long as it does).
 */
function depsFromEnvironment(): ValidatorDeps {
  if (!environmentDeps) {
    const clients = createValidatorClients();
    const scoring = scoringFromEnvironment(clients.s3);
    environmentDeps = {
      rawBucket: requiredEnv(VALIDATOR_ENV.rawBucket),
      quarantineBucket: requiredEnv(VALIDATOR_ENV.quarantineBucket),
      alertBusName: requiredEnv(VALIDATOR_ENV.alertBus),
      criticalAlertTopicArn: requiredEnv(VALIDATOR_ENV.criticalAlertTopic),
      clients,
      ...(scoring && { scoring }),
    };
  }
  return environmentDeps;
}

/** The anomaly scoring when the environment names an endpoint; none (rules only) otherwise. */
export function scoringFromEnvironment(
  s3: ValidatorDeps['clients']['s3'],
  env: NodeJS.ProcessEnv = process.env,
): AnomalyScoring | undefined {
  const endpointName = env[VALIDATOR_ENV.anomalyEndpoint]?.trim();
  if (!endpointName) return undefined;
  const maxAgeSeconds = optionalPositiveIntegerEnv(VALIDATOR_ENV.baselineMaxAgeSeconds, env);
  return createAnomalyScoring({
    endpointName,
    curatedBucket: requiredEnv(VALIDATOR_ENV.curatedBucket, env),
    s3,
    sageMakerRuntime: createSageMakerRuntimeClient(),
    ...(maxAgeSeconds !== undefined && { baselineMaxAgeMs: maxAgeSeconds * 1000 }),
  });
}

export const handler = createHandler(depsFromEnvironment);
