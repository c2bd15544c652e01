/**
 * The weather Lambda: a thin middy adapter around `ingestWeather`. EventBridge Scheduler invokes it
 * hourly with `{"scheduledTime": ...}`; an operator may invoke it with `{"from": ..., "to": ...}` to
 * backfill (see weather-event.ts). A provider outage never fails it; only the lake can.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { requiredEnv } from '../shared/env.ts';
import { WEATHER_ENV, WEATHER_METRICS } from '../shared/pipeline-names.ts';
import { createWeatherClients, readApiKey, type WeatherClients } from './clients.ts';
import { HttpWeatherProvider } from './http-weather-provider.ts';
import { ingestWeather, type WeatherIngestDeps, type WeatherRunSummary } from './ingest-weather.ts';
import { logger, metrics } from './observability.ts';
import { parseLookbackHours, RUN_SAFETY_MARGIN_MS, rangeOfEvent } from './weather-event.ts';

/** Everything a run needs except its deadline, which comes from the Lambda context. */
export interface WeatherHandlerDeps extends Omit<WeatherIngestDeps, 'deadlineMs'> {
  readonly lookbackHours: number;
}

/**
 * Builds the handler around its dependencies, resolved once per invocation (the API key is read from
 * Secrets Manager each time, so a rotated key is used from the next run on). Lambda uses `handler`
 * below; the twin and the tests pass their own.
 */
export function createHandler(resolveDeps: () => Promise<WeatherHandlerDeps>) {
  return middy(async (event: unknown, context: Context): Promise<WeatherRunSummary> => {
    const deps = await resolveDeps();
    const now = deps.now ?? Date.now;
    const range = rangeOfEvent(event, now(), deps.lookbackHours);
    const summary = await ingestWeather(range, {
      ...deps,
      deadlineMs: now() + context.getRemainingTimeInMillis() - RUN_SAFETY_MARGIN_MS,
    });
    record(summary);
    return summary;
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}

function record(summary: WeatherRunSummary): void {
  metrics.addMetric(WEATHER_METRICS.hoursFetched, MetricUnit.Count, summary.hoursFetched);
  metrics.addMetric(WEATHER_METRICS.hoursMissing, MetricUnit.Count, summary.hoursMissing);
  metrics.addMetric(WEATHER_METRICS.sitesFailed, MetricUnit.Count, summary.sitesFailed);
  const { failures, problems, ...counts } = summary;
  for (const problem of problems) logger.warn('registry or weather object left out', { problem });
  if (failures.length > 0) {
    logger.warn('weather provider gave no answer for some sites; their hours are recorded as gaps', {
      ...counts,
      failures,
    });
  } else {
    logger.info('weather run done', { ...counts });
  }
}

let clients: WeatherClients | undefined;

/** Dependencies of the deployed function: names from the environment, the key from Secrets Manager. */
async function depsFromEnvironment(): Promise<WeatherHandlerDeps> {
  clients ??= createWeatherClients();
  const secretId = process.env[WEATHER_ENV.apiKeySecretId];
  const apiKey = secretId ? await readApiKey(clients.secrets, secretId) : undefined;
  return {
    s3: clients.s3,
    rawBucket: requiredEnv(WEATHER_ENV.rawBucket),
    provider: new HttpWeatherProvider({
      name: requiredEnv(WEATHER_ENV.providerName),
      url: requiredEnv(WEATHER_ENV.providerUrl),
      ...(apiKey !== undefined && { apiKey }),
    }),
    lookbackHours: parseLookbackHours(WEATHER_ENV.lookbackHours, process.env[WEATHER_ENV.lookbackHours]),
  };
}

export const handler = createHandler(depsFromEnvironment);
