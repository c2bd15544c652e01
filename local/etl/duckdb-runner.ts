/**
 * Runs the batch ETL's SQL (glue-scripts/sql) in DuckDB over local files, as the Glue job runs it
 * in Spark: register the parameter views, load the sources, run each step into a table, and
 * write each output partition as one Parquet file. I/O with the lake (S3) is the caller's: see
 * batch-stage.ts.
 *
 * Determinism: the SQL rounds floating aggregates and ranks duplicates by a total order; here each
 * partition is written by its own COPY, its rows ordered by the step's `sortBy`, with fixed Parquet
 * settings. A rerun over the same inputs writes the same bytes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { ColumnType, Pipeline, Source, Step, StepOutput } from './manifest.ts';
import {
  type EtlWindow,
  type WindowHour,
  type WindowInstants,
  windowDays,
  windowHours,
  windowInstants,
} from './window.ts';

/** The one file each output partition is written to: a fixed name, so a rerun replaces it. */
export const PARTITION_FILE = 'part-00000.parquet';

/**
 * Parquet settings of every output. Snappy: zstd took three times as long to write on the bench's
 * day of data, for a lake the twin rewrites every run.
 */
const PARQUET_OPTIONS = 'FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880';

/**
 * The longest NDJSON line the reader accepts: a line is one reading, which the validator took from
 * a message of at most 128 KiB (the contract's limit); anything longer is not a reading.
 */
const MAX_LINE_BYTES = 256 * 1024;

const DUCKDB_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  int: 'INTEGER',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

/** A DuckDB database prepared for the pipeline: the prelude has run on its connection. */
export interface EtlSession {
  readonly connection: DuckDBConnection;
  close(): void;
}

/** Settings of the DuckDB database a session opens. */
export interface EtlSessionOptions {
  /** DuckDB worker threads. @default DuckDB's default (one per core) */
  readonly threads?: number;
}

