/**
 * `sdap query "SELECT …"`: one SQL statement against the twin's DuckDB warehouse, printed as an
 * aligned table, RFC 4180 CSV or a JSON array. The file is opened read only and with external
 * access disabled, so a query can neither change the warehouse nor read or write other files.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance, type DuckDBResultReader, DuckDBTypeId } from '@duckdb/node-api';
import { DEFAULT_OUT_DIR, WAREHOUSE_FILE } from './twin-output.ts';

export const QUERY_FORMATS = ['table', 'csv', 'json'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

export const QUERY_USAGE = `usage: sdap query "SQL" [--format table|csv|json] [--warehouse FILE | --out DIR]

Runs one SQL statement against the twin's DuckDB warehouse and prints the result. The tables and
the analyst views live in schema analytics, e.g. analytics.v_fleet_health_now.

The warehouse is opened READ ONLY: INSERT, UPDATE, DELETE and DDL are refused, and the statement
cannot read or write any other file (DuckDB's external access is disabled).

  --format F        table (aligned text, the default), csv (RFC 4180, with a header row) or json
                    (an array of objects); NULL prints blank, empty and null respectively
  --warehouse FILE  the DuckDB warehouse file (default <out>/${WAREHOUSE_FILE})
  --out DIR         the twin's output directory (default ${DEFAULT_OUT_DIR})

examples:
  sdap query "SELECT status, COUNT(*) AS devices FROM analytics.v_fleet_health_now GROUP BY status"
  sdap query --format csv "SELECT * FROM analytics.v_energy_by_site_day" > energy.csv`;

/** A cell as printed: BIGINT as a number when it fits one exactly, dates and times as ISO text. */
export type QueryCell =
  | string
  | number
  | boolean
  | null
  | readonly QueryCell[]
  | { readonly [key: string]: QueryCell };

export interface QueryResult {
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<readonly QueryCell[]>;
}

export class QueryUsageError extends Error {
  override readonly name = 'QueryUsageError';
}

/** A failure to report in one line and exit 1: a missing file, a SQL error. */
export class QueryError extends Error {
  override readonly name = 'QueryError';
}

export interface ParsedQueryArgs {
  readonly sql: string;
  readonly format: QueryFormat;
  readonly warehouse: string;
}

const FLAGS = {
  format: { type: 'string' },
  warehouse: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses and validates the arguments; throws {@link QueryUsageError} naming the flag and the value. */
export function parseQueryArgs(args: string[]): ParsedQueryArgs | { readonly help: true } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: true });
  } catch (error) {
    throw new QueryUsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const format = values.format ?? 'table';
  if (!(QUERY_FORMATS as readonly string[]).includes(format))
    throw new QueryUsageError(`--format: received '${format}', expected table, csv or json`);
  if (values.warehouse !== undefined && values.out !== undefined)
    throw new QueryUsageError(
      `--warehouse '${values.warehouse}' and --out '${values.out}' both name the warehouse: give one of them`,
    );
  if (positionals.length > 1)
    throw new QueryUsageError(
      `received ${positionals.length} arguments (${positionals.map((p) => `'${p}'`).join(', ')}), expected the SQL as one quoted argument`,
    );
  const sql = positionals[0]?.trim() ?? '';
  if (sql === '') throw new QueryUsageError('missing the SQL: give one quoted statement, e.g. "SELECT 1"');
  return {
    sql,
    format: format as QueryFormat,
    warehouse: values.warehouse ?? join(values.out ?? DEFAULT_OUT_DIR, WAREHOUSE_FILE),
  };
}

/** DuckDB's JSON form carries these as text; they become numbers when a double holds them exactly. */
const WIDE_INTEGERS = new Set<DuckDBTypeId>([
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
]);
const TIMESTAMPS = new Set<DuckDBTypeId>([
  DuckDBTypeId.TIMESTAMP,
  DuckDBTypeId.TIMESTAMP_S,
  DuckDBTypeId.TIMESTAMP_MS,
  DuckDBTypeId.TIMESTAMP_NS,
]);
/** Significant digits a double always holds exactly. */
const DOUBLE_DIGITS = 15;

