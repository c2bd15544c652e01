/**
 * The device fleet: where each device sits (portfolio → site → building → room) and what it is.
 *
 * The layout is a pure function of the device index: device `i` always lands in the same room with
 * the same type and id, whatever the fleet size, so growing a fleet only appends devices.
 */
import {
  DEVICE_ID_PATTERN,
  DEVICE_TYPES,
  type DeviceType,
  SENSOR_KINDS,
  type SensorKind,
} from '../lambdas/shared/contract.ts';
import { hashString, Random } from './random.ts';

export const DEVICES_PER_ROOM = 5;
export const ROOMS_PER_BUILDING = 5;
export const BUILDINGS_PER_SITE = 4;
/** 100: sites ≈ devices / 100, rounded up. */
export const DEVICES_PER_SITE = DEVICES_PER_ROOM * ROOMS_PER_BUILDING * BUILDINGS_PER_SITE;

export type TypeShares = Readonly<Record<DeviceType, number>>;
export type SensorKindShares = Readonly<Record<SensorKind, number>>;

/** Share of each device type in a fleet. */
export const DEFAULT_TYPE_SHARES: TypeShares = {
  thermostat: 0.35,
  camera: 0.2,
  smart_lock: 0.2,
  sensor: 0.25,
};
/** Share of each kind among sensors; leak and smoke sensors are common enough to carry injected events. */
export const DEFAULT_SENSOR_KIND_SHARES: SensorKindShares = {
  temperature: 0.25,
  humidity: 0.15,
  motion: 0.2,
  water_leak: 0.15,
  smoke: 0.15,
  co2: 0.1,
};

/**
 * Seconds between two periodic reports. Locks also report on every lock action; binary safety
 * sensors report every minute so an alarm reaches the pipeline within a minute.
 */
export const REPORTING_INTERVAL_S = {
  thermostat: 60,
  camera: 30,
  smart_lock: 120,
  sensor: { temperature: 120, humidity: 300, motion: 60, water_leak: 60, smoke: 60, co2: 120 },
} as const satisfies Record<Exclude<DeviceType, 'sensor'>, number> & { sensor: Record<SensorKind, number> };

export interface Climate {
  /** Mean outdoor temperature over the year. */
  readonly annualMeanC: number;
  /** Half the difference between the warmest and the coldest month. */
  readonly seasonalAmplitudeC: number;
  /** Half the typical day-night difference. */
  readonly diurnalAmplitudeC: number;
}

/** Multi-day weather swings: sinusoids with site-specific amplitudes, periods and phases. */
export interface WeatherDrift {
  readonly amplitudesC: readonly number[];
  readonly periodsH: readonly number[];
  readonly phases: readonly number[];
}

export interface Site {
  readonly siteId: string;
  readonly name: string;
  readonly city: string;
  readonly latitudeDeg: number;
  /** Sets the phase of the diurnal cycle (solar time). */
  readonly longitudeDeg: number;
  /** Civil time offset (standard time, no daylight saving): sets daily routines. */
  readonly utcOffsetHours: number;
  readonly climate: Climate;
  readonly weather: WeatherDrift;
  /** Hash of the site id, the key of the site's stateless noise. */
  readonly noiseKey: number;
}

export type BuildingUse = 'office' | 'residential';

export interface Building {
  readonly buildingId: string;
  readonly siteId: string;
  readonly name: string;
  readonly use: BuildingUse;
  /** How fast indoor air follows outdoor air with the HVAC off (hours to cover 63 % of the gap). */
  readonly envelopeTimeConstantH: number;
}

export interface Room {
  readonly roomId: string;
  readonly buildingId: string;
  readonly siteId: string;
  readonly name: string;
  /** Scales the building's occupancy profile (a meeting room is busier than a store room). */
  readonly occupancyScale: number;
  /** CO2 above outdoor level when the room is fully occupied: people per volume over ventilation. */
  readonly co2LoadPpm: number;
  /** Not heated or cooled (garage, store room): sensors there follow outdoor air more closely. */
  readonly unconditioned: boolean;
  readonly noiseKey: number;
}

