/**
 * Labelled anomalies injected into the fleet's readings: the ground truth a model is trained and
 * judged on.
 *
 * Every injection is planned before the simulation runs, from the device's own random stream, and
 * recorded as `{ kind, deviceId, deviceType, start, end, failureAt?, details }` (ISO times, fleet
 * time). What the labels guarantee:
 * - a reading is altered or withheld only if its time lies in [start, end] of one of its device's
 *   labels, or it would have come after a failure (`failureAt`) that silences the device;
 * - every label alters or withholds at least one reading (a decline nobody could see is not labelled);
 * - labels of one device never overlap; devices with a skewed clock get none (their timestamps would
 *   not match); the transport never corrupts a message carrying a labelled reading.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ALERT_THRESHOLDS, type AlertRuleId } from '../lambdas/shared/anomaly-rules.ts';
import type { DeviceType, SensorKind } from '../lambdas/shared/contract.ts';
import { clamp, DAY_MS, HOUR_MS } from './environment.ts';
import type { Device } from './fleet.ts';
import type { Random } from './random.ts';
import type { ReadingSchedule } from './schedule.ts';
import type {
  CameraFields,
  SensorFields,
  SignalFields,
  SmartLockFields,
  ThermostatFields,
} from './signals.ts';

export const INJECTION_KINDS = [
  'spike',
  'stuck',
  'drift',
  'dropout',
  'failed_unlock_burst',
  'lock_jammed',
  'smoke',
  'water_leak',
  'hvac_degradation',
  'camera_degradation',
  'battery_degradation',
] as const;
export type InjectionKind = (typeof INJECTION_KINDS)[number];

/** Expected injections per eligible device per fleet day (degradations: at most one per device). */
export type InjectionRates = Readonly<Record<InjectionKind, number>>;

/**
 * Far above real-world rates on purpose: a 300-device, 6-hour run then shows every kind (over seeds
 * 1-10, on average: 96 spikes, 19 stuck, 10 drifts, 18 dropouts, 16 bursts, 6 jams, 7 smoke,
 * 6 leaks, and 4-6 degradations of each kind).
 */
export const DEFAULT_INJECTION_RATES: InjectionRates = {
  spike: 2,
  stuck: 0.5,
  drift: 0.5,
  dropout: 0.3,
  failed_unlock_burst: 1,
  lock_jammed: 0.6,
  smoke: 3,
  water_leak: 3,
  hvac_degradation: 0.2,
  camera_degradation: 0.3,
  battery_degradation: 0.2,
};
export const NO_INJECTIONS: InjectionRates = Object.fromEntries(
  INJECTION_KINDS.map((kind) => [kind, 0]),
) as Record<InjectionKind, number>;

export interface GroundTruthRecord {
  readonly kind: InjectionKind;
  readonly deviceId: string;
  readonly deviceType: DeviceType;
  /** ISO time of the first instant whose readings are affected. */
  readonly start: string;
  /** ISO time of the last instant whose readings are affected. */
  readonly end: string;
  /** Degradations: when the device fails (after it, it sends nothing or reports its failed state). */
  readonly failureAt?: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export const GROUND_TRUTH_FILE = 'ground-truth.ndjson';

/** Writes the labels as `ground-truth.ndjson` under `directory`; returns the path. */
export async function writeGroundTruth(
  records: readonly GroundTruthRecord[],
  directory: string,
): Promise<string> {
  const path = join(directory, GROUND_TRUTH_FILE);
  await writeFile(path, records.map((record) => `${JSON.stringify(record)}\n`).join(''));
  return path;
}

type Effect = (fields: SignalFields, tMs: number) => void;

interface PlannedInjection {
  readonly kind: InjectionKind;
  readonly startMs: number;
  readonly endMs: number;
  readonly failureAtMs?: number;
  readonly details: Record<string, unknown>;
  /** Alters a reading in [start, end]; absent when the injection withholds readings instead. */
  readonly effect?: Effect;
}

/** Applies a device's planned injections to its readings. */
export class DeviceInjector {
  /** No reading at or after this time: the device has failed. */
  readonly silentFromMs: number;
  private readonly dropouts: ReadonlyArray<readonly [number, number]>;
  private readonly altering: readonly PlannedInjection[];

