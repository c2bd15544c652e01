/**
 * The load function with the S3 and Redshift Data APIs mocked (aws-sdk-client-mock): which
 * partitions a window lists and loads (and which it must not: other hours, empty prefixes, an
 * ingest window's untouched hours), one BatchExecuteStatement per partition holding its COPY, oldest
 * first, resumable across invocations, and failures named for the workflow's retry and catch. The
 * SQL of a load is executed for real in test/warehouse/ (PGlite and DuckDB).
 */
import { readFileSync } from 'node:fs';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  DescribeStatementCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { ListObjectsV2Command, type ListObjectsV2CommandInput, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_BATCH_STATEMENTS, RedshiftDataExecutor } from '../../../lambdas/shared/redshift-data.ts';
import { WAREHOUSE_LOAD_ERRORS } from '../../../lambdas/shared/warehouse-names.ts';
import { createHandler, type LoadHandlerDeps } from '../../../lambdas/warehouse-load/handler.ts';
import {
  type LoadEvent,
  type LoadResult,
  parseLoadEvent,
} from '../../../lambdas/warehouse-load/load-event.ts';
import { loadWindow, PARTITION_TIME_BUDGET_MS } from '../../../lambdas/warehouse-load/load-window.ts';
import { CURATED_TABLES } from '../../../warehouse/curated-tables.ts';
import { partitionUnit } from '../../../warehouse/load.ts';
import { partitionStatements } from '../../../warehouse/loader.ts';

const BUCKET = 'sdap-test-curated';
const COPY_ROLE = 'arn:aws:iam::123456789012:role/sdap-test-copy';
const event = (name: string): LoadEvent =>
  parseLoadEvent(
    JSON.parse(readFileSync(new URL(`../../events/warehouse-load/${name}.json`, import.meta.url), 'utf8')),
  );
const context = (remainingMs = 900_000) =>
  ({
    functionName: 'warehouse-load',
    awsRequestId: 'test',
    getRemainingTimeInMillis: () => remainingMs,
  }) as unknown as Context;

/** When the scheduled run of scheduled-window.json rewrote its partitions, and long before. */
const REWRITTEN = new Date('2026-11-27T10:21:40Z');
const UNTOUCHED = new Date('2026-11-25T03:00:00Z');

/** The curated bucket: one file per partition, as the ETL writes it, with its modification time. */
const OBJECTS: ReadonlyArray<{ key: string; modified: Date }> = [
  ['device_registry/event_date=2026-11-27/part-00000.parquet', REWRITTEN],
  ['location_registry/event_date=2026-11-27/part-00000.parquet', REWRITTEN],
  ['device_daily_health/event_date=2026-11-27/part-00000.parquet', REWRITTEN],
  ['device_daily_health/event_date=2026-11-24/part-00000.parquet', REWRITTEN],
  ['device_daily_health/event_date=2026-11-23/part-00000.parquet', UNTOUCHED],
  ['device_hourly/event_date=2026-11-27/event_hour=09/part-00000.parquet', REWRITTEN],
  ['device_hourly/event_date=2026-11-27/event_hour=10/part-00000.parquet', REWRITTEN],
  ['device_hourly/event_date=2026-11-27/event_hour=12/part-00000.parquet', REWRITTEN],
  ['device_hourly/event_date=2026-11-24/event_hour=05/part-00000.parquet', REWRITTEN],
  ['device_hourly/event_date=2026-11-24/event_hour=06/part-00000.parquet', UNTOUCHED],
  ['dq_partition/event_date=2026-11-27/event_hour=09/part-00000.parquet', REWRITTEN],
  ['device_hourly/event_date=2026-11-19/event_hour=23/part-00000.parquet', REWRITTEN],
].map(([key, modified]) => ({ key: key as string, modified: modified as Date }));

const s3 = mockClient(S3Client);
const dataApi = mockClient(RedshiftDataClient);