export interface Device {
  /** The AWS IoT thing name (contract `DEVICE_ID_PATTERN`). */
  readonly deviceId: string;
  /** Position in the fleet: fixes the device's place and type. */
  readonly index: number;
  readonly deviceType: DeviceType;
  readonly sensorKind?: SensorKind;
  readonly model: string;
  readonly firmwareVersion: string;
  /** `YYYY-MM-DD`. */
  readonly installDate: string;
  readonly siteId: string;
  readonly buildingId: string;
  readonly roomId: string;
  readonly reportingIntervalS: number;
}

export interface Fleet {
  readonly seed: number;
  readonly portfolioId: string;
  readonly portfolioName: string;
  readonly sites: readonly Site[];
  readonly buildings: readonly Building[];
  readonly rooms: readonly Room[];
  readonly devices: readonly Device[];
}

export interface FleetOptions {
  readonly seed: number;
  readonly devices: number;
  /** Fleet start: install dates lie before it. */
  readonly startMs: number;
  /** @default DEFAULT_TYPE_SHARES */
  readonly typeShares?: Partial<TypeShares>;
  /** @default DEFAULT_SENSOR_KIND_SHARES */
  readonly sensorKindShares?: Partial<SensorKindShares>;
}

interface CityClimate extends Climate {
  readonly city: string;
  readonly latitudeDeg: number;
  readonly longitudeDeg: number;
  readonly utcOffsetHours: number;
}

/** Approximate climate normals: enough for plausible heating and cooling seasons, not for science. */
const CITIES: readonly CityClimate[] = [
  {
    city: 'Oslo',
    latitudeDeg: 59.9,
    longitudeDeg: 10.8,
    utcOffsetHours: 1,
    annualMeanC: 6,
    seasonalAmplitudeC: 9.5,
    diurnalAmplitudeC: 3,
  },
  {
    city: 'Madrid',
    latitudeDeg: 40.4,
    longitudeDeg: -3.7,
    utcOffsetHours: 1,
    annualMeanC: 15,
    seasonalAmplitudeC: 9.5,
    diurnalAmplitudeC: 6,
  },
  {
    city: 'Chicago',
    latitudeDeg: 41.9,
    longitudeDeg: -87.6,
    utcOffsetHours: -6,
    annualMeanC: 10,
    seasonalAmplitudeC: 14,
    diurnalAmplitudeC: 4.5,
  },
  {
    city: 'Phoenix',
    latitudeDeg: 33.4,
    longitudeDeg: -112.1,
    utcOffsetHours: -7,
    annualMeanC: 24,
    seasonalAmplitudeC: 10.5,
    diurnalAmplitudeC: 7,
  },
  {
    city: 'Singapore',
    latitudeDeg: 1.35,
    longitudeDeg: 103.8,
    utcOffsetHours: 8,
    annualMeanC: 27.5,
    seasonalAmplitudeC: 1,
    diurnalAmplitudeC: 3.5,
  },
  {
    city: 'Sydney',
    latitudeDeg: -33.9,
    longitudeDeg: 151.2,
    utcOffsetHours: 10,
    annualMeanC: 18,
    seasonalAmplitudeC: 5,
    diurnalAmplitudeC: 4,
  },
  {
    city: 'Toronto',
    latitudeDeg: 43.7,
    longitudeDeg: -79.4,
    utcOffsetHours: -5,
    annualMeanC: 9,
    seasonalAmplitudeC: 13,
    diurnalAmplitudeC: 4.5,
  },
  {
    city: 'Dubai',
    latitudeDeg: 25.2,
    longitudeDeg: 55.3,
    utcOffsetHours: 4,
    annualMeanC: 28,
    seasonalAmplitudeC: 8,
    diurnalAmplitudeC: 5.5,
  },
  {
    city: 'Helsinki',
    latitudeDeg: 60.2,
    longitudeDeg: 24.9,
    utcOffsetHours: 2,
    annualMeanC: 6,
    seasonalAmplitudeC: 11,
    diurnalAmplitudeC: 3,
  },
  {
    city: 'Lisbon',
    latitudeDeg: 38.7,
    longitudeDeg: -9.1,
    utcOffsetHours: 0,
    annualMeanC: 17.5,
    seasonalAmplitudeC: 5.5,
    diurnalAmplitudeC: 4.5,
  },
  {
    city: 'Seattle',
    latitudeDeg: 47.6,
    longitudeDeg: -122.3,
    utcOffsetHours: -8,
    annualMeanC: 11.5,
    seasonalAmplitudeC: 7,
    diurnalAmplitudeC: 4,
  },
  {
    city: 'Mumbai',
    latitudeDeg: 19.1,
    longitudeDeg: 72.9,
    utcOffsetHours: 5.5,
    annualMeanC: 27.5,
    seasonalAmplitudeC: 2.5,
    diurnalAmplitudeC: 4,
  },
];