/** Opens an in-memory DuckDB and runs the pipeline's prelude on it. */
export async function createEtlSession(
  pipeline: Pipeline,
  options: EtlSessionOptions = {},
): Promise<EtlSession> {
  const instance = await DuckDBInstance.create(
    ':memory:',
    options.threads === undefined ? {} : { threads: String(options.threads) },
  );
  const connection = await instance.connect();
  await connection.run(pipeline.prelude);
  // Order is the SQL's business (ORDER BY, or a total order inside window functions), never
  // insertion order's: letting DuckDB reorder halved the raw read and the table writes on the
  // bench. Outputs stay deterministic because every partition's COPY sorts by `sortBy`.
  await connection.run('SET preserve_insertion_order = false');
  return {
    connection,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** Local files of each source, by source name. A source without files is loaded empty. */
export type SourceFiles = Readonly<Record<string, readonly string[]>>;

/** One Parquet file the run wrote: the partition of an output table. */
export interface OutputFile {
  readonly table: string;
  /** Lake key relative to the bucket: `<prefix><partition path>part-00000.parquet`. */
  readonly key: string;
  readonly path: string;
  readonly rows: number;
  readonly sha256: string;
}

/** The partition prefixes a run owns in one table: everything under them is replaced. */
export interface OwnedPartitions {
  readonly table: string;
  readonly prefix: string;
  /** Relative to the prefix, e.g. `event_date=2026-11-27/event_hour=13/`. */
  readonly paths: readonly string[];
}

/** The `run_summary` step's row, numbers as numbers. */
export type RunSummaryRow = Readonly<Record<string, number | null>>;

/** What one run of the pipeline wrote and counted. */
export interface PipelineResult {
  readonly window: EtlWindow;
  readonly outputs: readonly OutputFile[];
  readonly owned: readonly OwnedPartitions[];
  readonly summary: RunSummaryRow;
  /** Wall time of each step (its SELECT, then its Parquet writes), for the bench. */
  readonly stepTimings: ReadonlyArray<{
    readonly file: string;
    readonly queryMs: number;
    readonly writeMs: number;
  }>;
}

/** One run: the window, the local files of each source, where the outputs go. */
export interface PipelineRunOptions {
  readonly window: EtlWindow;
  readonly files: SourceFiles;
  /** Outputs go to `<outDir>/<key>`. */
  readonly outDir: string;
}

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;
const timestampLiteral = (ms: number) =>
  `TIMESTAMP ${sqlString(new Date(ms).toISOString().replace('T', ' ').replace('Z', ''))}`;
const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** One statement: a step's SQL without trailing semicolons, so it can follow `AS`. */
function statementOf(sql: string, file: string): string {
  const text = sql.trim().replace(/;\s*$/, '');
  if (text.length === 0) throw new Error(`${file}: empty SQL file, expected one SELECT statement`);
  return text;
}

async function run(session: EtlSession, sql: string, context: string): Promise<void> {
  try {
    await session.connection.run(sql);
  } catch (error) {
    throw new Error(`${context}: ${(error as Error).message}`);
  }
}

async function rows(session: EtlSession, sql: string, context: string): Promise<Record<string, unknown>[]> {
  try {
    return (await session.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } catch (error) {
    throw new Error(`${context}: ${(error as Error).message}`);
  }
}

/** Registers `etl_window` (one row) and `etl_hours` (one row per hour) as the manifest declares them. */
async function registerParameters(
  session: EtlSession,
  pipeline: Pipeline,
  instants: WindowInstants,
  hours: readonly WindowHour[],
): Promise<void> {
  const { etl_window: windowView, etl_hours: hoursView } = pipeline.manifest.parameters.views;
  const windowValues: Record<string, string> = Object.fromEntries(
    Object.entries(instants).map(([name, ms]) => [name, timestampLiteral(ms)]),
  );
  const windowColumns = Object.keys(windowView.columns).map((name) => {
    const value = windowValues[name];
    if (value === undefined) {
      throw new Error(
        `pipeline.json: parameters.views.etl_window.columns.${name}: not a value this runner provides (${Object.keys(windowValues).join(', ')})`,
      );
    }
    return `${value} AS ${quoted(name)}`;
  });
  await run(
    session,
    `CREATE OR REPLACE TEMP TABLE etl_window AS SELECT ${windowColumns.join(', ')}`,
    'etl_window',
  );

  const hourValue = (hour: WindowHour, name: string): string => {
    switch (name) {
      case 'hour_start':
        return timestampLiteral(hour.hourStartMs);
      case 'hour_index':
        return `CAST(${hour.hourIndex} AS BIGINT)`;
      case 'event_date':
        return sqlString(hour.eventDate);
      case 'event_hour':
        return sqlString(hour.eventHour);
      case 'day_start':
        return timestampLiteral(hour.dayStartMs);
      default:
        throw new Error(
          `pipeline.json: parameters.views.etl_hours.columns.${name}: not a value this runner provides (hour_start, hour_index, event_date, event_hour, day_start)`,
        );
    }
  };
  const names = Object.keys(hoursView.columns);
  const selects = hours.map(
    (hour) => `SELECT ${names.map((name) => `${hourValue(hour, name)} AS ${quoted(name)}`).join(', ')}`,
  );
  await run(session, `CREATE OR REPLACE TEMP TABLE etl_hours AS ${selects.join(' UNION ALL ')}`, 'etl_hours');
}

type JsonTree = { [key: string]: JsonTree | string };

/** The columns' dotted JSON paths as a tree of keys, DuckDB types at the leaves. */
function jsonTree(columns: Source['columns']): JsonTree {
  const tree: JsonTree = {};
  for (const column of columns) {
    const path = (column.path ?? column.name).split('.');
    let node = tree;
    for (const part of path.slice(0, -1)) {
      const child = node[part];
      const next: JsonTree = typeof child === 'object' ? child : {};
      node[part] = next;
      node = next;
    }
    node[path.at(-1) as string] = DUCKDB_TYPES[column.type];
  }
  return tree;
}

/** The structure argument of `json_transform`. */
const jsonStructure = (columns: Source['columns']) => JSON.stringify(jsonTree(columns));

/** The `columns` argument of `read_json`: top-level keys, nested objects as STRUCTs. */
function readJsonColumns(columns: Source['columns']): string {
  const typeOf = (node: JsonTree | string): string =>
    typeof node === 'string'
      ? node
      : `STRUCT(${Object.entries(node)
          .map(([key, child]) => `${quoted(key)} ${typeOf(child)}`)
          .join(', ')})`;
  return `{${Object.entries(jsonTree(columns))
    .map(([key, node]) => `${sqlString(key)}: ${sqlString(typeOf(node))}`)
    .join(', ')}}`;
}

const jsonAccess = (path: string, record = 'j') =>
  `${record}.${path
    .split('.')
    .map((part) => quoted(part))
    .join('.')}`;

/** Partition columns parsed from each row's file name (`.../name=value/...`), typed. */
function partitionSelects(source: Source): string[] {
  return (source.partitions ?? []).map(
    (p) =>
      `TRY_CAST(regexp_extract(filename, ${sqlString(`/${p.name}=([^/]*)/`)}, 1) AS ${DUCKDB_TYPES[p.type]}) AS ${quoted(p.name)}`,
  );
}

/** Reader options that take the partition columns from each file's Hive path, typed. */
function hiveOptions(source: Source): string {
  const partitions = source.partitions ?? [];
  if (partitions.length === 0) return '';
  const types = partitions.map((p) => `${sqlString(p.name)}: ${sqlString(DUCKDB_TYPES[p.type])}`).join(', ');
  return `, hive_partitioning = true, hive_types = {${types}}`;
}

/** The empty relation with a source's columns, for a source without files. */
function emptySource(source: Source): string {
  const columns = [
    ...(source.corruptRecordColumn ? [`CAST(NULL AS VARCHAR) AS ${quoted(source.corruptRecordColumn)}`] : []),
    ...source.columns.map((c) => `CAST(NULL AS ${DUCKDB_TYPES[c.type]}) AS ${quoted(c.name)}`),
    ...(source.partitions ?? []).map((p) => `CAST(NULL AS ${DUCKDB_TYPES[p.type]}) AS ${quoted(p.name)}`),
  ];
  return `SELECT ${columns.join(', ')} WHERE false`;
}

/**
 * The SELECT that reads a source's files with its declared columns. NDJSON goes through DuckDB's
 * own JSON reader (the floor's reader on the bench): a line that does not parse becomes a row with
 * every column NULL, which the SQL counts as malformed for want of an `event_id`; that reader keeps
 * no text of such a line, so the corrupt-record column stays NULL here, where Spark's PERMISSIVE
 * mode puts the line in it. A JSON-document source is read whole and parsed with `json_transform`,
 * the document landing in the corrupt-record column when it does not parse.
 */
export function sourceSelect(source: Source, files: readonly string[]): string {
  if (files.length === 0) return emptySource(source);
  const list = `[${files.map(sqlString).join(', ')}]`;
  const partitionNames = (source.partitions ?? []).map((p) => quoted(p.name));
  const corrupt = source.corruptRecordColumn;
  if (source.format === 'parquet') {
    const columns = source.columns.map(
      (c) => `CAST(${quoted(c.name)} AS ${DUCKDB_TYPES[c.type]}) AS ${quoted(c.name)}`,
    );
    return `SELECT ${[...columns, ...partitionNames].join(', ')} FROM read_parquet(${list}, union_by_name = true${hiveOptions(source)})`;
  }
  if (source.format === 'json') {
    const columns = [
      ...(corrupt ? [`CASE WHEN j IS NULL THEN line END AS ${quoted(corrupt)}`] : []),
      ...source.columns.map((c) => `${jsonAccess(c.path ?? c.name)} AS ${quoted(c.name)}`),
      // read_text has no Hive option: the partitions come from the file name.
      ...partitionSelects(source),
    ];
    return `SELECT ${columns.join(', ')} FROM (SELECT content AS line, filename, try(json_transform(content, ${sqlString(jsonStructure(source.columns))})) AS j FROM read_text(${list}))`;
  }
  const columns = [
    ...(corrupt ? [`CAST(NULL AS VARCHAR) AS ${quoted(corrupt)}`] : []),
    ...source.columns.map((c) => `${jsonAccess(c.path ?? c.name, 'r')} AS ${quoted(c.name)}`),
    ...partitionNames,
  ];
  return `SELECT ${columns.join(', ')} FROM read_json(${list}, format = 'newline_delimited', columns = ${readJsonColumns(source.columns)}, ignore_errors = true, maximum_object_size = ${MAX_LINE_BYTES}${hiveOptions(source)}) AS r`;
}

async function registerSources(
  session: EtlSession,
  sources: Readonly<Record<string, Source>>,
  files: SourceFiles,
): Promise<void> {
  for (const [name, source] of Object.entries(sources)) {
    await run(
      session,
      `CREATE OR REPLACE TEMP VIEW ${quoted(name)} AS ${sourceSelect(source, files[name] ?? [])}`,
      `source ${name}`,
    );
  }
}

/**
 * Runs the planner over newly ingested raw partitions (`files`, the ingest hours of `ingest`):
 * the event hours their readings touch.
 */
export async function planTouchedHours(
  session: EtlSession,
  pipeline: Pipeline,
  ingest: EtlWindow,
  files: SourceFiles,
): Promise<Array<{ hourStartMs: number; readings: number; lateReadings: number }>> {
  const { manifest } = pipeline;
  await registerParameters(
    session,
    pipeline,
    windowInstants(ingest, manifest.parameters.baselineDays),
    windowHours(ingest),
  );
  const sources = Object.fromEntries(
    Object.keys(manifest.planner.sources).map((name) => [name, manifest.sources[name] as Source]),
  );
  await registerSources(session, sources, files);
  const planned = await rows(
    session,
    `SELECT epoch_ms(hour_start) AS hour_start_ms, readings, late_readings FROM (${statementOf(pipeline.plannerSql, manifest.planner.file)}) ORDER BY hour_start`,
    manifest.planner.file,
  );
  return planned.map((row) => ({
    hourStartMs: Number(row.hour_start_ms),
    readings: Number(row.readings),
    lateReadings: Number(row.late_readings),
  }));
}

/** The partition paths (relative to the table prefix) a run owns for an output's scope. */
export function ownedPaths(output: StepOutput, window: EtlWindow): string[] {
  const [dateColumn, hourColumn] = output.partitionBy;
  if (output.scope === 'hour') {
    if (hourColumn === undefined) {
      throw new Error(
        `output ${output.prefix}: scope 'hour' needs partitionBy to start with a date and an hour column`,
      );
    }
    return windowHours(window).map((h) => `${dateColumn}=${h.eventDate}/${hourColumn}=${h.eventHour}/`);
  }
  return windowDays(window).map((day) => `${dateColumn}=${day}/`);
}

/** Writes one Parquet file per partition of a step's output, checking the run owns each. */
async function writeOutput(
  session: EtlSession,
  step: Step & { output: StepOutput },
  owned: ReadonlySet<string>,
  outDir: string,
): Promise<OutputFile[]> {
  const { output, view } = step;
  const partitionColumns = output.partitionBy.map(quoted).join(', ');
  const partitions = await rows(
    session,
    `SELECT ${partitionColumns}, count(*) AS row_count FROM ${quoted(view)} GROUP BY ALL ORDER BY ALL`,
    `${step.file}: partitions`,
  );
  const order = output.sortBy.map((c) => `${quoted(c)} NULLS FIRST`).join(', ');
  const files: OutputFile[] = [];
  for (const partition of partitions) {
    const values = output.partitionBy.map((column) => {
      const value = partition[column];
      if (value === null || value === undefined || String(value) === '') {
        throw new Error(
          `${step.file}: partition column ${column}: received ${JSON.stringify(value)}, expected a value for every row`,
        );
      }
      return [column, String(value)] as const;
    });
    const path = values.map(([column, value]) => `${column}=${value}/`).join('');
    const ownedPrefix = [...owned].find((prefix) => path.startsWith(prefix));
    if (ownedPrefix === undefined) {
      throw new Error(
        `${step.file}: rows for partition ${path} lie outside the run's window (expected one of ${[...owned].slice(0, 3).join(', ')}${owned.size > 3 ? ', ...' : ''})`,
      );
    }
    const key = `${output.prefix}${path}${PARTITION_FILE}`;
    const file = join(outDir, key);
    await mkdir(dirname(file), { recursive: true });
    const where = values.map(([column, value]) => `${quoted(column)} = ${sqlString(value)}`).join(' AND ');
    await run(
      session,
      `COPY (SELECT * EXCLUDE (${partitionColumns}) FROM ${quoted(view)} WHERE ${where} ORDER BY ${order}) TO ${sqlString(file)} (${PARQUET_OPTIONS})`,
      `${step.file}: writing ${key}`,
    );
    files.push({
      table: view,
      key,
      path: file,
      rows: Number(partition.row_count),
      sha256: createHash('sha256')
        .update(await readFile(file))
        .digest('hex'),
    });
  }
  return files;
}

/** The run summary row with DuckDB's BIGINT strings turned into numbers. */
function numericRow(row: Record<string, unknown> | undefined): RunSummaryRow {
  return Object.fromEntries(
    Object.entries(row ?? {}).map(([key, value]) => [
      key,
      value === null || value === undefined ? null : Number(value),
    ]),
  );
}

/** The view the run summary comes from: the last step without an output named `run_summary`. */
export const RUN_SUMMARY_VIEW = 'run_summary';

/**
 * Runs every step of the pipeline for one window over local files, writing each output partition
 * under `outDir`. Views of an earlier run in the same session are replaced.
 */
export async function runPipeline(
  session: EtlSession,
  pipeline: Pipeline,
  options: PipelineRunOptions,
): Promise<PipelineResult> {
  const { manifest } = pipeline;
  const { window, outDir } = options;
  await registerParameters(
    session,
    pipeline,
    windowInstants(window, manifest.parameters.baselineDays),
    windowHours(window),
  );
  await registerSources(session, manifest.sources, options.files);
  const outputs: OutputFile[] = [];
  const owned: OwnedPartitions[] = [];
  const stepTimings: Array<{ file: string; queryMs: number; writeMs: number }> = [];
  for (const step of manifest.steps) {
    const sql = pipeline.sql.get(step.file);
    if (sql === undefined) throw new Error(`${step.file}: not loaded with the pipeline`);
    const started = performance.now();
    // A plain (not TEMP) table: the writer connections must see it. An output's rows are stored
    // in partition order, so that each partition's COPY reads only its own row groups: on the
    // bench's day, 96 curated partitions took four times as long to write from an unclustered
    // table as the clustering sort itself.
    const cluster = step.output ? ` ORDER BY ${step.output.partitionBy.map(quoted).join(', ')}` : '';
    await run(
      session,
      `CREATE OR REPLACE TABLE ${quoted(step.view)} AS SELECT * FROM (${statementOf(sql, step.file)}) AS step${cluster}`,
      step.file,
    );
    const queried = performance.now();
    if (step.output) {
      const paths = ownedPaths(step.output, window);
      owned.push({ table: step.view, prefix: step.output.prefix, paths });
      outputs.push(...(await writeOutput(session, { ...step, output: step.output }, new Set(paths), outDir)));
    }
    stepTimings.push({ file: step.file, queryMs: queried - started, writeMs: performance.now() - queried });
  }
  const summary = manifest.steps.some((step) => step.view === RUN_SUMMARY_VIEW)
    ? numericRow((await rows(session, `SELECT * FROM ${RUN_SUMMARY_VIEW}`, RUN_SUMMARY_VIEW))[0])
    : {};
  return { window, outputs, owned, summary, stepTimings };
}
