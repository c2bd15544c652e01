/**
 * The anomaly model's feature rows: the spec's order and length, and each feature as its
 * description in ml/models.json says, for every device type with and without a baseline and a
 * previous reading.
 */
import { describe, expect, it } from 'vitest';
import {
  anomalyFeatureNames,
  anomalyFeatureRow,
  anomalyThreshold,
  DERIVED_FEATURE_NAMES,
  type DeviceBaseline,
  type FeatureValue,
  type PreviousSignal,
} from '../../../lambdas/shared/anomaly-features.ts';
import type { Reading } from '../../../lambdas/shared/contract.ts';
import { featureNames, loadModelSpec } from '../../../ml/model-spec.ts';
import { makeReading } from '../../support/readings.ts';

const AT = '2026-11-27T17:04:58.000Z';
const AT_MS = Date.parse(AT);

function baseline(overrides: Partial<DeviceBaseline> = {}): DeviceBaseline {
  return {
    deviceId: 'any',
    baselineHours: 150,
    metricMean: 20,
    metricStddev: 0.5,
    rssiMeanDbm: -60,
    ...overrides,
  };
}

/** The row as name -> value, with the spec's names. */
function features(reading: Reading, base?: DeviceBaseline, previous?: PreviousSignal) {
  const row = anomalyFeatureRow(reading, base, previous);
  return Object.fromEntries(anomalyFeatureNames().map((name, i) => [name, row[i]])) as Record<
    string,
    FeatureValue
  >;
}

