import { describe, expect, it } from 'vitest';
import type { Reading, ThermostatReading } from '../../lambdas/shared/contract.ts';
import { localHour, outdoorTemperatureC } from '../../simulator/environment.ts';
import { type Device, placesOf } from '../../simulator/fleet.ts';
import { NO_FAULTS, NO_INJECTIONS, run, timeOf } from './collect.ts';

const { sim, byDevice } = run({
  seed: 2,
  devices: 120,
  durationHours: 26,
  injections: NO_INJECTIONS,
  faults: NO_FAULTS,
});
const placeOf = placesOf(sim.fleet);
const devices = new Map(sim.fleet.devices.map((d) => [d.deviceId, d]));
const deviceOf = (reading: Reading) => devices.get(reading.deviceId) as Device;
const siteOf = (reading: Reading) => placeOf(deviceOf(reading)).site;
const hourOf = (reading: Reading) => localHour(siteOf(reading), timeOf(reading));
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const ofType = <T extends Reading['deviceType']>(type: T) =>
  [...byDevice.values()]
    .flat()
    .filter((r): r is Extract<Reading, { deviceType: T }> => r.deviceType === type);
/** Consecutive pairs of a device's readings. */
const pairs = <T>(items: readonly T[]): Array<[T, T]> =>
  items.slice(1).map((item, i) => [items[i] as T, item]);

describe('thermostat signals', () => {
  const thermostats = ofType('thermostat');
  const gapOf = (r: ThermostatReading) =>
    Math.abs(r.ambientTemperatureC - outdoorTemperatureC(siteOf(r), timeOf(r)));

  it('reports energy as power times the interval since the previous reading', () => {
    const off = thermostats.filter(
      (r) => Math.abs(r.energyWh - (r.hvacPowerW * deviceOf(r).reportingIntervalS) / 3600) >= 0.02,
    );
    expect(off).toEqual([]);
  });

  it('uses more HVAC energy the larger the indoor/outdoor temperature gap', () => {
    const conditioning = thermostats.filter((r) => r.hvacMode === 'heat' || r.hvacMode === 'cool');
    const sorted = [...conditioning].sort((a, b) => gapOf(a) - gapOf(b));
    const quarter = Math.floor(sorted.length / 4);
    const smallGaps = sorted.slice(0, quarter);
    const largeGaps = sorted.slice(-quarter);
    const energy = (rs: readonly ThermostatReading[]) => mean(rs.map((r) => r.energyWh));
    // The unit runs longer (duty cycle) and draws more power while running.
    expect(energy(largeGaps)).toBeGreaterThan(1.5 * energy(smallGaps));
    const running = (rs: readonly ThermostatReading[]) =>
      mean(rs.filter((r) => r.hvacPowerW > 0).map((r) => r.hvacPowerW));
    expect(running(largeGaps)).toBeGreaterThan(running(smallGaps));
  });

  it('keeps rooms warmer by day than in the small hours when heating (night setback)', () => {
    const heating = thermostats.filter((r) => r.hvacMode === 'heat');
    const day = mean(
      heating.filter((r) => hourOf(r) >= 9 && hourOf(r) < 18).map((r) => r.ambientTemperatureC),
    );
    const night = mean(
      heating.filter((r) => hourOf(r) >= 1 && hourOf(r) < 5).map((r) => r.ambientTemperatureC),
    );
    expect(day - night).toBeGreaterThan(1);
    expect(day).toBeGreaterThan(18);
    expect(day).toBeLessThan(24);
  });

  it('holds heated rooms near their target', () => {
    const heating = thermostats.filter((r) => r.hvacMode === 'heat');
    const near = heating.filter((r) => Math.abs(r.ambientTemperatureC - r.targetTemperatureC) < 2);
    expect(near.length / heating.length).toBeGreaterThan(0.8);
  });
});

