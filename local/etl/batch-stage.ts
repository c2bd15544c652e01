/**
 * The twin's batch stage: the hourly Glue ETL, run in DuckDB over the twin's lake. Like the Glue
 * job, it reads and writes the lake only through the S3 API: it GETs the partitions the run needs
 * into a work directory, runs glue-scripts/sql there (duckdb-runner.ts), PUTs the Parquet it wrote
 * to a staging prefix of the curated bucket and, once every output is staged, swaps each owned
 * partition in (see glue-scripts/README.md, "Staging and swap"). Given a failure endpoint, it then
 * scores the window's device-hours and writes their predictions, as the deployed workflow's scoring
 * step does after each Glue run (failure-scoring.ts).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  createEtlSession,
  type OutputFile,
  type PipelineResult,
  planTouchedHours,
  runPipeline,
  type SourceFiles,
} from './duckdb-runner.ts';
import {
  type FailureScoringEndpoint,
  type PredictionsSummary,
  runFailureScoring,
} from './failure-scoring.ts';
import {
  copyObject,
  deleteObject,
  downloadObject,
  listKeys,
  mapLimit,
  S3_CONCURRENCY,
  uploadFile,
} from './lake-io.ts';
import { type BucketRole, loadPipeline, type Pipeline, type Selection, type Source } from './manifest.ts';
import {
  type EtlWindow,
  etlWindow,
  HOUR_MS,
  hivePartitions,
  plannedWindow,
  selectsKey,
  windowDays,
  windowInstants,
} from './window.ts';

/** Where staged outputs wait in the curated bucket until the run commits. */
export const STAGING_PREFIX = '_staging/';

/** The lake's buckets by role. */
export type BatchStageBuckets = Readonly<Record<BucketRole, string>>;

/** What to run the batch stage over, and where its lake is. */
export interface BatchStageOptions {
  /** A client for the lake (the twin's: path-style, checksums only when required). */
  readonly s3: S3Client;
  readonly buckets: BatchStageBuckets;
  /**
   * Event hours `[from, to)` to rebuild, whole UTC hours: a backfill or a rerun. Without them the
   * run plans its window from the ingest hours (`ingestFrom`/`ingestTo`).
   */
  readonly from?: Date | string;
  readonly to?: Date | string;
  /**
   * Ingest hours `[ingestFrom, ingestTo)` that arrived since the last run: the scheduled hourly
   * run. @default every ingest hour the raw zone holds
   */
  readonly ingestFrom?: Date | string;
  readonly ingestTo?: Date | string;
  /** Scratch space for downloads and Parquet. @default a new temporary directory, removed afterwards */
  readonly workDir?: string;
  /** @default the project's glue-scripts/sql */
  readonly pipeline?: Pipeline;
  /** DuckDB threads. @default one per core */
  readonly threads?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /**
   * The failure model's endpoint: after publishing, the window's device-hours are scored and their
   * predictions written (`predictions/`). @default - no scoring, as in a stage without the endpoint
   */
  readonly scoring?: FailureScoringEndpoint;
}