/** `2026-11-27 13:00:00+05` → `2026-11-27T13:00:00+05:00`, `+00` → `Z`. */
function isoTimestamp(text: string, zoned: boolean): string {
  const iso = text.replace(/^(-?\d{4,}-\d{2}-\d{2}) /, '$1T');
  if (!zoned) return iso;
  return iso.replace(/([+-])(\d{2})(?::?(\d{2}))?$/, (_, sign: string, hours: string, minutes?: string) =>
    hours === '00' && (minutes ?? '00') === '00' ? 'Z' : `${sign}${hours}:${minutes ?? '00'}`,
  );
}

function cellOf(typeId: DuckDBTypeId, json: unknown, raw: () => unknown): QueryCell {
  if (json === null || json === undefined) return null;
  if (typeof json === 'string') {
    if (WIDE_INTEGERS.has(typeId)) {
      const n = Number(json);
      return Number.isSafeInteger(n) ? n : json;
    }
    if (typeId === DuckDBTypeId.DECIMAL) {
      const digits = json.replace(/[-.]/g, '').replace(/^0+/, '').length;
      return digits <= DOUBLE_DIGITS ? Number(json) : json;
    }
    if (TIMESTAMPS.has(typeId)) return isoTimestamp(json, false);
    if (typeId === DuckDBTypeId.TIMESTAMP_TZ) return isoTimestamp(json, true);
    return json;
  }
  // DuckDB's own text for an interval (`02:00:00`, `1 day 03:00:00`) reads better than its parts.
  if (typeId === DuckDBTypeId.INTERVAL) return String(raw());
  return json as QueryCell;
}

function resultOf(reader: DuckDBResultReader): QueryResult {
  const types = reader.columnTypes();
  const json = reader.getRowsJson();
  let raw: unknown[][] | undefined;
  const rawRows = () => {
    raw ??= reader.getRows();
    return raw;
  };
  return {
    columns: reader.columnNames(),
    rows: json.map((row, rowIndex) =>
      row.map((value, column) =>
        cellOf(types[column]?.typeId ?? DuckDBTypeId.VARCHAR, value, () => rawRows()[rowIndex]?.[column]),
      ),
    ),
  };
}

/**
 * Runs one SQL statement on the warehouse file, opened read only with external access disabled.
 * Throws {@link QueryError} with DuckDB's message when the statement fails or is refused, and
 * {@link QueryUsageError} when `sql` holds more or less than one statement.
 */
