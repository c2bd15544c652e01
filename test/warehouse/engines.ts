/**
 * The two engines the warehouse SQL runs on here: PGlite (PostgreSQL, standing in for Redshift's
 * dialect) and DuckDB (the twin's warehouse), behind the warehouse's own `SqlExecutor`, plus a
 * stage filler that INSERTs fixture rows.
 */

import { DuckDBInstance } from '@duckdb/node-api';
import { PGlite } from '@electric-sql/pglite';
import { duckdbExecutor } from '../../local/warehouse/twin-warehouse.ts';
import type { Dialect } from '../../warehouse/ddl.ts';
import type { CuratedPartition, StageFiller } from '../../warehouse/loader.ts';
import type { SqlExecutor } from '../../warehouse/migration-runner.ts';
import type { CuratedTable } from '../../warehouse/spec.ts';

export type Row = Record<string, string | number | boolean | null>;

export interface Engine {
  readonly dialect: Exclude<Dialect, 'redshift'>;
  readonly executor: SqlExecutor;
  /** Column names of a query's result, in order. */
  columns(sql: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function openDuckDb(path = ':memory:'): Promise<Engine> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  return {
    dialect: 'duckdb',
    executor: duckdbExecutor(connection),
    async columns(sql) {
      return (await connection.runAndReadAll(sql)).columnNames();
    },
    async close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

export async function openPglite(): Promise<Engine> {
  const pg = new PGlite();
  return {
    dialect: 'postgres',
    executor: {
      async query(sql) {
        return (await pg.query<Record<string, unknown>>(sql)).rows;
      },
      async transaction(statements) {
        await pg.transaction(async (tx) => {
          for (const statement of statements) await tx.query(statement);
        });
      },
    },
    async columns(sql) {
      return (await pg.query(sql)).fields.map((field) => field.name);
    },
    async close() {
      await pg.close();
    },
  };
}

function sqlValue(value: Row[string] | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return `'${value.replaceAll("'", "''")}'`;
}

/** A stage filler that INSERTs the rows given for each partition (keyed `source date hour`). */
export function insertingFiller(rowsOf: (partition: CuratedPartition) => readonly Row[]): StageFiller {
  return async (partition, stageName) => {
    const rows = rowsOf(partition);
    if (rows.length === 0) return [];
    const names = partition.source.columns.map((column) => column.name);
    const values = rows.map((row) => `(${names.map((name) => sqlValue(row[name])).join(', ')})`);
    return [`INSERT INTO ${stageName} (${names.join(', ')}) VALUES ${values.join(', ')}`];
  };
}

/** A curated row with every column of `source`, NULL unless given. */
export function curatedRow(source: CuratedTable, values: Row): Row {
  const unknown = Object.keys(values).filter(
    (name) => !source.columns.some((column) => column.name === name),
  );
  if (unknown.length > 0) throw new Error(`${source.name} has no column ${unknown.join(', ')}`);
  return Object.fromEntries(source.columns.map((column) => [column.name, values[column.name] ?? null]));
}
