/**
 * The batch ETL's manifest, `glue-scripts/sql/pipeline.json`: which sources a run loads, which SQL
 * files it runs in which order, and where their results go. The Glue job reads the same file; this
 * module parses it (with messages naming the field at fault) and loads the SQL it names.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';

/** The folder holding the SQL files and `pipeline.json`. */
export const PIPELINE_DIR = fileURLToPath(new URL('../../glue-scripts/sql/', import.meta.url));
export const MANIFEST_FILE = 'pipeline.json';

/** Column types a source or parameter view may declare (Glue/Hive names). */
export const COLUMN_TYPES = ['string', 'int', 'bigint', 'double', 'boolean', 'timestamp'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** The lake buckets a manifest refers to by role; a runner maps them to real bucket names. */
export const BUCKET_ROLES = ['raw', 'quarantine', 'curated'] as const;
export type BucketRole = (typeof BUCKET_ROLES)[number];

/** The instants of `etl_window` a selection may be anchored to. */
export const WINDOW_ANCHORS = ['window_start', 'window_end', 'context_start', 'context_end'] as const;
export type WindowAnchor = (typeof WINDOW_ANCHORS)[number];

const identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a lowercase SQL identifier');
const columnType = z.enum(COLUMN_TYPES);

const sourceColumn = z.strictObject({
  name: identifier,
  /** Dot-separated path of the JSON key (camelCase, as the record spells it); absent for Parquet. */
  path: z.string().optional(),
  type: columnType,
});
export type SourceColumn = z.infer<typeof sourceColumn>;

const partitionColumn = z.strictObject({ name: identifier, type: columnType });

/**
 * Which Hive partitions of a source a run reads: those whose period (a day for `date` alone, an
 * hour with `hour`) overlaps `[from + fromOffsetHours, to + toOffsetHours)`; with `excludeWindow`,
 * minus the periods inside the run's own window.
 */
const selection = z.strictObject({
  date: identifier,
  hour: identifier.optional(),
  from: z.enum(WINDOW_ANCHORS),
  fromOffsetHours: z.number().int(),
  to: z.enum(WINDOW_ANCHORS),
  toOffsetHours: z.number().int(),
  excludeWindow: z.boolean().optional(),
});
export type Selection = z.infer<typeof selection>;

const source = z
  .strictObject({
    bucket: z.enum(BUCKET_ROLES),
    /** Prefix of a partitioned source (ends with `/`), or... */
    prefix: z.string().endsWith('/').optional(),
    /** ...the key of a single object. */
    key: z.string().optional(),
    format: z.enum(['ndjson.gz', 'ndjson', 'json', 'parquet']),
    partitions: z.array(partitionColumn).optional(),
    select: selection.optional(),
    /** Column holding a line that is not a JSON object of the declared types (Spark's PERMISSIVE mode). */
    corruptRecordColumn: identifier.optional(),
    columns: z.array(sourceColumn).min(1),
  })
  .refine((s) => (s.prefix === undefined) !== (s.key === undefined), {
    message: 'a source has either a prefix or a key',
  })
  .refine((s) => s.key !== undefined || s.select !== undefined, {
    message: 'a partitioned source needs a select',
  });
export type Source = z.infer<typeof source>;

const output = z.strictObject({
  bucket: z.literal('curated'),
  prefix: z.string().regex(/^[a-z_]+\/$/, 'a table prefix such as `curated_telemetry/`'),
  partitionBy: z.array(identifier).min(1),
  /** What a run owns and replaces: every hour of its window, or every day its window touches. */
  scope: z.enum(['hour', 'day']),
  /** A total order of the rows within a partition, so that reruns write the same bytes. */
  sortBy: z.array(identifier).min(1),
});
export type StepOutput = z.infer<typeof output>;

const step = z.strictObject({
  file: z.string().regex(/^\d\d_[a-z0-9_]+\.sql$/, 'NN_name.sql'),
  view: identifier,
  output: output.optional(),
});
export type Step = z.infer<typeof step>;

const parameterView = z.strictObject({
  rows: z.string(),
  columns: z.record(identifier, columnType),
});

/** The schema of `pipeline.json` (documented in glue-scripts/README.md). */
export const pipelineManifest = z.strictObject({
  version: z.literal(1),
  description: z.string(),
  prelude: z.strictObject({ duckdb: z.string() }),
  parameters: z.strictObject({
    /** Days of history the baselines cover, ending with the day they are for. */
    baselineDays: z.number().int().min(1),
    views: z.strictObject({ etl_window: parameterView, etl_hours: parameterView }),
  }),
  planner: z.strictObject({
    file: z.string(),
    view: identifier,
    sources: z.record(identifier, z.strictObject({ select: selection })),
  }),
  sources: z.record(identifier, source),
  steps: z.array(step).min(1),
});
export type PipelineManifest = z.infer<typeof pipelineManifest>;

/** A manifest with the text of every SQL file it names. */
export interface Pipeline {
  readonly manifest: PipelineManifest;
  readonly prelude: string;
  readonly plannerSql: string;
  /** Step SQL by file name. */
  readonly sql: ReadonlyMap<string, string>;
}

/** Parses a manifest; the error names each field at fault and what it expected. */
export function parseManifest(json: unknown, origin = MANIFEST_FILE): PipelineManifest {
  const result = pipelineManifest.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`${origin}: ${issues.join('; ')}`);
  }
  const manifest = result.data;
  const views = new Set<string>(Object.keys(manifest.sources));
  for (const name of Object.keys(manifest.parameters.views)) views.add(name);
  for (const { view, file } of manifest.steps) {
    if (views.has(view)) throw new Error(`${origin}: step ${file}: view '${view}' is already defined`);
    views.add(view);
  }
  for (const name of Object.keys(manifest.planner.sources)) {
    if (!(name in manifest.sources)) {
      throw new Error(
        `${origin}: planner.sources.${name}: no such source, expected one of ${Object.keys(manifest.sources).join(', ')}`,
      );
    }
  }
  return manifest;
}

/** Loads `pipeline.json` and every SQL file it names from `dir`. */
export async function loadPipeline(dir: string = PIPELINE_DIR): Promise<Pipeline> {
  const path = `${dir.replace(/\/$/, '')}/${MANIFEST_FILE}`;
  const manifest = parseManifest(JSON.parse(await readFile(path, 'utf8')), path);
  const read = (file: string) => readFile(`${dir.replace(/\/$/, '')}/${file}`, 'utf8');
  const sql = new Map<string, string>();
  for (const { file } of manifest.steps) sql.set(file, await read(file));
  return {
    manifest,
    prelude: await read(manifest.prelude.duckdb),
    plannerSql: await read(manifest.planner.file),
    sql,
  };
}