describe('anomalyFeatureRow', () => {
  it("gives one value per feature of ml/models.json's anomaly model, in its order", () => {
    // Prepare
    const spec = loadModelSpec().models.anomaly;

    // Act
    const row = anomalyFeatureRow(makeReading('thermostat', 1, AT), baseline());

    // Assess
    expect(anomalyFeatureNames()).toEqual(featureNames(spec));
    expect(row).toHaveLength(featureNames(spec).length);
    expect(row.every((value) => value === null || Number.isFinite(value))).toBe(true);
  });

  it('computes exactly the derived features the spec names, no more', () => {
    const derived = loadModelSpec()
      .models.anomaly.features.filter((feature) => feature.derived)
      .map((feature) => feature.name);
    expect([...DERIVED_FEATURE_NAMES].sort()).toEqual([...derived].sort());
  });

  it("takes the anomaly model's threshold from the spec", () => {
    expect(anomalyThreshold()).toBe(loadModelSpec().models.anomaly.threshold);
  });

  it('describes a thermostat against its baseline', () => {
    // Prepare: ambient 19 + (3 % 7) * 0.5 = 20.5, rssi -40 - 3 = -43
    const reading = makeReading('thermostat', 3, AT);

    // Act
    const f = features(reading, baseline({ metricMean: 20, metricStddev: 0.25, rssiMeanDbm: -50 }));

    // Assess
    expect(f).toMatchObject({
      is_thermostat: 1,
      is_camera: 0,
      is_smart_lock: 0,
      is_sensor: 0,
      hour_of_day: 17,
      metric_value: 20.5,
      metric_deviation: 0.5,
      metric_zscore: 2,
      baseline_metric_stddev: 0.25,
      baseline_hours: 150,
      rssi_dbm: -43,
      rssi_deviation_dbm: 7,
      battery_pct: null,
      hvac_power_w: 803,
      energy_wh: 13.5,
      fps: null,
      bitrate_kbps: null,
      failed_attempts: null,
      lock_jammed: 0,
      sensor_alarm: 0,
    });
  });

  it('leaves every baseline feature missing without a baseline', () => {
    for (const type of ['thermostat', 'camera', 'smart_lock', 'sensor'] as const) {
      const f = features(makeReading(type, 5, AT), undefined);
      expect(
        [
          f.metric_deviation,
          f.metric_zscore,
          f.baseline_metric_stddev,
          f.baseline_hours,
          f.rssi_deviation_dbm,
        ],
        type,
      ).toEqual([null, null, null, null, null]);
      expect(f.metric_value, type).not.toBeNull();
    }
  });

  it('describes a camera by its CPU temperature, frames and bitrate', () => {
    // Prepare
    const reading = { ...makeReading('camera', 7, AT), cpuTemperatureC: 61.5, fps: 0 } as Reading;

    // Act
    const f = features(reading, baseline({ metricMean: 55, metricStddev: 2 }));

    // Assess
    expect(f).toMatchObject({
      is_camera: 1,
      is_thermostat: 0,
      metric_value: 61.5,
      metric_deviation: 6.5,
      metric_zscore: 3.25,
      fps: 0,
      bitrate_kbps: 2007,
      battery_pct: null,
      hvac_power_w: null,
      energy_wh: null,
    });
  });

  it('describes a smart lock by its battery, failed attempts and jammed state', () => {
    // Prepare
    const reading = {
      ...makeReading('smart_lock', 2, AT),
      lockState: 'jammed',
      failedAttempts: 4,
    } as Reading;

    // Act
    const f = features(reading, baseline({ metricMean: 82, metricStddev: 1 }));

    // Assess
    expect(f).toMatchObject({
      is_smart_lock: 1,
      metric_value: 80,
      metric_deviation: -2,
      metric_zscore: -2,
      battery_pct: 80,
      failed_attempts: 4,
      lock_jammed: 1,
      sensor_alarm: 0,
      fps: null,
    });
    expect(features(makeReading('smart_lock', 2, AT)).lock_jammed).toBe(0);
  });

  it('raises sensor_alarm for a smoke or water_leak sensor reporting 1, and only then', () => {
    const sensor = (sensorKind: string, value: number, unit: string) =>
      ({ ...makeReading('sensor', 4, AT), sensorKind, value, unit }) as Reading;
    expect(features(sensor('smoke', 1, 'bool')).sensor_alarm).toBe(1);
    expect(features(sensor('water_leak', 1, 'bool')).sensor_alarm).toBe(1);
    expect(features(sensor('smoke', 0, 'bool')).sensor_alarm).toBe(0);
    expect(features(sensor('motion', 1, 'bool')).sensor_alarm).toBe(0);
    expect(features(sensor('temperature', 1, 'C'))).toMatchObject({
      sensor_alarm: 0,
      is_sensor: 1,
      metric_value: 1,
      battery_pct: 90,
    });
  });

  it('leaves metric_zscore missing when the baseline has no spread (0) or none at all', () => {
    const reading = makeReading('sensor', 1, AT);
    expect(features(reading, baseline({ metricStddev: 0 }))).toMatchObject({
      metric_deviation: 1.5,
      metric_zscore: null,
      baseline_metric_stddev: 0,
    });
    expect(features(reading, baseline({ metricStddev: null }))).toMatchObject({
      metric_zscore: null,
      baseline_metric_stddev: null,
    });
  });

  it("takes the UTC hour of the reading's device time, its offset applied", () => {
    const at = (timestamp: string) => features(makeReading('camera', 1, timestamp)).hour_of_day;
    expect(at('2026-11-27T00:30:00+05:30')).toBe(19);
    expect(at('2026-11-27T23:59:59.999999-02:00')).toBe(1);
    expect(at('2026-11-27T00:00:00Z')).toBe(0);
  });

  it("follows the device's previous reading within the hour: the signal's change and its repeats", () => {
    // Prepare: ambient 19 + (3 % 7) * 0.5 = 20.5
    const reading = makeReading('thermostat', 3, AT);
    const previous = (signal: number | null, agoMs: number, runIndex = 0): PreviousSignal => ({
      timeMs: AT_MS - agoMs,
      signal,
      runIndex,
    });

    // Act + Assess
    expect(features(reading, undefined, previous(20, 60_000))).toMatchObject({
      signal_delta_prev: 0.5,
      signal_repeats: 0,
    });
    expect(features(reading, undefined, previous(20.5, 3_600_000, 4))).toMatchObject({
      signal_delta_prev: 0,
      signal_repeats: 5,
    });
    expect(features(reading, undefined, previous(20.5, 3_600_001, 4))).toMatchObject({
      signal_delta_prev: null,
      signal_repeats: null,
    });
    expect(features(reading, undefined, previous(null, 60_000))).toMatchObject({
      signal_delta_prev: null,
      signal_repeats: null,
    });
    expect(features(reading, undefined, undefined)).toMatchObject({
      signal_delta_prev: null,
      signal_repeats: null,
    });
  });

  it('takes a camera bitrate and a level sensor value as the signal, and none for locks and binary sensors', () => {
    const previous: PreviousSignal = { timeMs: AT_MS - 1000, signal: 2000, runIndex: 0 };
    expect(features(makeReading('camera', 7, AT), undefined, previous).signal_delta_prev).toBe(7);
    expect(
      features(makeReading('sensor', 1, AT), undefined, { ...previous, signal: 21 }).signal_delta_prev,
    ).toBe(0.5);
    const smoke = { ...makeReading('sensor', 1, AT), sensorKind: 'smoke', value: 0, unit: 'bool' } as Reading;
    expect(features(smoke, undefined, { ...previous, signal: 0 }).signal_delta_prev).toBeNull();
    expect(features(makeReading('smart_lock', 1, AT), undefined, previous).signal_repeats).toBeNull();
  });
});