interface ModelSpec {
  readonly model: string;
  /** Firmware versions in the field, oldest first, with the share of devices running each. */
  readonly firmware: Readonly<Record<string, number>>;
}

const MODELS: Readonly<Record<Exclude<DeviceType, 'sensor'>, readonly ModelSpec[]>> = {
  thermostat: [
    { model: 'TH-200', firmware: { '3.1.4': 0.2, '3.2.0': 0.5, '3.2.1': 0.3 } },
    { model: 'TH-300', firmware: { '4.0.2': 0.3, '4.1.0': 0.65, '4.2.0-rc.1': 0.05 } },
  ],
  camera: [
    { model: 'CAM-1080', firmware: { '5.0.1': 0.4, '5.0.3': 0.6 } },
    { model: 'CAM-2K', firmware: { '5.0.3': 0.7, '5.1.0-rc.2': 0.3 } },
    { model: 'CAM-4K', firmware: { '6.2.0': 1 } },
  ],
  smart_lock: [
    { model: 'LK-100', firmware: { '1.9.12': 0.6, '1.10.0': 0.4 } },
    { model: 'LK-200', firmware: { '2.0.3': 1 } },
  ],
};
const SENSOR_MODELS: Readonly<Record<SensorKind, ModelSpec>> = {
  temperature: { model: 'SN-ENV', firmware: { '2.4.1': 0.7, '2.5.0': 0.3 } },
  humidity: { model: 'SN-ENV', firmware: { '2.4.1': 0.7, '2.5.0': 0.3 } },
  motion: { model: 'SN-PIR', firmware: { '1.2.0': 1 } },
  water_leak: { model: 'SN-LEAK', firmware: { '1.0.7': 0.5, '1.1.0': 0.5 } },
  smoke: { model: 'SN-SMOKE', firmware: { '3.0.0': 1 } },
  co2: { model: 'SN-CO2', firmware: { '1.4.2': 1 } },
};

/** Nominal stream of each camera model; the signals scale bitrate with light and motion. */
export const CAMERA_MODELS: Readonly<
  Record<string, { readonly fps: number; readonly lowLightFps: number; readonly bitrateKbps: number }>
> = {
  'CAM-1080': { fps: 25, lowLightFps: 15, bitrateKbps: 1800 },
  'CAM-2K': { fps: 30, lowLightFps: 20, bitrateKbps: 3200 },
  'CAM-4K': { fps: 20, lowLightFps: 20, bitrateKbps: 8000 },
};

const ID_PREFIX: Readonly<Record<Exclude<DeviceType, 'sensor'>, string>> = {
  thermostat: 'thermostat',
  camera: 'camera',
  smart_lock: 'lock',
};
const SENSOR_ID_PREFIX: Readonly<Record<SensorKind, string>> = {
  temperature: 'sensor-temp',
  humidity: 'sensor-hum',
  motion: 'sensor-motion',
  water_leak: 'sensor-leak',
  smoke: 'sensor-smoke',
  co2: 'sensor-co2',
};

const DAY_MS = 86_400_000;
/** Install dates span from a month to about four years before the fleet start. */
const INSTALL_AGE_DAYS = { min: 30, max: 1500 } as const;

/**
 * Chooses, for position `n` in a sequence, the key whose count lags its share the most.
 * Every prefix of the sequence is as close to the shares as whole counts allow, and position `n`'s
 * choice depends only on the positions before it: growing the fleet does not reshuffle it.
 */
function apportion<K extends string>(
  keys: readonly K[],
  shares: Readonly<Record<K, number>>,
  n: number,
): K[] {
  const counts = new Map<K, number>(keys.map((key) => [key, 0]));
  const chosen: K[] = [];
  for (let i = 0; i < n; i++) {
    let best = keys[0] as K;
    let bestLag = Number.NEGATIVE_INFINITY;
    for (const key of keys) {
      const lag = shares[key] * (i + 1) - (counts.get(key) ?? 0);
      if (lag > bestLag + 1e-12) {
        best = key;
        bestLag = lag;
      }
    }
    counts.set(best, (counts.get(best) ?? 0) + 1);
    chosen.push(best);
  }
  return chosen;
}

