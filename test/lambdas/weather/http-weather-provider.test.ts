/**
 * The HTTP provider's request and response shapes, and how it treats each kind of provider fault.
 * The fault cases run against the twin's weather server over real HTTP.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  HttpWeatherProvider,
  parseWeatherResponse,
  weatherRequestUrl,
} from '../../../lambdas/weather/http-weather-provider.ts';
import { WeatherProviderError } from '../../../lambdas/weather/provider.ts';
import { startWeatherServer, type WeatherServer } from '../../../local/weather-server.ts';
import { buildFleet, type Site } from '../../../simulator/fleet.ts';

const fixture = JSON.parse(
  readFileSync(new URL('../../events/weather/provider-response.json', import.meta.url), 'utf8'),
);
const NOON = Date.parse('2026-11-27T12:00:00Z');
const HOUR = 3_600_000;
const SITE = { siteId: 's01', latitudeDeg: 59.9, longitudeDeg: 10.8 };
const RANGE = { fromMs: NOON, toMs: NOON + 4 * HOUR };

/** A copy of the fixture with one field replaced. */
function withField(path: ReadonlyArray<string | number>, value: unknown): unknown {
  const copy = structuredClone(fixture);
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key];
  node[path.at(-1) as string | number] = value;
  return copy;
}

describe('weather request', () => {
  it('asks for the two hourly variables by coordinates, both hours inclusive, in UTC and Celsius', () => {
    // Act
    const url = weatherRequestUrl('https://api.open-meteo.com/v1/forecast', SITE, RANGE, 'k3y');

    // Assess
    expect(url.toString()).toBe(
      'https://api.open-meteo.com/v1/forecast?latitude=59.9&longitude=10.8&hourly=temperature_2m%2Crelative_humidity_2m&start_hour=2026-11-27T12%3A00&end_hour=2026-11-27T15%3A00&timezone=GMT&temperature_unit=celsius&apikey=k3y',
    );
  });

  it('sends no key when there is none', () => {
    expect(weatherRequestUrl('https://example.com/v1/forecast', SITE, RANGE).searchParams.has('apikey')).toBe(
      false,
    );
  });
});

describe('weather response', () => {
  it('reads the hours inside the range, with null where the provider had no value', () => {
    // Act
    const hours = parseWeatherResponse(fixture, { fromMs: NOON + HOUR, toMs: NOON + 4 * HOUR });

    // Assess
    expect(hours).toEqual([
      { hourMs: NOON + HOUR, outdoorTemperatureC: 7.5, relativeHumidityPct: 80 },
      { hourMs: NOON + 2 * HOUR, outdoorTemperatureC: null, relativeHumidityPct: 79 },
      { hourMs: NOON + 3 * HOUR, outdoorTemperatureC: 6.8, relativeHumidityPct: null },
    ]);
  });

  it.each([
    [
      ['hourly', 'temperature_2m', 1],
      'warm',
      'hourly.temperature_2m[1]: received "warm", expected a number or null',
    ],
    [
      ['hourly_units', 'temperature_2m'],
      '°F',
      'hourly_units.temperature_2m: received "°F", expected "°C" (the request asks for temperature_unit=celsius)',
    ],
    [
      ['utc_offset_seconds'],
      3600,
      'utc_offset_seconds: received 3600, expected 0 (the request asks for timezone=GMT)',
    ],
    [
      ['hourly', 'time', 0],
      '2026-11-27 12:00',
      'hourly.time[0]: received "2026-11-27 12:00", expected an hour such as "2026-11-27T13:00"',
    ],
    [
      ['hourly', 'relative_humidity_2m'],
      [1, 2],
      'hourly.relative_humidity_2m.length: received 2, expected 4, the length of hourly.time',
    ],
    [
      ['hourly'],
      undefined,
      'hourly: received nothing, expected an object with the arrays time, temperature_2m and relative_humidity_2m',
    ],
  ])('fails when %j is %j, naming the field, the value and what is expected', (path, value, message) => {
    // Act
    const parse = () => parseWeatherResponse(withField(path as Array<string | number>, value), RANGE);

    // Assess
    expect(parse).toThrow(WeatherProviderError);
    expect(parse).toThrow(`provider response ${message}`);
  });

  it('fails when an hour comes twice', () => {
    expect(() => parseWeatherResponse(withField(['hourly', 'time', 1], '2026-11-27T12:00'), RANGE)).toThrow(
      'provider response hourly.time[1]: received "2026-11-27T12:00" a second time, expected each hour once',
    );
  });
});

