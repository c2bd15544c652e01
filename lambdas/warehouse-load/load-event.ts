/**
 * What the ETL workflow sends the load function for one window, and what it gets back. A window
 * larger than one invocation can load returns `remaining > 0` and a `resumeAfter` to pass back.
 */
import * as z from 'zod';

/** How the window was chosen, as the ETL workflow says it: ingest hours (scheduled) or event hours. */
export const LOAD_WINDOW_KINDS = ['ingest', 'event'] as const;
export type LoadWindowKind = (typeof LOAD_WINDOW_KINDS)[number];

/** The most hours one load event may span: a month, the ETL's longest backfill. */
export const MAX_LOAD_WINDOW_HOURS = 744;

const HOUR_MS = 3_600_000;
const HOUR_EXPECTED = 'a whole UTC hour written YYYY-MM-DDTHH:00:00Z';
const hour = z
  .string({ error: HOUR_EXPECTED })
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/, { error: HOUR_EXPECTED })
  .refine((value) => new Date(value).toISOString() === value.replace('Z', '.000Z'), { error: HOUR_EXPECTED });

const loadEventSchema = z
  .strictObject({
    /** First hour of the window (included). */
    windowStart: hour,
    /** End of the window (excluded). */
    windowEnd: hour,
    windowKind: z.enum(LOAD_WINDOW_KINDS, { error: `one of ${LOAD_WINDOW_KINDS.join(', ')}` }),
    /**
     * When the execution that rebuilt the window started: for an ingest window, the partitions the
     * run rewrote are the ones modified since (late readings rebuild earlier hours).
     */
    modifiedSince: z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time' }),
    /** The last partition a previous invocation loaded for this window; null on the first. */
    resumeAfter: z.string({ error: 'a partition id or null' }).nullable().default(null),
  })
  .superRefine((event, ctx) => {
    const hours = (Date.parse(event.windowEnd) - Date.parse(event.windowStart)) / HOUR_MS;
    if (!(hours >= 1 && hours <= MAX_LOAD_WINDOW_HOURS)) {
      ctx.addIssue({
        code: 'custom',
        path: ['windowEnd'],
        message: `an hour 1 to ${MAX_LOAD_WINDOW_HOURS} hours after windowStart`,
      });
    }
  });

export type LoadEvent = z.output<typeof loadEventSchema>;

/** What one invocation did. */
export interface LoadResult {
  /** Partitions of the window found in the curated bucket. */
  readonly partitionsFound: number;
  /** Partitions this invocation loaded (each in its own transaction). */
  readonly partitionsLoaded: number;
  /** Partitions left for the next invocation; 0 when the window is done. */
  readonly remaining: number;
  /** The last partition loaded so far; pass it back as `resumeAfter` while `remaining > 0`. */
  readonly resumeAfter: string | null;
}

/** Parses the event, failing with a message naming each bad field, the value and what is expected. */
export function parseLoadEvent(event: unknown): LoadEvent {
  const result = loadEventSchema.safeParse(event);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.') || '(event)';
    const received = issue.path.reduce<unknown>(
      (value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key],
      event,
    );
    return `${path}: received ${JSON.stringify(received) ?? 'nothing'}, expected ${issue.message}`;
  });
  throw new InvalidLoadEventError(`warehouse load event: ${problems.join('; ')}`);
}

/** An event the function cannot act on; running it again changes nothing. */
export class InvalidLoadEventError extends Error {
  override readonly name = 'InvalidLoadEventError';
}
