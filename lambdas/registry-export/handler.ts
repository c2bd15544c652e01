/**
 * The registry-export Lambda: a thin middy adapter around `exportRegistry`. EventBridge Scheduler
 * invokes it hourly (`{"scheduledTime": ...}`, logged only); an operator may invoke it with any event
 * to export now. It fails when the registry cannot be read whole, leaving the previous export in place.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { requiredEnv } from '../shared/env.ts';
import { createRegistryExportClients, type RegistryExportClients } from './clients.ts';
import { exportRegistry, type RegistryExportDeps, type RegistryExportSummary } from './export-registry.ts';
import { REGISTRY_EXPORT_ENV, REGISTRY_EXPORT_METRICS } from './names.ts';
import { logger, metrics } from './observability.ts';

/**
 * Time kept back from the function's timeout when the run stops starting thing groups: the groups in
 * flight finishing their retries (the SDK waits up to 20 s between attempts) and the two PUTs, so the
 * run fails with its own message rather than being stopped by Lambda.
 */
export const RUN_SAFETY_MARGIN_MS = 60_000;

/** Everything a run needs except its deadline, which comes from the Lambda context. */
export type RegistryExportHandlerDeps = Omit<RegistryExportDeps, 'deadlineMs'>;

/** Builds the handler around its dependencies; Lambda uses `handler` below, the tests their own. */
export function createHandler(resolveDeps: () => RegistryExportHandlerDeps) {
  return middy(async (event: unknown, context: Context): Promise<RegistryExportSummary> => {
    const deps = resolveDeps();
    const now = deps.now ?? Date.now;
    const scheduledTime = (event as { scheduledTime?: unknown } | null)?.scheduledTime;
    try {
      const summary = await exportRegistry({
        ...deps,
        deadlineMs: now() + context.getRemainingTimeInMillis() - RUN_SAFETY_MARGIN_MS,
      });
      record(summary, scheduledTime);
      return summary;
    } catch (error) {
      logger.error('registry export failed; the previous export stays in place', {
        scheduledTime,
        error: error as Error,
      });
      throw error;
    }
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}

function record(summary: RegistryExportSummary, scheduledTime: unknown): void {
  metrics.addMetric(REGISTRY_EXPORT_METRICS.things, MetricUnit.Count, summary.things);
  metrics.addMetric(REGISTRY_EXPORT_METRICS.thingGroups, MetricUnit.Count, summary.thingGroups);
  const calls = Object.values(summary.calls).reduce((sum, count) => sum + count, 0);
  metrics.addMetric(REGISTRY_EXPORT_METRICS.apiCalls, MetricUnit.Count, calls);
  if (summary.thingGroupsVanished.length > 0) {
    logger.warn('thing groups deleted during the run were left out', {
      thingGroupsVanished: summary.thingGroupsVanished,
    });
  }
  logger.info('registry export written', { scheduledTime, ...summary });
}

let clients: RegistryExportClients | undefined;

/** Dependencies of the deployed function: the bucket from the environment, clients built once. */
function depsFromEnvironment(): RegistryExportHandlerDeps {
  clients ??= createRegistryExportClients();
  return { ...clients, rawBucket: requiredEnv(REGISTRY_EXPORT_ENV.rawBucket) };
}

export const handler = createHandler(depsFromEnvironment);