/** What a batch run did. Field names are part of the interface (the twin's summary shows them). */
export interface BatchSummary {
  /** The event hours rebuilt, or null when the raw zone held nothing to process. */
  readonly window: { readonly from: string; readonly to: string } | null;
  /** True when the window was planned from newly ingested data, false when it was requested. */
  readonly planned: boolean;
  readonly hoursProcessed: number;
  readonly rawObjectsRead: number;
  /** Raw objects that did not decompress: skipped and counted, never fatal. */
  readonly unreadableObjects: number;
  readonly rawLinesRead: number;
  /** Raw lines that are not a usable reading (not JSON, missing keys): counted and excluded. */
  readonly malformedLines: number;
  readonly curatedRows: number;
  readonly duplicatesRemoved: number;
  /** Curated readings the stream accepted after their event hour had ended. */
  readonly lateReadings: number;
  readonly devicesReporting: number;
  readonly dqScore: {
    readonly deviceHoursScored: number;
    readonly min: number | null;
    readonly p10: number | null;
    readonly p50: number | null;
    readonly mean: number | null;
    readonly max: number | null;
    readonly histogram: {
      readonly below50: number;
      readonly from50To80: number;
      readonly from80To95: number;
      readonly from95: number;
    };
  };
  /** Partitions and rows written per output table. */
  readonly tables: Readonly<Record<string, { readonly partitions: number; readonly rows: number }>>;
  readonly objectsWritten: number;
  /** Stale objects removed from owned partitions (partitions that are now empty, mostly). */
  readonly objectsDeleted: number;
  /** sha256 over every output object's key and sha256: equal checksums, equal outputs. */
  readonly outputChecksum: string;
  /** The scoring step over the window: absent without a failure endpoint (`scoring`). */
  readonly predictions?: PredictionsSummary;
  readonly seconds: {
    readonly download: number;
    readonly transform: number;
    readonly upload: number;
    /** The scoring step (with `scoring` only). */
    readonly scoring?: number;
    readonly total: number;
  };
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/** Keys of a source that a run over `window` reads (all of a single-key source's one key). */
async function sourceKeys(
  s3: S3Client,
  buckets: BatchStageBuckets,
  source: Source,
  selection: Selection | undefined,
  window: EtlWindow,
  baselineDays: number,
): Promise<string[]> {
  const bucket = buckets[source.bucket];
  if (source.key !== undefined) return [source.key];
  const instants = windowInstants(window, baselineDays);
  const keys = await listKeys(s3, bucket, source.prefix ?? '');
  return keys.filter((key) => selection !== undefined && selectsKey(selection, instants, key));
}

interface Downloaded {
  readonly files: Record<string, string[]>;
  readonly unreadable: number;
}

/** GETs each source's selected objects under `dir/<bucket role>/`, skipping gzip that does not inflate. */
async function download(
  options: BatchStageOptions,
  sources: ReadonlyArray<readonly [string, Source, Selection | undefined]>,
  window: EtlWindow,
  pipeline: Pipeline,
  dir: string,
): Promise<Downloaded> {
  const files: Record<string, string[]> = {};
  let unreadable = 0;
  for (const [name, source, selection] of sources) {
    const keys = await sourceKeys(
      options.s3,
      options.buckets,
      source,
      selection,
      window,
      pipeline.manifest.parameters.baselineDays,
    );
    const bucket = options.buckets[source.bucket];
    const got = await mapLimit(keys, S3_CONCURRENCY, async (key) => {
      const object = await downloadObject(options.s3, bucket, key, join(dir, source.bucket));
      if (object === undefined) return undefined;
      if (source.format === 'ndjson.gz') {
        try {
          gunzipSync(object.body);
        } catch {
          options.log?.(`batch: skipped ${bucket}/${key}: not a readable gzip object`);
          unreadable++;
          return undefined;
        }
      }
      return object.path;
    });
    files[name] = got.filter((path): path is string => path !== undefined);
  }
  return { files, unreadable };
}

/** The ingest hours present in the raw zone, as a window, or undefined when it is empty. */
async function rawIngestWindow(
  options: BatchStageOptions,
  pipeline: Pipeline,
): Promise<EtlWindow | undefined> {
  const [name, selection] = Object.entries(pipeline.manifest.planner.sources)[0] ?? [];
  const source = name === undefined ? undefined : pipeline.manifest.sources[name];
  if (source === undefined || selection === undefined || source.prefix === undefined) return undefined;
  const hours = (await listKeys(options.s3, options.buckets[source.bucket], source.prefix))
    .map((key) => {
      const values = hivePartitions(key);
      const date = values[selection.select.date];
      const hour = selection.select.hour === undefined ? 0 : Number(values[selection.select.hour]);
      return Date.parse(`${date}T00:00:00Z`) + hour * HOUR_MS;
    })
    .filter(Number.isFinite);
  if (hours.length === 0) return undefined;
  return { startMs: Math.min(...hours), endMs: Math.max(...hours) + HOUR_MS };
}

/** The window to rebuild: the requested one, or the planner's over the ingest window. */
async function chooseWindow(
  options: BatchStageOptions,
  pipeline: Pipeline,
  dir: string,
): Promise<{ window: EtlWindow | undefined; planned: boolean }> {
  if (options.from !== undefined || options.to !== undefined) {
    if (options.from === undefined || options.to === undefined) {
      throw new Error(
        'from/to: received only one of them, expected both bounds of the event-hour window or neither',
      );
    }
    return { window: etlWindow(options.from, options.to), planned: false };
  }
  let ingest: EtlWindow | undefined;
  if (options.ingestFrom !== undefined || options.ingestTo !== undefined) {
    if (options.ingestFrom === undefined || options.ingestTo === undefined) {
      throw new Error(
        'ingestFrom/ingestTo: received only one of them, expected both bounds of the ingest window or neither',
      );
    }
    ingest = etlWindow(options.ingestFrom, options.ingestTo);
  } else {
    ingest = await rawIngestWindow(options, pipeline);
  }
  if (ingest === undefined) return { window: undefined, planned: true };
  const plannerSources = Object.entries(pipeline.manifest.planner.sources).map(
    ([name, { select }]) => [name, pipeline.manifest.sources[name] as Source, select] as const,
  );
  const { files } = await download(options, plannerSources, ingest, pipeline, join(dir, 'planner'));
  const session = await createEtlSession(
    pipeline,
    options.threads === undefined ? {} : { threads: options.threads },
  );
  try {
    const touched = await planTouchedHours(session, pipeline, ingest, files);
    return {
      window: plannedWindow(
        ingest,
        touched.map((hour) => hour.hourStartMs),
      ),
      planned: true,
    };
  } finally {
    session.close();
  }
}

/** A name for the run's staging prefix: the same window stages to the same place on a rerun. */
function runId(window: EtlWindow): string {
  return createHash('sha256').update(`${window.startMs}/${window.endMs}`).digest('hex').slice(0, 16);
}

/**
 * Stages every output under `_staging/<run>/`, then swaps each owned partition: copy the staged
 * object over the live one (one object per partition, so a reader sees the old or the new file,
 * never a mix), delete live objects the run no longer produces, and clear the staging prefix.
 */
async function publish(
  options: BatchStageOptions,
  result: PipelineResult,
): Promise<{ written: number; deleted: number }> {
  const { s3 } = options;
  const bucket = options.buckets.curated;
  const staging = `${STAGING_PREFIX}run-${runId(result.window)}/`;
  await mapLimit(result.outputs, S3_CONCURRENCY, (output) =>
    uploadFile(s3, bucket, `${staging}${output.key}`, output.path),
  );
  const days = windowDays(result.window);
  const written = new Set(result.outputs.map((output) => output.key));
  const stale: string[] = [];
  for (const table of result.owned) {
    const ownedPrefixes = table.paths.map((path) => `${table.prefix}${path}`);
    const dateColumn = table.paths[0]?.split('=')[0];
    for (const day of days) {
      for (const key of await listKeys(s3, bucket, `${table.prefix}${dateColumn}=${day}/`)) {
        if (!written.has(key) && ownedPrefixes.some((prefix) => key.startsWith(prefix))) stale.push(key);
      }
    }
  }
  await mapLimit(result.outputs, S3_CONCURRENCY, (output) =>
    copyObject(s3, bucket, `${staging}${output.key}`, output.key),
  );
  await mapLimit(stale, S3_CONCURRENCY, (key) => deleteObject(s3, bucket, key));
  await mapLimit(result.outputs, S3_CONCURRENCY, (output) =>
    deleteObject(s3, bucket, `${staging}${output.key}`),
  );
  return { written: result.outputs.length, deleted: stale.length };
}

/** sha256 over the outputs' keys and contents, in key order. */
export function outputChecksum(outputs: readonly OutputFile[]): string {
  const hash = createHash('sha256');
  for (const output of [...outputs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    hash.update(`${output.key}\t${output.sha256}\n`);
  }
  return hash.digest('hex');
}

function emptySummary(planned: boolean, startedMs: number): BatchSummary {
  return {
    window: null,
    planned,
    hoursProcessed: 0,
    rawObjectsRead: 0,
    unreadableObjects: 0,
    rawLinesRead: 0,
    malformedLines: 0,
    curatedRows: 0,
    duplicatesRemoved: 0,
    lateReadings: 0,
    devicesReporting: 0,
    dqScore: {
      deviceHoursScored: 0,
      min: null,
      p10: null,
      p50: null,
      mean: null,
      max: null,
      histogram: { below50: 0, from50To80: 0, from80To95: 0, from95: 0 },
    },
    tables: {},
    objectsWritten: 0,
    objectsDeleted: 0,
    outputChecksum: outputChecksum([]),
    seconds: { download: 0, transform: 0, upload: 0, total: seconds(performance.now() - startedMs) },
  };
}

/**
 * Runs the batch ETL over the lake: plans or takes the event-hour window, downloads what it needs,
 * runs the SQL in DuckDB and publishes the curated partitions it owns. Rerunning the same window
 * over the same raw data writes byte-identical objects.
 *
 * @example
 * // in the twin, after the streaming phase (every ingest hour the raw zone holds):
 * const batch = await runBatchStage({ s3, buckets: TWIN_BUCKETS });
 * // a backfill of three event hours on an existing lake:
 * await runBatchStage({ s3, buckets: TWIN_BUCKETS, from: '2026-11-27T13:00:00Z', to: '2026-11-27T16:00:00Z' });
 */
export async function runBatchStage(options: BatchStageOptions): Promise<BatchSummary> {
  const started = performance.now();
  const pipeline = options.pipeline ?? (await loadPipeline());
  const dir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'sdap-etl-')));
  try {
    const { window, planned } = await chooseWindow(options, pipeline, dir);
    if (window === undefined) {
      options.log?.('batch: the raw zone is empty, nothing to process');
      return emptySummary(planned, started);
    }
    const label = `${new Date(window.startMs).toISOString()} .. ${new Date(window.endMs).toISOString()}`;
    options.log?.(`batch: event hours ${label}${planned ? ' (planned from the ingested hours)' : ''}`);
    const downloadStarted = performance.now();
    const sources = Object.entries(pipeline.manifest.sources).map(
      ([name, source]) => [name, source, source.select] as const,
    );
    const runDir = join(dir, `run-${runId(window)}`);
    // A work directory reused across runs must not feed an earlier run's files into this one.
    await rm(runDir, { recursive: true, force: true });
    const { files, unreadable } = await download(options, sources, window, pipeline, join(runDir, 'in'));
    // Raw telemetry is what the planner reads.
    const objects = Object.keys(pipeline.manifest.planner.sources).reduce(
      (sum, name) => sum + (files[name]?.length ?? 0),
      0,
    );
    const transformStarted = performance.now();
    const session = await createEtlSession(
      pipeline,
      options.threads === undefined ? {} : { threads: options.threads },
    );
    let result: PipelineResult;
    try {
      result = await runPipeline(session, pipeline, {
        window,
        files: files as SourceFiles,
        outDir: join(runDir, 'out'),
      });
    } finally {
      session.close();
    }
    const uploadStarted = performance.now();
    const { written, deleted } = await publish(options, result);
    const scoringStarted = performance.now();
    const from = new Date(window.startMs).toISOString();
    const to = new Date(window.endMs).toISOString();
    const predictions =
      options.scoring &&
      (await runFailureScoring({
        s3: options.s3,
        curatedBucket: options.buckets.curated,
        window: { from, to },
        endpoint: options.scoring,
      }));
    if (predictions?.status === 'failed') {
      options.log?.(`batch: no predictions written: ${predictions.error}: ${predictions.message}`);
    }
    const done = performance.now();
    const s = result.summary;
    const n = (key: string) => s[key] ?? 0;
    const tables: Record<string, { partitions: number; rows: number }> = {};
    for (const table of result.owned) tables[table.table] = { partitions: 0, rows: 0 };
    for (const output of result.outputs) {
      const table = tables[output.table] ?? { partitions: 0, rows: 0 };
      table.partitions++;
      table.rows += output.rows;
      tables[output.table] = table;
    }
    return {
      window: { from, to },
      planned,
      hoursProcessed: n('hours'),
      rawObjectsRead: objects,
      unreadableObjects: unreadable,
      rawLinesRead: n('raw_lines_read'),
      malformedLines: n('malformed_lines'),
      curatedRows: n('curated_rows'),
      duplicatesRemoved: n('duplicates_removed'),
      lateReadings: n('late_readings'),
      devicesReporting: n('devices_reporting'),
      dqScore: {
        deviceHoursScored: n('device_hours_scored'),
        min: s.dq_score_min ?? null,
        p10: s.dq_score_p10 ?? null,
        p50: s.dq_score_p50 ?? null,
        mean: s.dq_score_mean ?? null,
        max: s.dq_score_max ?? null,
        histogram: {
          below50: n('dq_score_below_50'),
          from50To80: n('dq_score_50_to_80'),
          from80To95: n('dq_score_80_to_95'),
          from95: n('dq_score_95_and_above'),
        },
      },
      tables,
      objectsWritten: written,
      objectsDeleted: deleted,
      outputChecksum: outputChecksum(result.outputs),
      ...(predictions && { predictions }),
      seconds: {
        download: seconds(transformStarted - downloadStarted),
        transform: seconds(uploadStarted - transformStarted),
        upload: seconds(scoringStarted - uploadStarted),
        ...(predictions && { scoring: seconds(done - scoringStarted) }),
        total: seconds(done - started),
      },
    };
  } finally {
    if (options.workDir === undefined) await rm(dir, { recursive: true, force: true });
  }
}
