/**
 * The per-device baselines the anomaly features compare a reading with, read from the curated
 * bucket where the batch ETL writes them (`device_baselines/event_date=D/part-*.parquet`, Parquet
 * from Spark or DuckDB) and cached by day for a bounded age.
 *
 * The rows of day D are valid from D+1 00:00 to D+2 00:00 UTC, so a reading's baseline is its
 * device's row of the day before the reading's UTC date, as the training SQL joins them
 * (`valid_from <= timestamp < valid_until`).
 *
 * Never throws for data: a day without a partition (the first day of a deployment) or whose objects
 * cannot be listed or read has no baselines (the features say "missing"), with a warning and a
 * {@link BASELINE_METRICS.unavailable} count, and is asked for again after a shorter interval.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parquetReadObjects } from 'hyparquet';
import type { DeviceBaseline } from './anomaly-features.ts';
import type { Reading } from './contract.ts';
import { logger, metrics } from './observability.ts';
import { BASELINE_METRICS, DEVICE_BASELINES_PREFIX } from './pipeline-names.ts';
import { listKeys } from './s3-listing.ts';

export type { DeviceBaseline } from './anomaly-features.ts';

/**
 * How long a day's baselines are used before they are read again. The hourly ETL rewrites the
 * partition of the current day (valid tomorrow) and, in its first run after midnight, the last hour
 * of yesterday's; 15 minutes picks that up within a quarter of an hour for one read per quarter-hour
 * and execution environment.
 */
export const DEFAULT_BASELINE_MAX_AGE_MS = 15 * 60 * 1000;
/** How long "no baselines" (missing partition, read error) stands before the day is read again. */
export const DEFAULT_BASELINE_RETRY_AFTER_MS = 60 * 1000;
/**
 * Days held at once: a batch's readings may be up to 7 days old (the contract's `MAX_READING_AGE_MS`),
 * so they need at most 8 days of baselines.
 */
export const DEFAULT_BASELINE_MAX_DAYS = 8;

const DAY_MS = 24 * 60 * 60 * 1000;

/** The columns read: `device_id` and what the features use. */
export const BASELINE_COLUMNS = [
  'device_id',
  'baseline_hours',
  'metric_mean',
  'metric_stddev',
  'rssi_mean_dbm',
] as const;

/** The `event_date` of the baselines valid at `timeMs`: the UTC day before it. */
export function baselineEventDate(timeMs: number): string {
  return new Date(Math.floor(timeMs / DAY_MS) * DAY_MS - DAY_MS).toISOString().slice(0, 10);
}

/** The prefix of a day's baselines in the curated bucket. */
export function baselinePartitionPrefix(eventDate: string): string {
  return `${DEVICE_BASELINES_PREFIX}/event_date=${eventDate}/`;
}

/** A baseline file whose rows are not what the ETL writes. */
export class BaselineFormatError extends Error {
  override readonly name = 'BaselineFormatError';
}

function numberOrNull(row: Record<string, unknown>, column: string, where: string): number | null {
  const value = row[column];
  if (value === null || value === undefined) return null;
  // BIGINT (count) arrives as a bigint; DOUBLE as a number.
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) {
    throw new BaselineFormatError(
      `${where}: ${column}: received ${String(value)}, expected a number or null`,
    );
  }
  return number;
}

/** Baselines from the rows of one Parquet file. @throws BaselineFormatError naming the file, column and value */
export function parseBaselineRows(
  rows: readonly Record<string, unknown>[],
  source: string,
): DeviceBaseline[] {
  return rows.map((row, index) => {
    const where = `${source}, row ${index + 1}`;
    const deviceId = row.device_id;
    if (typeof deviceId !== 'string' || deviceId === '') {
      throw new BaselineFormatError(
        `${where}: device_id: received ${String(deviceId)}, expected a device id`,
      );
    }
    return {
      deviceId,
      baselineHours: numberOrNull(row, 'baseline_hours', where),
      metricMean: numberOrNull(row, 'metric_mean', where),
      metricStddev: numberOrNull(row, 'metric_stddev', where),
      rssiMeanDbm: numberOrNull(row, 'rssi_mean_dbm', where),
    };
  });
}

/**
 * Reads one day's baselines: every Parquet object under the day's prefix. `undefined` when the
 * prefix holds none.
 * @throws on S3 errors and unreadable files
 */
export async function readBaselinePartition(
  s3: S3Client,
  bucket: string,
  eventDate: string,
): Promise<Map<string, DeviceBaseline> | undefined> {
  const prefix = baselinePartitionPrefix(eventDate);
  // Spark and DuckDB write `part-*.parquet`; markers (`_SUCCESS`) and checksums are skipped.
  const keys = (await listKeys(s3, bucket, prefix)).filter((key) => key.endsWith('.parquet'));
  if (keys.length === 0) return undefined;
  const baselines = new Map<string, DeviceBaseline>();
  for (const key of keys) {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = await object.Body?.transformToByteArray();
    if (!bytes) throw new BaselineFormatError(`s3://${bucket}/${key}: received an empty body`);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const rows = await parquetReadObjects({ file, columns: [...BASELINE_COLUMNS] });
    for (const baseline of parseBaselineRows(rows, `s3://${bucket}/${key}`)) {
      baselines.set(baseline.deviceId, baseline);
    }
  }
  return baselines;
}

