/**
 * The erasure function: a thin middy adapter that the erasure workflow (lib/governance/) invokes for
 * each step of one device's erasure (see erasure-event.ts). Errors are named for the workflow:
 * `ErasureTransientError` is retried, `InvalidErasureRequestError` and `ErasureIncompleteError` go
 * to on-call.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import type { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createS3Client } from '../shared/aws-clients.ts';
import { requiredEnv } from '../shared/env.ts';
import {
  createRedshiftDataClient,
  isTransientRedshiftError,
  RedshiftDataExecutor,
  type RedshiftDataTarget,
} from '../shared/redshift-data.ts';
import { writeAuditRecord } from './audit-record.ts';
import { ErasureTransientError, InvalidErasureRequestError, parseErasureEvent } from './erasure-event.ts';
import { ERASURE_ENV, ERASURE_ZONES, type ErasureZone } from './names.ts';
import { logger } from './observability.ts';
import { sweepVersions } from './sweep-versions.ts';
import { eraseFromWarehouse } from './warehouse-erasure.ts';

/** Time kept back from the invocation's deadline: no new page or statement starts after it. */
export const DEADLINE_MARGIN_MS = 120_000;
/** Shown in the Data API's statement list and Redshift's query history. */
export const ERASURE_STATEMENT_NAME = 'sdap-device-erasure';

export interface ErasureHandlerDeps {
  readonly s3: S3Client;
  readonly zoneBuckets: Readonly<Record<ErasureZone, string>>;
  readonly auditBucket: string;
  /** The warehouse; undefined on a stage without one. */
  readonly warehouse?: { readonly client: RedshiftDataClient; readonly target: RedshiftDataTarget };
  /** @default - Date.now */
  readonly now?: () => number;
}

/** Builds the handler around its dependencies; Lambda uses `handler` below, the tests their own. */
export function createHandler(resolveDeps: () => ErasureHandlerDeps) {
  return middy(async (event: unknown, context: Context) => {
    try {
      return await run(event, context, resolveDeps);
    } catch (error) {
      throw transientOrAsIs(error);
    }
  }).use(injectLambdaContext(logger));
}

/**
 * S3's server-side faults, throttling and timeouts, and the Data API's transient errors, become
 * {@link ErasureTransientError} for the workflow to retry; anything else (access denied, a bad
 * request, an incomplete erasure) stays as it is and reaches on-call.
 */
export function transientOrAsIs(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof ErasureTransientError) return error;
  const sdk = error as { $fault?: string; $retryable?: unknown };
  const transient =
    sdk.$fault === 'server' ||
    sdk.$retryable !== undefined ||
    error.name === 'TimeoutError' ||
    error.name === 'SlowDown' ||
    isTransientRedshiftError(error);
  return transient ? new ErasureTransientError(`${error.name}: ${error.message}`, { cause: error }) : error;
}

async function run(event: unknown, context: Context, resolveDeps: () => ErasureHandlerDeps) {
  const request = parseErasureEvent(event);
  const deps = resolveDeps();
  const now = deps.now ?? Date.now;
  const deadlineMs = now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;
  // The id alone is logged: it is what the audit record keeps too.
  logger.appendKeys({ deviceId: request.deviceId, action: request.action });
  switch (request.action) {
    case 'sweep': {
      const result = await sweepVersions(request, {
        s3: deps.s3,
        bucket: deps.zoneBuckets[request.zone],
        deadlineMs,
        now,
        onLeftover: (key, versionId, why) =>
          logger.warn('version left', { zone: request.zone, key, versionId, why }),
      });
      logger.info('sweep page done', { mode: request.mode, ...result });
      return result;
    }
    case 'warehouse': {
      if (!deps.warehouse) return { rowsDeleted: {} };
      const executor = new RedshiftDataExecutor(deps.warehouse.client, deps.warehouse.target, {
        now,
        statementName: ERASURE_STATEMENT_NAME,
        deadlineMs,
      });
      const result = await eraseFromWarehouse(executor, request.deviceId);
      logger.info('warehouse erased', { ...result });
      return result;
    }
    case 'audit': {
      const written = await writeAuditRecord(
        deps.s3,
        deps.auditBucket,
        request,
        new Date(now()).toISOString(),
      );
      logger.info('audit record written', written);
      return written;
    }
  }
}

/** The zone → bucket map of the environment, every zone present. */
export function zoneBucketsOf(text: string): Record<ErasureZone, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const map = parsed as Partial<Record<ErasureZone, unknown>> | undefined;
  const missing = ERASURE_ZONES.filter((zone) => typeof map?.[zone] !== 'string' || map[zone] === '');
  if (map === undefined || missing.length > 0)
    throw new InvalidErasureRequestError(
      `environment variable ${ERASURE_ENV.zoneBuckets}: received ${JSON.stringify(text)}, expected a JSON object naming a bucket for each of ${ERASURE_ZONES.join(', ')}`,
    );
  return map as Record<ErasureZone, string>;
}

/** Bounded S3 attempts: a call that still fails is a transient error the workflow retries later. */
const S3_MAX_ATTEMPTS = 3;
let clients: { s3: S3Client; redshiftData?: RedshiftDataClient } | undefined;

/** Dependencies of the deployed function: names from the environment, clients built once. */
function depsFromEnvironment(): ErasureHandlerDeps {
  const workgroupName = process.env[ERASURE_ENV.workgroupName];
  clients ??= {
    s3: createS3Client({}, S3_MAX_ATTEMPTS),
    ...(workgroupName && { redshiftData: createRedshiftDataClient() }),
  };
  return {
    s3: clients.s3,
    zoneBuckets: zoneBucketsOf(requiredEnv(ERASURE_ENV.zoneBuckets)),
    auditBucket: requiredEnv(ERASURE_ENV.auditBucket),
    ...(workgroupName &&
      clients.redshiftData && {
        warehouse: {
          client: clients.redshiftData,
          target: {
            workgroupName,
            database: requiredEnv(ERASURE_ENV.databaseName),
            secretArn: requiredEnv(ERASURE_ENV.adminSecretArn),
          },
        },
      }),
  };
}

export const handler = createHandler(depsFromEnvironment);
