/**
 * What the weather ingest needs from a weather provider: hourly outdoor temperature and relative
 * humidity at a site's coordinates. One HTTP implementation lives in `http-weather-provider.ts`; the
 * twin serves the same shape from the simulator's own weather.
 */

/** A site as the registry export describes it. */
export interface WeatherSite {
  readonly siteId: string;
  readonly latitudeDeg: number;
  readonly longitudeDeg: number;
}

/** Whole UTC hours `[fromMs, toMs)`: `fromMs` and `toMs` are multiples of an hour. */
export interface HourRange {
  readonly fromMs: number;
  readonly toMs: number;
}

/** One hour of a provider's answer; `null` where the provider had no value. */
export interface HourlyWeather {
  /** Start of the UTC hour, epoch milliseconds. */
  readonly hourMs: number;
  readonly outdoorTemperatureC: number | null;
  readonly relativeHumidityPct: number | null;
}

export interface WeatherProvider {
  /** Written as `source` on every value line. */
  readonly name: string;
  /**
   * The hourly weather at `site` for `range`. Hours the answer leaves out are recorded as gaps by
   * the caller. Throws {@link WeatherProviderError} when the provider gave no usable answer.
   */
  hourly(site: WeatherSite, range: HourRange): Promise<readonly HourlyWeather[]>;
}

/**
 * The provider gave no usable answer. `retryable` faults (no connection, timeout, 429, 5xx) are worth
 * another attempt; the others (4xx, an answer that breaks the documented shape) are not.
 */
export class WeatherProviderError extends Error {
  override readonly name = 'WeatherProviderError';

  constructor(
    message: string,
    readonly retryable: boolean,
    /** From a `Retry-After` header, when the provider sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