/** ListObjectsV2 over OBJECTS, by prefix, two keys a page so that continuation is exercised. */
function serveListing(): void {
  s3.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
    const matching = OBJECTS.filter((object) => object.key.startsWith(input.Prefix ?? ''));
    const start = Number(input.ContinuationToken ?? 0);
    const page = matching.slice(start, start + 2);
    const more = start + 2 < matching.length;
    return {
      Contents: page.map((object) => ({ Key: object.key, LastModified: object.modified })),
      IsTruncated: more,
      ...(more && { NextContinuationToken: String(start + 2) }),
    };
  });
}

/** Every batch runs and finishes, except those whose id is given a Redshift error. */
function serveDataApi(errors: Record<string, string> = {}): void {
  let batches = 0;
  dataApi.on(BatchExecuteStatementCommand).callsFake(() => ({ Id: `batch-${++batches}` }));
  dataApi
    .on(DescribeStatementCommand)
    .callsFake((input: { Id: string }) =>
      errors[input.Id] === undefined
        ? { Id: input.Id, Status: 'FINISHED' }
        : { Id: input.Id, Status: 'FAILED', Error: errors[input.Id] },
    );
}

/** The partitions the batches sent so far COPY, in order, as `prefix` (one COPY per staging table). */
function copiedPrefixes(): string[] {
  return dataApi.commandCalls(BatchExecuteStatementCommand).map((call) => {
    const sqls = (call.args[0].input as BatchExecuteStatementCommandInput).Sqls ?? [];
    const prefixes = new Set(
      sqls.flatMap((sql) => /^COPY \S+ FROM 's3:\/\/[^/]+\/([^']+)'/.exec(sql)?.slice(1) ?? []),
    );
    expect(prefixes.size, 'one partition per transaction').toBe(1);
    return [...prefixes][0] as string;
  });
}

function deps(overrides: Partial<LoadHandlerDeps> = {}): LoadHandlerDeps {
  return {
    s3: new S3Client({ region: 'eu-west-1' }),
    redshiftData: new RedshiftDataClient({ region: 'eu-west-1' }),
    target: {
      workgroupName: 'sdap-test-warehouse',
      database: 'sdap',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift!x-AbCdEf',
    },
    curatedBucket: BUCKET,
    copyRoleArn: COPY_ROLE,
    executorOptions: { sleep: async () => undefined },
    ...overrides,
  };
}

beforeEach(() => {
  s3.reset();
  dataApi.reset();
  serveListing();
  serveDataApi();
});

