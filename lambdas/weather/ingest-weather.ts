/**
 * One weather run: read the sites from the registry export, ask the provider for each site's hours,
 * and write one object per site and UTC date. A provider that is down, slow or wrong never fails the
 * run: its hours become gap lines with the reason. Only the lake itself (S3) can fail it.
 *
 * Objects are merged with what is already there, so that a later run fills earlier gaps but never
 * replaces a value with a gap (a provider outage during a rerun loses nothing), and a run covering
 * part of a day keeps the day's other hours. Same inputs, same bytes: a rerun overwrites identically,
 * and an object whose content would not change is not written again.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { IOT_REGISTRY_THING_GROUPS_KEY } from '../shared/pipeline-names.ts';
import {
  formatHour,
  gapLine,
  HOUR_MS,
  isGap,
  OUTDOOR_TEMPERATURE_RANGE_C,
  parseWeatherLines,
  serialiseWeatherLines,
  valueLine,
  type WeatherLine,
  weatherDateOf,
  weatherObjectKey,
} from '../shared/weather-record.ts';
import type { HourlyWeather, HourRange, WeatherProvider, WeatherSite } from './provider.ts';
import { sitesFromThingGroups } from './sites.ts';

/** Sites fetched at once: enough to finish hundreds of sites in seconds, few enough to stay polite. */
export const DEFAULT_CONCURRENCY = 4;
/**
 * After this many sites in a row got no answer, the provider is taken to be down: the remaining
 * sites are recorded as gaps without a request, so an outage costs a few timeouts, not one per site.
 */
export const DEFAULT_CIRCUIT_BREAKER_FAILURES = 3;

export interface WeatherIngestDeps {
  readonly s3: S3Client;
  readonly rawBucket: string;
  readonly provider: WeatherProvider;
  /** @default {@link DEFAULT_CONCURRENCY} */
  readonly concurrency?: number;
  /** @default {@link DEFAULT_CIRCUIT_BREAKER_FAILURES} */
  readonly circuitBreakerFailures?: number;
  /** No site's request starts after this time (epoch ms); its hours are recorded as gaps. @default none */
  readonly deadlineMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** What a run did, for the log, the metrics and the caller. */
export interface WeatherRunSummary {
  readonly from: string;
  readonly to: string;
  readonly sites: number;
  readonly hoursFetched: number;
  readonly hoursMissing: number;
  readonly sitesFailed: number;
  readonly objectsWritten: number;
  readonly objectsUnchanged: number;
  /** Sites that got no answer, with the reason recorded on their gap lines. */
  readonly failures: ReadonlyArray<{ readonly siteId: string; readonly reason: string }>;
  /** Registry records and existing objects that could not be read (left out or overwritten). */
  readonly problems: readonly string[];
}

/** A site's provider outcome: its hours, or why there are none. */
export type SiteOutcome =
  | { readonly hours: readonly HourlyWeather[] }
  | { readonly error: string; readonly requested: boolean };

/** The whole hours of a range, in order. */
export function hoursOf(range: HourRange): number[] {
  const hours: number[] = [];
  for (let hourMs = range.fromMs; hourMs < range.toMs; hourMs += HOUR_MS) hours.push(hourMs);
  return hours;
}

/** The hour's values, or why it has none that can be used. */
function usable(hour: HourlyWeather | undefined): { t: number; rh: number } | string {
  if (hour === undefined) return "hour missing from the provider's answer";
  const { outdoorTemperatureC: t, relativeHumidityPct: rh } = hour;
  if (t === null) return 'no outdoor temperature from the provider';
  if (rh === null) return 'no relative humidity from the provider';
  const { min, max } = OUTDOOR_TEMPERATURE_RANGE_C;
  if (t < min || t > max) return `outdoor temperature ${t} °C outside ${min}..${max} °C`;
  if (rh < 0 || rh > 100) return `relative humidity ${rh} % outside 0..100 %`;
  return { t, rh };
}

/** One line per hour of `range`: a value where the provider gave a usable one, else a gap with the reason. */
export function linesForSite(
  siteId: string,
  range: HourRange,
  outcome: SiteOutcome,
  source: string,
): WeatherLine[] {
  if ('error' in outcome) return hoursOf(range).map((hourMs) => gapLine(siteId, hourMs, outcome.error));
  const byHour = new Map(outcome.hours.map((hour) => [hour.hourMs, hour]));
  return hoursOf(range).map((hourMs) => {
    const values = usable(byHour.get(hourMs));
    return typeof values === 'string'
      ? gapLine(siteId, hourMs, values)
      : valueLine(siteId, hourMs, values.t, values.rh, source);
  });
}

/**
 * Existing lines updated by fresh ones: a fresh value replaces anything, a fresh gap replaces only a
 * gap (or nothing); hours the fresh run did not cover stay as they were.
 */
export function mergeWeatherLines(
  existing: readonly WeatherLine[],
  fresh: readonly WeatherLine[],
): WeatherLine[] {
  const byHour = new Map(existing.map((line) => [line.hour, line]));
  for (const line of fresh) {
    const old = byHour.get(line.hour);
    if (!isGap(line) || old === undefined || isGap(old)) byHour.set(line.hour, line);
  }
  return [...byHour.values()].sort((a, b) => (a.hour < b.hour ? -1 : 1));
}

async function readText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body?.transformToString('utf8')) ?? '';
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

