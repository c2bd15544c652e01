/**
 * What the erasure workflow sends its function, one of three actions, and what each returns:
 * - `sweep`: one lake zone, every object version, page by page (`erase` rewrites and deletes, `verify`
 *   only looks); a zone larger than one invocation returns `done: false` and markers to pass back;
 * - `warehouse`: DELETE the device's rows, VACUUM, check;
 * - `audit`: write the audit record; fail when the verification found anything left.
 */
import * as z from 'zod';
import { DEVICE_ID_PATTERN } from '../shared/contract.ts';
import { ERASURE_ERRORS, ERASURE_ZONES } from './names.ts';

const deviceId = z
  .string({ error: 'a device id' })
  .regex(DEVICE_ID_PATTERN, { error: `a device id as the contract allows it (${DEVICE_ID_PATTERN})` });

const counts = z.strictObject({
  versionsExamined: z.number().int().nonnegative(),
  objectsRewritten: z.number().int().nonnegative(),
  objectsDeleted: z.number().int().nonnegative(),
  recordsRemoved: z.number().int().nonnegative(),
  versionsDeleted: z.number().int().nonnegative(),
  /** Versions naming the device that the function cannot take records out of (left, and reported). */
  unreadable: z.number().int().nonnegative(),
  /** In `verify` mode: versions still naming the device. */
  remaining: z.number().int().nonnegative(),
});
export type SweepCounts = z.output<typeof counts>;

/** Counts before the first page. */
export const NO_COUNTS: SweepCounts = {
  versionsExamined: 0,
  objectsRewritten: 0,
  objectsDeleted: 0,
  recordsRemoved: 0,
  versionsDeleted: 0,
  unreadable: 0,
  remaining: 0,
};

const sweepEvent = z.strictObject({
  action: z.literal('sweep'),
  mode: z.enum(['erase', 'verify'], { error: 'erase or verify' }),
  deviceId,
  zone: z.enum(ERASURE_ZONES, { error: `one of ${ERASURE_ZONES.join(', ')}` }),
  /** Where the previous invocation stopped (ListObjectVersions' markers); null on the first. */
  keyMarker: z.string().nullable().default(null),
  versionIdMarker: z.string().nullable().default(null),
  /** The counts so far; the function adds this page's. */
  counts: counts.default(NO_COUNTS),
});
export type SweepEvent = z.output<typeof sweepEvent>;

/** What a sweep invocation returns: the zone's counts so far, and whether the zone is done. */
export interface SweepResult {
  readonly zone: (typeof ERASURE_ZONES)[number];
  readonly done: boolean;
  readonly keyMarker: string | null;
  readonly versionIdMarker: string | null;
  readonly counts: SweepCounts;
}

const warehouseEvent = z.strictObject({ action: z.literal('warehouse'), deviceId });
export type WarehouseErasureEvent = z.output<typeof warehouseEvent>;

/** Rows deleted per table (`analytics.<table>`); empty when the stage has no warehouse. */
export interface WarehouseErasureResult {
  readonly rowsDeleted: Readonly<Record<string, number>>;
}

const auditEvent = z.strictObject({
  action: z.literal('audit'),
  deviceId,
  requestedBy: z
    .string({ error: 'who asked for the erasure' })
    .trim()
    .min(1, { error: 'who asked for the erasure' }),
  erasureId: z.string().min(1),
  startedAt: z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time' }),
  command: z.string().min(1),
  /** The `erase` sweep of each zone, then the `verify` sweep of each zone. */
  erased: z.array(z.strictObject({ zone: z.enum(ERASURE_ZONES), counts })),
  verified: z.array(z.strictObject({ zone: z.enum(ERASURE_ZONES), counts })),
  warehouse: z.strictObject({ rowsDeleted: z.record(z.string(), z.number().int().nonnegative()) }),
});
export type AuditEvent = z.output<typeof auditEvent>;

const erasureEvent = z.discriminatedUnion('action', [sweepEvent, warehouseEvent, auditEvent], {
  error: 'an action: sweep, warehouse or audit',
});
export type ErasureEvent = z.output<typeof erasureEvent>;

/** Parses the event, failing with a message naming each bad field, the value and what is expected. */
export function parseErasureEvent(event: unknown): ErasureEvent {
  const result = erasureEvent.safeParse(event);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.') || '(event)';
    const received = issue.path.reduce<unknown>(
      (value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key],
      event,
    );
    return `${path}: received ${JSON.stringify(received) ?? 'nothing'}, expected ${issue.message}`;
  });
  throw new InvalidErasureRequestError(`erasure event: ${problems.join('; ')}`);
}

/** A request the function cannot act on; running it again changes nothing. */
export class InvalidErasureRequestError extends Error {
  override readonly name = ERASURE_ERRORS.invalidRequest;
}

/** The verification found the device's data left after the erasure. */
export class ErasureIncompleteError extends Error {
  override readonly name = ERASURE_ERRORS.incomplete;
}

/** A failure of S3 or the Data API worth another try. */
export class ErasureTransientError extends Error {
  override readonly name = ERASURE_ERRORS.transient;
}
