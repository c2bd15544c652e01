/**
 * Scores one ETL window's device-hours with the failure model and rewrites the window's predictions:
 *
 * 1. for each event hour of the window, read its `ml_features` partition (the Parquet the ETL just
 *    wrote, hyparquet) and build each row's features in the order of ml/models.json, keeping the
 *    model's device types;
 * 2. score them on the endpoint: CSV rows (`text/csv`, an empty field a missing value) in request
 *    bodies within InvokeEndpoint's payload limit, every call to the champion variant, each with a
 *    timeout and bounded, jittered retries (endpoint-client.ts);
 * 3. only when every hour is scored, write each hour's predictions as one Parquet object,
 *    `predictions/event_date=D/event_hour=HH/part-00000.parquet` (columns: warehouse/curated-tables.ts
 *    `PREDICTIONS`, rows by device), and delete what else the window's hours hold (hours that no
 *    longer have features, objects the run did not write).
 *
 * **A failed endpoint fails the run and changes nothing**: no prediction is written until all are
 * scored, so the lake keeps the hours' previous predictions, whole; the error names the reason
 * (`PredictionEndpointUnavailableError` or `PredictionEndpointRefusedError`). The workflow notifies
 * on-call; a rerun of the window scores it again.
 *
 * **Reruns write the same bytes.** `scored_at` is the end of the scored hour, not the clock nor the
 * window: the instant the prediction's 24-hour horizon starts, a function of the row alone. Any run
 * that scores an hour's features with the same model writes byte-identical objects, whichever window
 * it covers — an hourly run, a backfill, a replay of one hour — so a replay changes nothing.
 *
 * Each partition is one object, so a reader sees an hour's old predictions or its new ones, never a
 * mix; a run that fails while writing leaves some hours new and the rest old, and a rerun completes it.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { type ModelDefinition, parseModelSpec } from '../../ml/model-spec.ts';
import modelsJson from '../../ml/models.json' with { type: 'json' };
import { PREDICTIONS } from '../../warehouse/curated-tables.ts';
import type { CuratedColumn } from '../../warehouse/spec.ts';
import {
  type CsvValue,
  callBodies,
  callWithRetries,
  type EndpointCallOptions,
  type EndpointFailureReason,
  featureRowsCsv,
  MAX_CALL_BYTES,
  type ScorerClock,
} from '../shared/endpoint-client.ts';
import { listKeys } from '../shared/s3-listing.ts';
import {
  FeatureTableError,
  featureColumns,
  type TableRow,
  tableFeatureRow,
} from '../shared/table-features.ts';
import { FAILURE_SCORING_ERRORS, ML_FEATURES_PREFIX } from './names.ts';

export { ML_FEATURES_PREFIX };

import type { ScoringResult, ScoringWindow } from './scoring-event.ts';

/** The model this function scores, by its name in ml/models.json. */
export const FAILURE_MODEL = 'failure';
/** The one object of a prediction partition; a rerun overwrites it. */
export const PREDICTION_FILE = 'part-00000.parquet';
/** Written into each file's footer in place of the writer's name. */
export const PREDICTION_FILE_CREATED_BY = 'sdap failure-scoring';
/** A binary model's decision threshold when the spec gives none: even odds. */
export const DEFAULT_DECISION_THRESHOLD = 0.5;

/**
 * Per-call timeout. A call carries up to ~5.5 MB (tens of thousands of rows), which the container
 * scores in well under a second; 30 s means the call hangs, and stays within SageMaker's own 60 s.
 */
export const BATCH_CALL_TIMEOUT_MS = 30_000;
/** Attempts per call, the first included: an endpoint scaling out or updating answers within them. */
export const BATCH_MAX_ATTEMPTS = 4;
/** Backoff before retry n: a random share (full jitter) of min(max, base x 2^(n-1)): up to 1, 2, 4 s. */
export const BATCH_BACKOFF_BASE_MS = 1_000;
export const BATCH_BACKOFF_MAX_MS = 10_000;

/** Reasons another call later may succeed: the workflow retries the step on these. */
const TRANSIENT_REASONS: ReadonlySet<EndpointFailureReason> = new Set([
  'throttled',
  'service_unavailable',
  'model_not_ready',
  'internal_failure',
  'timeout',
  'network_error',
]);

