/**
 * The twin's weather server: it serves the simulator's own outdoor temperature in the provider's
 * documented shape, refuses bad requests with a reason, and misbehaves on request.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseWeatherResponse } from '../../lambdas/weather/http-weather-provider.ts';
import {
  MAX_REQUEST_HOURS,
  outdoorRelativeHumidityPct,
  siteAt,
  startWeatherServer,
  type WeatherServer,
} from '../../local/weather-server.ts';
import { HOUR_MS, outdoorTemperatureC } from '../../simulator/environment.ts';
import { buildFleet, type Fleet, type Site } from '../../simulator/fleet.ts';

const KEY = 'local-key';
const FROM = Date.parse('2026-11-27T00:00:00Z');

let fleet: Fleet;
let server: WeatherServer;

function query(site: Pick<Site, 'latitudeDeg' | 'longitudeDeg'>, extra: Record<string, string> = {}): string {
  return new URLSearchParams({
    latitude: String(site.latitudeDeg),
    longitude: String(site.longitudeDeg),
    hourly: 'temperature_2m,relative_humidity_2m',
    start_hour: '2026-11-27T00:00',
    end_hour: '2026-11-27T23:00',
    timezone: 'GMT',
    apikey: KEY,
    ...extra,
  }).toString();
}

async function get(search: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}?${search}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  fleet = buildFleet({ seed: 5, devices: 300, startMs: FROM });
  server = await startWeatherServer({ sites: fleet.sites, apiKey: KEY });
});
afterAll(() => server.close());
beforeEach(() => {
  server.setFault({ kind: 'none' });
});

describe('weather server', () => {
  it("serves each site's simulated outdoor temperature at every hour, in the provider's shape", async () => {
    for (const site of fleet.sites) {
      // Act
      const { status, body } = await get(query(site));

      // Assess
      expect(status).toBe(200);
      const hours = parseWeatherResponse(body, { fromMs: FROM, toMs: FROM + 24 * HOUR_MS });
      expect(hours).toHaveLength(24);
      for (const hour of hours) {
        expect(hour.outdoorTemperatureC).toBe(Math.round(outdoorTemperatureC(site, hour.hourMs) * 10) / 10);
        expect(hour.relativeHumidityPct).toBe(Math.round(outdoorRelativeHumidityPct(site, hour.hourMs)));
      }
    }
  });

  it('derives a humidity that stays in range and is lower at the warmest hour of a day than at its coldest', () => {
    for (const site of fleet.sites) {
      const day = Array.from({ length: 24 }, (_, h) => FROM + h * HOUR_MS);
      const humidity = day.map((t) => outdoorRelativeHumidityPct(site, t));
      const temperature = day.map((t) => outdoorTemperatureC(site, t));
      expect(Math.min(...humidity)).toBeGreaterThanOrEqual(5);
      expect(Math.max(...humidity)).toBeLessThanOrEqual(100);
      const warmest = temperature.indexOf(Math.max(...temperature));
      const coldest = temperature.indexOf(Math.min(...temperature));
      expect(humidity[warmest]).toBeLessThan(humidity[coldest] as number);
    }
  });

  it('finds a site within the coordinate tolerance, and the first of sites that share coordinates', () => {
    // Prepare
    const [first] = fleet.sites as [Site];
    const twin = { ...first, siteId: 'later' };

    // Assess
    expect(siteAt([first, twin], first.latitudeDeg + 0.005, first.longitudeDeg - 0.005)).toBe(first);
    expect(siteAt([first], first.latitudeDeg + 0.5, first.longitudeDeg)).toBeUndefined();
  });

  it.each([
    [{ apikey: 'wrong' }, 401, 'missing or wrong apikey'],
    [{ latitude: 'north' }, 400, "Parameter 'latitude': received 'north', expected a number from -90 to 90"],
    [{ hourly: 'precipitation' }, 400, "Parameter 'hourly': received 'precipitation', expected some of"],
    [{ start_hour: '2026-11-27' }, 400, "Parameter 'start_hour': received '2026-11-27', expected an hour"],
    [
      { end_hour: '2026-11-26T00:00' },
      400,
      "Parameter 'end_hour': received '2026-11-26T00:00', expected from start_hour",
    ],
    [{ timezone: 'auto' }, 400, "Parameter 'timezone': received 'auto', expected GMT"],
    [
      { temperature_unit: 'fahrenheit' },
      400,
      "Parameter 'temperature_unit': received 'fahrenheit', expected celsius",
    ],
    [{ latitude: '0', longitude: '0' }, 400, 'no site at latitude 0, longitude 0'],
  ])('refuses %j with %i and a reason', async (extra, status, reason) => {
    // Act
    const response = await get(query(fleet.sites[0] as Site, extra));

    // Assess
    expect(response.status).toBe(status);
    expect(response.body.error).toBe(true);
    expect(response.body.reason).toContain(reason);
  });

  it(`refuses ranges above ${MAX_REQUEST_HOURS} hours`, async () => {
    const response = await get(query(fleet.sites[0] as Site, { end_hour: '2027-03-01T00:00' }));
    expect(response.status).toBe(400);
  });

  it('answers an injected status for the next requests only, then recovers', async () => {
    // Prepare
    server.setFault({ kind: 'status', status: 503 }, 2);

    // Act
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(query(fleet.sites[0] as Site))).status);

    // Assess
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('drops connections without an answer when down', async () => {
    // Prepare
    server.setFault({ kind: 'down' });

    // Act
    const result = fetch(`${server.url}?${query(fleet.sites[0] as Site)}`);

    // Assess
    await expect(result).rejects.toThrow('fetch failed');
  });

  it('answers late when slow', async () => {
    // Prepare
    server.setFault({ kind: 'slow', delayMs: 2_000 });

    // Act
    const result = fetch(`${server.url}?${query(fleet.sites[0] as Site)}`, {
      signal: AbortSignal.timeout(200),
    });

    // Assess
    await expect(result).rejects.toThrow(/aborted|timeout/i);
  });

  it('counts every request it receives', async () => {
    // Prepare
    const before = server.requests;

    // Act
    await get(query(fleet.sites[0] as Site));
    await fetch(`${server.url.replace('/v1/forecast', '/other')}`);

    // Assess
    expect(server.requests - before).toBe(2);
  });
});
