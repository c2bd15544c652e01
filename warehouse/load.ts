/**
 * Loading one curated partition into the warehouse, the same way in every dialect:
 *
 * 1. stage the partition's rows in a temporary table (Redshift: COPY from S3; DuckDB: read_parquet;
 *    tests: INSERT), with the file's columns;
 * 2. shape them into the table's columns and keep one row per business key;
 * 3. (dimensions) skip staged rows older than what the warehouse holds;
 * 4. (facts) delete the rows the partition owns that it no longer holds;
 * 5. MERGE: update the rows that exist, insert the rest.
 *
 * The caller runs the statements in ONE transaction (Redshift's BatchExecuteStatement does), so a
 * failed load leaves the tables as they were, and running a load twice changes nothing.
 */
import { columnListSql, type Dialect, qualified } from './ddl.ts';
import type { CuratedTable, TableLoad, WarehouseTable } from './spec.ts';

/** The partition a load reads: a day, or an hour of a day. */
export interface PartitionUnit {
  /** `YYYY-MM-DD` */
  readonly eventDate: string;
  /** `HH`, for hour-scoped tables. */
  readonly eventHour?: string;
}

const DATE_PATTERN = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const HOUR_PATTERN = /^([01]\d|2[0-3])$/;

/** Checks a unit's fields (they become SQL literals and S3 keys); the error names the bad field. */
export function partitionUnit(eventDate: string, eventHour?: string): PartitionUnit {
  if (!DATE_PATTERN.test(eventDate))
    throw new Error(`partition event_date: expected YYYY-MM-DD, received ${JSON.stringify(eventDate)}`);
  if (eventHour === undefined) return { eventDate };
  if (!HOUR_PATTERN.test(eventHour))
    throw new Error(`partition event_hour: expected 00-23, received ${JSON.stringify(eventHour)}`);
  return { eventDate, eventHour };
}

/** The partition's key prefix in the curated bucket: `device_hourly/event_date=…/event_hour=…/`. */
export function partitionPrefix(source: CuratedTable, unit: PartitionUnit): string {
  const day = `${source.prefix}event_date=${unit.eventDate}/`;
  if (source.scope === 'day') return day;
  if (unit.eventHour === undefined)
    throw new Error(`${source.name} is partitioned by hour: the unit needs an hour`);
  return `${day}event_hour=${unit.eventHour}/`;
}

/** Redshift VARCHAR length for staged text: staging takes whatever the file holds. */
const STAGE_VARCHAR_LENGTH = 65535;

/** Name of the temporary table a load stages into. */
export function stageTableName(table: WarehouseTable, loadIndex: number): string {
  return `stage_${table.name}_${loadIndex}`;
}

/** CREATE TEMP TABLE for a load's staged rows: the curated file's columns, in file order. */
export function createStageSql(dialect: Dialect, source: CuratedTable, stageName: string): string {
  const columns = source.columns.map((column) => ({ ...column, maxLength: STAGE_VARCHAR_LENGTH }));
  return `CREATE TEMP TABLE ${stageName} (${columnListSql(dialect, columns)})`;
}

/** Redshift COPY of one partition's Parquet files into the stage. */
export function copySql(stageName: string, s3Prefix: string, roleArn: string): string {
  return `COPY ${stageName} FROM '${s3Prefix}' IAM_ROLE '${roleArn}' FORMAT AS PARQUET`;
}

/** Replaces the partition placeholders of a load expression with literals of the unit. */
function bindUnit(expression: string, unit: PartitionUnit): string {
  const hour =
    unit.eventHour === undefined ? undefined : `TIMESTAMP '${unit.eventDate} ${unit.eventHour}:00:00'`;
  return expression
    .replaceAll('{{event_date}}', `DATE '${unit.eventDate}'`)
    .replaceAll('{{hour_start}}', () => {
      if (hour === undefined)
        throw new Error(`expression ${expression} needs an hour, the partition is a day`);
      return hour;
    });
}

/**
 * The key column a partition's ownership is checked on: the load's `owns.key`, or the business key
 * minus the owned column.
 */
