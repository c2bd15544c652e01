/**
 * The twin's warehouse built from what the batch stage really writes: the ETL runs over the fixture
 * lake on a real S3 API (s3rver) and the committed failure model scores its device-hours on the
 * twin's SageMaker runtime, then the warehouse loads the curated Parquet through the same API.
 * It also guards the warehouse's list of curated file columns: Redshift's COPY maps Parquet columns
 * by position, so a column the ETL adds, drops or moves must show up here first.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorClients } from '../../../lambdas/shared/aws-clients.ts';
import { runBatchStage } from '../../../local/etl/batch-stage.ts';
import { startFailureEndpoint, type TwinFailureEndpoint } from '../../../local/etl/failure-scoring.ts';
import { downloadObject, listKeys } from '../../../local/etl/lake-io.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import {
  buildTwinWarehouse,
  openWarehouse,
  type WarehouseSummary,
} from '../../../local/warehouse/twin-warehouse.ts';
import { CURATED_TABLES } from '../../../warehouse/curated-tables.ts';
import { WAREHOUSE_TABLES } from '../../../warehouse/tables.ts';
import { FIXTURE_WINDOW, fixtureObjects, putLake } from '../etl/fixture-lake.ts';

const BUCKETS = { raw: 'wh-raw', quarantine: 'wh-quarantine', curated: 'wh-curated' };
const DUCKDB_TYPES: Record<string, string> = {
  VARCHAR: 'string',
  INTEGER: 'int',
  BIGINT: 'bigint',
  DOUBLE: 'double',
  BOOLEAN: 'boolean',
  TIMESTAMP: 'timestamp',
  DATE: 'date',
};

let stand: S3StandIn;
let s3: S3Client;
let scratch: string;
let first: WarehouseSummary;
let failure: TwinFailureEndpoint;

beforeAll(async () => {
  stand = await startS3StandIn({ buckets: Object.values(BUCKETS) });
  s3 = createValidatorClients(stand.clientOverrides).s3;
  scratch = await mkdtemp(join(tmpdir(), 'sdap-twin-warehouse-'));
  await putLake(s3, BUCKETS, await fixtureObjects());
  failure = await startFailureEndpoint();
  await runBatchStage({
    s3,
    buckets: BUCKETS,
    from: FIXTURE_WINDOW.from,
    to: FIXTURE_WINDOW.to,
    threads: 1,
    scoring: failure.endpoint,
  });
  first = await buildTwinWarehouse({
    s3,
    curatedBucket: BUCKETS.curated,
    path: join(scratch, 'warehouse.duckdb'),
  });
}, 120_000);

afterAll(async () => {
  await failure?.close();
  await stand?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the twin warehouse', () => {
  it('lists the columns of every curated table as the ETL writes them, in file order', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      for (const table of CURATED_TABLES) {
        const [key] = (await listKeys(s3, BUCKETS.curated, table.prefix)).filter((k) =>
          k.endsWith('.parquet'),
        );
        expect(key, `the batch stage wrote no ${table.prefix} object`).toBeDefined();
        const file = await downloadObject(s3, BUCKETS.curated, key as string, scratch);
        const described = (
          await connection.runAndReadAll(
            `DESCRIBE SELECT * FROM read_parquet('${file?.path}', hive_partitioning = false)`,
          )
        ).getRowObjectsJson();
        expect(
          described.map(
            (row) => `${row.column_name} ${DUCKDB_TYPES[String(row.column_type)] ?? row.column_type}`,
          ),
          table.name,
        ).toEqual(table.columns.map((column) => `${column.name} ${column.type}`));
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('creates the schema and loads every curated partition into the facts and dimensions', () => {
    expect(first.migrationsApplied).toEqual([1]);
    expect(first.partitionsLoaded).toBeGreaterThan(0);
    for (const table of WAREHOUSE_TABLES.filter((t) => t.loads.length > 0))
      expect(first.rows[table.name], table.name).toBeGreaterThan(0);
    // One prediction per device-hour the ETL wrote features for.
    expect(first.rows.fact_prediction).toBe(first.rows.fact_telemetry_hourly);
  });

  it('rebuilds a warehouse file an older schema built, instead of refusing it', async () => {
    const path = join(scratch, 'older.duckdb');
    await buildTwinWarehouse({ s3, curatedBucket: BUCKETS.curated, path });
    const older = await openWarehouse(path);
    await older.executor.transaction([
      "UPDATE analytics.schema_migrations SET checksum = 'from-an-older-release' WHERE version = 1",
    ]);
    older.close();
    const rebuilt = await buildTwinWarehouse({ s3, curatedBucket: BUCKETS.curated, path });
    expect(rebuilt.migrationsApplied).toEqual([1]);
    expect(rebuilt.rows).toEqual(first.rows);
  });

  it('changes nothing when built again over the same lake', async () => {
    const path = join(scratch, 'warehouse.duckdb');
    const snapshot = async () => {
      const warehouse = await openWarehouse(path);
      try {
        const parts: string[] = [];
        for (const table of WAREHOUSE_TABLES)
          parts.push(
            JSON.stringify(
              await warehouse.executor.query(
                `SELECT * FROM analytics.${table.name} ORDER BY ${table.key.join(', ')}`,
              ),
            ),
          );
        return parts.join('\n');
      } finally {
        warehouse.close();
      }
    };
    const before = await snapshot();
    const again = await buildTwinWarehouse({ s3, curatedBucket: BUCKETS.curated, path });
    expect(again.migrationsApplied).toEqual([]);
    expect(again.rows).toEqual(first.rows);
    expect(await snapshot()).toBe(before);
  });
});