/** Where the cache reports a day without baselines. @default the validator's logger and metrics */
export interface BaselineObservability {
  readonly logger: Pick<typeof logger, 'warn'>;
  readonly metrics: Pick<typeof metrics, 'addMetric'>;
}

export interface DeviceBaselineCacheOptions {
  readonly s3: S3Client;
  /** The curated bucket. */
  readonly bucket: string;
  /** @default {@link DEFAULT_BASELINE_MAX_AGE_MS} */
  readonly maxAgeMs?: number;
  /** @default {@link DEFAULT_BASELINE_RETRY_AFTER_MS} */
  readonly retryAfterMs?: number;
  /** @default {@link DEFAULT_BASELINE_MAX_DAYS} */
  readonly maxDays?: number;
  /** @default Date.now */
  readonly now?: () => number;
  readonly observability?: BaselineObservability;
}

interface CachedDay {
  baselines: Promise<ReadonlyMap<string, DeviceBaseline>>;
  expiresAtMs: number;
}

const NONE: ReadonlyMap<string, DeviceBaseline> = new Map();

/** Device baselines by day, each day read once per `maxAgeMs` and shared by concurrent callers. */
export class DeviceBaselineCache {
  readonly #options: DeviceBaselineCacheOptions;
  readonly #days = new Map<string, CachedDay>();
  #reads = 0;

  constructor(options: DeviceBaselineCacheOptions) {
    this.#options = options;
  }

  /** Reads of a day's partition so far (each a listing plus its objects). */
  get reads(): number {
    return this.#reads;
  }

  /** The baselines of `eventDate` (valid the day after it), by device id; empty when unavailable. */
  baselinesOf(eventDate: string): Promise<ReadonlyMap<string, DeviceBaseline>> {
    const now = (this.#options.now ?? Date.now)();
    for (const [date, day] of this.#days) {
      if (now >= day.expiresAtMs) this.#days.delete(date);
    }
    const cached = this.#days.get(eventDate);
    if (cached) return cached.baselines;
    // Oldest read first: the map keeps insertion order.
    const maxDays = this.#options.maxDays ?? DEFAULT_BASELINE_MAX_DAYS;
    while (this.#days.size >= maxDays) this.#days.delete(this.#days.keys().next().value as string);

    const retryAfterMs = this.#options.retryAfterMs ?? DEFAULT_BASELINE_RETRY_AFTER_MS;
    const day: CachedDay = {
      baselines: Promise.resolve(NONE),
      expiresAtMs: now + (this.#options.maxAgeMs ?? DEFAULT_BASELINE_MAX_AGE_MS),
    };
    const unavailable = (reason: 'missing' | 'error', error?: unknown) => {
      day.expiresAtMs = now + retryAfterMs;
      this.#unavailable(eventDate, reason, error);
      return NONE;
    };
    this.#reads++;
    day.baselines = readBaselinePartition(this.#options.s3, this.#options.bucket, eventDate).then(
      (read) => read ?? unavailable('missing'),
      (error: unknown) => unavailable('error', error),
    );
    this.#days.set(eventDate, day);
    return day.baselines;
  }

  /** The baselines valid at `timeMs` (those of the UTC day before). */
  baselinesAt(timeMs: number): Promise<ReadonlyMap<string, DeviceBaseline>> {
    return this.baselinesOf(baselineEventDate(timeMs));
  }

  /** Each reading's baseline valid at its device time, or undefined. */
  async lookup(readings: readonly Reading[]): Promise<(DeviceBaseline | undefined)[]> {
    const dates = readings.map((reading) => baselineEventDate(Date.parse(reading.timestamp)));
    const days = new Map<string, ReadonlyMap<string, DeviceBaseline>>();
    await Promise.all(
      [...new Set(dates)].map(async (date) => {
        days.set(date, await this.baselinesOf(date));
      }),
    );
    return readings.map((reading, i) => days.get(dates[i] as string)?.get(reading.deviceId));
  }

  #unavailable(eventDate: string, reason: 'missing' | 'error', error?: unknown): void {
    const { logger: log, metrics: counter } = this.#options.observability ?? { logger, metrics };
    const prefix = `s3://${this.#options.bucket}/${baselinePartitionPrefix(eventDate)}`;
    log.warn(
      reason === 'missing'
        ? `no device baselines at ${prefix}: scoring without baselines for readings of the day after ${eventDate}`
        : `device baselines at ${prefix} could not be read: scoring without them for the day after ${eventDate}`,
      {
        eventDate,
        reason,
        ...(error !== undefined && {
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        }),
      },
    );
    counter.addMetric(BASELINE_METRICS.unavailable, MetricUnit.Count, 1);
  }
}
