/**
 * The warehouse load Lambda: a thin middy adapter around `loadWindow`. The ETL workflow invokes it
 * after each window's Glue run with the window (see load-event.ts); it answers how many partitions
 * are left, and the workflow invokes it again until none are. Errors are named for the workflow:
 * `WarehouseLoadTransientError` is retried, `WarehouseLoadError` and `InvalidLoadEventError` are not.
 */

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import type { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createS3Client } from '../shared/aws-clients.ts';
import { requiredEnv } from '../shared/env.ts';
import {
  createRedshiftDataClient,
  RedshiftDataExecutor,
  type RedshiftDataExecutorOptions,
  type RedshiftDataTarget,
} from '../shared/redshift-data.ts';
import { WAREHOUSE_LOAD_ENV, WAREHOUSE_LOAD_METRICS } from '../shared/warehouse-names.ts';
import { type LoadResult, parseLoadEvent } from './load-event.ts';
import { loadWindow } from './load-window.ts';
import { logger, metrics } from './observability.ts';

/**
 * Time kept back from the invocation's deadline: a statement still running then is cancelled (its
 * transaction rolls back) and the function fails as transient, rather than being killed mid-poll.
 */
export const CANCEL_MARGIN_MS = 30_000;
/** Shown in the Data API's statement list and Redshift's query history. */
export const LOAD_STATEMENT_NAME = 'sdap-warehouse-load';

export interface LoadHandlerDeps {
  readonly s3: S3Client;
  readonly redshiftData: RedshiftDataClient;
  readonly target: RedshiftDataTarget;
  readonly curatedBucket: string;
  readonly copyRoleArn: string;
  /** Polling settings for tests; the deadline always comes from the invocation. */
  readonly executorOptions?: Omit<RedshiftDataExecutorOptions, 'deadlineMs' | 'statementName'>;
  /** @default - Date.now */
  readonly now?: () => number;
}

/** Builds the handler around its dependencies; Lambda uses `handler` below, the tests their own. */
export function createHandler(resolveDeps: () => LoadHandlerDeps) {
  return middy(async (event: unknown, context: Context): Promise<LoadResult> => {
    const request = parseLoadEvent(event);
    const deps = resolveDeps();
    const now = deps.now ?? Date.now;
    const deadlineMs = now() + context.getRemainingTimeInMillis();
    const executor = new RedshiftDataExecutor(deps.redshiftData, deps.target, {
      ...deps.executorOptions,
      now,
      statementName: LOAD_STATEMENT_NAME,
      deadlineMs: deadlineMs - CANCEL_MARGIN_MS,
    });
    const result = await loadWindow(request, {
      s3: deps.s3,
      curatedBucket: deps.curatedBucket,
      copyRoleArn: deps.copyRoleArn,
      executor,
      deadlineMs: deadlineMs - CANCEL_MARGIN_MS,
      now,
      onLoaded: (partition, tables) => logger.info('partition loaded', { partition, tables }),
    });
    metrics.addMetric(WAREHOUSE_LOAD_METRICS.partitionsLoaded, MetricUnit.Count, result.partitionsLoaded);
    logger.info('warehouse load done', { window: request, ...result });
    return result;
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}

/** Bounded S3 attempts: a listing that still fails is a transient error the workflow retries later. */
const S3_MAX_ATTEMPTS = 3;
let clients: { s3: S3Client; redshiftData: RedshiftDataClient } | undefined;

/** Dependencies of the deployed function: names from the environment, clients built once. */
function depsFromEnvironment(): LoadHandlerDeps {
  clients ??= { s3: createS3Client({}, S3_MAX_ATTEMPTS), redshiftData: createRedshiftDataClient() };
  return {
    ...clients,
    target: {
      workgroupName: requiredEnv(WAREHOUSE_LOAD_ENV.workgroupName),
      database: requiredEnv(WAREHOUSE_LOAD_ENV.databaseName),
      secretArn: requiredEnv(WAREHOUSE_LOAD_ENV.adminSecretArn),
    },
    curatedBucket: requiredEnv(WAREHOUSE_LOAD_ENV.curatedBucket),
    copyRoleArn: requiredEnv(WAREHOUSE_LOAD_ENV.copyRoleArn),
  };
}

export const handler = createHandler(depsFromEnvironment);
