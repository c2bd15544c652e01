/**
 * The anomaly model's features of one reading, computed by the stream exactly as `ml/models.json`
 * describes them, in its order: the row `InvokeEndpoint` scores. The training examples compute the
 * same values in SQL (`ml/sql/anomaly_examples.sql`); a parity test compares both on twin data, so
 * each definition here follows its description word for word.
 *
 * The order and the kind of each feature come from the spec, never from a list written here: an
 * `indicator` is computed from its column and value, a plain feature is the reading's field of that
 * name (snake_case of the contract's camelCase), and a `derived` feature is computed by the function
 * of its name below. A derived feature without a function makes the row fail (the validator then
 * falls back to the rules); a test keeps both sides in step.
 *
 * Pure: the baseline and the device's previous reading are the caller's (see device-baselines.ts
 * and device-signal-history.ts).
 */

import {
  type FeatureDefinition,
  featureNames,
  type ModelDefinition,
  parseModelSpec,
} from '../../ml/model-spec.ts';
import modelsJson from '../../ml/models.json' with { type: 'json' };
import type { Reading } from './contract.ts';

/** A device's baseline (`device_baselines`, written by the batch ETL): the fields the features use. */
export interface DeviceBaseline {
  readonly deviceId: string;
  /** Hours with data the baseline rests on (0 to 168). */
  readonly baselineHours: number | null;
  readonly metricMean: number | null;
  /** Sample standard deviation of the hourly primary metric; null with fewer than two hours. */
  readonly metricStddev: number | null;
  readonly rssiMeanDbm: number | null;
}

/**
 * The device's previous reading as the signal features see it: its device time, its signal and
 * its place in the run of equal signals it ends (0 when it starts one).
 */
export interface PreviousSignal {
  readonly timeMs: number;
  readonly signal: number | null;
  readonly runIndex: number;
}

/** A feature value; null is a missing value (an empty CSV field). */
export type FeatureValue = number | null;

/** How far back the device's previous reading may lie for the signal features to use it. */
export const SIGNAL_LINK_MS = 60 * 60 * 1000;

/**
 * The device type's primary metric, as `device_hourly` (glue-scripts/sql/30_device_hour_stats.sql)
 * and `device_baselines` define it, so that a reading and its baseline measure the same thing.
 */
export function primaryMetric(reading: Reading): number {
  switch (reading.deviceType) {
    case 'thermostat':
      return reading.ambientTemperatureC;
    case 'camera':
      return reading.cpuTemperatureC;
    case 'smart_lock':
      return reading.batteryPct;
    case 'sensor':
      return reading.value;
  }
}

/** Sensor kinds whose value is a level that a stuck device freezes or a drifting one shifts. */
const SIGNAL_SENSOR_KINDS: ReadonlySet<string> = new Set(['temperature', 'humidity', 'co2']);

/**
 * The reading's signal (`signal_delta_prev`, `signal_repeats`): thermostat ambient temperature,
 * camera bitrate, a temperature, humidity or CO2 sensor's value; null for locks and binary sensors.
 */
export function signalOf(reading: Reading): number | null {
  switch (reading.deviceType) {
    case 'thermostat':
      return reading.ambientTemperatureC;
    case 'camera':
      return reading.bitrateKbps;
    case 'sensor':
      return SIGNAL_SENSOR_KINDS.has(reading.sensorKind) ? reading.value : null;
    case 'smart_lock':
      return null;
  }
}

/** The reading's device time in epoch milliseconds (UTC). */
export function deviceTimeMs(reading: Reading): number {
  return Date.parse(reading.timestamp);
}

/**
 * How a reading continues its device's previous reading: linked when both carry a signal and the
 * previous one is at most {@link SIGNAL_LINK_MS} older; `runIndex` is its place in the run of equal
 * signals (what the next reading continues), whether or not it is linked.
 */
export function linkToPrevious(
  reading: Reading,
  previous: PreviousSignal | undefined,
): { readonly linked: boolean; readonly signal: number | null; readonly runIndex: number } {
  const signal = signalOf(reading);
  const linked =
    signal !== null &&
    previous !== undefined &&
    previous.signal !== null &&
    previous.timeMs >= deviceTimeMs(reading) - SIGNAL_LINK_MS;
  const continues = linked && signal === previous?.signal;
  return { linked, signal, runIndex: continues ? (previous as PreviousSignal).runIndex + 1 : 0 };
}

interface FeatureInput {
  readonly reading: Reading;
  readonly baseline: DeviceBaseline | undefined;
  readonly previous: PreviousSignal | undefined;
}

const minus = (a: number | null | undefined, b: number | null | undefined): FeatureValue =>
  a === null || a === undefined || b === null || b === undefined ? null : a - b;

