/**
 * The twin's warehouse: `<out>/warehouse.duckdb`, with the same tables, views, migrations and MERGE
 * loads as Redshift (all from `warehouse/`). Like a COPY, the load reads the curated lake through the
 * S3 API: it lists the partitions, GETs their Parquet into a work directory and stages them with
 * DuckDB's `read_parquet`.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { CURATED_TABLES } from '../../warehouse/curated-tables.ts';
import { partitionPrefix } from '../../warehouse/load.ts';
import { type CuratedPartition, loadPartitions, partitionsOfKeys } from '../../warehouse/loader.ts';
import {
  AppliedMigrationChangedError,
  applyMigrations,
  type SqlExecutor,
} from '../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../warehouse/migrations.ts';
import { WAREHOUSE_TABLES } from '../../warehouse/tables.ts';
import { downloadObject, listKeys, mapLimit, S3_CONCURRENCY } from '../etl/lake-io.ts';

/** What a warehouse build did. */
export interface WarehouseSummary {
  /** The DuckDB file. */
  readonly path: string;
  /** Versioned migrations applied by this build (empty once the schema is current). */
  readonly migrationsApplied: readonly number[];
  /** Curated partitions loaded, each in one transaction. */
  readonly partitionsLoaded: number;
  /** Rows per table after the build. */
  readonly rows: Readonly<Record<string, number>>;
  readonly seconds: number;
}

/** Deletes a DuckDB warehouse file and its write-ahead log, if they exist. */
export async function removeWarehouse(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${path}.wal`, { force: true });
}

/** An open DuckDB warehouse file and a `SqlExecutor` over it. */
export interface OpenWarehouse {
  readonly connection: DuckDBConnection;
  readonly executor: SqlExecutor;
  close(): void;
}

/** The warehouse's `SqlExecutor` over a DuckDB connection: a transaction is BEGIN … COMMIT, or ROLLBACK. */
export function duckdbExecutor(connection: DuckDBConnection): SqlExecutor {
  return {
    async query(sql) {
      return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>>;
    },
    async transaction(statements) {
      await connection.run('BEGIN TRANSACTION');
      try {
        for (const statement of statements) await connection.run(statement);
        await connection.run('COMMIT');
      } catch (error) {
        await connection.run('ROLLBACK');
        throw error;
      }
    },
  };
}

/** Opens (creating it when missing) a DuckDB warehouse file for writing. */
export async function openWarehouse(path: string): Promise<OpenWarehouse> {
  await mkdir(dirname(path), { recursive: true });
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  return {
    connection,
    executor: duckdbExecutor(connection),
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

export interface BuildWarehouseOptions {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  /** The DuckDB file to create or bring up to date. */
  readonly path: string;
  /** Called with the open warehouse once it is loaded (the report reads it there). */
  readonly afterLoad?: (warehouse: OpenWarehouse) => Promise<void>;
}

/**
 * Brings the warehouse file to the current schema and MERGEs every curated partition into it. The
 * twin's lake is small, so every build loads every partition: the MERGE makes that idempotent, and a
 * rerun of the ETL that rewrote an hour is picked up without tracking what changed.
 */
export async function buildTwinWarehouse(options: BuildWarehouseOptions): Promise<WarehouseSummary> {
  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), 'sdap-warehouse-'));
  let warehouse = await openWarehouse(options.path);
  try {
    let migrations: Awaited<ReturnType<typeof applyMigrations>>;
    try {
      migrations = await applyMigrations(warehouse.executor, migrationPlan('duckdb'));
    } catch (error) {
      // Unlike Redshift's, the twin's warehouse is only ever derived from the lake: a file built by
      // an older schema is rebuilt from the lake rather than refused.
      if (!(error instanceof AppliedMigrationChangedError)) throw error;
      warehouse.close();
      await removeWarehouse(options.path);
      warehouse = await openWarehouse(options.path);
      migrations = await applyMigrations(warehouse.executor, migrationPlan('duckdb'));
    }
    const keys = (
      await Promise.all(
        CURATED_TABLES.map((table) => listKeys(options.s3, options.curatedBucket, table.prefix)),
      )
    )
      .flat()
      .filter((key) => key.endsWith('.parquet'));
    const partitions = partitionsOfKeys(CURATED_TABLES, keys);
    const fill = async (partition: CuratedPartition, stageName: string): Promise<string[]> => {
      const prefix = partitionPrefix(partition.source, partition.unit);
      const files = keys.filter((key) => key.startsWith(prefix) && !key.slice(prefix.length).includes('/'));
      const local = await mapLimit(files, S3_CONCURRENCY, (key) =>
        downloadObject(options.s3, options.curatedBucket, key, work),
      );
      const paths = local.flatMap((file) => (file === undefined ? [] : [file.path]));
      if (paths.length === 0) return [];
      const columns = partition.source.columns.map((column) => column.name).join(', ');
      const list = paths.map((path) => `'${path.replaceAll("'", "''")}'`).join(', ');
      return [
        `INSERT INTO ${stageName} SELECT ${columns} FROM read_parquet([${list}], hive_partitioning = false)`,
      ];
    };
    const loaded = await loadPartitions(warehouse.executor, 'duckdb', partitions, fill);
    const rows: Record<string, number> = {};
    for (const table of WAREHOUSE_TABLES) {
      const [row] = await warehouse.executor.query(`SELECT COUNT(*) AS n FROM analytics.${table.name}`);
      rows[table.name] = Number(row?.n ?? 0);
    }
    await options.afterLoad?.(warehouse);
    return {
      path: options.path,
      migrationsApplied: migrations.applied,
      partitionsLoaded: loaded.length,
      rows,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    warehouse.close();
    await rm(work, { recursive: true, force: true });
  }
}
