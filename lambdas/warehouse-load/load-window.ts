/**
 * Loads the curated partitions of one ETL window into Redshift: find them in the curated bucket,
 * then COPY and MERGE each in its own transaction (warehouse/loader.ts), oldest first, for as long
 * as the invocation has time; the workflow invokes again for the rest.
 *
 * Which partitions a window has:
 * - an `event` window (a rerun or a backfill day) rebuilt exactly its hours, and the days they
 *   touch: every partition of those that exists;
 * - an `ingest` window (the schedule) rebuilt every event hour its readings touched, from the
 *   earliest late reading (at most {@link MAX_READING_AGE_MS} old) to the hour after the window (a
 *   device clock may run {@link MAX_CLOCK_AHEAD_MS} ahead). Every partition in that range that the
 *   run rewrote carries a newer modification time than the execution's start (the runner copies
 *   each staged partition over the live one), so those are the ones loaded.
 *
 * A partition with no object is not loaded (COPY fails on an empty prefix), so rows of a partition
 * that a rebuild left empty stay in the warehouse until the next load of that partition.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { CURATED_TABLES } from '../../warehouse/curated-tables.ts';
import { copySql, partitionPrefix } from '../../warehouse/load.ts';
import {
  type CuratedPartition,
  loadOrder,
  loadPartitions,
  partitionsOfKeys,
} from '../../warehouse/loader.ts';
import type { SqlExecutor } from '../../warehouse/migration-runner.ts';
import { MAX_CLOCK_AHEAD_MS, MAX_READING_AGE_MS } from '../shared/contract.ts';
import { isTransientRedshiftError } from '../shared/redshift-data.ts';
import { listObjects } from '../shared/s3-listing.ts';
import { WAREHOUSE_LOAD_ERRORS } from '../shared/warehouse-names.ts';
import type { LoadEvent, LoadResult } from './load-event.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/**
 * Room for clocks: S3 stamps an object's modification time, Step Functions the execution's start.
 * Loading a partition the run did not touch changes nothing, so the margin only costs a little work.
 */
export const MODIFIED_SINCE_MARGIN_MS = 5 * 60 * 1000;
/**
 * Time left at which no further partition is started: a partition's COPY and MERGE take seconds to
 * a couple of minutes, and what is not started now is the next invocation's.
 */
export const PARTITION_TIME_BUDGET_MS = 3 * 60 * 1000;

/** A load the workflow should try again (see `isTransientRedshiftError`). */
export class WarehouseLoadTransientError extends Error {
  override readonly name = WAREHOUSE_LOAD_ERRORS.transient;
}

/** A load that failed for a reason another try would meet again; the partition was left as it was. */
export class WarehouseLoadError extends Error {
  override readonly name = WAREHOUSE_LOAD_ERRORS.failed;
}

export interface LoadWindowDeps {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  /** The role COPY assumes to read the curated bucket. */
  readonly copyRoleArn: string;
  readonly executor: SqlExecutor;
  /** Epoch milliseconds by which the invocation must have returned. */
  readonly deadlineMs: number;
  /** @default - Date.now */
  readonly now?: () => number;
  /** Called after each partition is loaded, for the log. */
  readonly onLoaded?: (partitionId: string, tables: readonly string[]) => void;
}

/** A partition's id in results and logs: `device_hourly/2026-11-27/13`, `device_registry/2026-11-27`. */
export function partitionId(partition: CuratedPartition): string {
  const { source, unit } = partition;
  return `${source.name}/${unit.eventDate}${unit.eventHour === undefined ? '' : `/${unit.eventHour}`}`;
}

/** The event hours `[startMs, endMs)` whose partitions the window may have rewritten. */
export function scanRange(event: LoadEvent): { startMs: number; endMs: number } {
  const start = Date.parse(event.windowStart);
  const end = Date.parse(event.windowEnd);
  if (event.windowKind === 'event') return { startMs: start, endMs: end };
  const aheadHours = Math.ceil(MAX_CLOCK_AHEAD_MS / HOUR_MS);
  return { startMs: start - MAX_READING_AGE_MS, endMs: end + aheadHours * HOUR_MS };
}