/** The derived features of the anomaly model, by name: each one's description in `ml/models.json`, literally. */
const DERIVED: Readonly<Record<string, (input: FeatureInput) => FeatureValue>> = {
  /** UTC hour (0-23) of the reading's device time (its offset applied). */
  hour_of_day: ({ reading }) => new Date(deviceTimeMs(reading)).getUTCHours(),
  /** The device type's primary metric ({@link primaryMetric}). */
  metric_value: ({ reading }) => primaryMetric(reading),
  /** metric_value minus the baseline's metric_mean; missing without a baseline (or without its mean). */
  metric_deviation: ({ reading, baseline }) => minus(primaryMetric(reading), baseline?.metricMean),
  /**
   * metric_deviation divided by the baseline's metric_stddev; missing without a baseline, when its
   * metric_stddev is 0, and when it has none (a baseline of one hour has no sample deviation).
   */
  metric_zscore: ({ reading, baseline }) => {
    const deviation = minus(primaryMetric(reading), baseline?.metricMean);
    const stddev = baseline?.metricStddev ?? null;
    return deviation === null || stddev === null || stddev === 0 ? null : deviation / stddev;
  },
  /** The baseline's metric_stddev; missing without a baseline. */
  baseline_metric_stddev: ({ baseline }) => baseline?.metricStddev ?? null,
  /** The baseline's baseline_hours; missing without a baseline. */
  baseline_hours: ({ baseline }) => baseline?.baselineHours ?? null,
  /** rssi_dbm minus the baseline's rssi_mean_dbm; missing without a baseline (or without its mean). */
  rssi_deviation_dbm: ({ reading, baseline }) => minus(reading.rssiDbm, baseline?.rssiMeanDbm),
  /** 1 when a smoke or water_leak sensor reports 1, else 0. */
  sensor_alarm: ({ reading }) =>
    reading.deviceType === 'sensor' &&
    (reading.sensorKind === 'smoke' || reading.sensorKind === 'water_leak') &&
    reading.value === 1
      ? 1
      : 0,
  /** Thermostats: ambient minus target temperature, the gap the HVAC works to close; missing for others. */
  temperature_gap_c: ({ reading }) =>
    reading.deviceType === 'thermostat' ? reading.ambientTemperatureC - reading.targetTemperatureC : null,
  /**
   * Thermostats in heat or cool mode: how far the reading lies on the wrong side of its target for
   * what the HVAC does (heat: ambient - target while hvac_power_w > 0, target - ambient while idle;
   * cool mirrored); missing in other modes and for other device types.
   */
  hvac_control_error_c: ({ reading }) => {
    if (reading.deviceType !== 'thermostat') return null;
    const aboveTarget = reading.ambientTemperatureC - reading.targetTemperatureC;
    const running = reading.hvacPowerW > 0;
    if (reading.hvacMode === 'heat') return running ? aboveTarget : -aboveTarget;
    if (reading.hvacMode === 'cool') return running ? -aboveTarget : aboveTarget;
    return null;
  },
  /**
   * The reading's signal minus the previous reading's, when the previous reading carries a signal
   * and is at most an hour older; else missing.
   */
  signal_delta_prev: ({ reading, previous }) => {
    const link = linkToPrevious(reading, previous);
    return link.linked ? (link.signal as number) - (previous?.signal as number) : null;
  },
  /**
   * How many consecutive previous readings carried exactly this signal, each at most an hour after
   * the one before: 0 when the previous reading's signal differs; missing without a signal or a
   * previous reading with a signal within the hour.
   */
  signal_repeats: ({ reading, previous }) => {
    const link = linkToPrevious(reading, previous);
    return link.linked ? link.runIndex : null;
  },
};

/** Names of the derived features this module computes, for the test that keeps it in step with the spec. */
export const DERIVED_FEATURE_NAMES: readonly string[] = Object.keys(DERIVED);

type FeatureFunction = (input: FeatureInput) => FeatureValue;

/** A reading's field for a snake_case column: `rssi_dbm` is `rssiDbm`. */
function fieldOf(reading: Reading, column: string): unknown {
  const name = column.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
  return Object.hasOwn(reading, name) ? (reading as unknown as Record<string, unknown>)[name] : undefined;
}

function featureFunction(feature: FeatureDefinition): FeatureFunction {
  const { indicator } = feature;
  if (indicator) {
    // 1 when the column equals the value, else 0 (also when the reading has no such column).
    return ({ reading }) => (fieldOf(reading, indicator.column) === indicator.equals ? 1 : 0);
  }
  if (feature.derived) {
    const derived = DERIVED[feature.name];
    if (!derived) {
      throw new Error(
        `anomaly feature ${feature.name}: received a derived feature without a definition in anomaly-features.ts, expected one of ${DERIVED_FEATURE_NAMES.join(', ')}`,
      );
    }
    return derived;
  }
  // A column of the reading: its number, or missing when this device type does not report it.
  return ({ reading }) => {
    const value = fieldOf(reading, feature.name);
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  };
}

let model: { definition: ModelDefinition; names: string[]; functions: FeatureFunction[] } | undefined;

/** The anomaly model's definition and feature functions, built once (and only when first needed). */
function anomalyModel() {
  if (!model) {
    const definition = parseModelSpec(modelsJson, 'ml/models.json').models.anomaly;
    model = {
      definition,
      names: featureNames(definition),
      functions: definition.features.map(featureFunction),
    };
  }
  return model;
}

/** The anomaly model's definition (`ml/models.json`): objective, threshold, features. */
export function anomalyModelDefinition(): ModelDefinition {
  return anomalyModel().definition;
}

/** The anomaly model's feature names, in CSV column order. */
export function anomalyFeatureNames(): readonly string[] {
  return anomalyModel().names;
}

/** Default decision threshold when the spec gives none: a binary model's even odds. */
export const DEFAULT_ANOMALY_THRESHOLD = 0.5;

/** The score at or above which a reading counts as anomalous (`ml/models.json`'s `threshold`). */
export function anomalyThreshold(): number {
  return anomalyModel().definition.threshold ?? DEFAULT_ANOMALY_THRESHOLD;
}

/**
 * The anomaly model's feature values of one reading, in the spec's order; null is missing.
 *
 * @param baseline the device's baseline valid at the reading's device time (the `device_baselines`
 *   row of the day before), or undefined when there is none
 * @param previous the device's previous reading (by device time), or undefined when unknown
 * @throws Error when the spec names a derived feature this module does not compute
 */
export function anomalyFeatureRow(
  reading: Reading,
  baseline: DeviceBaseline | undefined,
  previous?: PreviousSignal,
): FeatureValue[] {
  const input: FeatureInput = { reading, baseline, previous };
  return anomalyModel().functions.map((compute) => compute(input));
}
