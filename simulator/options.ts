/**
 * Options of a fleet simulation: validated with zod, with defaults as named constants, and errors
 * that name the option, the value received and what is allowed.
 */
import * as z from 'zod';
import {
  DEVICE_TYPES,
  type DeviceType,
  MAX_READINGS_PER_MESSAGE,
  SENSOR_KINDS,
  type SensorKind,
} from '../lambdas/shared/contract.ts';
import { valueAt } from '../lambdas/shared/received-value.ts';
import { DEFAULT_INJECTION_RATES, INJECTION_KINDS, type InjectionRates } from './injections.ts';
import { DEFAULT_FAULT_RATES, FAULT_KINDS, type FaultRates } from './transport-faults.ts';

export const DEFAULT_SEED = 1;
export const DEFAULT_DEVICES = 300;
export const MAX_DEVICES = 100_000;
/**
 * A fixed Monday in January (heating season north, cooling season south), so that runs are
 * reproducible. Callers that feed a live pipeline pass a start near the current time: the validator
 * rejects readings more than 7 days old.
 */
export const DEFAULT_START = '2025-01-13T00:00:00.000Z';
export const DEFAULT_DURATION_HOURS = 6;
export const MAX_DURATION_HOURS = 366 * 24;
export const DEFAULT_READINGS_PER_MESSAGE = 1;
/** IoT topic rule names: letters, digits and underscores. */
export const RULE_NAME_PATTERN = /^[a-zA-Z0-9_]{1,128}$/;

const share = z.number().min(0).max(1_000_000);
/** Relative shares: missing keys count 0; they are scaled to sum to 1. */
const shares = <K extends string>(keys: readonly K[], what: string) =>
  z
    .strictObject(
      Object.fromEntries(keys.map((key) => [key, share.optional()])) as Record<
        K,
        z.ZodOptional<typeof share>
      >,
    )
    .refine((value) => Object.values(value as Record<string, number | undefined>).some((v) => (v ?? 0) > 0), {
      error: `at least one ${what} with a share above 0`,
    });
const rates = <K extends string>(keys: readonly K[], max: number) =>
  z.strictObject(
    Object.fromEntries(keys.map((key) => [key, z.number().min(0).max(max).optional()])) as Record<
      K,
      z.ZodOptional<z.ZodNumber>
    >,
  );

export const simulationOptionsSchema = z.strictObject({
  /** Same seed and options, byte-identical messages. */
  seed: z.int().min(0).max(0xffff_ffff).default(DEFAULT_SEED),
  devices: z.int().min(1).max(MAX_DEVICES).default(DEFAULT_DEVICES),
  /** Fleet time of the first readings: ISO 8601 with offset, epoch milliseconds, or a Date. */
  start: z
    .union([z.iso.datetime({ offset: true }), z.int().min(0), z.date()], {
      error:
        'an ISO 8601 date-time with an offset (e.g. 2025-01-13T00:00:00Z), epoch milliseconds, or a Date',
    })
    .default(DEFAULT_START),
  durationHours: z.number().gt(0).max(MAX_DURATION_HOURS).default(DEFAULT_DURATION_HOURS),
  typeShares: shares(DEVICE_TYPES, 'device type').optional(),
  sensorKindShares: shares(SENSOR_KINDS, 'sensor kind').optional(),
  /** Readings a device batches into one message (the contract's batch shape when above 1). */
  readingsPerMessage: z.int().min(1).max(MAX_READINGS_PER_MESSAGE).default(DEFAULT_READINGS_PER_MESSAGE),
  /** Expected injections per eligible device per fleet day, by kind; missing kinds keep their default. */
  injections: rates(INJECTION_KINDS, 1000).optional(),
  /** Per-message fault probabilities (clock_skew: share of devices); missing kinds keep their default. */
  faults: rates(FAULT_KINDS, 1).optional(),
  /** Publish to the IoT Basic Ingest topic of this rule instead of the plain telemetry topic. */
  basicIngest: z.strictObject({ ruleName: z.string().regex(RULE_NAME_PATTERN) }).optional(),
});