/** Reads the sites from the registry export; fails, naming the object, when it is missing. */
export async function readRegistrySites(
  s3: S3Client,
  bucket: string,
): Promise<ReturnType<typeof sitesFromThingGroups>> {
  const text = await readText(s3, bucket, IOT_REGISTRY_THING_GROUPS_KEY);
  if (text === undefined) {
    throw new Error(
      `registry export s3://${bucket}/${IOT_REGISTRY_THING_GROUPS_KEY} not found: export the IoT registry's thing groups there (site groups with attributes level=site, siteId, latitudeDeg, longitudeDeg)`,
    );
  }
  return sitesFromThingGroups(text);
}

/** Writes a site's lines, one object per UTC date, merged with what is there. */
async function writeSite(
  deps: WeatherIngestDeps,
  siteId: string,
  lines: readonly WeatherLine[],
  tally: { written: number; unchanged: number; problems: string[] },
): Promise<void> {
  const byDate = new Map<string, WeatherLine[]>();
  for (const line of lines) {
    const date = weatherDateOf(Date.parse(line.hour));
    byDate.set(date, [...(byDate.get(date) ?? []), line]);
  }
  for (const [date, fresh] of byDate) {
    const key = weatherObjectKey(date, siteId);
    const existingText = await readText(deps.s3, deps.rawBucket, key);
    let existing: WeatherLine[] = [];
    if (existingText !== undefined) {
      try {
        existing = parseWeatherLines(existingText);
      } catch (error) {
        tally.problems.push(`${key} overwritten: ${(error as Error).message}`);
      }
    }
    const body = serialiseWeatherLines(mergeWeatherLines(existing, fresh));
    if (body === existingText) {
      tally.unchanged++;
      continue;
    }
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.rawBucket,
        Key: key,
        Body: body,
        ContentType: 'application/x-ndjson',
      }),
    );
    tally.written++;
  }
}

/** Fetches and writes the weather of every registered site for `range`. */
export async function ingestWeather(range: HourRange, deps: WeatherIngestDeps): Promise<WeatherRunSummary> {
  if (range.fromMs % HOUR_MS !== 0 || range.toMs % HOUR_MS !== 0 || range.toMs <= range.fromMs) {
    throw new Error(
      `weather range: received ${new Date(range.fromMs).toISOString()} .. ${new Date(range.toMs).toISOString()}, expected whole hours with from before to`,
    );
  }
  const now = deps.now ?? Date.now;
  const breakerLimit = deps.circuitBreakerFailures ?? DEFAULT_CIRCUIT_BREAKER_FAILURES;
  const registry = await readRegistrySites(deps.s3, deps.rawBucket);
  const tally = { written: 0, unchanged: 0, problems: [...registry.problems] };
  const failures: Array<{ siteId: string; reason: string }> = [];
  let hoursFetched = 0;
  let hoursMissing = 0;
  let failuresInARow = 0;
  let lastFailure = '';

  const fetchSite = async (site: WeatherSite): Promise<SiteOutcome> => {
    if (failuresInARow >= breakerLimit) {
      return {
        error: `not requested: the provider failed for ${failuresInARow} sites in a row (${lastFailure})`,
        requested: false,
      };
    }
    if (deps.deadlineMs !== undefined && now() >= deps.deadlineMs) {
      return { error: "not requested: the run's time ran out", requested: false };
    }
    try {
      const hours = await deps.provider.hourly(site, range);
      failuresInARow = 0;
      return { hours };
    } catch (error) {
      failuresInARow++;
      lastFailure = error instanceof Error ? error.message : String(error);
      return { error: lastFailure, requested: true };
    }
  };

  const queue = [...registry.sites];
  const worker = async () => {
    for (let site = queue.shift(); site !== undefined; site = queue.shift()) {
      const outcome = await fetchSite(site);
      const lines = linesForSite(site.siteId, range, outcome, deps.provider.name);
      const gaps = lines.filter(isGap).length;
      hoursMissing += gaps;
      hoursFetched += lines.length - gaps;
      if ('error' in outcome) failures.push({ siteId: site.siteId, reason: outcome.error });
      await writeSite(deps, site.siteId, lines, tally);
    }
  };
  const workers = Math.max(1, Math.min(deps.concurrency ?? DEFAULT_CONCURRENCY, registry.sites.length));
  // An S3 failure fails the run, but only after the other sites are written: a retry of the run
  // (idempotent) then has less to do.
  const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;

  return {
    from: formatHour(range.fromMs),
    to: formatHour(range.toMs),
    sites: registry.sites.length,
    hoursFetched,
    hoursMissing,
    sitesFailed: failures.length,
    objectsWritten: tally.written,
    objectsUnchanged: tally.unchanged,
    failures: failures.sort((a, b) => (a.siteId < b.siteId ? -1 : 1)),
    problems: tally.problems,
  };
}
