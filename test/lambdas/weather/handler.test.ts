/**
 * The weather handler over real HTTP against the twin's weather server, writing to the real S3 API
 * (s3rver): the objects land with the exact content, faults of the provider become gap lines, and
 * reruns change nothing.
 */
import { readFileSync } from 'node:fs';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IOT_REGISTRY_THING_GROUPS_KEY } from '../../../lambdas/shared/pipeline-names.ts';
import { HOUR_MS, parseWeatherLines, type WeatherLine } from '../../../lambdas/shared/weather-record.ts';
import { createWeatherClients } from '../../../lambdas/weather/clients.ts';
import { createHandler, type WeatherHandlerDeps } from '../../../lambdas/weather/handler.ts';
import { HttpWeatherProvider } from '../../../lambdas/weather/http-weather-provider.ts';
import type { WeatherRunSummary } from '../../../lambdas/weather/ingest-weather.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import {
  outdoorRelativeHumidityPct,
  startWeatherServer,
  type WeatherServer,
} from '../../../local/weather-server.ts';
import { outdoorTemperatureC } from '../../../simulator/environment.ts';
import { buildFleet, type Fleet } from '../../../simulator/fleet.ts';
import { buildRegistry } from '../../../simulator/registry.ts';

const RAW = 'raw-bucket';
const EMPTY = 'bucket-without-registry';
const API_KEY = 'twin-weather-key';
const SOURCE = 'twin-weather';
const REQUEST_TIMEOUT_MS = 300;
const context = {
  functionName: 'weather',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;
const event = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../events/weather/${name}.json`, import.meta.url), 'utf8'));

let s3Stand: S3StandIn;
let s3: S3Client;
let server: WeatherServer;
/** Five sites (500 devices), so the circuit breaker has sites left to spare. */
let fleet: Fleet;

function deps(overrides: Partial<WeatherHandlerDeps> = {}, apiKey = API_KEY): WeatherHandlerDeps {
  return {
    s3,
    rawBucket: RAW,
    provider: new HttpWeatherProvider({
      name: SOURCE,
      url: server.url,
      apiKey,
      timeoutMs: REQUEST_TIMEOUT_MS,
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    }),
    lookbackHours: 24,
    concurrency: 1,
    ...overrides,
  };
}

async function run(input: unknown, overrides: Partial<WeatherHandlerDeps> = {}, apiKey?: string) {
  const handler = createHandler(async () => deps(overrides, apiKey));
  return (await handler(input, context)) as WeatherRunSummary;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: RAW, Prefix: prefix }));
  return (out.Contents ?? []).map((object) => object.Key ?? '').sort();
}

async function text(key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: RAW, Key: key }));
  return (await out.Body?.transformToString('utf8')) ?? '';
}

async function lines(key: string): Promise<WeatherLine[]> {
  return parseWeatherLines(await text(key));
}

/** The exact line the simulator's weather gives a site and hour, as the contract spells it. */
function expectedLine(siteIndex: number, hourMs: number): string {
  const site = fleet.sites[siteIndex];
  if (!site) throw new Error(`no site ${siteIndex}`);
  return JSON.stringify({
    siteId: site.siteId,
    hour: `${new Date(hourMs).toISOString().slice(0, 13)}:00:00Z`,
    outdoorTemperatureC: Math.round(outdoorTemperatureC(site, hourMs) * 10) / 10,
    relativeHumidityPct: Math.round(outdoorRelativeHumidityPct(site, hourMs)),
    source: SOURCE,
  });
}

beforeAll(async () => {
  fleet = buildFleet({ seed: 7, devices: 500, startMs: Date.parse('2026-11-01T00:00:00Z') });
  s3Stand = await startS3StandIn({ buckets: [RAW, EMPTY] });
  s3 = createWeatherClients(s3Stand.clientOverrides).s3;
  const thingGroups = buildRegistry(fleet)
    .thingGroups.map((group) => `${JSON.stringify(group)}\n`)
    .join('');
  await s3.send(new PutObjectCommand({ Bucket: RAW, Key: IOT_REGISTRY_THING_GROUPS_KEY, Body: thingGroups }));
  server = await startWeatherServer({ sites: fleet.sites, apiKey: API_KEY });
});
afterAll(async () => {
  await Promise.all([server.close(), s3Stand.close()]);
});
beforeEach(() => {
  server.setFault({ kind: 'none' });
});

describe('weather handler', () => {
  it("writes one object per site and UTC date with the simulator's temperature for each hour of the lookback", async () => {
    // Prepare
    const scheduled = event('scheduled');
    const toMs = Date.parse('2026-11-27T14:00:00Z');

    // Act
    const summary = await run(scheduled);

    // Assess
    expect(fleet.sites).toHaveLength(5);
    expect(summary).toMatchObject({
      from: '2026-11-26T14:00:00Z',
      to: '2026-11-27T14:00:00Z',
      sites: 5,
      hoursFetched: 5 * 24,
      hoursMissing: 0,
      sitesFailed: 0,
      objectsWritten: 10,
      failures: [],
      problems: [],
    });
    expect(await keysUnder('weather/')).toEqual(
      fleet.sites
        .flatMap((site) => [
          `weather/weather_date=2026-11-26/${site.siteId}.ndjson`,
          `weather/weather_date=2026-11-27/${site.siteId}.ndjson`,
        ])
        .sort(),
    );
    const firstSite = fleet.sites[0]?.siteId;
    const expectedDay = Array.from(
      { length: 14 },
      (_, h) => `${expectedLine(0, toMs - (14 - h) * HOUR_MS)}\n`,
    );
    expect(await text(`weather/weather_date=2026-11-27/${firstSite}.ndjson`)).toBe(expectedDay.join(''));
    expect((await lines(`weather/weather_date=2026-11-26/${firstSite}.ndjson`)).map((l) => l.hour)).toEqual(
      Array.from({ length: 10 }, (_, h) => `2026-11-26T${String(14 + h).padStart(2, '0')}:00:00Z`),
    );
  });

  it('leaves every object byte for byte as it was when rerun', async () => {
    // Prepare
    const keys = await keysUnder('weather/');
    const before = await Promise.all(keys.map(text));

    // Act
    const summary = await run(event('scheduled'));

    // Assess
    expect(summary).toMatchObject({ objectsWritten: 0, objectsUnchanged: 10, hoursMissing: 0 });
    expect(await keysUnder('weather/')).toEqual(keys);
    expect(await Promise.all(keys.map(text))).toEqual(before);
  });

  it('records gap lines, and does not fail, when the provider is down; stops asking after three sites', async () => {
    // Prepare
    server.setFault({ kind: 'down' });
    const requestsBefore = server.requests;

    // Act
    const summary = await run(event('backfill'));

    // Assess
    expect(summary).toMatchObject({ sites: 5, hoursFetched: 0, hoursMissing: 30, sitesFailed: 5 });
    expect(server.requests - requestsBefore).toBe(3 * 3);
    const [s1, s2, s3Id, s4, s5] = fleet.sites.map((site) => site.siteId);
    const reasons = Object.fromEntries(summary.failures.map((f) => [f.siteId, f.reason]));
    for (const site of [s1, s2, s3Id]) {
      expect(reasons[site as string]).toMatch(/^no connection to the provider \(.+\) \(3 attempts\)$/);
    }
    for (const site of [s4, s5]) {
      expect(reasons[site as string]).toMatch(/^not requested: the provider failed for 3 sites in a row/);
    }
    const written = await lines(`weather/weather_date=2026-11-20/${s1}.ndjson`);
    expect(written).toHaveLength(6);
    expect(written[0]).toEqual({
      siteId: s1,
      hour: '2026-11-20T00:00:00Z',
      gap: true,
      reason: reasons[s1 as string],
    });
    expect(written.every((line) => 'gap' in line)).toBe(true);
  });

  it('fills earlier gaps on a later run, and never replaces a value with a gap', async () => {
    // Prepare: the gaps of the previous test are in place
    const key = `weather/weather_date=2026-11-20/${fleet.sites[4]?.siteId}.ndjson`;
    expect((await lines(key)).every((line) => 'gap' in line)).toBe(true);

    // Act
    const healed = await run(event('backfill'));
    const afterHealing = await text(key);
    server.setFault({ kind: 'status', status: 503 });
    const outage = await run(event('backfill'));

    // Assess
    expect(healed).toMatchObject({ hoursFetched: 30, hoursMissing: 0, objectsWritten: 5 });
    expect(afterHealing).toBe(
      Array.from(
        { length: 6 },
        (_, h) => `${expectedLine(4, Date.parse('2026-11-20T00:00:00Z') + h * HOUR_MS)}\n`,
      ).join(''),
    );
    expect(outage).toMatchObject({ hoursMissing: 30, objectsWritten: 0, objectsUnchanged: 5 });
    expect(outage.failures[0]?.reason).toBe(
      'HTTP 503 Service Unavailable: injected fault: HTTP 503 (3 attempts)',
    );
    expect(await text(key)).toBe(afterHealing);
  });

  it('keeps the hours a run did not cover', async () => {
    // Prepare: hours 00..06 of 2026-11-20 are written
    const key = `weather/weather_date=2026-11-20/${fleet.sites[0]?.siteId}.ndjson`;

    // Act
    await run({ from: '2026-11-20T10:00:00Z', to: '2026-11-20T12:00:00Z' });

    // Assess
    expect((await lines(key)).map((line) => line.hour.slice(11, 13))).toEqual([
      '00',
      '01',
      '02',
      '03',
      '04',
      '05',
      '10',
      '11',
    ]);
  });

  it('retries a provider that fails twice with 503 and then answers', async () => {
    // Prepare
    server.setFault({ kind: 'status', status: 503 }, 2);
    const requestsBefore = server.requests;

    // Act
    const summary = await run({ from: '2026-11-21T00:00:00Z', to: '2026-11-21T03:00:00Z' });

    // Assess
    expect(summary).toMatchObject({ hoursFetched: 15, hoursMissing: 0, sitesFailed: 0 });
    expect(server.requests - requestsBefore).toBe(5 + 2);
  });

  it('gives up on a slow provider after the request timeout, three times, and records why', async () => {
    // Prepare
    server.setFault({ kind: 'slow', delayMs: 5_000 });

    // Act
    const started = Date.now();
    const summary = await run({ from: '2026-11-22T00:00:00Z', to: '2026-11-22T01:00:00Z' });

    // Assess
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(summary.failures.slice(0, 3).map((f) => f.reason)).toEqual(
      Array(3).fill(`no response within ${REQUEST_TIMEOUT_MS} ms (3 attempts)`),
    );
    expect(await lines(`weather/weather_date=2026-11-22/${fleet.sites[0]?.siteId}.ndjson`)).toEqual([
      {
        siteId: fleet.sites[0]?.siteId,
        hour: '2026-11-22T00:00:00Z',
        gap: true,
        reason: `no response within ${REQUEST_TIMEOUT_MS} ms (3 attempts)`,
      },
    ]);
  });

  it('does not retry a refused key, and says so on the gap lines', async () => {
    // Prepare
    const requestsBefore = server.requests;

    // Act
    const summary = await run({ from: '2026-11-23T00:00:00Z', to: '2026-11-23T01:00:00Z' }, {}, 'wrong-key');

    // Assess
    expect(server.requests - requestsBefore).toBe(3);
    expect(summary.failures[0]?.reason).toBe('HTTP 401 Unauthorized: missing or wrong apikey (1 attempt)');
  });

  it('starts no request once the run is out of time, recording gaps instead', async () => {
    // Prepare
    const requestsBefore = server.requests;
    const late = { ...context, getRemainingTimeInMillis: () => 10_000 } as Context;
    const handler = createHandler(async () => deps());

    // Act
    const summary = (await handler(
      { from: '2026-11-24T00:00:00Z', to: '2026-11-24T01:00:00Z' },
      late,
    )) as WeatherRunSummary;

    // Assess
    expect(server.requests).toBe(requestsBefore);
    expect(summary).toMatchObject({ hoursMissing: 5, sitesFailed: 5 });
    expect(summary.failures[0]?.reason).toBe("not requested: the run's time ran out");
  });

  it('fails when the registry export is missing, naming the object and what to put there', async () => {
    await expect(run(event('scheduled'), { rawBucket: EMPTY })).rejects.toThrow(
      `registry export s3://${EMPTY}/${IOT_REGISTRY_THING_GROUPS_KEY} not found`,
    );
  });

  it('fails on an invalid backfill event, naming the field, the value and what is expected', async () => {
    await expect(run({ from: '2026-11-20T00:30:00Z', to: '2026-11-20T06:00:00Z' })).rejects.toThrow(
      'weather event from: received "2026-11-20T00:30:00Z", expected a whole UTC hour such as 2026-11-27T13:00:00Z',
    );
  });
});