function ownedKey(table: WarehouseTable, load: TableLoad): string {
  if (load.owns?.key !== undefined) {
    if (!table.key.includes(load.owns.key))
      throw new Error(`${table.name}: owns.key ${load.owns.key} is not a column of the business key`);
    return load.owns.key;
  }
  const rest = table.key.filter((column) => column !== load.owns?.column);
  if (rest.length !== 1)
    throw new Error(
      `${table.name}: owned-row deletion needs one key column besides ${load.owns?.column}, or owns.key`,
    );
  return rest[0] as string;
}

/**
 * Statements that merge a staged partition (in `stageName`) into `table`: steps 2 to 5 above, and
 * dropping the temporary tables. The stage must exist and hold the partition's rows.
 */
export function mergeStatements(
  table: WarehouseTable,
  loadIndex: number,
  unit: PartitionUnit,
  stageName = stageTableName(table, loadIndex),
): string[] {
  const load = table.loads[loadIndex];
  if (load === undefined) throw new Error(`${table.name} has no load ${loadIndex}`);
  const target = qualified(table.name);
  const shaped = `${stageName}_rows`;
  const source = `${stageName}_src`;
  const columns = table.columns.map((column) => column.name);
  const sourceColumns = new Set(load.from.columns.map((column) => column.name));
  const select = table.columns.map((column) => {
    const expression = load.expressions?.[column.name];
    if (expression !== undefined) return `${bindUnit(expression, unit)} AS ${column.name}`;
    if (!sourceColumns.has(column.name))
      throw new Error(`${table.name}.${column.name}: not in ${load.from.name} and no expression given`);
    return `s.${column.name}`;
  });
  const keys = table.key.join(', ');
  const rest = columns.filter((column) => !table.key.includes(column));
  const statements = [
    `CREATE TEMP TABLE ${shaped} AS SELECT ${select.join(', ')} FROM ${stageName} AS s${
      load.where === undefined ? '' : ` WHERE ${load.where}`
    }`,
    // One row per business key; among copies, a total order over every column picks the same one.
    `CREATE TEMP TABLE ${source} AS SELECT ${columns.join(', ')} FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY ${keys} ORDER BY ${columns.join(', ')}) AS copy_rank FROM ${shaped} AS r) AS ranked WHERE copy_rank = 1`,
  ];
  if (load.newerBy !== undefined) {
    const key = table.key[0] as string;
    statements.push(
      `DELETE FROM ${source} WHERE ${key} IN (SELECT w.${key} FROM ${target} AS w JOIN ${source} AS n ON w.${key} = n.${key} WHERE w.${load.newerBy} > n.${load.newerBy})`,
    );
  }
  if (load.owns !== undefined) {
    const key = ownedKey(table, load);
    const owned = `${load.owns.column} = ${bindUnit(
      table.columns.find((column) => column.name === load.owns?.column)?.type === 'date'
        ? '{{event_date}}'
        : '{{hour_start}}',
      unit,
    )}${load.owns.where === undefined ? '' : ` AND ${load.owns.where}`}`;
    statements.push(`DELETE FROM ${target} WHERE ${owned} AND ${key} NOT IN (SELECT ${key} FROM ${source})`);
  }
  const on = table.key.map((column) => `${table.name}.${column} = ${source}.${column}`).join(' AND ');
  statements.push(
    `MERGE INTO ${target} USING ${source} ON ${on} WHEN MATCHED THEN UPDATE SET ${rest
      .map((column) => `${column} = ${source}.${column}`)
      .join(', ')} WHEN NOT MATCHED THEN INSERT (${columns.join(', ')}) VALUES (${columns
      .map((column) => `${source}.${column}`)
      .join(', ')})`,
    `DROP TABLE ${source}`,
    `DROP TABLE ${shaped}`,
    `DROP TABLE ${stageName}`,
  );
  return statements;
}

/** Every (table, load) pair reading `source`, in the spec's order. */
export function loadsFrom(
  tables: readonly WarehouseTable[],
  source: CuratedTable,
): Array<{ table: WarehouseTable; loadIndex: number }> {
  return tables.flatMap((table) =>
    table.loads.flatMap((load, loadIndex) => (load.from === source ? [{ table, loadIndex }] : [])),
  );
}
