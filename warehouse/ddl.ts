/**
 * DDL rendered from the one spec for each dialect: Redshift (distribution, sort keys, column
 * encodings), PostgreSQL (the tests execute the Redshift-flavoured SQL there, minus what only Redshift
 * knows) and DuckDB (the twin's warehouse).
 */
import { WAREHOUSE_SCHEMA, type WarehouseColumn, type WarehouseTable, type WarehouseType } from './spec.ts';

export const DIALECTS = ['redshift', 'postgres', 'duckdb'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** Redshift's VARCHAR length when a column does not say. */
export const DEFAULT_VARCHAR_LENGTH = 256;

const SQL_TYPES: Record<WarehouseType, Record<Dialect, string>> = {
  string: { redshift: 'VARCHAR', postgres: 'VARCHAR', duckdb: 'VARCHAR' },
  int: { redshift: 'INTEGER', postgres: 'INTEGER', duckdb: 'INTEGER' },
  bigint: { redshift: 'BIGINT', postgres: 'BIGINT', duckdb: 'BIGINT' },
  double: { redshift: 'DOUBLE PRECISION', postgres: 'DOUBLE PRECISION', duckdb: 'DOUBLE' },
  boolean: { redshift: 'BOOLEAN', postgres: 'BOOLEAN', duckdb: 'BOOLEAN' },
  timestamp: { redshift: 'TIMESTAMP', postgres: 'TIMESTAMP', duckdb: 'TIMESTAMP' },
  date: { redshift: 'DATE', postgres: 'DATE', duckdb: 'DATE' },
};

/**
 * Redshift column encodings. AZ64 is Amazon's codec for integers, dates and timestamps; it does not
 * take DOUBLE PRECISION or BOOLEAN, which get ZSTD like text. The first sort-key column stays RAW:
 * compressing it makes range-restricted scans read more blocks (Redshift's own guidance).
 */
function redshiftEncoding(column: WarehouseColumn, firstSortColumn: string | undefined): string {
  if (column.name === firstSortColumn) return 'RAW';
  return ['int', 'bigint', 'date', 'timestamp'].includes(column.type) ? 'AZ64' : 'ZSTD';
}

/** The column's SQL type in `dialect` (with a length for Redshift and PostgreSQL text). */
export function sqlType(dialect: Dialect, column: Pick<WarehouseColumn, 'type' | 'maxLength'>): string {
  const base = SQL_TYPES[column.type][dialect];
  if (column.type === 'string' && dialect !== 'duckdb')
    return `${base}(${column.maxLength ?? DEFAULT_VARCHAR_LENGTH})`;
  return base;
}

/** `analytics.<name>` */
export function qualified(name: string): string {
  return `${WAREHOUSE_SCHEMA}.${name}`;
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** CREATE TABLE IF NOT EXISTS for one table; key columns are NOT NULL and form the primary key. */
export function createTableSql(dialect: Dialect, table: WarehouseTable): string {
  const firstSort = table.sortKey[0];
  const lines = table.columns.map((column) => {
    const notNull = table.key.includes(column.name) ? ' NOT NULL' : '';
    const encode = dialect === 'redshift' ? ` ENCODE ${redshiftEncoding(column, firstSort)}` : '';
    return `  ${column.name} ${sqlType(dialect, column)}${notNull}${encode}`;
  });
  // Redshift does not enforce the primary key (the loads de-duplicate), but its planner uses it.
  lines.push(`  PRIMARY KEY (${table.key.join(', ')})`);
  let sql = `CREATE TABLE IF NOT EXISTS ${qualified(table.name)} (\n${lines.join(',\n')}\n)`;
  if (dialect === 'redshift') {
    const distribution = table.distribution;
    sql +=
      distribution.style === 'key'
        ? `\nDISTSTYLE KEY DISTKEY (${distribution.column})`
        : `\nDISTSTYLE ${distribution.style.toUpperCase()}`;
    sql += `\nCOMPOUND SORTKEY (${table.sortKey.join(', ')})`;
  }
  return sql;
}

/** COMMENT ON statements: the descriptions analysts see in their SQL client and in QuickSight. */
export function commentSql(
  kind: 'TABLE' | 'VIEW',
  object: {
    readonly name: string;
    readonly description: string;
    readonly columns: readonly WarehouseColumn[];
  },
): string[] {
  return [
    `COMMENT ON ${kind} ${qualified(object.name)} IS ${literal(object.description)}`,
    ...object.columns.map(
      (column) =>
        `COMMENT ON COLUMN ${qualified(object.name)}.${column.name} IS ${literal(column.description)}`,
    ),
  ];
}

/** The table's columns as a CREATE TEMP TABLE body (no keys), for staging. */
export function columnListSql(
  dialect: Dialect,
  columns: ReadonlyArray<Pick<WarehouseColumn, 'name' | 'type' | 'maxLength'>>,
): string {
  return columns.map((column) => `${column.name} ${sqlType(dialect, column)}`).join(', ');
}
