/**
 * The twin's weather provider: an HTTP server on loopback that speaks the request/response shape of
 * `lambdas/weather/http-weather-provider.ts` (Open-Meteo's forecast API) and serves, for each site and
 * hour, the outdoor temperature the simulator's devices sensed (`simulator/environment.ts`), so the
 * ETL can join weather to energy and find the relation the fleet was generated with.
 *
 * It can be told to fail, for tests and fault drills: drop connections (`down`), answer late (`slow`),
 * or answer an error status (`status`), for every request or for the next few.
 *
 * Sites are found by their coordinates. Sites of the same city share coordinates in the simulator
 * (fleets above 13 sites); such a request gets the first of them, in fleet order.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HOURLY_VARIABLES, providerHour } from '../lambdas/weather/http-weather-provider.ts';
import { clamp, HOUR_MS, outdoorDailyMeanC, outdoorTemperatureC } from '../simulator/environment.ts';
import type { Site } from '../simulator/fleet.ts';

/** The path the server answers on, as Open-Meteo's. */
export const WEATHER_PATH = '/v1/forecast';
/** The longest range one request may ask for (93 days, about what Open-Meteo's forecast API serves). */
export const MAX_REQUEST_HOURS = 93 * 24;
/** How close (degrees) a request's coordinates must be to a site's. */
export const COORDINATE_TOLERANCE_DEG = 0.01;
/**
 * The simulator has no outdoor humidity; the server derives one: the day's dew point sits this far
 * below the day's mean temperature (a moderately humid air mass), so humidity peaks before dawn and
 * dips in the afternoon, as it does outdoors.
 */
export const DEW_POINT_DEPRESSION_C = 4;

/** How the server misbehaves. */
export type WeatherServerFault =
  | { readonly kind: 'none' }
  /** Connections are dropped without an answer, as by a provider that is down. */
  | { readonly kind: 'down' }
  /** Answers arrive after `delayMs`. */
  | { readonly kind: 'slow'; readonly delayMs: number }
  /** Answers `status` with the documented error body. */
  | { readonly kind: 'status'; readonly status: number };

export interface WeatherServerOptions {
  readonly sites: readonly Site[];
  /** @default 0 (any free port) */
  readonly port?: number;
  /** When set, requests must carry it as `apikey`, or get 401. @default - no key required */
  readonly apiKey?: string;
  /** @default {kind: 'none'} */
  readonly fault?: WeatherServerFault;
}

export interface WeatherServer {
  /** The provider URL to configure: `http://127.0.0.1:<port>/v1/forecast`. */
  readonly url: string;
  /** Requests received so far, faulty ones included. */
  readonly requests: number;
  /** Misbehave from now on; with `count`, for the next `count` requests only. */
  setFault(fault: WeatherServerFault, count?: number): void;
  close(): Promise<void>;
}

/** Relative humidity from the day's dew point and the hour's temperature (Magnus formula over water). */
export function outdoorRelativeHumidityPct(site: Site, tMs: number): number {
  const a = 17.625;
  const b = 243.04;
  const dewPointC = outdoorDailyMeanC(site, tMs) - DEW_POINT_DEPRESSION_C;
  const temperatureC = outdoorTemperatureC(site, tMs);
  const rh = 100 * Math.exp((a * dewPointC) / (b + dewPointC) - (a * temperatureC) / (b + temperatureC));
  return clamp(rh, 5, 100);
}

/** The site at a request's coordinates: the first within the tolerance, in fleet order. */
export function siteAt(sites: readonly Site[], latitudeDeg: number, longitudeDeg: number): Site | undefined {
  return sites.find(
    (site) =>
      Math.abs(site.latitudeDeg - latitudeDeg) <= COORDINATE_TOLERANCE_DEG &&
      Math.abs(site.longitudeDeg - longitudeDeg) <= COORDINATE_TOLERANCE_DEG,
  );
}

const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/** The hourly answer for a site, in the provider's shape (temperature to 0.1 °C, humidity to 1 %). */
export function weatherResponse(site: Site, fromMs: number, toMsInclusive: number): Record<string, unknown> {
  const time: string[] = [];
  const temperature: number[] = [];
  const humidity: number[] = [];
  for (let tMs = fromMs; tMs <= toMsInclusive; tMs += HOUR_MS) {
    time.push(providerHour(tMs));
    temperature.push(round(outdoorTemperatureC(site, tMs), 1));
    humidity.push(round(outdoorRelativeHumidityPct(site, tMs), 0));
  }
  return {
    latitude: site.latitudeDeg,
    longitude: site.longitudeDeg,
    utc_offset_seconds: 0,
    timezone: 'GMT',
    timezone_abbreviation: 'GMT',
    hourly_units: { time: 'iso8601', temperature_2m: '°C', relative_humidity_2m: '%' },
    hourly: { time, temperature_2m: temperature, relative_humidity_2m: humidity },
  };
}

