/**
 * What the ETL workflow sends the failure-scoring function after a window's Glue run: the event
 * hours the run rebuilt (its summary's `window`, which for a scheduled run is the planned window,
 * late hours included), and what the function answers.
 */
import * as z from 'zod';
import { FAILURE_SCORING_ERRORS } from './names.ts';

/**
 * The most hours one event may span: a month, as the ETL's longest backfill; a scheduled run's
 * planned window is at most 7 days of late readings plus its period.
 */
export const MAX_SCORING_WINDOW_HOURS = 744;

const HOUR_MS = 3_600_000;
const HOUR_EXPECTED = 'a whole UTC hour written YYYY-MM-DDTHH:00:00Z';
const hour = z
  .string({ error: HOUR_EXPECTED })
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00(\.000)?Z$/, { error: HOUR_EXPECTED })
  // Zod runs the refinement even when the pattern failed: an unparseable text must not throw here.
  .refine(
    (value) =>
      Number.isFinite(Date.parse(value)) &&
      new Date(value).toISOString() === value.replace(/(\.000)?Z$/, '.000Z'),
    { error: HOUR_EXPECTED },
  );

const scoringEventSchema = z
  .strictObject(
    {
      /** First event hour of the window (included). */
      windowStart: hour,
      /** End of the window (excluded): also every prediction's `scored_at`. */
      windowEnd: hour,
    },
    { error: 'an object {"windowStart": "YYYY-MM-DDTHH:00:00Z", "windowEnd": "YYYY-MM-DDTHH:00:00Z"}' },
  )
  .superRefine((event, ctx) => {
    const hours = (Date.parse(event.windowEnd) - Date.parse(event.windowStart)) / HOUR_MS;
    if (!(hours >= 1 && hours <= MAX_SCORING_WINDOW_HOURS)) {
      ctx.addIssue({
        code: 'custom',
        path: ['windowEnd'],
        message: `an hour 1 to ${MAX_SCORING_WINDOW_HOURS} hours after windowStart`,
      });
    }
  });

/** The window to score, `[startMs, endMs)` in whole hours. */
export interface ScoringWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/** An event the function cannot act on; running it again changes nothing. */
export class InvalidScoringEventError extends Error {
  override readonly name = FAILURE_SCORING_ERRORS.invalidEvent;
}

/** Parses the event, failing with a message naming each bad field, the value and what is expected. */
export function parseScoringEvent(event: unknown): ScoringWindow {
  const result = scoringEventSchema.safeParse(event);
  if (result.success) {
    return { startMs: Date.parse(result.data.windowStart), endMs: Date.parse(result.data.windowEnd) };
  }
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.') || '(event)';
    const received = issue.path.reduce<unknown>(
      (value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key],
      event,
    );
    if (issue.code === 'unrecognized_keys') {
      return `${path}: received unknown key(s) ${issue.keys.join(', ')}, expected only windowStart and windowEnd`;
    }
    return `${path}: received ${JSON.stringify(received) ?? 'nothing'}, expected ${issue.message}`;
  });
  throw new InvalidScoringEventError(`failure scoring event: ${problems.join('; ')}`);
}

/** What one invocation did: the workflow keeps it in the window's result, the twin in its summary. */
export interface ScoringResult {
  readonly window: { readonly from: string; readonly to: string };
  readonly model: {
    readonly name: string;
    readonly version: string;
    readonly endpoint: string;
    /** The variant that answered (the last call's); null when nothing was scored. */
    readonly variant: string | null;
  };
  readonly hours: number;
  /** Hours whose `ml_features` partition held rows of the model's device types. */
  readonly hoursScored: number;
  readonly rowsScored: number;
  /** Endpoint calls, retries included. */
  readonly calls: number;
  /** Percent of the rows scored at or above the model's threshold; null when nothing was scored. */
  readonly highScoreShare: number | null;
  /** Prediction partitions written (one object each). */
  readonly partitionsWritten: number;
  /** Prediction objects deleted: hours that no longer have features, or objects the run did not write. */
  readonly objectsDeleted: number;
}
