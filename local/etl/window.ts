/**
 * The time arithmetic of a batch run: the event-hour window it rebuilds, the context around it,
 * which Hive partitions of each source it reads, and how newly ingested data chooses the window.
 * glue-scripts/README.md states the same rules for the Glue job.
 */
import type { Selection, WindowAnchor } from './manifest.ts';

/** One hour, in milliseconds. */
export const HOUR_MS = 3_600_000;
/** One UTC day, in milliseconds (UTC has no daylight saving). */
export const DAY_MS = 24 * HOUR_MS;

/** Event hours `[start, end)` a run rebuilds, both whole UTC hours (epoch milliseconds). */
export interface EtlWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/** The instants of the `etl_window` parameter view, epoch milliseconds. */
export type WindowInstants = Readonly<Record<WindowAnchor, number>>;

/** One row of the `etl_hours` parameter view. */
export interface WindowHour {
  readonly hourStartMs: number;
  /** Hours since the epoch. */
  readonly hourIndex: number;
  /** `YYYY-MM-DD` */
  readonly eventDate: string;
  /** `HH` */
  readonly eventHour: string;
  readonly dayStartMs: number;
}

function toMs(value: Date | string | number, name: string): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new Error(`${name}: received ${JSON.stringify(value)}, expected an ISO 8601 instant`);
  }
  return ms;
}

/**
 * Builds a window from two whole UTC hours. Throws naming the bound at fault: a window that is not
 * hour-aligned would own partitions it only partly rebuilds.
 */
export function etlWindow(from: Date | string | number, to: Date | string | number): EtlWindow {
  const startMs = toMs(from, 'from');
  const endMs = toMs(to, 'to');
  for (const [name, ms] of [
    ['from', startMs],
    ['to', endMs],
  ] as const) {
    if (ms % HOUR_MS !== 0) {
      throw new Error(
        `${name}: received ${new Date(ms).toISOString()}, expected a whole UTC hour (mm:ss = 00:00)`,
      );
    }
  }
  if (endMs <= startMs) {
    throw new Error(
      `to: received ${new Date(endMs).toISOString()}, expected an hour after from (${new Date(startMs).toISOString()})`,
    );
  }
  return { startMs, endMs };
}

const dayStart = (ms: number) => ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);

/**
 * The window and its context: from the start of the day `baselineDays - 1` days before the window's
 * first day (rolling windows and baselines look back that far) to the end of the window's last day
 * (daily tables cover whole days).
 */
export function windowInstants(window: EtlWindow, baselineDays: number): WindowInstants {
  return {
    window_start: window.startMs,
    window_end: window.endMs,
    context_start: dayStart(window.startMs) - (baselineDays - 1) * DAY_MS,
    context_end: dayStart(window.endMs - 1) + DAY_MS,
  };
}

/** `YYYY-MM-DD` of an epoch-ms instant, in UTC. */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** `HH` of an epoch-ms instant, in UTC. */
export function isoHour(ms: number): string {
  return new Date(ms).toISOString().slice(11, 13);
}

/** The hours of a window, in order. */
export function windowHours(window: EtlWindow): WindowHour[] {
  const hours: WindowHour[] = [];
  for (let ms = window.startMs; ms < window.endMs; ms += HOUR_MS) {
    hours.push({
      hourStartMs: ms,
      hourIndex: ms / HOUR_MS,
      eventDate: isoDate(ms),
      eventHour: isoHour(ms),
      dayStartMs: dayStart(ms),
    });
  }
  return hours;
}

/** The `YYYY-MM-DD` days a window touches, in order. */
export function windowDays(window: EtlWindow): string[] {
  return [...new Set(windowHours(window).map((hour) => hour.eventDate))];
}

/** Hive partition values in an object key (`a=1/b=2/file` -> `{a: '1', b: '2'}`). */
export function hivePartitions(key: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const segment of key.split('/').slice(0, -1)) {
    const at = segment.indexOf('=');
    if (at > 0) values[segment.slice(0, at)] = decodeURIComponent(segment.slice(at + 1));
  }
  return values;
}

/**
 * Whether a run reads the partition at `key`. The partition's period is its day, or its hour when
 * the selection names an hour column; it is read when that period overlaps the selection's range
 * (and, with `excludeWindow`, lies outside the run's window). A key without the partition values
 * is not read.
 */
export function selectsKey(selection: Selection, instants: WindowInstants, key: string): boolean {
  const values = hivePartitions(key);
  const date = values[selection.date];
  if (date === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(date)) return false;
  let periodStart = Date.parse(`${date}T00:00:00Z`);
  let periodMs = DAY_MS;
  if (selection.hour !== undefined) {
    const hour = Number(values[selection.hour]);
    if (!Number.isInteger(hour) || hour < 0 || hour > 23) return false;
    periodStart += hour * HOUR_MS;
    periodMs = HOUR_MS;
  }
  if (!Number.isFinite(periodStart)) return false;
  const periodEnd = periodStart + periodMs;
  const from = instants[selection.from] + selection.fromOffsetHours * HOUR_MS;
  const to = instants[selection.to] + selection.toOffsetHours * HOUR_MS;
  if (periodStart >= to || periodEnd <= from) return false;
  const insideWindow = periodStart >= instants.window_start && periodEnd <= instants.window_end;
  return !(selection.excludeWindow && insideWindow);
}

/**
 * The window a run rebuilds after new raw partitions arrived for the ingest hours `ingest`: from
 * the earliest event hour their readings touch (late data) to the later of the ingest window's end
 * and the hour after the latest event hour (clocks running ahead). Every hour after a touched hour
 * is rebuilt too: its rolling windows, daily tables and baselines may include the touched hour.
 */
export function plannedWindow(ingest: EtlWindow, touchedHourStartsMs: readonly number[]): EtlWindow {
  let startMs = ingest.startMs;
  let endMs = ingest.endMs;
  for (const ms of touchedHourStartsMs) {
    startMs = Math.min(startMs, ms);
    endMs = Math.max(endMs, ms + HOUR_MS);
  }
  return { startMs, endMs };
}