/** The endpoint gave no scores after the call's retries. `reason` is endpoint-client.ts's. */
export class PredictionEndpointError extends Error {
  override readonly name: string;
  constructor(
    readonly reason: EndpointFailureReason,
    message: string,
  ) {
    super(message);
    this.name = TRANSIENT_REASONS.has(reason)
      ? FAILURE_SCORING_ERRORS.endpointUnavailable
      : FAILURE_SCORING_ERRORS.endpointRefused;
  }
}

export interface ScoreWindowDeps {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  readonly sageMakerRuntime: Pick<SageMakerRuntimeClient, 'send'>;
  readonly endpointName: string;
  /** The variant every call targets. */
  readonly endpointVariant: string;
  /** Written into every prediction (names/modelVersionOf). */
  readonly modelVersion: string;
  /** @default - the failure model of the bundled ml/models.json */
  readonly model?: ModelDefinition;
  /** Overrides of the call policy (tests). @default the BATCH_* constants */
  readonly callPolicy?: Partial<
    Pick<EndpointCallOptions, 'callTimeoutMs' | 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs'>
  >;
  readonly clock?: ScorerClock;
  readonly random?: () => number;
  /** @default {@link MAX_CALL_BYTES} */
  readonly maxCallBytes?: number;
}

const HOUR_MS = 3_600_000;

let bundled: ModelDefinition | undefined;

/** The failure model's definition from the bundled ml/models.json, validated once. */
export function failureModelDefinition(): ModelDefinition {
  bundled ??= parseModelSpec(modelsJson, 'ml/models.json').models[FAILURE_MODEL];
  return bundled;
}

/** `event_date` and `event_hour` of an hour: `2026-11-27`, `13`. */
function partitionOf(hourMs: number): { date: string; hour: string } {
  const iso = new Date(hourMs).toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** The key prefix of an hour's partition of `tablePrefix`. */
export function hourPartitionPrefix(tablePrefix: string, hourMs: number): string {
  const { date, hour } = partitionOf(hourMs);
  return `${tablePrefix}event_date=${date}/event_hour=${hour}/`;
}

/** Every key of `tablePrefix` in the days the window touches, by hour partition prefix. */
async function keysByHour(
  s3: S3Client,
  bucket: string,
  tablePrefix: string,
  window: ScoringWindow,
): Promise<Map<string, string[]>> {
  const byHour = new Map<string, string[]>();
  const days = new Set<string>();
  for (let hour = window.startMs; hour < window.endMs; hour += HOUR_MS) days.add(partitionOf(hour).date);
  for (const day of days) {
    for (const key of await listKeys(s3, bucket, `${tablePrefix}event_date=${day}/`)) {
      const match = /^(.*event_hour=\d{2}\/)/.exec(key);
      if (!match?.[1]) continue;
      const list = byHour.get(match[1]) ?? [];
      list.push(key);
      byHour.set(match[1], list);
    }
  }
  return byHour;
}

/** The rows of one feature file, with the key columns and the model's feature columns. */
async function readFeatureRows(
  s3: S3Client,
  bucket: string,
  key: string,
  columns: readonly string[],
): Promise<TableRow[]> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = await object.Body?.transformToByteArray();
  if (!bytes) throw new FeatureTableError(`s3://${bucket}/${key}: received an empty body, expected Parquet`);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    return await parquetReadObjects({ file, columns: [...columns] });
  } catch (error) {
    throw new FeatureTableError(
      `s3://${bucket}/${key}: received a file hyparquet cannot read with columns ${columns.join(', ')} (${(error as Error).message}), expected the ml_features columns the ETL writes`,
    );
  }
}

/** One prediction, as the curated file holds it (timestamps as epoch milliseconds). */
export interface PredictionRow {
  readonly hourStartMs: number;
  readonly deviceId: string;
  readonly deviceType: string;
  readonly siteId: string | null;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly failureProbability: number;
  readonly scoredAtMs: number;
}

const PARQUET_TYPES: Readonly<Record<string, object>> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  double: { type: 'DOUBLE' },
  // As DuckDB and Spark write a TIMESTAMP: microseconds, not adjusted to UTC (the values are UTC).
  timestamp: {
    type: 'INT64',
    converted_type: 'TIMESTAMP_MICROS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MICROS' },
  },
};

