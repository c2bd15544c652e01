import { describe, expect, it } from 'vitest';
import {
  DAY_MS,
  daylight,
  HOUR_MS,
  localHour,
  occupancy,
  outdoorTemperatureC,
  solarHour,
} from '../../simulator/environment.ts';
import { buildFleet, type Site } from '../../simulator/fleet.ts';

const JANUARY = Date.parse('2025-01-13T00:00:00Z');
const JULY = Date.parse('2025-07-14T00:00:00Z');
const fleet = buildFleet({ seed: 1, devices: 1200, startMs: JANUARY });
const city = (name: string) => fleet.sites.find((site) => site.city === name) as Site;
/** Epoch ms of the given solar hour on each of `days` days from `fromMs`. */
const atSolarHour = (site: Site, fromMs: number, hour: number, days: number) => {
  const offsetMs = ((((hour - solarHour(site, fromMs)) % 24) + 24) % 24) * HOUR_MS;
  return Array.from({ length: days }, (_, day) => fromMs + offsetMs + day * DAY_MS);
};
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe('environment', () => {
  it('is warmer in the afternoon than before dawn, by about the climate’s diurnal range', () => {
    for (const site of fleet.sites) {
      const afternoon = mean(atSolarHour(site, JANUARY, 15, 10).map((t) => outdoorTemperatureC(site, t)));
      const dawn = mean(atSolarHour(site, JANUARY, 3, 10).map((t) => outdoorTemperatureC(site, t)));
      expect(afternoon - dawn).toBeGreaterThan(site.climate.diurnalAmplitudeC);
    }
  });

  it('follows the seasons of each hemisphere', () => {
    const monthMean = (site: Site, fromMs: number) =>
      mean(Array.from({ length: 30 * 24 }, (_, h) => outdoorTemperatureC(site, fromMs + h * HOUR_MS)));
    expect(monthMean(city('Oslo'), JULY) - monthMean(city('Oslo'), JANUARY)).toBeGreaterThan(12);
    expect(monthMean(city('Sydney'), JANUARY) - monthMean(city('Sydney'), JULY)).toBeGreaterThan(5);
    expect(Math.abs(monthMean(city('Singapore'), JANUARY) - monthMean(city('Singapore'), JULY))).toBeLessThan(
      4,
    );
  });

  it('lights the day and not the night, with long summer days in the north', () => {
    const oslo = city('Oslo');
    const [noon] = atSolarHour(oslo, JANUARY, 12, 1);
    const [midnight] = atSolarHour(oslo, JANUARY, 0, 1);
    expect(daylight(oslo, noon as number)).toBe(1);
    expect(daylight(oslo, midnight as number)).toBe(0);
    const hoursLit = (fromMs: number) =>
      Array.from({ length: 24 * 12 }, (_, i) => daylight(oslo, fromMs + i * 5 * 60_000)).reduce(
        (a, b) => a + b,
        0,
      ) / 12;
    expect(hoursLit(JULY)).toBeGreaterThan(hoursLit(JANUARY) + 8);
  });

  it('fills offices on weekday working hours and homes in the evening', () => {
    const site = fleet.sites[0] as Site;
    const building = (use: string) => fleet.buildings.find((b) => b.siteId === site.siteId && b.use === use);
    const office = building('office') ?? fleet.buildings.find((b) => b.use === 'office');
    const home = building('residential') ?? fleet.buildings.find((b) => b.use === 'residential');
    expect(office && home).toBeTruthy();
    const roomOf = (buildingId: string) => fleet.rooms.find((r) => r.buildingId === buildingId);
    const atLocal = (s: Site, fromMs: number, hour: number) =>
      fromMs + ((((hour - localHour(s, fromMs)) % 24) + 24) % 24) * HOUR_MS;
    const officeSite = fleet.sites.find((s) => s.siteId === office?.siteId) as Site;
    const homeSite = fleet.sites.find((s) => s.siteId === home?.siteId) as Site;
    const officeRoom = roomOf(office?.buildingId ?? '');
    const homeRoom = roomOf(home?.buildingId ?? '');
    if (!office || !home || !officeRoom || !homeRoom) throw new Error('fleet without office or home');
    // 13 January 2025 is a Monday; 18 January a Saturday.
    const at = (s: Site, day: number, hour: number) => atLocal(s, JANUARY + day * DAY_MS, hour);
    expect(occupancy(officeSite, office, officeRoom, at(officeSite, 0, 10)).present).toBeGreaterThan(0.4);
    expect(occupancy(officeSite, office, officeRoom, at(officeSite, 0, 3)).present).toBeLessThan(0.05);
    expect(occupancy(officeSite, office, officeRoom, at(officeSite, 5, 10)).present).toBeLessThan(0.05);
    expect(occupancy(homeSite, home, homeRoom, at(homeSite, 0, 20)).active).toBeGreaterThan(
      occupancy(homeSite, home, homeRoom, at(homeSite, 0, 3)).active,
    );
  });
});
