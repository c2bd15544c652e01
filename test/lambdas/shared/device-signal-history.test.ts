/**
 * The devices' previous readings for the signal features: in device-time order, unchanged by a
 * redelivery, bounded in time and in devices.
 */
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../lambdas/shared/contract.ts';
import { DeviceSignalHistory } from '../../../lambdas/shared/device-signal-history.ts';
import { makeReading } from '../../support/readings.ts';

const START_MS = Date.parse('2026-11-27T10:00:00.000Z');

/** A thermostat reading `minutes` after the start with the given ambient temperature. */
function thermostat(n: number, minutes: number, ambient: number, deviceId = 'thermo-1'): Reading {
  const timestamp = new Date(START_MS + minutes * 60_000).toISOString();
  return { ...makeReading('thermostat', n, timestamp, deviceId), ambientTemperatureC: ambient } as Reading;
}

describe('DeviceSignalHistory', () => {
  it('gives each reading the one before it, with the run of equal signals it ends', () => {
    // Prepare
    const history = new DeviceSignalHistory();
    const readings = [
      thermostat(1, 0, 20),
      thermostat(2, 5, 20),
      thermostat(3, 10, 20),
      thermostat(4, 15, 21),
    ];

    // Act
    const previous = readings.map((reading) => history.observe(reading));

    // Assess
    expect(previous).toEqual([
      undefined,
      { timeMs: START_MS, signal: 20, runIndex: 0 },
      { timeMs: START_MS + 5 * 60_000, signal: 20, runIndex: 1 },
      { timeMs: START_MS + 10 * 60_000, signal: 20, runIndex: 2 },
    ]);
  });

  it('answers a redelivered reading as the first time, and leaves the history as it was', () => {
    // Prepare
    const history = new DeviceSignalHistory();
    const readings = [thermostat(1, 0, 20), thermostat(2, 5, 20), thermostat(3, 10, 22)];
    const first = readings.map((reading) => history.observe(reading));

    // Act: the batch is retried
    const again = readings.map((reading) => history.observe(reading));
    const next = history.observe(thermostat(4, 15, 22));

    // Assess
    expect(again).toEqual(first);
    expect(next).toEqual({ timeMs: START_MS + 10 * 60_000, signal: 22, runIndex: 0 });
  });

  it('places a late reading by its device time, as the training SQL orders them', () => {
    // Prepare
    const history = new DeviceSignalHistory();
    history.observe(thermostat(1, 0, 20));
    history.observe(thermostat(3, 10, 20));

    // Act
    const late = history.observe(thermostat(2, 5, 20));
    const after = history.observe(thermostat(4, 15, 20));

    // Assess: the late reading follows the first; the next one ends a run of three.
    expect(late).toEqual({ timeMs: START_MS, signal: 20, runIndex: 0 });
    expect(after).toEqual({ timeMs: START_MS + 10 * 60_000, signal: 20, runIndex: 2 });
  });

  it('keeps devices apart, and records nothing for a device without a signal', () => {
    // Prepare
    const history = new DeviceSignalHistory();
    history.observe(thermostat(1, 0, 20, 'a'));
    const lock = makeReading('smart_lock', 2, new Date(START_MS).toISOString(), 'lock-1');

    // Act + Assess
    expect(history.observe(thermostat(2, 1, 20, 'b'))).toBeUndefined();
    expect(history.observe(lock)).toBeUndefined();
    expect(history.size).toBe(2);
  });

  it('starts a new run after a gap of more than an hour', () => {
    // Prepare
    const history = new DeviceSignalHistory();
    history.observe(thermostat(1, 0, 20));
    history.observe(thermostat(2, 5, 20));

    // Act
    const afterGap = history.observe(thermostat(3, 70, 20));
    const next = history.observe(thermostat(4, 75, 20));

    // Assess: the previous reading is known, but too old to link; the run restarts.
    expect(afterGap?.runIndex).toBe(1);
    expect(next).toEqual({ timeMs: START_MS + 70 * 60_000, signal: 20, runIndex: 0 });
  });

  it('forgets readings older than its lookback, and the least recently seen devices beyond its bound', () => {
    // Prepare
    const history = new DeviceSignalHistory({ maxDevices: 2, lookbackMs: 30 * 60_000 });
    history.observe(thermostat(1, 0, 20, 'a'));
    history.observe(thermostat(2, 40, 20, 'a'));

    // Act
    const late = history.observe(thermostat(3, 1, 20, 'a'));
    history.observe(thermostat(4, 0, 20, 'b'));
    history.observe(thermostat(5, 0, 20, 'c'));

    // Assess: the 00:00 reading of `a` was dropped (older than 00:10), so its late neighbour finds
    // none; `a`, seen least recently, made room for `c`.
    expect(late).toBeUndefined();
    expect(history.size).toBe(2);
    expect(history.observe(thermostat(6, 41, 20, 'a'))).toBeUndefined();
  });
});