/** Lists the partitions of the window, in load order. */
export async function findPartitions(event: LoadEvent, deps: LoadWindowDeps): Promise<CuratedPartition[]> {
  const { startMs, endMs } = scanRange(event);
  const days = daysOf(startMs, endMs);
  const since =
    event.windowKind === 'ingest' ? Date.parse(event.modifiedSince) - MODIFIED_SINCE_MARGIN_MS : undefined;
  const keys: string[] = [];
  for (const source of CURATED_TABLES) {
    for (const day of days) {
      const objects = await listObjects(deps.s3, deps.curatedBucket, `${source.prefix}event_date=${day}/`);
      for (const object of objects) {
        if (object.Key === undefined) continue;
        if (since !== undefined && (object.LastModified?.getTime() ?? 0) < since) continue;
        keys.push(object.Key);
      }
    }
  }
  const inRange = partitionsOfKeys(CURATED_TABLES, keys).filter((partition) => {
    if (partition.unit.eventHour === undefined) return true;
    const hourStart = Date.parse(`${partition.unit.eventDate}T${partition.unit.eventHour}:00:00Z`);
    return hourStart >= startMs && hourStart < endMs;
  });
  return loadOrder(inRange);
}

/**
 * Loads the window's partitions after `event.resumeAfter`, one transaction each, until none is
 * left or the time budget is spent (at least one partition per invocation, so a window always
 * progresses). A failed partition stops the load: it and everything after it stay as they were.
 */
export async function loadWindow(event: LoadEvent, deps: LoadWindowDeps): Promise<LoadResult> {
  const now = deps.now ?? Date.now;
  let partitions: CuratedPartition[];
  try {
    partitions = await findPartitions(event, deps);
  } catch (error) {
    // S3's own faults and throttling outlived the SDK's retries: the workflow tries again later.
    const { $fault, $retryable } = error as { $fault?: string; $retryable?: unknown };
    const ErrorType = $fault === 'server' || $retryable ? WarehouseLoadTransientError : WarehouseLoadError;
    throw new ErrorType(`listing the curated partitions failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const resumeAt =
    event.resumeAfter === null
      ? 0
      : partitions.findIndex((partition) => partitionId(partition) === event.resumeAfter) + 1;
  // A resume point that no longer exists (its objects were deleted meanwhile): load everything again.
  const pending = partitions.slice(resumeAt);
  const fill = async (partition: CuratedPartition, stageName: string) => [
    copySql(
      stageName,
      `s3://${deps.curatedBucket}/${partitionPrefix(partition.source, partition.unit)}`,
      deps.copyRoleArn,
    ),
  ];
  let loaded = 0;
  let resumeAfter = event.resumeAfter;
  for (const partition of pending) {
    if (loaded > 0 && deps.deadlineMs - now() < PARTITION_TIME_BUDGET_MS) break;
    try {
      const [report] = await loadPartitions(deps.executor, 'redshift', [partition], fill);
      deps.onLoaded?.(partitionId(partition), report?.tables ?? []);
    } catch (error) {
      const cause = (error as Error).cause ?? error;
      const ErrorType = isTransientRedshiftError(cause) ? WarehouseLoadTransientError : WarehouseLoadError;
      throw new ErrorType((error as Error).message, { cause: error });
    }
    loaded++;
    resumeAfter = partitionId(partition);
  }
  return {
    partitionsFound: partitions.length,
    partitionsLoaded: loaded,
    remaining: pending.length - loaded,
    resumeAfter,
  };
}

/** The UTC days (`YYYY-MM-DD`) the hours `[startMs, endMs)` touch. */
function daysOf(startMs: number, endMs: number): string[] {
  const days: string[] = [];
  for (let day = Math.floor(startMs / DAY_MS) * DAY_MS; day < endMs; day += DAY_MS) {
    days.push(new Date(day).toISOString().slice(0, 10));
  }
  return days;
}
