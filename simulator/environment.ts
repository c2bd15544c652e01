/**
 * The world the devices sense: outdoor weather per site, daylight, and room occupancy.
 *
 * Every function here is pure (site or room + time in, value out). Devices in the same place see the
 * same weather and the same people without sharing state, which keeps each device's data independent
 * of which other devices exist.
 */
import type { Building, Room, Site } from './fleet.ts';
import { hashUnit } from './random.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
const YEAR_DAYS = 365.2425;
/** Day of year of the coldest days in the northern hemisphere (about 20 January). */
const COLDEST_DAY_OF_YEAR = 20;
/** Hour of the warmest outdoor temperature (solar time); the coldest is twelve hours earlier. */
const WARMEST_SOLAR_HOUR = 15;
/** Period of the stateless outdoor noise: smooth within, independent between slots. */
const NOISE_SLOT_MS = 20 * 60_000;
const NOISE_AMPLITUDE_C = 0.4;
/** Occupancy varies from one 15-minute slot to the next (people come and go). */
const OCCUPANCY_SLOT_MS = 15 * 60_000;

const mod = (value: number, modulus: number) => ((value % modulus) + modulus) % modulus;
export const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

/** Day of the year (0 = 1 January) for any epoch time; the mean year length keeps it aligned. */
function dayOfYear(tMs: number): number {
  return mod(tMs / DAY_MS, YEAR_DAYS);
}

/** Hour of the day by the sun at the site's longitude: sets the diurnal phase. */
export function solarHour(site: Site, tMs: number): number {
  return mod(tMs / HOUR_MS + site.longitudeDeg / 15, 24);
}

/** Hour of the day on the site's clocks: sets people's routines. */
export function localHour(site: Site, tMs: number): number {
  return mod(tMs / HOUR_MS + site.utcOffsetHours, 24);
}

/** Local calendar day number since the epoch: the key of a day's routine. */
export function localDay(site: Site, tMs: number): number {
  return Math.floor((tMs + site.utcOffsetHours * HOUR_MS) / DAY_MS);
}

/** Epoch ms of local midnight starting local day `day`. */
export function localMidnightMs(site: Site, day: number): number {
  return day * DAY_MS - site.utcOffsetHours * HOUR_MS;
}

/** Saturday or Sunday on the site's calendar. */
export function isWeekend(day: number): boolean {
  // Day 0 (1 January 1970) was a Thursday.
  const weekday = mod(day + 4, 7);
  return weekday === 0 || weekday === 6;
}

function seasonalMeanC(site: Site, tMs: number): number {
  const hemisphere = site.latitudeDeg >= 0 ? 1 : -1;
  const phase = (2 * Math.PI * (dayOfYear(tMs) - COLDEST_DAY_OF_YEAR)) / YEAR_DAYS;
  return site.climate.annualMeanC - hemisphere * site.climate.seasonalAmplitudeC * Math.cos(phase);
}

function weatherDriftC(site: Site, tMs: number): number {
  const hours = tMs / HOUR_MS;
  const { amplitudesC, periodsH, phases } = site.weather;
  let drift = 0;
  for (let i = 0; i < amplitudesC.length; i++) {
    drift +=
      (amplitudesC[i] as number) *
      Math.sin((2 * Math.PI * hours) / (periodsH[i] as number) + (phases[i] as number));
  }
  return drift;
}

/** Smooth noise: linear interpolation between hashed values at slot boundaries. */
function slotNoise(key: number, tMs: number, slotMs: number): number {
  const position = tMs / slotMs;
  const slot = Math.floor(position);
  const fraction = position - slot;
  return (1 - fraction) * hashUnit(key, slot) + fraction * hashUnit(key, slot + 1) - 0.5;
}

/**
 * The day's mean outdoor temperature (season + weather, no diurnal cycle): what decides between
 * heating and cooling.
 */
export function outdoorDailyMeanC(site: Site, tMs: number): number {
  return seasonalMeanC(site, tMs) + weatherDriftC(site, tMs);
}

/** Outdoor air temperature: season + multi-day weather + diurnal sinusoid + short-term noise. */
export function outdoorTemperatureC(site: Site, tMs: number): number {
  const diurnal =
    site.climate.diurnalAmplitudeC *
    Math.cos((2 * Math.PI * (solarHour(site, tMs) - WARMEST_SOLAR_HOUR)) / 24);
  return (
    outdoorDailyMeanC(site, tMs) +
    diurnal +
    2 * NOISE_AMPLITUDE_C * slotNoise(site.noiseKey, tMs, NOISE_SLOT_MS)
  );
}

/**
 * How much of the site is lit by the sun, 0 (night) to 1 (day), with an hour of twilight. Day length
 * follows latitude and season (long summer days far north, twelve hours at the equator).
 */
export function daylight(site: Site, tMs: number): number {
  const hemisphere = site.latitudeDeg >= 0 ? 1 : -1;
  const summer = -Math.cos((2 * Math.PI * (dayOfYear(tMs) - COLDEST_DAY_OF_YEAR)) / YEAR_DAYS) * hemisphere;
  const dayLengthH = 12 + 7 * Math.sin((Math.abs(site.latitudeDeg) * Math.PI) / 180) * summer;
  const fromNoon = Math.abs(solarHour(site, tMs) - 12);
  return clamp(dayLengthH / 2 - fromNoon + 0.5, 0, 1);
}

/** Who is in a room: `present` share of the usual occupants, `active` share moving about. */
export interface Occupancy {
  readonly present: number;
  readonly active: number;
}

/** [from hour, present, active] rows, each valid until the next row's hour. */
type Profile = ReadonlyArray<readonly [number, number, number]>;
const PROFILES: Readonly<Record<Building['use'], { weekday: Profile; weekend: Profile }>> = {
  residential: {
    weekday: [
      [0, 0.9, 0.03],
      [6, 0.9, 0.7],
      [8.5, 0.25, 0.2],
      [17, 0.85, 0.65],
      [22.5, 0.9, 0.15],
    ],
    weekend: [
      [0, 0.9, 0.03],
      [8, 0.7, 0.5],
      [23, 0.9, 0.1],
    ],
  },
  office: {
    weekday: [
      [0, 0.01, 0.01],
      [7, 0.3, 0.3],
      [8.5, 0.75, 0.6],
      [12, 0.45, 0.4],
      [13, 0.75, 0.6],
      [17.5, 0.3, 0.3],
      [19, 0.02, 0.02],
    ],
    weekend: [[0, 0.03, 0.03]],
  },
};

/** Occupancy of a room at a time, from its building's daily profile, scaled and varied per room. */
export function occupancy(site: Site, building: Building, room: Room, tMs: number): Occupancy {
  const day = localDay(site, tMs);
  const hour = localHour(site, tMs);
  const profile = PROFILES[building.use][isWeekend(day) ? 'weekend' : 'weekday'];
  let row = profile[0] as readonly [number, number, number];
  for (const candidate of profile) {
    if (candidate[0] <= hour) row = candidate;
  }
  const variation = 0.85 + 0.3 * hashUnit(room.noiseKey, Math.floor(tMs / OCCUPANCY_SLOT_MS));
  const scale = room.occupancyScale * variation;
  return { present: clamp(row[1] * scale, 0, 1), active: clamp(row[2] * scale, 0, 1) };
}
