/**
 * A weather provider over HTTP, in the shape of Open-Meteo's forecast API (hourly variables by
 * coordinates), so that service, a self-hosted instance of it, or the twin's weather server can
 * serve it unchanged.
 *
 * **Request** (one per site and run):
 * ```
 * GET <providerUrl>?latitude=59.9&longitude=10.8&hourly=temperature_2m,relative_humidity_2m
 *     &start_hour=2026-11-27T00:00&end_hour=2026-11-27T23:00&timezone=GMT&temperature_unit=celsius
 *     [&apikey=<key>]
 * Accept: application/json
 * ```
 * `start_hour` and `end_hour` are UTC and both inclusive. The key, when the stage has one, travels as
 * the `apikey` query parameter (Open-Meteo's commercial convention); it never appears in a log line
 * or an error message.
 *
 * **Response** `200 application/json` (fields beyond these are ignored):
 * ```json
 * {
 *   "latitude": 59.9, "longitude": 10.8, "utc_offset_seconds": 0, "timezone": "GMT",
 *   "hourly_units": { "time": "iso8601", "temperature_2m": "°C", "relative_humidity_2m": "%" },
 *   "hourly": {
 *     "time": ["2026-11-27T00:00", "2026-11-27T01:00"],
 *     "temperature_2m": [7.5, null],
 *     "relative_humidity_2m": [80, 82]
 *   }
 * }
 * ```
 * The three `hourly` arrays are parallel; `null` means no value for that hour. **Errors** come as
 * `4xx`/`5xx` with `{"error": true, "reason": "..."}`. 429 and 5xx are retried; other statuses and
 * answers that break this shape are not.
 */
import * as z from 'zod';
import { valueAt } from '../shared/received-value.ts';
import { HOUR_MS } from '../shared/weather-record.ts';
import {
  type HourlyWeather,
  type HourRange,
  type WeatherProvider,
  WeatherProviderError,
  type WeatherSite,
} from './provider.ts';
import { DEFAULT_RETRY_POLICY, type RetryHooks, type RetryPolicy, withRetries } from './retry.ts';

/**
 * 10 s per attempt: the provider answers a site's day in well under a second when healthy; a hung
 * connection must not hold the run (three attempts of one site stay near half a minute).
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** The hourly variables requested, in the provider's names. */
export const HOURLY_VARIABLES = ['temperature_2m', 'relative_humidity_2m'] as const;

export interface HttpWeatherProviderOptions {
  /** Written as `source` on each value line, e.g. `open-meteo`. */
  readonly name: string;
  /** The endpoint, e.g. `https://api.open-meteo.com/v1/forecast`. */
  readonly url: string;
  /** @default - no key sent */
  readonly apiKey?: string;
  /** @default {@link DEFAULT_REQUEST_TIMEOUT_MS} */
  readonly timeoutMs?: number;
  /** @default {@link DEFAULT_RETRY_POLICY} */
  readonly retry?: RetryPolicy;
  /** Sleep, randomness, clock and deadline of the retries (tests pass their own). */
  readonly retryHooks?: RetryHooks;
  /** @default the global fetch */
  readonly fetch?: typeof fetch;
}

/** `2026-11-27T13:00`: how the provider spells an hour (UTC when `timezone=GMT`). */
export function providerHour(hourMs: number): string {
  return new Date(hourMs).toISOString().slice(0, 16);
}

/** The request URL for a site and range, with the key when given. */
export function weatherRequestUrl(
  baseUrl: string,
  site: WeatherSite,
  range: HourRange,
  apiKey?: string,
): URL {
  const url = new URL(baseUrl);
  url.searchParams.set('latitude', String(site.latitudeDeg));
  url.searchParams.set('longitude', String(site.longitudeDeg));
  url.searchParams.set('hourly', HOURLY_VARIABLES.join(','));
  url.searchParams.set('start_hour', providerHour(range.fromMs));
  url.searchParams.set('end_hour', providerHour(range.toMs - HOUR_MS));
  url.searchParams.set('timezone', 'GMT');
  url.searchParams.set('temperature_unit', 'celsius');
  if (apiKey !== undefined) url.searchParams.set('apikey', apiKey);
  return url;
}

const PROVIDER_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:00$/;
const nullableNumber = z.number({ error: 'a number or null' }).nullable();

/** The part of the provider's answer this pipeline reads. */
export const weatherResponseSchema = z
  .object({
    utc_offset_seconds: z.literal(0, { error: '0 (the request asks for timezone=GMT)' }),
    hourly_units: z.object(
      {
        time: z.literal('iso8601', { error: '"iso8601"' }),
        temperature_2m: z.literal('°C', { error: '"°C" (the request asks for temperature_unit=celsius)' }),
        relative_humidity_2m: z.literal('%', { error: '"%"' }),
      },
      { error: 'an object with the units of time, temperature_2m and relative_humidity_2m' },
    ),
    hourly: z.object(
      {
        time: z.array(
          z.string({ error: 'an hour such as "2026-11-27T13:00"' }).regex(PROVIDER_TIME_PATTERN, {
            error: 'an hour such as "2026-11-27T13:00"',
          }),
          { error: 'an array of hours' },
        ),
        temperature_2m: z.array(nullableNumber, { error: 'an array of numbers or nulls' }),
        relative_humidity_2m: z.array(nullableNumber, { error: 'an array of numbers or nulls' }),
      },
      { error: 'an object with the arrays time, temperature_2m and relative_humidity_2m' },
    ),
  })
  .check((ctx) => {
    const { time, temperature_2m, relative_humidity_2m } = ctx.value.hourly;
    for (const [name, values] of [
      ['temperature_2m', temperature_2m],
      ['relative_humidity_2m', relative_humidity_2m],
    ] as const) {
      if (values.length !== time.length) {
        ctx.issues.push({
          code: 'custom',
          input: values,
          path: ['hourly', name, 'length'],
          message: `${time.length}, the length of hourly.time`,
        });
      }
    }
  });