function normalise<K extends string>(
  keys: readonly K[],
  defaults: Readonly<Record<K, number>>,
  given: Partial<Record<K, number>> | undefined,
): Record<K, number> {
  const raw = Object.fromEntries(
    keys.map((key) => [key, given ? (given[key] ?? 0) : defaults[key]]),
  ) as Record<K, number>;
  const total = keys.reduce((sum, key) => sum + raw[key], 0);
  if (!(total > 0))
    throw new Error(`shares must include at least one positive value, got ${JSON.stringify(given)}`);
  for (const key of keys) raw[key] /= total;
  return raw;
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');

function siteIdOf(siteIndex: number): string {
  return `s${pad(siteIndex + 1, 2)}`;
}

function buildSite(root: Random, siteIndex: number, cityOffset: number): Site {
  const siteId = siteIdOf(siteIndex);
  const rng = root.derive(`site/${siteId}`);
  const cityIndex = (siteIndex + cityOffset) % CITIES.length;
  const city = CITIES[cityIndex] as CityClimate;
  const round = Math.floor((siteIndex + cityOffset) / CITIES.length);
  return {
    siteId,
    name: round === 0 ? city.city : `${city.city} ${round + 1}`,
    city: city.city,
    // Further sites of a city lie a few kilometres north of the first: a weather provider is asked
    // by coordinates, so each site needs its own.
    latitudeDeg: round === 0 ? city.latitudeDeg : Math.round((city.latitudeDeg + 0.05 * round) * 100) / 100,
    longitudeDeg: city.longitudeDeg,
    utcOffsetHours: city.utcOffsetHours,
    climate: {
      // Sites of the same city differ a little (altitude, urban heat island).
      annualMeanC: city.annualMeanC + (round === 0 ? 0 : rng.normal(0, 1)),
      seasonalAmplitudeC: city.seasonalAmplitudeC,
      diurnalAmplitudeC: city.diurnalAmplitudeC * rng.uniform(0.85, 1.15),
    },
    weather: {
      amplitudesC: [rng.uniform(1.5, 3), rng.uniform(1, 2.5), rng.uniform(0.8, 2), rng.uniform(0.3, 0.6)],
      // Synoptic weather systems pass every few days; the last term is sub-daily variability.
      periodsH: [rng.uniform(30, 50), rng.uniform(70, 100), rng.uniform(150, 200), rng.uniform(4, 7)],
      phases: [0, 1, 2, 3].map(() => rng.uniform(0, 2 * Math.PI)),
    },
    noiseKey: hashString(`${root.key}/${siteId}`),
  };
}

function buildBuilding(root: Random, site: Site, buildingIndex: number): Building {
  const buildingId = `${site.siteId}-b${buildingIndex + 1}`;
  const rng = root.derive(`building/${buildingId}`);
  return {
    buildingId,
    siteId: site.siteId,
    name: `${site.name} building ${buildingIndex + 1}`,
    use: rng.chance(0.6) ? 'residential' : 'office',
    envelopeTimeConstantH: rng.uniform(12, 36),
  };
}

function buildRoom(root: Random, building: Building, roomIndex: number): Room {
  const roomId = `${building.buildingId}-r${pad(roomIndex + 1, 2)}`;
  const rng = root.derive(`room/${roomId}`);
  return {
    roomId,
    buildingId: building.buildingId,
    siteId: building.siteId,
    name: `Room ${pad(roomIndex + 1, 2)}`,
    occupancyScale: rng.uniform(0.6, 1.2),
    // Keeps a fully occupied room below the 2,000 ppm alert: only injected events cross it.
    co2LoadPpm: rng.uniform(300, 1100),
    unconditioned: rng.chance(0.1),
    noiseKey: hashString(`${root.key}/${roomId}`),
  };
}

function pickFirmware(rng: Random, spec: ModelSpec): string {
  return rng.weighted(spec.firmware);
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Builds the fleet: deterministic for a seed, and stable under growth (see the module comment). */
export function buildFleet(options: FleetOptions): Fleet {
  const root = Random.fromSeed(options.seed);
  const typeShares = normalise(DEVICE_TYPES, DEFAULT_TYPE_SHARES, options.typeShares);
  const kindShares = normalise(SENSOR_KINDS, DEFAULT_SENSOR_KIND_SHARES, options.sensorKindShares);
  const types = apportion(DEVICE_TYPES, typeShares, options.devices);
  const sensorCount = types.filter((type) => type === 'sensor').length;
  const kinds = apportion(SENSOR_KINDS, kindShares, sensorCount);
  const cityOffset = root.derive('cities').int(0, CITIES.length - 1);

  const sites: Site[] = [];
  const buildings: Building[] = [];
  const rooms: Room[] = [];
  const devices: Device[] = [];
  let sensorOrdinal = 0;
  for (let index = 0; index < options.devices; index++) {
    const siteIndex = Math.floor(index / DEVICES_PER_SITE);
    const buildingIndex = Math.floor((index % DEVICES_PER_SITE) / (DEVICES_PER_ROOM * ROOMS_PER_BUILDING));
    const roomIndex = Math.floor((index % (DEVICES_PER_ROOM * ROOMS_PER_BUILDING)) / DEVICES_PER_ROOM);
    if (index % DEVICES_PER_SITE === 0) sites.push(buildSite(root, siteIndex, cityOffset));
    const site = sites[siteIndex] as Site;
    if (index % (DEVICES_PER_ROOM * ROOMS_PER_BUILDING) === 0)
      buildings.push(buildBuilding(root, site, buildingIndex));
    const building = buildings.at(-1) as Building;
    if (index % DEVICES_PER_ROOM === 0) rooms.push(buildRoom(root, building, roomIndex));
    const room = rooms.at(-1) as Room;

    const deviceType = types[index] as DeviceType;
    const sensorKind = deviceType === 'sensor' ? (kinds[sensorOrdinal++] as SensorKind) : undefined;
    const prefix = sensorKind
      ? SENSOR_ID_PREFIX[sensorKind]
      : ID_PREFIX[deviceType as Exclude<DeviceType, 'sensor'>];
    const deviceId = `${prefix}-${room.roomId}-${pad(index, 4)}`;
    if (!DEVICE_ID_PATTERN.test(deviceId))
      throw new Error(`generated device id '${deviceId}' is not a thing name`);
    const rng = root.derive(`device/${deviceId}/profile`);
    const spec = sensorKind
      ? SENSOR_MODELS[sensorKind]
      : rng.pick(MODELS[deviceType as Exclude<DeviceType, 'sensor'>]);
    devices.push({
      deviceId,
      index,
      deviceType,
      ...(sensorKind && { sensorKind }),
      model: spec.model,
      firmwareVersion: pickFirmware(rng, spec),
      installDate: isoDate(
        options.startMs - rng.uniform(INSTALL_AGE_DAYS.min, INSTALL_AGE_DAYS.max) * DAY_MS,
      ),
      siteId: site.siteId,
      buildingId: building.buildingId,
      roomId: room.roomId,
      reportingIntervalS: sensorKind
        ? REPORTING_INTERVAL_S.sensor[sensorKind]
        : REPORTING_INTERVAL_S[deviceType as Exclude<DeviceType, 'sensor'>],
    });
  }
  return {
    seed: options.seed,
    portfolioId: 'p1',
    portfolioName: 'Smart building portfolio',
    sites,
    buildings,
    rooms,
    devices,
  };
}

/** The site, building and room of a device. */
export interface DevicePlace {
  readonly site: Site;
  readonly building: Building;
  readonly room: Room;
}

/** Index of a fleet's places by id, for the signal models. */
export function placesOf(fleet: Fleet): (device: Device) => DevicePlace {
  const sites = new Map(fleet.sites.map((site) => [site.siteId, site]));
  const buildings = new Map(fleet.buildings.map((building) => [building.buildingId, building]));
  const rooms = new Map(fleet.rooms.map((room) => [room.roomId, room]));
  return (device) => {
    const site = sites.get(device.siteId);
    const building = buildings.get(device.buildingId);
    const room = rooms.get(device.roomId);
    if (!site || !building || !room) throw new Error(`device ${device.deviceId} is not placed in this fleet`);
    return { site, building, room };
  };
}
