/**
 * What goes wrong between a device and the pipeline, on demand and labelled: redeliveries, messages
 * overtaken or held back, device clocks that are off, and payloads the validator must quarantine.
 * Each faulty message carries its label, so a run can account for every reading it published.
 */
import {
  CURRENT_SCHEMA_VERSION,
  type Reading,
  type RejectionCode,
  SENSOR_KIND_SPECS,
} from '../lambdas/shared/contract.ts';
import type { Random } from './random.ts';

export const FAULT_KINDS = [
  'duplicate',
  'out_of_order',
  'late',
  'clock_skew',
  'not_json',
  'truncated_json',
  'out_of_range',
  'unknown_device_type',
  'device_mismatch',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that make a payload invalid, with the rejection code the validator gives each reading. */
export const EXPECTED_REJECTION = {
  not_json: 'not_json',
  truncated_json: 'not_json',
  out_of_range: 'out_of_range',
  unknown_device_type: 'unknown_device_type',
  device_mismatch: 'device_mismatch',
} as const satisfies Partial<Record<FaultKind, RejectionCode>>;
export type MalformedFault = keyof typeof EXPECTED_REJECTION;

/**
 * Probability per message of each fault, except `clock_skew`: the share of devices whose clock is
 * off (all their messages carry the label).
 */
export type FaultRates = Readonly<Record<FaultKind, number>>;

/** About 1 % of messages duplicated and a fraction of a percent in each other fault. */
export const DEFAULT_FAULT_RATES: FaultRates = {
  duplicate: 0.01,
  out_of_order: 0.005,
  late: 0.002,
  clock_skew: 0.02,
  not_json: 0.001,
  truncated_json: 0.001,
  out_of_range: 0.001,
  unknown_device_type: 0.0005,
  device_mismatch: 0.0005,
};
export const NO_FAULTS: FaultRates = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<
  FaultKind,
  number
>;

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
/** QoS 1: the client resends when no PUBACK came within its timeout (seconds). */
const REDELIVERY_MS = [0.5 * SECOND_MS, 10 * SECOND_MS] as const;
/** Overtaken by the device's next one to three messages. */
const OUT_OF_ORDER_MESSAGES = [1.2, 3.5] as const;
/** Held back by a gateway or a lost connection: minutes to hours. */
const LATE_MS = [5 * MINUTE_MS, 3 * 60 * MINUTE_MS] as const;
/** Share of skewed clocks that drift a little (seconds to minutes) rather than being set wrong. */
const SMALL_SKEW_SHARE = 0.7;

/**
 * The clock offset of a device, 0 for most. Small offsets (±20 s to ±4 min) pass validation; large
 * ones put every reading far enough in the future to be rejected as `timestamp_in_future` when it
 * arrives as it is published, however long the device batches.
 */
export function planClockSkew(rng: Random, rates: FaultRates, messageSpanMs: number): number {
  if (!rng.chance(rates.clock_skew)) return 0;
  if (rng.chance(SMALL_SKEW_SHARE)) {
    const sign = rng.chance(0.5) ? 1 : -1;
    return sign * Math.round(rng.uniform(20 * SECOND_MS, 4 * MINUTE_MS));
  }
  return Math.round(messageSpanMs + rng.uniform(10 * MINUTE_MS, 30 * MINUTE_MS));
}

export interface MessageFault {
  readonly kind: Exclude<FaultKind, 'clock_skew'>;
  /** How long after its readings the message (or, for a duplicate, its copy) is published. */
  readonly delayMs: number;
}

export interface MessageFaultContext {
  readonly publishAtMs: number;
  readonly endMs: number;
  /** Typical time between two messages of the device. */
  readonly messageIntervalMs: number;
  /** False when the message carries a labelled injection: it must reach the pipeline intact. */
  readonly mayCorrupt: boolean;
}

const PER_MESSAGE_KINDS = FAULT_KINDS.filter((kind): kind is MessageFault['kind'] => kind !== 'clock_skew');

/**
 * Draws at most one fault for a message. A fault that cannot happen (a delay past the end of the
 * run, a corruption of an injected reading) is dropped, never replaced, so the rates stay an upper
 * bound and the draw stays simple.
 */
export function drawMessageFault(
  rng: Random,
  rates: FaultRates,
  context: MessageFaultContext,
): MessageFault | undefined {
  let u = rng.next();
  let kind: MessageFault['kind'] | undefined;
  for (const candidate of PER_MESSAGE_KINDS) {
    u -= rates[candidate];
    if (u < 0) {
      kind = candidate;
      break;
    }
  }
  if (kind === undefined) return undefined;
  const remainingMs = context.endMs - 1 - context.publishAtMs;
  switch (kind) {
    case 'duplicate':
      return { kind, delayMs: Math.round(Math.min(rng.uniform(...REDELIVERY_MS), Math.max(0, remainingMs))) };
    case 'out_of_order': {
      const delayMs = Math.round(rng.uniform(...OUT_OF_ORDER_MESSAGES) * context.messageIntervalMs);
      return delayMs <= remainingMs ? { kind, delayMs } : undefined;
    }
    case 'late': {
      const longest = Math.min(LATE_MS[1], remainingMs);
      return longest >= LATE_MS[0]
        ? { kind, delayMs: Math.round(rng.uniform(LATE_MS[0], longest)) }
        : undefined;
    }
    default:
      return context.mayCorrupt ? { kind, delayMs: 0 } : undefined;
  }
}

const UNKNOWN_DEVICE_TYPES = ['doorbell', 'smart_plug', 'hub'] as const;

/** A copy of the reading with one field beyond the contract's range for its type. */
function outOfRange(reading: Reading, rng: Random): Record<string, unknown> {
  const beyond = (max: number, by: number) => Math.round(max + 1 + rng.uniform(0, by));
  switch (reading.deviceType) {
    case 'thermostat':
      return { ...reading, ambientTemperatureC: beyond(60, 90) };
    case 'camera':
      return { ...reading, cpuTemperatureC: beyond(120, 80) };
    case 'smart_lock':
      return { ...reading, batteryPct: beyond(100, 150) };
    case 'sensor':
      return { ...reading, value: beyond(SENSOR_KIND_SPECS[reading.sensorKind].max, 100) };
  }
}

function serialise(items: readonly unknown[], batch: boolean): string {
  return batch
    ? JSON.stringify({ schemaVersion: CURRENT_SCHEMA_VERSION, readings: items })
    : JSON.stringify(items[0]);
}

export interface CorruptedPayload {
  readonly payload: Buffer;
  /** Readings the validator will count: an unreadable payload counts as one. */
  readonly readingCount: number;
}

/**
 * The payload of a malformed message built from the readings it should have carried. Structural
 * faults touch every reading, so the whole message is quarantined with one reason.
 */
export function corruptPayload(
  kind: MalformedFault,
  readings: readonly Reading[],
  batch: boolean,
  rng: Random,
  otherDeviceId: string,
): CorruptedPayload {
  const count = readings.length;
  switch (kind) {
    case 'not_json': {
      const first = readings[0] as Reading;
      // Either a firmware printing NaN into its JSON, or a legacy line protocol.
      const text = rng.chance(0.5)
        ? serialise(readings, batch).replace(/"rssiDbm":-?\d+(\.\d+)?/, '"rssiDbm":NaN')
        : `${first.deviceId},type=${first.deviceType} seq=${first.seq}i,rssi=${first.rssiDbm} ${Date.parse(first.timestamp)}\n`;
      return { payload: Buffer.from(text), readingCount: 1 };
    }
    case 'truncated_json': {
      const text = serialise(readings, batch);
      // Any proper prefix of a JSON object is invalid JSON: at least the closing brace is missing.
      return { payload: Buffer.from(text.slice(0, rng.int(1, text.length - 2))), readingCount: 1 };
    }
    case 'out_of_range':
      return {
        payload: Buffer.from(
          serialise(
            readings.map((r) => outOfRange(r, rng)),
            batch,
          ),
        ),
        readingCount: count,
      };
    case 'unknown_device_type':
      return {
        payload: Buffer.from(
          serialise(
            readings.map((r) => ({ ...r, deviceType: rng.pick(UNKNOWN_DEVICE_TYPES) })),
            batch,
          ),
        ),
        readingCount: count,
      };
    case 'device_mismatch':
      return {
        payload: Buffer.from(
          serialise(
            readings.map((r) => ({ ...r, deviceId: otherDeviceId })),
            batch,
          ),
        ),
        readingCount: count,
      };
  }
}