export async function runReadOnlyQuery(warehouse: string, sql: string): Promise<QueryResult> {
  const info = await stat(warehouse).catch(() => undefined);
  if (!info)
    throw new QueryError(
      `no warehouse at ${warehouse}: build one with npm start (or sdap twin --out DIR), or name one with --warehouse FILE`,
    );
  if (!info.isFile()) throw new QueryError(`${warehouse} is not a file: expected a DuckDB warehouse file`);
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(warehouse, {
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
    });
  } catch (error) {
    throw new QueryError(`cannot open ${warehouse}: ${(error as Error).message}`);
  }
  try {
    const connection = await instance.connect();
    let statements: Awaited<ReturnType<typeof connection.extractStatements>>;
    try {
      statements = await connection.extractStatements(sql);
    } catch (error) {
      const message = (error as Error).message;
      // The Node binding fails this way, without DuckDB's words, on SQL that is only comments or `;`.
      if (message === 'Error in native callback')
        throw new QueryUsageError('the SQL holds no statement, expected one');
      // The client's prefix says nothing DuckDB's parser error does not.
      throw new QueryError(message.replace(/^Failed to extract statements: /, ''));
    }
    // DuckDB would run every statement and show only one result: ask for one at a time instead.
    if (statements.count !== 1)
      throw new QueryUsageError(
        `the SQL holds ${statements.count} statements, expected one (run sdap query once per statement)`,
      );
    try {
      const statement = await statements.prepare(0);
      try {
        return resultOf(await statement.runAndReadAll());
      } finally {
        statement.destroySync();
      }
    } catch (error) {
      throw new QueryError((error as Error).message);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** A cell as one line of text: NULL blank, composites as JSON, line breaks shown as `\n`. */
function textOf(cell: QueryCell): string {
  if (cell === null) return '';
  if (typeof cell === 'object') return JSON.stringify(cell);
  return String(cell);
}

function width(text: string): number {
  return [...text].length;
}

/** An aligned text table: numbers right-aligned, a rule under the header, the row count last. */
export function formatTable(result: QueryResult): string {
  const oneLine = (cell: QueryCell) => textOf(cell).replace(/\r?\n/g, '\\n').replace(/\t/g, ' ');
  const cells = result.rows.map((row) => row.map(oneLine));
  const numeric = result.columns.map(
    (_, column) =>
      result.rows.some((row) => row[column] !== null) &&
      result.rows.every((row) => row[column] === null || typeof row[column] === 'number'),
  );
  const widths = result.columns.map((name, column) =>
    Math.max(width(name), ...cells.map((row) => width(row[column] ?? ''))),
  );
  const line = (values: readonly string[], alignRight: (column: number) => boolean) =>
    values
      .map((value, column) => {
        const pad = ' '.repeat((widths[column] ?? 0) - width(value));
        return alignRight(column) ? pad + value : value + pad;
      })
      .join('  ')
      .trimEnd();
  const count = `(${result.rows.length} ${result.rows.length === 1 ? 'row' : 'rows'})`;
  return [
    line(result.columns, (column) => numeric[column] ?? false),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map((row) => line(row, (column) => numeric[column] ?? false)),
    count,
  ].join('\n');
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** RFC 4180: a header row, CRLF line ends, fields with commas, quotes or line breaks quoted. */
export function formatCsv(result: QueryResult): string {
  const records = [result.columns, ...result.rows.map((row) => row.map(textOf))];
  return records.map((record) => `${record.map(csvField).join(',')}\r\n`).join('');
}

/** Column names made unique (`a`, `a_1`) so every value keeps its own key in an object. */
function uniqueNames(columns: readonly string[]): string[] {
  const seen = new Set<string>();
  return columns.map((name) => {
    let unique = name;
    for (let n = 1; seen.has(unique); n++) unique = `${name}_${n}`;
    seen.add(unique);
    return unique;
  });
}

/** A JSON array with one object per row. */
export function formatJson(result: QueryResult): string {
  const names = uniqueNames(result.columns);
  const objects = result.rows.map((row) =>
    Object.fromEntries(names.map((name, column) => [name, row[column] ?? null])),
  );
  return JSON.stringify(objects, null, 2);
}

const FORMATTERS: Readonly<Record<QueryFormat, (result: QueryResult) => string>> = {
  table: formatTable,
  csv: formatCsv,
  json: formatJson,
};

/** Where the command writes: the result to `out`, messages to `error`. */
export interface QueryIo {
  readonly out: (text: string) => void;
  readonly error: (text: string) => void;
}

const CONSOLE_IO: QueryIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  error: (text) => console.error(text),
};

/** Runs the command; returns the exit code (0 done, 1 failed query or missing file, 2 usage). */
export async function queryCommand(args: string[], io: QueryIo = CONSOLE_IO): Promise<number> {
  let parsed: ReturnType<typeof parseQueryArgs>;
  try {
    parsed = parseQueryArgs(args);
  } catch (error) {
    if (!(error instanceof QueryUsageError)) throw error;
    io.error(`sdap query: ${error.message}\n\n${QUERY_USAGE}`);
    return 2;
  }
  if ('help' in parsed) {
    io.out(QUERY_USAGE);
    return 0;
  }
  try {
    const result = await runReadOnlyQuery(parsed.warehouse, parsed.sql);
    io.out(FORMATTERS[parsed.format](result));
    return 0;
  } catch (error) {
    if (error instanceof QueryUsageError) {
      io.error(`sdap query: ${error.message}\n\n${QUERY_USAGE}`);
      return 2;
    }
    if (!(error instanceof QueryError)) throw error;
    io.error(`sdap query: ${error.message}`);
    return 1;
  }
}