class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const HOUR_PARAMETER = /^\d{4}-\d{2}-\d{2}T\d{2}:00$/;

function hourParameter(params: URLSearchParams, name: string): number {
  const text = params.get(name);
  if (text === null || !HOUR_PARAMETER.test(text) || !Number.isFinite(Date.parse(`${text}:00Z`))) {
    throw new BadRequest(
      400,
      `Parameter '${name}': received '${text ?? ''}', expected an hour yyyy-mm-ddThh:00`,
    );
  }
  return Date.parse(`${text}:00Z`);
}

function coordinateParameter(params: URLSearchParams, name: string, limit: number): number {
  const text = params.get(name) ?? '';
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || Math.abs(value) > limit) {
    throw new BadRequest(
      400,
      `Parameter '${name}': received '${text}', expected a number from -${limit} to ${limit}`,
    );
  }
  return value;
}

function answer(request: IncomingMessage, sites: readonly Site[], apiKey: string | undefined) {
  const url = new URL(request.url ?? '/', 'http://weather.local');
  if (request.method !== 'GET' || url.pathname !== WEATHER_PATH) {
    throw new BadRequest(
      404,
      `no such endpoint: ${request.method} ${url.pathname}; expected GET ${WEATHER_PATH}`,
    );
  }
  const params = url.searchParams;
  if (apiKey !== undefined && params.get('apikey') !== apiKey) {
    throw new BadRequest(401, 'missing or wrong apikey');
  }
  const latitude = coordinateParameter(params, 'latitude', 90);
  const longitude = coordinateParameter(params, 'longitude', 180);
  const variables = (params.get('hourly') ?? '').split(',').filter((v) => v !== '');
  const unknown = variables.filter((v) => !(HOURLY_VARIABLES as readonly string[]).includes(v));
  if (variables.length === 0 || unknown.length > 0) {
    throw new BadRequest(
      400,
      `Parameter 'hourly': received '${params.get('hourly') ?? ''}', expected some of ${HOURLY_VARIABLES.join(',')}`,
    );
  }
  const timezone = params.get('timezone') ?? 'GMT';
  if (!['GMT', 'UTC'].includes(timezone)) {
    throw new BadRequest(400, `Parameter 'timezone': received '${timezone}', expected GMT`);
  }
  const unit = params.get('temperature_unit') ?? 'celsius';
  if (unit !== 'celsius') {
    throw new BadRequest(400, `Parameter 'temperature_unit': received '${unit}', expected celsius`);
  }
  const fromMs = hourParameter(params, 'start_hour');
  const toMs = hourParameter(params, 'end_hour');
  if (toMs < fromMs || (toMs - fromMs) / HOUR_MS + 1 > MAX_REQUEST_HOURS) {
    throw new BadRequest(
      400,
      `Parameter 'end_hour': received '${params.get('end_hour')}', expected from start_hour to ${MAX_REQUEST_HOURS} hours after it`,
    );
  }
  const site = siteAt(sites, latitude, longitude);
  if (site === undefined) {
    throw new BadRequest(400, `no site at latitude ${latitude}, longitude ${longitude}`);
  }
  return weatherResponse(site, fromMs, toMs);
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.destroyed || response.writableEnded) return;
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** Starts the weather server on loopback. */
export async function startWeatherServer(options: WeatherServerOptions): Promise<WeatherServer> {
  let fault: WeatherServerFault = options.fault ?? { kind: 'none' };
  let faultsLeft = Number.POSITIVE_INFINITY;
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((request, response) => {
    requests++;
    const current = faultsLeft > 0 ? fault : ({ kind: 'none' } as const);
    if (current.kind !== 'none' && --faultsLeft <= 0) fault = { kind: 'none' };
    if (current.kind === 'down') {
      request.socket.destroy();
      return;
    }
    if (current.kind === 'status') {
      send(response, current.status, { error: true, reason: `injected fault: HTTP ${current.status}` });
      return;
    }
    let status = 200;
    let body: unknown;
    try {
      body = answer(request, options.sites, options.apiKey);
    } catch (error) {
      status = error instanceof BadRequest ? error.status : 500;
      body = { error: true, reason: (error as Error).message };
    }
    if (current.kind === 'slow') {
      const timer = setTimeout(() => {
        timers.delete(timer);
        send(response, status, body);
      }, current.delayMs);
      timers.add(timer);
      return;
    }
    send(response, status, body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${WEATHER_PATH}`,
    get requests() {
      return requests;
    },
    setFault(next, count) {
      fault = next;
      faultsLeft = count ?? Number.POSITIVE_INFINITY;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