const PREDICTION_VALUES: Readonly<Record<string, (row: PredictionRow) => unknown>> = {
  hour_start: (row) => new Date(row.hourStartMs),
  device_id: (row) => row.deviceId,
  device_type: (row) => row.deviceType,
  site_id: (row) => row.siteId,
  model_name: (row) => row.modelName,
  model_version: (row) => row.modelVersion,
  failure_probability: (row) => row.failureProbability,
  scored_at: (row) => new Date(row.scoredAtMs),
};

function schemaElement(column: CuratedColumn): Record<string, unknown> {
  const type = PARQUET_TYPES[column.type];
  if (!type) throw new Error(`predictions.${column.name}: no Parquet type for ${column.type}`);
  return { name: column.name, repetition_type: 'OPTIONAL', ...type };
}

/**
 * One partition's predictions as Parquet: the columns of `PREDICTIONS` in its order and types,
 * rows in the given order, snappy, nothing that varies between runs (same rows, same bytes).
 */
export function predictionsParquet(rows: readonly PredictionRow[]): Uint8Array {
  const columns = PREDICTIONS.columns;
  const columnData = columns.map((column) => {
    const value = PREDICTION_VALUES[column.name];
    if (!value) throw new Error(`predictions.${column.name}: the scoring step has no value for it`);
    return { name: column.name, data: rows.map(value) };
  });
  const buffer = parquetWriteBuffer({
    columnData: columnData as never,
    schema: [{ name: 'schema', num_children: columns.length }, ...columns.map(schemaElement)] as never,
    createdBy: PREDICTION_FILE_CREATED_BY,
  });
  return new Uint8Array(buffer);
}

/** The predictions of one hour, before they are written. */
interface ScoredHour {
  readonly prefix: string;
  readonly rows: PredictionRow[];
}

/** A text column of a feature row: a string, or null where NULL is allowed. */
function textOf(row: TableRow, column: string, where: string, nullable: boolean): string | null {
  const value = row[column];
  if (typeof value === 'string' && value !== '') return value;
  if (nullable && (value === null || value === undefined)) return null;
  throw new FeatureTableError(
    `${where}: ${column}: received ${JSON.stringify(value) ?? 'nothing'}, expected text`,
  );
}

/**
 * Scores the window and rewrites its predictions (see the module's comment).
 * @throws PredictionEndpointError when the endpoint gives no scores (nothing is written)
 * @throws FeatureTableError when a feature file is not what the ETL writes (nothing is written)
 */