describe('camera signals', () => {
  const cameras = ofType('camera');

  it('streams a higher bitrate, and sees more motion, by day than at night', () => {
    const day = cameras.filter((r) => hourOf(r) >= 11 && hourOf(r) < 15);
    const night = cameras.filter((r) => hourOf(r) >= 1 && hourOf(r) < 5);
    expect(mean(day.map((r) => r.bitrateKbps))).toBeGreaterThan(1.3 * mean(night.map((r) => r.bitrateKbps)));
    expect(mean(day.map((r) => Number(r.motionDetected)))).toBeGreaterThan(
      mean(night.map((r) => Number(r.motionDetected))),
    );
  });

  it('fills storage slowly between purges and counts uptime up by the interval', () => {
    for (const readings of byDevice.values()) {
      const own = readings.filter((r) => r.deviceType === 'camera');
      if (own.length < 2) continue;
      const steps = new Set(pairs(own).map(([a, b]) => b.uptimeS - a.uptimeS));
      expect(steps).toEqual(new Set([deviceOf(own[0] as Reading).reportingIntervalS]));
      const purges = pairs(own).filter(([a, b]) => b.storageUsedPct < a.storageUsedPct);
      if (purges.length === 0) {
        expect((own.at(-1) as Reading & { storageUsedPct: number }).storageUsedPct).toBeGreaterThan(
          own[0]?.storageUsedPct ?? 100,
        );
      }
    }
  });

  it('runs its CPU warmer under load, well below the overheating threshold', () => {
    expect(cameras.every((r) => r.cpuTemperatureC > 0 && r.cpuTemperatureC < 80)).toBe(true);
    const busy = cameras.filter((r) => r.motionDetected).map((r) => r.cpuTemperatureC);
    const idle = cameras.filter((r) => !r.motionDetected).map((r) => r.cpuTemperatureC);
    expect(mean(busy)).toBeGreaterThan(mean(idle));
  });
});

describe('lock and sensor signals', () => {
  it('locks and unlocks on daily routines, reporting each action in the state it leaves', () => {
    const actions = ofType('smart_lock').filter((r) => r.lastAction !== 'none');
    expect(actions.length).toBeGreaterThan(0);
    const mismatched = actions.filter(
      (r) => r.lockState !== (r.lastAction === 'unlock' ? 'unlocked' : 'locked'),
    );
    expect(mismatched).toEqual([]);
    expect(actions.filter((r) => hourOf(r) < 5)).toEqual([]);
  });

  it('drains batteries without ever recharging them', () => {
    for (const readings of byDevice.values()) {
      const levels = readings.flatMap((r) =>
        r.deviceType === 'smart_lock' || r.deviceType === 'sensor' ? [r.batteryPct] : [],
      );
      expect(pairs(levels).every(([a, b]) => b <= a)).toBe(true);
    }
  });

  it('reports each sensor kind in a realistic range; leak and smoke stay at 0', () => {
    const sensors = ofType('sensor');
    const of = (kind: string) => sensors.filter((r) => r.sensorKind === kind).map((r) => r.value);
    expect(new Set([...of('water_leak'), ...of('smoke')])).toEqual(new Set([0]));
    expect(new Set(of('motion'))).toEqual(new Set([0, 1]));
    expect(of('co2').every((ppm) => ppm > 350 && ppm < 2000)).toBe(true);
    expect(mean(of('humidity'))).toBeGreaterThan(30);
    expect(mean(of('humidity'))).toBeLessThan(65);
    expect(mean(of('temperature'))).toBeGreaterThan(17);
    expect(mean(of('temperature'))).toBeLessThan(26);
  });

  it('scatters RSSI a few dB around each device’s own mean', () => {
    for (const readings of byDevice.values()) {
      const rssi = readings.map((r) => r.rssiDbm);
      const centre = mean(rssi);
      expect(rssi.every((v) => Math.abs(v - centre) < 15)).toBe(true);
    }
  });
});