describe('warehouse load handler', () => {
  it("loads an event window's existing partitions, days first then hour by hour, one transaction each", async () => {
    // Prepare
    const handler = createHandler(() => deps());

    // Act
    const result: LoadResult = await handler(event('backfill-window'), context());

    // Assess
    expect(copiedPrefixes()).toEqual([
      'device_daily_health/event_date=2026-11-27/',
      'device_registry/event_date=2026-11-27/',
      'location_registry/event_date=2026-11-27/',
      'device_hourly/event_date=2026-11-27/event_hour=09/',
      'dq_partition/event_date=2026-11-27/event_hour=09/',
      'device_hourly/event_date=2026-11-27/event_hour=10/',
    ]);
    expect(result).toEqual({
      partitionsFound: 6,
      partitionsLoaded: 6,
      remaining: 0,
      resumeAfter: 'device_hourly/2026-11-27/10',
    });
  });

  it('COPYs each partition from its curated prefix with the COPY role, within one batch of at most 40 statements', async () => {
    // Act
    await createHandler(() => deps())(event('backfill-window'), context());

    // Assess
    const batches = dataApi.commandCalls(BatchExecuteStatementCommand).map((call) => call.args[0].input);
    for (const batch of batches) {
      expect(batch).toMatchObject({
        WorkgroupName: 'sdap-test-warehouse',
        Database: 'sdap',
        StatementName: 'sdap-warehouse-load',
      });
      expect(batch.Sqls?.length).toBeLessThanOrEqual(MAX_BATCH_STATEMENTS);
    }
    const hourly = batches.find((batch) =>
      batch.Sqls?.some((sql) => sql.includes('device_hourly/event_date=2026-11-27/event_hour=09/')),
    );
    // device_hourly feeds two tables: two stages, each filled by its own COPY of the same prefix.
    expect(hourly?.Sqls?.filter((sql) => sql.startsWith('COPY '))).toEqual([
      `COPY stage_fact_telemetry_hourly_0 FROM 's3://${BUCKET}/device_hourly/event_date=2026-11-27/event_hour=09/' IAM_ROLE '${COPY_ROLE}' FORMAT AS PARQUET`,
      `COPY stage_fact_anomaly_1 FROM 's3://${BUCKET}/device_hourly/event_date=2026-11-27/event_hour=09/' IAM_ROLE '${COPY_ROLE}' FORMAT AS PARQUET`,
    ]);
    expect(hourly?.Sqls?.some((sql) => sql.startsWith('MERGE INTO analytics.fact_telemetry_hourly'))).toBe(
      true,
    );
  });

  it.each(CURATED_TABLES.map((table) => [table.name, table] as const))(
    'fits a partition of %s in one BatchExecuteStatement, so that it loads in one transaction',
    async (_name, source) => {
      // Act
      const { statements } = await partitionStatements(
        'redshift',
        { source, unit: partitionUnit('2026-11-27', source.scope === 'hour' ? '09' : undefined) },
        async () => ['COPY …'],
      );

      // Assess
      expect(statements.length).toBeGreaterThan(0);
      expect(statements.length).toBeLessThanOrEqual(MAX_BATCH_STATEMENTS);
    },
  );

  it('lists every curated table by day over the window, and never COPYs a prefix without objects', async () => {
    // Act
    await createHandler(() => deps())(event('backfill-window'), context());

    // Assess
    const listed = s3.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input.Prefix);
    expect(new Set(listed)).toEqual(
      new Set(CURATED_TABLES.map((table) => `${table.prefix}event_date=2026-11-27/`)),
    );
    expect(copiedPrefixes().some((prefix) => prefix.startsWith('anomaly_alerts/'))).toBe(false);
    expect(copiedPrefixes()).not.toContain('device_hourly/event_date=2026-11-27/event_hour=12/');
  });

  it('loads what a scheduled run rewrote: late hours days back and the hour after the window, not untouched ones', async () => {
    // Act
    const result = await createHandler(() => deps())(event('scheduled-window'), context());

    // Assess
    expect(copiedPrefixes()).toEqual([
      'device_daily_health/event_date=2026-11-24/',
      'device_hourly/event_date=2026-11-24/event_hour=05/',
      'device_daily_health/event_date=2026-11-27/',
      'device_registry/event_date=2026-11-27/',
      'location_registry/event_date=2026-11-27/',
      'device_hourly/event_date=2026-11-27/event_hour=09/',
      'dq_partition/event_date=2026-11-27/event_hour=09/',
      'device_hourly/event_date=2026-11-27/event_hour=10/',
    ]);
    expect(result.partitionsLoaded).toBe(8);
    // Seven days of late readings before the window, through the hour after it.
    const days = new Set(
      s3
        .commandCalls(ListObjectsV2Command)
        .map((call) => /event_date=([\d-]+)/.exec(call.args[0].input.Prefix ?? '')?.[1]),
    );
    expect([...days].sort()).toEqual([
      '2026-11-20',
      '2026-11-21',
      '2026-11-22',
      '2026-11-23',
      '2026-11-24',
      '2026-11-25',
      '2026-11-26',
      '2026-11-27',
    ]);
  });

  it('stops starting partitions when its time runs short, and the next invocation resumes after the last one', async () => {
    // Prepare
    const window = event('backfill-window');
    const loadDeps = {
      s3: new S3Client({ region: 'eu-west-1' }),
      curatedBucket: BUCKET,
      copyRoleArn: COPY_ROLE,
      executor: new RedshiftDataExecutor(new RedshiftDataClient({ region: 'eu-west-1' }), deps().target, {
        sleep: async () => undefined,
      }),
      now: () => 0,
    };

    // Act
    const first = await loadWindow(window, { ...loadDeps, deadlineMs: PARTITION_TIME_BUDGET_MS - 1 });
    const second = await loadWindow(
      { ...window, resumeAfter: first.resumeAfter },
      { ...loadDeps, deadlineMs: 900_000 },
    );

    // Assess
    expect(first).toEqual({
      partitionsFound: 6,
      partitionsLoaded: 1,
      remaining: 5,
      resumeAfter: 'device_daily_health/2026-11-27',
    });
    expect(second).toEqual({
      partitionsFound: 6,
      partitionsLoaded: 5,
      remaining: 0,
      resumeAfter: 'device_hourly/2026-11-27/10',
    });
    const prefixes = copiedPrefixes();
    expect(prefixes).toHaveLength(6);
    expect(new Set(prefixes).size).toBe(6);
  });

  it('fails as WarehouseLoadError on a COPY error, naming the partition, and loads nothing after it', async () => {
    // Prepare
    serveDataApi({
      'batch-2': "ERROR: Load into table 'stage_dim_device_0' failed. Check 'sys_load_error_detail'.",
    });

    // Act
    const failure = createHandler(() => deps())(event('backfill-window'), context());

    // Assess
    await expect(failure).rejects.toMatchObject({
      name: WAREHOUSE_LOAD_ERRORS.failed,
      message: expect.stringContaining(
        'warehouse load of device_registry/event_date=2026-11-27 failed, nothing of it was applied: Redshift statement batch-2 failed',
      ),
    });
    expect(dataApi.commandCalls(BatchExecuteStatementCommand)).toHaveLength(2);
  });

  it('fails as WarehouseLoadTransientError when a concurrent transaction won, so the workflow retries', async () => {
    // Prepare
    serveDataApi({ 'batch-1': 'ERROR: 1023 DETAIL: Serializable isolation violation on table - 123456' });

    // Act & Assess
    await expect(createHandler(() => deps())(event('backfill-window'), context())).rejects.toMatchObject({
      name: WAREHOUSE_LOAD_ERRORS.transient,
    });
  });

  it('fails as transient when S3 keeps failing, and as WarehouseLoadError when it refuses', async () => {
    // Prepare
    const serverFault = Object.assign(new Error('We encountered an internal error'), {
      name: 'InternalError',
      $fault: 'server',
    });
    const denied = Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client' });
    const handler = createHandler(() => deps());

    // Act & Assess
    s3.on(ListObjectsV2Command).rejects(serverFault);
    await expect(handler(event('backfill-window'), context())).rejects.toMatchObject({
      name: WAREHOUSE_LOAD_ERRORS.transient,
    });
    s3.on(ListObjectsV2Command).rejects(denied);
    await expect(handler(event('backfill-window'), context())).rejects.toMatchObject({
      name: WAREHOUSE_LOAD_ERRORS.failed,
      message: 'listing the curated partitions failed: Access Denied',
    });
    expect(dataApi.commandCalls(BatchExecuteStatementCommand)).toHaveLength(0);
  });

  it.each([
    [
      { windowStart: '2026-11-27T09:30:00Z' },
      'windowStart: received "2026-11-27T09:30:00Z", expected a whole UTC hour written YYYY-MM-DDTHH:00:00Z',
    ],
    [{ windowKind: 'daily' }, 'windowKind: received "daily", expected one of ingest, event'],
    [
      { windowEnd: '2026-11-27T09:00:00Z' },
      'windowEnd: received "2026-11-27T09:00:00Z", expected an hour 1 to 744 hours after windowStart',
    ],
    [{ modifiedSince: 'yesterday' }, 'modifiedSince: received "yesterday", expected an ISO 8601 date-time'],
  ])(
    'fails on an invalid event (%j) naming the field, the value and what is expected',
    async (change, message) => {
      // Prepare
      const invalid = { ...event('backfill-window'), ...change };

      // Act & Assess
      await expect(createHandler(() => deps())(invalid, context())).rejects.toMatchObject({
        name: 'InvalidLoadEventError',
        message: `warehouse load event: ${message}`,
      });
      expect(s3.calls()).toHaveLength(0);
    },
  );
});
