/**
 * Loads curated partitions into the warehouse through any SQL executor. Each partition of a
 * curated table is one transaction holding every load that reads it (stage, shape, de-duplicate,
 * delete what the partition no longer holds, MERGE): a failed partition leaves the warehouse as it
 * was, and a partition loaded twice changes nothing.
 *
 * How a stage is filled is the runner's part: Redshift COPYs the partition's S3 prefix, the twin
 * reads the Parquet files with DuckDB. This module is pure (no file system), so a Lambda function
 * can bundle it.
 */
import type { Dialect } from './ddl.ts';
import {
  createStageSql,
  loadsFrom,
  mergeStatements,
  type PartitionUnit,
  partitionUnit,
  stageTableName,
} from './load.ts';
import type { SqlExecutor } from './migration-runner.ts';
import type { CuratedTable, WarehouseTable } from './spec.ts';
import { WAREHOUSE_TABLES } from './tables.ts';

/** One partition of one curated table. */
export interface CuratedPartition {
  readonly source: CuratedTable;
  readonly unit: PartitionUnit;
}

/** Statements that fill an (already created) stage table with a partition's rows. */
export type StageFiller = (partition: CuratedPartition, stageName: string) => Promise<readonly string[]>;

export interface PartitionLoadReport {
  readonly source: string;
  readonly unit: PartitionUnit;
  readonly tables: readonly string[];
}

/** The statements of one partition's transaction. */
export async function partitionStatements(
  dialect: Dialect,
  partition: CuratedPartition,
  fill: StageFiller,
  tables: readonly WarehouseTable[] = WAREHOUSE_TABLES,
): Promise<{ statements: string[]; tables: string[] }> {
  const statements: string[] = [];
  const names: string[] = [];
  for (const { table, loadIndex } of loadsFrom(tables, partition.source)) {
    const stage = stageTableName(table, loadIndex);
    statements.push(createStageSql(dialect, partition.source, stage), ...(await fill(partition, stage)));
    statements.push(...mergeStatements(table, loadIndex, partition.unit, stage));
    names.push(table.name);
  }
  return { statements, tables: names };
}

/**
 * Orders partitions as loads need them: by day and hour, oldest first, so that the newest
 * registry snapshot is the one a dimension keeps.
 */
export function loadOrder(partitions: readonly CuratedPartition[]): CuratedPartition[] {
  const rank = (partition: CuratedPartition) =>
    `${partition.unit.eventDate} ${partition.unit.eventHour ?? '--'}`;
  return [...partitions].sort(
    (a, b) => rank(a).localeCompare(rank(b)) || a.source.name.localeCompare(b.source.name),
  );
}

/** Loads each partition in its own transaction, oldest first; stops at the first failure. */
export async function loadPartitions(
  executor: SqlExecutor,
  dialect: Dialect,
  partitions: readonly CuratedPartition[],
  fill: StageFiller,
): Promise<PartitionLoadReport[]> {
  const reports: PartitionLoadReport[] = [];
  for (const partition of loadOrder(partitions)) {
    const { statements, tables } = await partitionStatements(dialect, partition, fill);
    if (statements.length === 0) continue;
    try {
      await executor.transaction(statements);
    } catch (error) {
      const where = `${partition.source.prefix}event_date=${partition.unit.eventDate}${
        partition.unit.eventHour === undefined ? '' : `/event_hour=${partition.unit.eventHour}`
      }`;
      throw new Error(
        `warehouse load of ${where} failed, nothing of it was applied: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    reports.push({ source: partition.source.name, unit: partition.unit, tables });
  }
  return reports;
}

/**
 * The partitions named by curated object keys (`<prefix>event_date=…[/event_hour=…]/part-….parquet`);
 * keys of other tables or other shapes are ignored.
 */
export function partitionsOfKeys(
  sources: readonly CuratedTable[],
  keys: readonly string[],
): CuratedPartition[] {
  const found = new Map<string, CuratedPartition>();
  for (const source of sources) {
    const pattern =
      source.scope === 'hour'
        ? /^event_date=(\d{4}-\d{2}-\d{2})\/event_hour=(\d{2})\/[^/]+$/
        : /^event_date=(\d{4}-\d{2}-\d{2})\/[^/]+$/;
    for (const key of keys) {
      if (!key.startsWith(source.prefix)) continue;
      const match = pattern.exec(key.slice(source.prefix.length));
      if (match === null) continue;
      const unit = partitionUnit(match[1] as string, match[2]);
      found.set(`${source.name} ${unit.eventDate} ${unit.eventHour ?? ''}`, { source, unit });
    }
  }
  return [...found.values()];
}
