import { describe, expect, it } from 'vitest';
import { DEVICE_ID_PATTERN, DEVICE_TYPES, SENSOR_KINDS } from '../../lambdas/shared/contract.ts';
import {
  buildFleet,
  DEFAULT_TYPE_SHARES,
  DEVICES_PER_SITE,
  placesOf,
  REPORTING_INTERVAL_S,
} from '../../simulator/fleet.ts';

const START_MS = Date.parse('2025-01-13T00:00:00Z');

describe('buildFleet', () => {
  it('gives every site its own coordinates, also when a city has several sites', () => {
    const fleet = buildFleet({ seed: 1, devices: 4_000, startMs: START_MS });

    const coordinates = new Set(fleet.sites.map((site) => `${site.latitudeDeg},${site.longitudeDeg}`));

    expect(fleet.sites.length).toBeGreaterThan(30);
    expect(coordinates.size).toBe(fleet.sites.length);
  });

  it('places N devices in ceil(N / 100) sites with valid, unique thing names', () => {
    const fleet = buildFleet({ seed: 1, devices: 250, startMs: START_MS });
    expect(fleet.devices).toHaveLength(250);
    expect(fleet.sites).toHaveLength(Math.ceil(250 / DEVICES_PER_SITE));
    expect(new Set(fleet.devices.map((d) => d.deviceId)).size).toBe(250);
    for (const device of fleet.devices) {
      expect(device.deviceId).toMatch(DEVICE_ID_PATTERN);
      expect(device.deviceId).toContain(`-${device.roomId}-`);
      expect(device.roomId.startsWith(`${device.buildingId}-`)).toBe(true);
      expect(device.buildingId.startsWith(`${device.siteId}-`)).toBe(true);
      expect(device.firmwareVersion).toMatch(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/);
      expect(device.installDate < '2025-01-13').toBe(true);
    }
    const locate = placesOf(fleet);
    for (const device of fleet.devices) expect(locate(device).room.roomId).toBe(device.roomId);
  });

  it('mixes device types in the default shares, and spreads sensors over every kind', () => {
    const fleet = buildFleet({ seed: 1, devices: 400, startMs: START_MS });
    for (const type of DEVICE_TYPES) {
      const count = fleet.devices.filter((d) => d.deviceType === type).length;
      expect(Math.abs(count - DEFAULT_TYPE_SHARES[type] * 400)).toBeLessThanOrEqual(1);
    }
    const kinds = new Set(fleet.devices.flatMap((d) => (d.sensorKind ? [d.sensorKind] : [])));
    expect(kinds).toEqual(new Set(SENSOR_KINDS));
  });

  it('reports at the interval of its type (sensors by kind)', () => {
    const fleet = buildFleet({ seed: 1, devices: 100, startMs: START_MS });
    for (const device of fleet.devices) {
      const expected = device.sensorKind
        ? REPORTING_INTERVAL_S.sensor[device.sensorKind]
        : REPORTING_INTERVAL_S[device.deviceType as 'thermostat' | 'camera' | 'smart_lock'];
      expect(device.reportingIntervalS).toBe(expected);
    }
  });

  it('honours custom shares; a type with no share never appears', () => {
    const fleet = buildFleet({
      seed: 1,
      devices: 30,
      startMs: START_MS,
      typeShares: { sensor: 1 },
      sensorKindShares: { smoke: 1, water_leak: 1 },
    });
    expect(new Set(fleet.devices.map((d) => d.deviceType))).toEqual(new Set(['sensor']));
    expect(fleet.devices.filter((d) => d.sensorKind === 'smoke')).toHaveLength(15);
  });

  it('is deterministic for a seed, and only appends when the fleet grows', () => {
    const small = buildFleet({ seed: 9, devices: 120, startMs: START_MS });
    const large = buildFleet({ seed: 9, devices: 121, startMs: START_MS });
    expect(buildFleet({ seed: 9, devices: 120, startMs: START_MS })).toEqual(small);
    expect(large.devices.slice(0, 120)).toEqual(small.devices);
    expect(large.sites.slice(0, small.sites.length)).toEqual(small.sites);
  });

  it('differs for another seed', () => {
    const a = buildFleet({ seed: 1, devices: 300, startMs: START_MS });
    const b = buildFleet({ seed: 2, devices: 300, startMs: START_MS });
    expect(a.devices.map((d) => d.deviceId)).toEqual(b.devices.map((d) => d.deviceId));
    expect(a.devices.map((d) => `${d.model}/${d.firmwareVersion}/${d.installDate}`)).not.toEqual(
      b.devices.map((d) => `${d.model}/${d.firmwareVersion}/${d.installDate}`),
    );
    expect(a.sites.map((s) => s.weather)).not.toEqual(b.sites.map((s) => s.weather));
  });
});