/** Options as a caller writes them. */
export type SimulationOptions = z.input<typeof simulationOptionsSchema>;

export interface ResolvedSimulationOptions {
  readonly seed: number;
  readonly devices: number;
  readonly startMs: number;
  readonly durationHours: number;
  readonly typeShares?: Readonly<Partial<Record<DeviceType, number>>>;
  readonly sensorKindShares?: Readonly<Partial<Record<SensorKind, number>>>;
  readonly readingsPerMessage: number;
  readonly injections: InjectionRates;
  readonly faults: FaultRates;
  readonly basicIngest?: { readonly ruleName: string };
}

export class SimulationOptionsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid simulation options:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'SimulationOptionsError';
  }
}

const ALLOWED_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(simulationOptionsSchema.shape),
  typeShares: DEVICE_TYPES,
  sensorKindShares: SENSOR_KINDS,
  injections: INJECTION_KINDS,
  faults: FAULT_KINDS,
  basicIngest: ['ruleName'],
};

function show(value: unknown): string {
  if (value instanceof Date)
    return `Date(${Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString()})`;
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** What each option allows, in words; `*` stands for any key of a map option. */
const ALLOWED_VALUES: Readonly<Record<string, string>> = {
  seed: 'an integer from 0 to 4294967295',
  devices: `an integer from 1 to ${MAX_DEVICES}`,
  start: 'an ISO 8601 date-time with an offset (e.g. 2025-01-13T00:00:00Z), epoch milliseconds, or a Date',
  durationHours: `a number of hours above 0 and at most ${MAX_DURATION_HOURS}`,
  readingsPerMessage: `an integer from 1 to ${MAX_READINGS_PER_MESSAGE}`,
  'typeShares.*': 'a share of at least 0',
  'sensorKindShares.*': 'a share of at least 0',
  'injections.*': 'a rate per eligible device per fleet day, from 0 to 1000',
  'faults.*': 'a probability from 0 to 1',
  'basicIngest.ruleName': 'an IoT rule name: 1 to 128 letters, digits or underscores',
};

function expectation(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  const known =
    ALLOWED_VALUES[path.join('.')] ?? (path.length === 2 ? ALLOWED_VALUES[`${path[0]}.*`] : undefined);
  if (known !== undefined && issue.code !== 'custom') return known;
  return issue.message;
}

function withDefaults<K extends string>(
  defaults: Readonly<Record<K, number>>,
  given: Partial<Record<K, number | undefined>> | undefined,
): Record<K, number> {
  const merged: Record<K, number> = { ...defaults };
  for (const [key, value] of Object.entries(given ?? {}) as Array<[K, number | undefined]>) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/** Validates options and fills defaults; throws `SimulationOptionsError` listing every problem. */
export function resolveSimulationOptions(input: SimulationOptions = {}): ResolvedSimulationOptions {
  const result = simulationOptionsSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        const allowed = ALLOWED_KEYS[path] ?? [];
        return `${path ? `${path}: ` : ''}unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}; allowed: ${allowed.join(', ')}`;
      }
      return `${path || 'options'}: received ${show(valueAt(input, issue.path))}; expected ${expectation(issue)}`;
    });
    throw new SimulationOptionsError(problems);
  }
  const options = result.data;
  const start = options.start;
  const startMs =
    typeof start === 'number' ? start : start instanceof Date ? start.getTime() : Date.parse(start);
  if (!Number.isFinite(startMs)) {
    throw new SimulationOptionsError([`start: received ${show(input.start)}; expected a valid date`]);
  }
  return {
    seed: options.seed,
    devices: options.devices,
    startMs,
    durationHours: options.durationHours,
    ...(options.typeShares && { typeShares: options.typeShares }),
    ...(options.sensorKindShares && { sensorKindShares: options.sensorKindShares }),
    readingsPerMessage: options.readingsPerMessage,
    injections: withDefaults(DEFAULT_INJECTION_RATES, options.injections),
    faults: withDefaults(DEFAULT_FAULT_RATES, options.faults),
    ...(options.basicIngest && { basicIngest: options.basicIngest }),
  };
}
