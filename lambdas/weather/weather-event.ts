/**
 * What a weather run covers, from its invocation event:
 *
 * - the schedule sends `{"scheduledTime": "2026-11-27T14:05:00Z"}`: the `lookbackHours` whole hours
 *   before the scheduled time's hour. Derived from the scheduled time, not the clock, so that a retried
 *   invocation covers the same hours; the lookback refetches recent hours, filling gaps an outage left.
 * - an operator's backfill sends `{"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}`
 *   (whole UTC hours, `to` exclusive: the ETL workflow's input shape).
 * - `{}` (a manual test invoke): as scheduled now.
 */
import * as z from 'zod';
import { HOUR_MS } from '../shared/weather-record.ts';
import type { HourRange } from './provider.ts';

/** The lookback of a scheduled run: a day, so a provider outage of up to a day heals by itself. */
export const DEFAULT_LOOKBACK_HOURS = 24;
/** The longest range one run covers (31 days): longer backfills are split into several runs. */
export const MAX_RANGE_HOURS = 31 * 24;

/**
 * Time kept back from the function's timeout when the run stops starting new sites: one site's worst
 * case (three 10 s attempts and their waits) plus its writes, so the run ends before Lambda stops it.
 */
export const RUN_SAFETY_MARGIN_MS = 45_000;

const wholeHour = z
  .string({ error: 'a whole UTC hour such as 2026-11-27T13:00:00Z' })
  .refine(
    (text) => /^\d{4}-\d{2}-\d{2}T\d{2}:00(:00(\.0+)?)?Z$/.test(text) && Number.isFinite(Date.parse(text)),
    {
      error: 'a whole UTC hour such as 2026-11-27T13:00:00Z',
    },
  );

const backfillSchema = z.strictObject({ from: wholeHour, to: wholeHour });
const scheduledSchema = z.object({
  scheduledTime: z.iso.datetime({
    offset: true,
    error: 'an ISO 8601 date-time such as 2026-11-27T14:05:00Z',
  }),
});

function problem(field: string, received: unknown, expected: string): Error {
  return new Error(`weather event ${field}: received ${JSON.stringify(received)}, expected ${expected}`);
}

/** The hours a run covers. Throws, naming the field, the value and what is expected, on a bad event. */
export function rangeOfEvent(
  event: unknown,
  nowMs: number,
  lookbackHours = DEFAULT_LOOKBACK_HOURS,
): HourRange {
  const input = event === null || event === undefined ? {} : event;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw problem('(event)', input, 'an object: {}, {"scheduledTime": ...} or {"from": ..., "to": ...}');
  }
  const record = input as Record<string, unknown>;
  if ('from' in record || 'to' in record) {
    const parsed = backfillSchema.safeParse(record);
    if (!parsed.success) {
      const issue = parsed.error.issues[0] as z.core.$ZodIssue;
      if (issue.code === 'unrecognized_keys') {
        throw problem(
          issue.keys.join(', '),
          record[issue.keys[0] as string],
          'only from and to in a backfill',
        );
      }
      const field = String(issue.path[0] ?? '(event)');
      throw problem(field, record[field], issue.message);
    }
    const fromMs = Date.parse(parsed.data.from);
    const toMs = Date.parse(parsed.data.to);
    if (toMs <= fromMs) throw problem('to', parsed.data.to, `an hour after from (${parsed.data.from})`);
    if (toMs - fromMs > MAX_RANGE_HOURS * HOUR_MS) {
      throw problem(
        'to',
        parsed.data.to,
        `at most ${MAX_RANGE_HOURS} hours after from (${parsed.data.from})`,
      );
    }
    return { fromMs, toMs };
  }
  let anchorMs = nowMs;
  if ('scheduledTime' in record) {
    const parsed = scheduledSchema.safeParse(record);
    if (!parsed.success) {
      throw problem(
        'scheduledTime',
        record.scheduledTime,
        (parsed.error.issues[0] as z.core.$ZodIssue).message,
      );
    }
    anchorMs = Date.parse(parsed.data.scheduledTime);
  }
  const toMs = Math.floor(anchorMs / HOUR_MS) * HOUR_MS;
  return { fromMs: toMs - lookbackHours * HOUR_MS, toMs };
}

/** Reads a lookback from the environment: a whole number of hours from 1 to {@link MAX_RANGE_HOURS}. */
export function parseLookbackHours(name: string, text: string | undefined): number {
  if (text === undefined || text.trim() === '') return DEFAULT_LOOKBACK_HOURS;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > MAX_RANGE_HOURS) {
    throw new Error(
      `environment variable ${name}: received '${text}', expected a whole number of hours from 1 to ${MAX_RANGE_HOURS}`,
    );
  }
  return value;
}
