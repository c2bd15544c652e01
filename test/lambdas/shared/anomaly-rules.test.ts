import { describe, expect, it } from 'vitest';
import { ALERT_RULES, ALERT_THRESHOLDS, evaluateAlerts } from '../../../lambdas/shared/anomaly-rules.ts';
import type { Reading } from '../../../lambdas/shared/contract.ts';
import { makeReading } from '../../support/readings.ts';

const AT = '2026-11-27T12:00:00.000Z';
const rulesOf = (reading: Reading) => evaluateAlerts(reading).map((a) => `${a.rule}/${a.severity}`);

describe('real-time anomaly rules', () => {
  it('raises nothing for ordinary readings of every device type', () => {
    for (const type of ['thermostat', 'camera', 'smart_lock', 'sensor'] as const) {
      expect(evaluateAlerts(makeReading(type, 1, AT))).toEqual([]);
    }
  });

  it('pages critical for smoke and water leaks', () => {
    const smoke = { ...makeReading('sensor', 1, AT), sensorKind: 'smoke', value: 1, unit: 'bool' } as Reading;
    const leak = {
      ...makeReading('sensor', 2, AT),
      sensorKind: 'water_leak',
      value: 1,
      unit: 'bool',
    } as Reading;
    const clear = { ...makeReading('sensor', 3, AT), sensorKind: 'smoke', value: 0, unit: 'bool' } as Reading;
    expect(rulesOf(smoke)).toEqual(['smoke_detected/critical']);
    expect(rulesOf(leak)).toEqual(['water_leak_detected/critical']);
    expect(rulesOf(clear)).toEqual([]);
  });

  it('raises security alerts for a jammed lock and a burst of failed unlocks, at the threshold and not below', () => {
    const lock = makeReading('smart_lock', 1, AT);
    expect(rulesOf({ ...lock, lockState: 'jammed' } as Reading)).toEqual(['lock_jammed/security']);
    expect(rulesOf({ ...lock, failedAttempts: ALERT_THRESHOLDS.failedUnlockBurst } as Reading)).toEqual([
      'failed_unlock_burst/security',
    ]);
    expect(rulesOf({ ...lock, failedAttempts: ALERT_THRESHOLDS.failedUnlockBurst - 1 } as Reading)).toEqual(
      [],
    );
  });

  it('warns when a running HVAC is far from target, but not when it is off', () => {
    const base = makeReading('thermostat', 1, AT);
    const cold = { ...base, ambientTemperatureC: 10, targetTemperatureC: 21 } as Reading;
    expect(rulesOf(cold)).toEqual(['temperature_far_from_target/warning']);
    expect(evaluateAlerts(cold)[0]).toMatchObject({
      observed: 11,
      threshold: ALERT_THRESHOLDS.temperatureGapC,
    });
    expect(rulesOf({ ...cold, hvacMode: 'off' } as Reading)).toEqual([]);
  });

  it('warns only about a gap the running mode should close', () => {
    const base = makeReading('thermostat', 1, AT);
    const cold = { ...base, ambientTemperatureC: 10, targetTemperatureC: 21 } as Reading;
    const hot = { ...base, ambientTemperatureC: 32, targetTemperatureC: 21 } as Reading;

    expect(rulesOf({ ...cold, hvacMode: 'heat' } as Reading)).toEqual([
      'temperature_far_from_target/warning',
    ]);
    expect(rulesOf({ ...cold, hvacMode: 'cool' } as Reading)).toEqual([]);
    expect(rulesOf({ ...hot, hvacMode: 'cool' } as Reading)).toEqual(['temperature_far_from_target/warning']);
    expect(rulesOf({ ...hot, hvacMode: 'heat' } as Reading)).toEqual([]);
    expect(rulesOf({ ...hot, hvacMode: 'auto' } as Reading)).toEqual(['temperature_far_from_target/warning']);
  });

  it('warns on low battery, high CO2, a camera without frames and an overheating camera', () => {
    expect(rulesOf({ ...makeReading('smart_lock', 1, AT), batteryPct: 9 } as Reading)).toEqual([
      'battery_low/warning',
    ]);
    const co2 = { ...makeReading('sensor', 1, AT), sensorKind: 'co2', unit: 'ppm', value: 2500 } as Reading;
    expect(rulesOf(co2)).toEqual(['co2_high/warning']);
    expect(rulesOf({ ...makeReading('camera', 1, AT), fps: 0 } as Reading)).toEqual([
      'camera_no_frames/warning',
    ]);
    expect(rulesOf({ ...makeReading('camera', 1, AT), cpuTemperatureC: 92 } as Reading)).toEqual([
      'camera_overheating/warning',
    ]);
  });

  it('derives the alert id from the reading and the rule, so a replay raises the same id', () => {
    const smoke = { ...makeReading('sensor', 7, AT), sensorKind: 'smoke', value: 1, unit: 'bool' } as Reading;
    expect(evaluateAlerts(smoke)[0]?.alertId).toBe(`${smoke.eventId}:smoke_detected`);
    expect(evaluateAlerts(smoke)).toEqual(evaluateAlerts(structuredClone(smoke)));
  });

  it('lists every rule once with its severity', () => {
    const ids = ALERT_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ALERT_RULES.filter((r) => r.severity === 'critical').map((r) => r.id)).toEqual([
      'smoke_detected',
      'water_leak_detected',
    ]);
  });
});