  constructor(private readonly planned: readonly PlannedInjection[]) {
    this.silentFromMs = Math.min(
      Number.POSITIVE_INFINITY,
      ...planned
        .filter((p) => p.kind !== 'hvac_degradation' && p.failureAtMs !== undefined)
        .map((p) => p.failureAtMs as number),
    );
    this.dropouts = planned.filter((p) => p.kind === 'dropout').map((p) => [p.startMs, p.endMs] as const);
    this.altering = planned.filter((p) => p.effect !== undefined);
  }

  /** The reading at `tMs` is never sent (dropout or failure). */
  silent(tMs: number): boolean {
    if (tMs >= this.silentFromMs) return true;
    for (const [from, to] of this.dropouts) if (from <= tMs && tMs <= to) return true;
    return false;
  }

  /** Whether a labelled injection covers `tMs`. */
  covers(tMs: number): boolean {
    for (const p of this.planned) if (p.startMs <= tMs && tMs <= p.endMs) return true;
    return false;
  }

  /** Alters `fields` (the reading at `tMs`) with every injection covering it. */
  apply(fields: SignalFields, tMs: number): void {
    for (const p of this.altering) {
      if (p.startMs <= tMs && tMs <= p.endMs) p.effect?.(fields, tMs);
    }
  }
}

const MINUTE_MS = 60_000;
/** [shortest, longest] span of each kind that lasts a while, before fitting it to the run. */
const SPAN_MS: Readonly<Partial<Record<InjectionKind, readonly [number, number]>>> = {
  stuck: [20 * MINUTE_MS, 3 * HOUR_MS],
  drift: [1 * HOUR_MS, 12 * HOUR_MS],
  dropout: [5 * MINUTE_MS, 2 * HOUR_MS],
  lock_jammed: [10 * MINUTE_MS, 2 * HOUR_MS],
  smoke: [3 * MINUTE_MS, 30 * MINUTE_MS],
  water_leak: [10 * MINUTE_MS, 3 * HOUR_MS],
};
/** Degradations last most of the run, and at most a few days. */
const DEGRADATION_MAX_MS = 3 * DAY_MS;
const DEGRADATION_SHARE = [0.4, 0.9] as const;

const CONTINUOUS_KINDS: readonly SensorKind[] = ['temperature', 'humidity', 'co2'];
const DEGRADATION_OF: Readonly<Record<DeviceType, InjectionKind>> = {
  thermostat: 'hvac_degradation',
  camera: 'camera_degradation',
  smart_lock: 'battery_degradation',
  sensor: 'battery_degradation',
};

function eligible(kind: InjectionKind, device: Device, hvacControlled: boolean): boolean {
  const continuous = device.sensorKind !== undefined && CONTINUOUS_KINDS.includes(device.sensorKind);
  switch (kind) {
    case 'spike':
    case 'stuck':
      return device.deviceType === 'thermostat' || device.deviceType === 'camera' || continuous;
    case 'drift':
      return device.deviceType === 'thermostat' || continuous;
    case 'dropout':
      return true;
    case 'failed_unlock_burst':
    case 'lock_jammed':
      return device.deviceType === 'smart_lock';
    case 'smoke':
    case 'water_leak':
      return device.sensorKind === kind;
    case 'hvac_degradation':
      // A unit that is never asked to heat or cool shows no degradation: only label those that are.
      return device.deviceType === 'thermostat' && hvacControlled;
    case 'camera_degradation':
    case 'battery_degradation':
      return DEGRADATION_OF[device.deviceType] === kind;
  }
}

export interface InjectionPlanContext {
  readonly device: Device;
  readonly schedule: ReadingSchedule;
  /** The device's planning stream (used for nothing else). */
  readonly rng: Random;
  readonly rates: InjectionRates;
  readonly startMs: number;
  readonly endMs: number;
  /** Thermostats: whether the HVAC ever heats or cools (not set to off or fan only). */
  readonly hvacControlled: boolean;
  /**
   * Thermostats: whether the unit runs at some reading in [fromMs, toMs) of the undisturbed run. A
   * decline while the unit stays off shows in no reading, so it is not labelled.
   * @default every span counts as running
   */
  readonly hvacRuns?: (fromMs: number, toMs: number) => boolean;
}

export interface InjectionPlan {
  readonly injector: DeviceInjector;
  readonly records: readonly GroundTruthRecord[];
  /** Thermostats with an HVAC degradation: when the unit dies. */
  readonly hvacFailureAtMs?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Plans the injections of one device over [startMs, endMs). */
export function planInjections(context: InjectionPlanContext): InjectionPlan {
  const { device, schedule, rng, rates, startMs, endMs } = context;
  const runMs = endMs - startMs;
  const days = runMs / DAY_MS;
  const intervalMs = device.reportingIntervalS * 1000;
  const blocked: Array<readonly [number, number]> = [];
  const planned: PlannedInjection[] = [];
  const isFree = (from: number, to: number) => blocked.every(([a, b]) => to < a || from > b);
  const accept = (injection: PlannedInjection, blockFrom: number, blockTo: number) => {
    planned.push(injection);
    blocked.push([blockFrom, blockTo]);
  };
  /** A span of the kind's length fitted into the run, or undefined when the run is too short. */
  const span = (kind: InjectionKind): readonly [number, number] | undefined => {
    const [shortest, longest] = SPAN_MS[kind] ?? [0, 0];
    const minimum = Math.max(shortest, 2 * intervalMs);
    const length = Math.min(rng.uniform(minimum, longest), runMs / 2);
    if (length < minimum) return undefined;
    const from = Math.round(rng.uniform(startMs, endMs - 1 - length));
    return [from, from + Math.round(length)];
  };

  const degradation = DEGRADATION_OF[device.deviceType];
  let hvacFailureAtMs: number | undefined;
  if (
    eligible(degradation, device, context.hvacControlled) &&
    rng.chance(1 - Math.exp(-rates[degradation] * days))
  ) {
    const length = rng.uniform(...DEGRADATION_SHARE) * Math.min(runMs, DEGRADATION_MAX_MS);
    const from = Math.round(rng.uniform(startMs, endMs - length));
    const failureAt = Math.round(from + length);
    const injection = planDegradation(degradation, rng, from, failureAt, endMs);
    const visible = degradation !== 'hvac_degradation' || (context.hvacRuns?.(from, failureAt) ?? true);
    if (visible) {
      // Nothing else is labelled from the start of the decline on: the device is dying or dead.
      accept(injection, from, Number.POSITIVE_INFINITY);
      if (degradation === 'hvac_degradation') hvacFailureAtMs = failureAt;
    }
  }

  for (const kind of INJECTION_KINDS) {
    if (kind === degradation || !eligible(kind, device, context.hvacControlled)) continue;
    const count = kind.endsWith('_degradation') ? 0 : rng.poisson(rates[kind] * days);
    for (let i = 0; i < count; i++) {
      const injection = planOne(kind, device, rng, schedule, span, startMs, endMs);
      if (!injection) continue;
      const from = injection.startMs - intervalMs;
      const to = injection.endMs + intervalMs;
      if (isFree(from, to)) accept(injection, from, to);
    }
  }

  planned.sort(
    (a, b) => a.startMs - b.startMs || INJECTION_KINDS.indexOf(a.kind) - INJECTION_KINDS.indexOf(b.kind),
  );
  const records = planned.map(
    (p): GroundTruthRecord => ({
      kind: p.kind,
      deviceId: device.deviceId,
      deviceType: device.deviceType,
      start: iso(p.startMs),
      end: iso(p.endMs),
      ...(p.failureAtMs !== undefined && { failureAt: iso(p.failureAtMs) }),
      details: p.details,
    }),
  );
  return {
    injector: new DeviceInjector(planned),
    records,
    ...(hvacFailureAtMs !== undefined && { hvacFailureAtMs }),
  };
}

/** The numeric field an anomaly of a device's signal shows up in, with the size of a spike or drift. */
function numericTarget(
  device: Device,
  rng: Random,
  size: 'spike' | 'drift',
): { field: string; amount: number } {
  const sign = rng.chance(0.5) ? 1 : -1;
  if (device.deviceType === 'thermostat') {
    return {
      field: 'ambientTemperatureC',
      amount: sign * (size === 'spike' ? rng.uniform(6, 12) : rng.uniform(2, 5)),
    };
  }
  if (device.deviceType === 'camera') return { field: 'bitrateKbps', amount: rng.uniform(3, 6) };
  switch (device.sensorKind) {
    case 'temperature':
      return { field: 'value', amount: sign * (size === 'spike' ? rng.uniform(8, 20) : rng.uniform(2, 6)) };
    case 'humidity':
      return { field: 'value', amount: sign * (size === 'spike' ? rng.uniform(20, 35) : rng.uniform(8, 20)) };
    default:
      // CO2 anomalies go up: a sensor reading far below outdoor air is implausible, not anomalous.
      return { field: 'value', amount: size === 'spike' ? rng.uniform(1500, 4000) : rng.uniform(300, 900) };
  }
}

type Numeric = Record<string, number>;

function planOne(
  kind: InjectionKind,
  device: Device,
  rng: Random,
  schedule: ReadingSchedule,
  span: (kind: InjectionKind) => readonly [number, number] | undefined,
  startMs: number,
  endMs: number,
): PlannedInjection | undefined {
  switch (kind) {
    case 'spike': {
      // A point anomaly hits exactly one reading: label its time.
      const at = schedule.atOrAfter(Math.round(rng.uniform(startMs, endMs)));
      if (at >= endMs) return undefined;
      const { field, amount } = numericTarget(device, rng, 'spike');
      const multiply = device.deviceType === 'camera';
      return {
        kind,
        startMs: at,
        endMs: at,
        details: multiply ? { field, factor: round2(amount) } : { field, delta: round2(amount) },
        effect: (fields) => {
          const f = fields as unknown as Numeric;
          f[field] = multiply ? (f[field] ?? 0) * amount : (f[field] ?? 0) + amount;
        },
      };
    }
    case 'stuck': {
      const range = span(kind);
      if (!range) return undefined;
      const frozen =
        device.deviceType === 'camera' ? ['fps', 'bitrateKbps'] : [numericTarget(device, rng, 'drift').field];
      let held: Numeric | undefined;
      return {
        kind,
        startMs: range[0],
        endMs: range[1],
        details: { fields: frozen },
        // The first affected reading sets the values every later one repeats.
        effect: (fields) => {
          const f = fields as unknown as Numeric;
          if (!held) held = Object.fromEntries(frozen.map((name) => [name, f[name] ?? 0]));
          for (const name of frozen) f[name] = held[name] ?? 0;
        },
      };
    }
    case 'drift': {
      const range = span(kind);
      if (!range) return undefined;
      const { field, amount } = numericTarget(device, rng, 'drift');
      const [from, to] = range;
      return {
        kind,
        startMs: from,
        endMs: to,
        details: { field, driftAtEnd: round2(amount), shape: 'linear' },
        effect: (fields, tMs) => {
          const f = fields as unknown as Numeric;
          f[field] = (f[field] ?? 0) + (amount * (tMs - from)) / (to - from);
        },
      };
    }
    case 'dropout': {
      const range = span(kind);
      if (!range) return undefined;
      let lost = 0;
      for (let t = schedule.atOrAfter(range[0]); t <= range[1]; t = schedule.atOrAfter(t + 1)) lost++;
      return { kind, startMs: range[0], endMs: range[1], details: { readingsLost: lost } };
    }
    case 'smoke':
    case 'water_leak': {
      const range = span(kind);
      if (!range) return undefined;
      const expectedAlert: AlertRuleId = kind === 'smoke' ? 'smoke_detected' : 'water_leak_detected';
      return {
        kind,
        startMs: range[0],
        endMs: range[1],
        details: { value: 1, expectedAlert },
        effect: (fields) => {
          (fields as SensorFields).value = 1;
        },
      };
    }
    case 'lock_jammed': {
      const range = span(kind);
      if (!range) return undefined;
      const expectedAlert: AlertRuleId = 'lock_jammed';
      return {
        kind,
        startMs: range[0],
        endMs: range[1],
        details: { expectedAlert },
        effect: (fields) => {
          (fields as SmartLockFields).lockState = 'jammed';
        },
      };
    }
    case 'failed_unlock_burst':
      return planBurst(rng, schedule, startMs, endMs);
    default:
      return undefined;
  }
}

/**
 * Someone guessing codes: attempts a few seconds apart, all before one report, so that report counts
 * them all and crosses the alert threshold. Labelled from the first attempt to that report.
 */
function planBurst(
  rng: Random,
  schedule: ReadingSchedule,
  startMs: number,
  endMs: number,
): PlannedInjection | undefined {
  const threshold = ALERT_THRESHOLDS.failedUnlockBurst;
  const attempts = rng.int(threshold, threshold + 10);
  const durationMs = Math.round(attempts * rng.uniform(3, 8) * 1000);
  let first = Math.round(rng.uniform(startMs, endMs - durationMs));
  // Move the burst past any report that would split it, a few times at most.
  for (let tries = 0; tries < 5; tries++) {
    const next = schedule.atOrAfter(first);
    if (next > first + durationMs) break;
    first = next + 1;
  }
  const last = first + durationMs;
  const report = schedule.atOrAfter(last);
  if (schedule.atOrAfter(first) !== report || report >= endMs) return undefined;
  const expectedAlert: AlertRuleId = 'failed_unlock_burst';
  return {
    kind: 'failed_unlock_burst',
    startMs: first,
    endMs: report,
    details: { attempts, lastAttemptAt: iso(last), expectedAlert },
    effect: (fields, tMs) => {
      if (tMs === report) (fields as SmartLockFields).failedAttempts += attempts;
    },
  };
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/**
 * A device wearing out towards a failure at `failureAt`:
 * - HVAC: the unit draws more power for the same temperature gap (fouled coils, failing compressor),
 *   up to a factor at failure; then it delivers nothing while still called for (0 W in heat or cool
 *   mode, indoor air drifting to outdoor). Affected until the end of the run.
 * - camera: CPU temperature climbs past the overheating threshold and reboots come ever closer;
 *   then it dies.
 * - battery (locks, sensors): the drain accelerates to empty at failure; then the device is silent.
 */
function planDegradation(
  kind: InjectionKind,
  rng: Random,
  from: number,
  failureAt: number,
  endMs: number,
): PlannedInjection {
  const progress = (tMs: number) => clamp((tMs - from) / (failureAt - from), 0, 1);
  if (kind === 'hvac_degradation') {
    const rise = rng.uniform(0.6, 1.5);
    return {
      kind,
      startMs: from,
      endMs: endMs - 1,
      failureAtMs: failureAt,
      details: { powerFactorAtFailure: round2(1 + rise), failureMode: 'no_output_while_called' },
      effect: (fields, tMs) => {
        const f = fields as ThermostatFields;
        const factor = 1 + rise * progress(tMs) ** 1.3;
        f.hvacPowerW *= factor;
        f.energyWh *= factor;
      },
    };
  }
  if (kind === 'camera_degradation') {
    const peakC = rng.uniform(92, 105);
    const reboots: number[] = [];
    // Each gap between reboots is 60 % of the previous one: reboots accelerate towards the failure.
    let gap = 0.35 * (failureAt - from);
    for (let at = from + gap; at < failureAt && gap > 60_000; gap *= 0.6, at += gap)
      reboots.push(Math.round(at));
    const expectedAlert: AlertRuleId = 'camera_overheating';
    return {
      kind,
      startMs: from,
      endMs: failureAt,
      failureAtMs: failureAt,
      details: {
        cpuAtFailureC: round2(peakC),
        reboots: reboots.map(iso),
        failureMode: 'stops_reporting',
        expectedAlert,
      },
      effect: (fields, tMs) => {
        const f = fields as CameraFields;
        // Blends from the camera's own temperature to a peak past the overheating threshold.
        f.cpuTemperatureC += (peakC - f.cpuTemperatureC) * progress(tMs) ** 1.5;
        const lastBoot = reboots.filter((at) => at <= tMs).at(-1);
        if (lastBoot !== undefined) f.uptimeS = Math.min(f.uptimeS, Math.floor((tMs - lastBoot) / 1000));
      },
    };
  }
  const exponent = rng.uniform(2, 3);
  const expectedAlert: AlertRuleId = 'battery_low';
  return {
    kind: 'battery_degradation',
    startMs: from,
    endMs: failureAt,
    failureAtMs: failureAt,
    details: { drainExponent: round2(exponent), failureMode: 'stops_reporting', expectedAlert },
    effect: (fields, tMs) => {
      // The share of charge left falls as 1 - progress^exponent: slowly at first, then ever faster.
      const f = fields as SmartLockFields | SensorFields;
      f.batteryPct *= 1 - progress(tMs) ** exponent;
    },
  };
}