export async function scoreWindow(window: ScoringWindow, deps: ScoreWindowDeps): Promise<ScoringResult> {
  const model = deps.model ?? failureModelDefinition();
  const threshold = model.threshold ?? DEFAULT_DECISION_THRESHOLD;
  const deviceTypes = new Set<string>(model.deviceTypes);
  const columns = [
    ...new Set(['hour_start', 'device_id', 'device_type', 'site_id', ...featureColumns(model)]),
  ];
  const callOptions: EndpointCallOptions = {
    client: deps.sageMakerRuntime,
    endpointName: deps.endpointName,
    targetVariant: deps.endpointVariant,
    callTimeoutMs: deps.callPolicy?.callTimeoutMs ?? BATCH_CALL_TIMEOUT_MS,
    maxAttempts: deps.callPolicy?.maxAttempts ?? BATCH_MAX_ATTEMPTS,
    backoffBaseMs: deps.callPolicy?.backoffBaseMs ?? BATCH_BACKOFF_BASE_MS,
    backoffMaxMs: deps.callPolicy?.backoffMaxMs ?? BATCH_BACKOFF_MAX_MS,
    ...(deps.clock && { clock: deps.clock }),
    ...(deps.random && { random: deps.random }),
  };
  const { s3, curatedBucket: bucket } = deps;
  const featureKeys = await keysByHour(s3, bucket, ML_FEATURES_PREFIX, window);

  const scored: ScoredHour[] = [];
  let calls = 0;
  let variant: string | null = null;
  let high = 0;
  for (let hourMs = window.startMs; hourMs < window.endMs; hourMs += HOUR_MS) {
    const keys = (featureKeys.get(hourPartitionPrefix(ML_FEATURES_PREFIX, hourMs)) ?? []).filter((key) =>
      key.endsWith('.parquet'),
    );
    const read: { row: TableRow; where: string }[] = [];
    for (const key of keys) {
      const rows = await readFeatureRows(s3, bucket, key, columns);
      rows.forEach((row, index) => {
        read.push({ row, where: `s3://${bucket}/${key}, row ${index + 1}` });
      });
    }
    const kept = read.filter(({ row }) => deviceTypes.has(String(row.device_type)));
    if (kept.length === 0) continue;
    const features: CsvValue[][] = [];
    const predictions: Omit<PredictionRow, 'failureProbability'>[] = [];
    for (const { row, where } of kept) {
      const start = row.hour_start instanceof Date ? row.hour_start.getTime() : Number.NaN;
      if (start !== hourMs) {
        throw new FeatureTableError(
          `${where}: hour_start: received ${String(row.hour_start)}, expected ${new Date(hourMs).toISOString()}, the hour of its partition`,
        );
      }
      features.push(tableFeatureRow(model, row, where));
      predictions.push({
        hourStartMs: hourMs,
        deviceId: textOf(row, 'device_id', where, false) as string,
        deviceType: textOf(row, 'device_type', where, false) as string,
        siteId: textOf(row, 'site_id', where, true),
        modelName: FAILURE_MODEL,
        modelVersion: deps.modelVersion,
        scoredAtMs: hourMs + HOUR_MS,
      });
    }
    const bodies = callBodies(featureRowsCsv(features), deps.maxCallBytes ?? MAX_CALL_BYTES);
    if (!bodies) {
      throw new PredictionEndpointError(
        'payload_too_large',
        `${hourPartitionPrefix(ML_FEATURES_PREFIX, hourMs)}: a row exceeds the payload limit of one call`,
      );
    }
    const scores: number[] = [];
    for (const body of bodies) {
      const answer = await callWithRetries(callOptions, body.body, body.rows);
      calls += answer.attempts;
      if ('failure' in answer) {
        throw new PredictionEndpointError(
          answer.failure.reason,
          `${deps.endpointName} (variant ${deps.endpointVariant}) gave no scores for ${hourPartitionPrefix(ML_FEATURES_PREFIX, hourMs)} after ${answer.attempts} attempt(s): ${answer.failure.reason}: ${answer.failure.detail}. Nothing was written; rerun the window once the endpoint answers.`,
        );
      }
      scores.push(...answer.scores);
      variant = answer.variant ?? variant;
    }
    high += scores.filter((score) => score >= threshold).length;
    const rows = predictions
      .map((prediction, index) => ({ ...prediction, failureProbability: scores[index] as number }))
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    scored.push({ prefix: hourPartitionPrefix(PREDICTIONS.prefix, hourMs), rows });
  }

  // Everything is scored: now, and only now, the lake changes.
  const existing = await keysByHour(s3, bucket, PREDICTIONS.prefix, window);
  const written = new Set<string>();
  for (const hour of scored) {
    const key = `${hour.prefix}${PREDICTION_FILE}`;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: predictionsParquet(hour.rows),
        ContentType: 'application/vnd.apache.parquet',
      }),
    );
    written.add(key);
  }
  let deleted = 0;
  for (let hourMs = window.startMs; hourMs < window.endMs; hourMs += HOUR_MS) {
    for (const key of existing.get(hourPartitionPrefix(PREDICTIONS.prefix, hourMs)) ?? []) {
      if (written.has(key)) continue;
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      deleted++;
    }
  }
  const rowsScored = scored.reduce((sum, hour) => sum + hour.rows.length, 0);
  return {
    window: { from: new Date(window.startMs).toISOString(), to: new Date(window.endMs).toISOString() },
    model: { name: FAILURE_MODEL, version: deps.modelVersion, endpoint: deps.endpointName, variant },
    hours: (window.endMs - window.startMs) / HOUR_MS,
    hoursScored: scored.length,
    rowsScored,
    calls,
    highScoreShare: rowsScored === 0 ? null : (100 * high) / rowsScored,
    partitionsWritten: scored.length,
    objectsDeleted: deleted,
  };
}