describe('HttpWeatherProvider against a misbehaving server', () => {
  let server: WeatherServer;
  let site: Site;
  const sleeps: number[] = [];
  const provider = () =>
    new HttpWeatherProvider({
      name: 'twin',
      url: server.url,
      timeoutMs: 200,
      retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 },
      retryHooks: {
        random: () => 0.5,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      },
    });
  const range = { fromMs: NOON, toMs: NOON + 2 * HOUR };

  beforeAll(async () => {
    const fleet = buildFleet({ seed: 3, devices: 1, startMs: NOON });
    site = fleet.sites[0] as Site;
    server = await startWeatherServer({ sites: fleet.sites });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    sleeps.length = 0;
    server.setFault({ kind: 'none' });
  });

  it('backs off with jitter between retries: half of 100 ms, then half of 200 ms', async () => {
    // Prepare
    server.setFault({ kind: 'status', status: 500 }, 2);

    // Act
    const hours = await provider().hourly(site, range);

    // Assess
    expect(hours).toHaveLength(2);
    expect(sleeps).toEqual([50, 100]);
  });

  it("waits as long as the provider's Retry-After asks, within the policy's maximum", async () => {
    // Prepare: a 429 answered with Retry-After: 3 (s), capped at maxDelayMs
    const fetchWithRetryAfter: typeof fetch = async (input, init) =>
      sleeps.length === 0
        ? new Response('{"error":true,"reason":"slow down"}', {
            status: 429,
            headers: { 'retry-after': '3' },
          })
        : fetch(input, init);
    const limited = new HttpWeatherProvider({
      name: 'twin',
      url: server.url,
      fetch: fetchWithRetryAfter,
      retry: { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 1_000 },
      retryHooks: { sleep: async (ms) => void sleeps.push(ms) },
    });

    // Act
    await limited.hourly(site, range);

    // Assess
    expect(sleeps).toEqual([1_000]);
  });

  it('gives up after the attempts are spent, naming the last failure and the attempts', async () => {
    // Prepare
    server.setFault({ kind: 'down' });

    // Act
    const result = provider().hourly(site, range);

    // Assess
    await expect(result).rejects.toThrow(/^no connection to the provider \(.+\) \(3 attempts\)$/);
  });

  it('does not retry a 4xx answer', async () => {
    // Prepare
    const requestsBefore = server.requests;
    const wrongSite = { siteId: 'nowhere', latitudeDeg: 0, longitudeDeg: 0 };

    // Act
    const result = provider().hourly(wrongSite, range);

    // Assess
    await expect(result).rejects.toThrow(
      'HTTP 400 Bad Request: no site at latitude 0, longitude 0 (1 attempt)',
    );
    expect(server.requests - requestsBefore).toBe(1);
  });

  it('does not retry an answer that breaks the documented shape', async () => {
    // Prepare
    let calls = 0;
    const fahrenheit: typeof fetch = async () => {
      calls++;
      return Response.json(withField(['hourly_units', 'temperature_2m'], '°F'));
    };
    const strict = new HttpWeatherProvider({ name: 'twin', url: server.url, fetch: fahrenheit });

    // Act
    const result = strict.hourly(site, range);

    // Assess
    await expect(result).rejects.toThrow('provider response hourly_units.temperature_2m: received "°F"');
    expect(calls).toBe(1);
  });

  it('never puts the API key into an error message', async () => {
    // Prepare
    server.setFault({ kind: 'status', status: 502 });
    const withKey = new HttpWeatherProvider({
      name: 'twin',
      url: server.url,
      apiKey: 'secret-key-123',
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });

    // Act
    const error = await withKey.hourly(site, range).catch((e: Error) => e);

    // Assess
    expect((error as Error).message).toBe('HTTP 502 Bad Gateway: injected fault: HTTP 502 (1 attempt)');
    expect(String((error as Error & { cause?: unknown }).cause)).not.toContain('secret-key-123');
  });

  it('fails when the provider URL is not an http(s) URL', () => {
    expect(() => new HttpWeatherProvider({ name: 'x', url: 'ftp://weather.example.com' })).toThrow(
      "weather provider url: received 'ftp://weather.example.com', expected an http(s) URL",
    );
  });
});