export type WeatherResponse = z.infer<typeof weatherResponseSchema>;

function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return 'nothing';
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/**
 * The hours of a provider answer inside `range`. Throws a non-retryable {@link WeatherProviderError}
 * naming the first field that breaks the documented shape, its value and what is expected.
 */
export function parseWeatherResponse(body: unknown, range: HourRange): HourlyWeather[] {
  const result = weatherResponseSchema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const received = valueAt(body, issue.path);
    throw new WeatherProviderError(
      `provider response ${pathText(issue.path) || '(body)'}: received ${show(received)}, expected ${issue.message}`,
      false,
    );
  }
  const { time, temperature_2m, relative_humidity_2m } = result.data.hourly;
  const seen = new Set<number>();
  const hours: HourlyWeather[] = [];
  for (const [index, text] of time.entries()) {
    const hourMs = Date.parse(`${text}:00Z`);
    if (seen.has(hourMs)) {
      throw new WeatherProviderError(
        `provider response hourly.time[${index}]: received ${show(text)} a second time, expected each hour once`,
        false,
      );
    }
    seen.add(hourMs);
    if (hourMs < range.fromMs || hourMs >= range.toMs) continue;
    hours.push({
      hourMs,
      outdoorTemperatureC: temperature_2m[index] ?? null,
      relativeHumidityPct: relative_humidity_2m[index] ?? null,
    });
  }
  return hours;
}

/** `Retry-After` in milliseconds (seconds or an HTTP date), if present and sensible. */
function retryAfterMs(response: Response, nowMs: number): number | undefined {
  const header = response.headers.get('retry-after');
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

async function errorReason(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const reason = (JSON.parse(text) as { reason?: unknown }).reason;
    if (typeof reason === 'string' && reason !== '') return `: ${reason.slice(0, 200)}`;
  } catch {
    // Not the documented error body; the status says enough.
  }
  return '';
}

/** Says what went wrong without the URL (it may hold the key). */
function describeFetchFailure(error: unknown, timeoutMs: number): WeatherProviderError {
  if (error instanceof WeatherProviderError) return error;
  const name = (error as { name?: string } | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new WeatherProviderError(`no response within ${timeoutMs} ms`, true);
  }
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const detail = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new WeatherProviderError(`no connection to the provider (${detail})`, true);
}

/** {@link WeatherProvider} over HTTP with per-attempt timeouts and bounded, jittered retries. */
export class HttpWeatherProvider implements WeatherProvider {
  readonly name: string;
  private readonly options: HttpWeatherProviderOptions;
  private readonly timeoutMs: number;

  constructor(options: HttpWeatherProviderOptions) {
    const url = URL.canParse(options.url) ? new URL(options.url) : undefined;
    if (url === undefined || !['http:', 'https:'].includes(url.protocol)) {
      throw new Error(`weather provider url: received '${options.url}', expected an http(s) URL`);
    }
    this.name = options.name;
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  async hourly(site: WeatherSite, range: HourRange): Promise<readonly HourlyWeather[]> {
    const url = weatherRequestUrl(this.options.url, site, range, this.options.apiKey);
    const fetchFn = this.options.fetch ?? fetch;
    const now = this.options.retryHooks?.now ?? Date.now;
    return withRetries(
      async () => {
        let response: Response;
        let body: unknown;
        try {
          response = await fetchFn(url, {
            headers: { accept: 'application/json' },
            signal: AbortSignal.timeout(this.timeoutMs),
          });
          if (!response.ok) {
            const retryable = response.status === 429 || response.status >= 500;
            throw new WeatherProviderError(
              `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${await errorReason(response)}`,
              retryable,
              retryable ? retryAfterMs(response, now()) : undefined,
            );
          }
          const text = await response.text();
          try {
            body = JSON.parse(text);
          } catch {
            throw new WeatherProviderError(
              `provider response: received ${show(text.slice(0, 40))}, expected a JSON object`,
              false,
            );
          }
        } catch (error) {
          throw describeFetchFailure(error, this.timeoutMs);
        }
        return parseWeatherResponse(body, range);
      },
      this.options.retry ?? DEFAULT_RETRY_POLICY,
      (error) =>
        error instanceof WeatherProviderError
          ? {
              retry: error.retryable,
              ...(error.retryAfterMs !== undefined && { afterMs: error.retryAfterMs }),
            }
          : { retry: false },
      this.options.retryHooks,
    );
  }
}
