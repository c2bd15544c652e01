/**
 * What each device measures, reading by reading, on fleet time.
 *
 * A signal model owns the device's physical state (a thermostat's room temperature and compressor, a
 * camera's storage and CPU heat) and advances it from one reading to the next. It returns raw values;
 * injections may then alter them, and `finishFields` rounds and bounds them to the contract.
 */
import type * as z from 'zod';
import {
  type CameraReading,
  cameraReading,
  type DeviceType,
  SENSOR_KIND_SPECS,
  type SensorKind,
  type SensorReading,
  type SmartLockReading,
  smartLockReading,
  type ThermostatReading,
  thermostatReading,
} from '../lambdas/shared/contract.ts';
import {
  clamp,
  daylight,
  HOUR_MS,
  isWeekend,
  localDay,
  localHour,
  occupancy,
  outdoorDailyMeanC,
  outdoorTemperatureC,
} from './environment.ts';
import {
  type Building,
  CAMERA_MODELS,
  type Device,
  type DevicePlace,
  type Room,
  type Site,
} from './fleet.ts';
import type { Random } from './random.ts';
import type { LockRoutine } from './schedule.ts';

type EnvelopeKey =
  | 'schemaVersion'
  | 'eventId'
  | 'deviceId'
  | 'timestamp'
  | 'seq'
  | 'firmwareVersion'
  | 'rssiDbm';
/** The type-specific part of a reading, as the contract defines it. */
export type ThermostatFields = Omit<ThermostatReading, EnvelopeKey | 'deviceType'>;
export type CameraFields = Omit<CameraReading, EnvelopeKey | 'deviceType'>;
export type SmartLockFields = Omit<SmartLockReading, EnvelopeKey | 'deviceType'>;
export type SensorFields = Omit<SensorReading, EnvelopeKey | 'deviceType'>;
export type SignalFields = ThermostatFields | CameraFields | SmartLockFields | SensorFields;

export interface DeviceSignal {
  /** Advances the device to `tMs` (later than the previous call) and returns what it measures. */
  sample(tMs: number): SignalFields;
}

/** Outdoor daily mean below which thermostats heat, and above which they cool. */
export const HEATING_BELOW_C = 16;
export const COOLING_ABOVE_C = 22;
/** Half-width of a thermostat's hysteresis band around its target. */
const HYSTERESIS_C = 0.5;
/** Auto mode starts heating or cooling this far from the target, and stops a little past it. */
const AUTO_START_C = 1;
const AUTO_STOP_C = 0.3;

export type HvacMode = ThermostatFields['hvacMode'];

/** Heating, cooling or neither, by the season and the weather of the last days. */
export function seasonalHvacMode(site: Site, tMs: number): 'heat' | 'cool' | 'auto' {
  const mean = outdoorDailyMeanC(site, tMs);
  if (mean < HEATING_BELOW_C) return 'heat';
  if (mean > COOLING_ABOVE_C) return 'cool';
  return 'auto';
}

/** Night (homes) or out-of-hours (offices): thermostats set back their target. */
function isSetback(site: Site, building: Building, tMs: number): boolean {
  const hour = localHour(site, tMs);
  if (building.use === 'residential') return hour >= 23 || hour < 6;
  return isWeekend(localDay(site, tMs)) || hour < 7 || hour >= 19;
}

/** 0 in warm weather, 1 in deep winter: heated air is dry air. */
function heatingSeason(site: Site, tMs: number): number {
  return clamp((HEATING_BELOW_C - outdoorDailyMeanC(site, tMs)) / 15, 0, 1);
}

const relax = (value: number, target: number, dtMs: number, timeConstantMs: number) =>
  target + (value - target) * Math.exp(-dtMs / timeConstantMs);

/** How the occupants set a thermostat: by the season (most), always auto, off, or fan only. */
export type HvacPreference = 'seasonal' | 'auto' | 'off' | 'fan';

/**
 * Draws a thermostat's setting. Its own stream, because the injection planner needs it before the
 * signal exists (a unit set to off or fan never shows an HVAC degradation).
 */
export function drawHvacPreference(rng: Random): HvacPreference {
  return rng.weighted<HvacPreference>({ seasonal: 0.88, auto: 0.06, off: 0.03, fan: 0.03 });
}

/**
 * A thermostat and the zone it controls: indoor air follows outdoor air through the building envelope
 * (first-order, the building's time constant), gains heat from people and sun, and is heated or cooled
 * by an HVAC unit switched with hysteresis around the target. The unit draws more power the larger the
 * indoor/outdoor gap (a heat pump's efficiency falls with the lift), and runs longer too.
 */
class ThermostatSignal implements DeviceSignal {
  private indoorC: number;
  private hvacOn = false;
  private heating = true;
  private lastMs: number | undefined;
  private readonly comfortHeatC: number;
  private readonly comfortCoolC: number;
  private readonly setbackC: number;
  private readonly capacityCPerH: number;
  private readonly basePowerW: number;
  private readonly powerPerDegreeW: number;
  private readonly fanPowerW: number;
  private readonly sensorBiasC: number;
  private readonly humidityBiasPct: number;

  constructor(
    private readonly place: DevicePlace,
    private readonly rng: Random,
    startMs: number,
    private readonly intervalMs: number,
    private readonly preference: HvacPreference,
    /** From this time the compressor is dead: the unit is called for but delivers nothing. */
    private readonly hvacFailureAtMs: number,
  ) {
    const { site, building } = place;
    this.comfortHeatC = rng.uniform(19.5, 22);
    this.comfortCoolC = rng.uniform(23, 25.5);
    this.setbackC = rng.uniform(2, 4);
    // Sized to beat the worst loss of the site's climate with margin, as an installer would size it.
    const worstGapC =
      Math.abs(site.climate.annualMeanC - 21) +
      site.climate.seasonalAmplitudeC +
      site.climate.diurnalAmplitudeC +
      8;
    this.capacityCPerH = (1.5 * worstGapC) / building.envelopeTimeConstantH + rng.uniform(0.5, 1.5);
    this.basePowerW = rng.uniform(700, 1600);
    this.powerPerDegreeW = rng.uniform(20, 55);
    this.fanPowerW = rng.uniform(90, 200);
    this.sensorBiasC = rng.normal(0, 0.2);
    this.humidityBiasPct = rng.normal(0, 4);
    this.indoorC = this.targetAt(this.modeAt(startMs), startMs) + rng.normal(0, 0.3);
  }

  modeAt(tMs: number): HvacMode {
    return this.preference === 'seasonal' ? seasonalHvacMode(this.place.site, tMs) : this.preference;
  }

  private targetAt(mode: HvacMode, tMs: number): number {
    const setback = isSetback(this.place.site, this.place.building, tMs) ? this.setbackC : 0;
    return mode === 'cool' ? this.comfortCoolC + setback : this.comfortHeatC - setback;
  }

  sample(tMs: number): ThermostatFields {
    const { site, building, room } = this.place;
    const dtMs = this.lastMs === undefined ? this.intervalMs : tMs - this.lastMs;
    this.lastMs = tMs;
    const dtH = dtMs / HOUR_MS;
    const outdoorC = outdoorTemperatureC(site, tMs);
    const mode = this.modeAt(tMs);
    const target = this.targetAt(mode, tMs);
    const people = occupancy(site, building, room, tMs);

    // The interval that just ended ran with the switch decided at the previous reading.
    const conditioning = mode === 'heat' || mode === 'cool' || mode === 'auto';
    const running = this.hvacOn && conditioning && tMs < this.hvacFailureAtMs;
    const direction = mode === 'heat' ? 1 : mode === 'cool' ? -1 : this.heating ? 1 : -1;
    const gainsCPerH = 0.3 * people.present + 0.4 * daylight(site, tMs);
    const envelopeCPerH = (outdoorC - this.indoorC) / building.envelopeTimeConstantH;
    this.indoorC += dtH * (envelopeCPerH + gainsCPerH + (running ? direction * this.capacityCPerH : 0));

    const gapC = Math.abs(this.indoorC - outdoorC);
    const powerW = running
      ? (this.basePowerW + this.powerPerDegreeW * gapC) * (1 + this.rng.normal(0, 0.02))
      : mode === 'fan'
        ? this.fanPowerW
        : 0;
    this.switchFor(mode, target);

    return {
      ambientTemperatureC: this.indoorC + this.sensorBiasC + this.rng.normal(0, 0.05),
      targetTemperatureC: target,
      humidityPct: clamp(
        45 +
          this.humidityBiasPct -
          12 * heatingSeason(site, tMs) +
          6 * people.present +
          this.rng.normal(0, 1),
        15,
        85,
      ),
      hvacMode: mode,
      hvacPowerW: powerW,
      energyWh: powerW * dtH,
    };
  }

  private switchFor(mode: HvacMode, target: number): void {
    const t = this.indoorC;
    if (mode === 'heat') {
      this.heating = true;
      if (t < target - HYSTERESIS_C) this.hvacOn = true;
      else if (t > target + HYSTERESIS_C) this.hvacOn = false;
    } else if (mode === 'cool') {
      this.heating = false;
      if (t > target + HYSTERESIS_C) this.hvacOn = true;
      else if (t < target - HYSTERESIS_C) this.hvacOn = false;
    } else if (mode === 'auto') {
      if (!this.hvacOn && Math.abs(t - target) > AUTO_START_C) {
        this.hvacOn = true;
        this.heating = t < target;
      } else if (this.hvacOn && (this.heating ? t > target + AUTO_STOP_C : t < target - AUTO_STOP_C)) {
        this.hvacOn = false;
      }
    } else {
      this.hvacOn = false;
    }
  }
}

/** Room air seen by a device that does not control it: conditioned to a comfort level, with leaks. */
function roomAirEquilibriumC(site: Site, building: Building, room: Room, leak: number, tMs: number): number {
  const mode = seasonalHvacMode(site, tMs);
  const setback = isSetback(site, building, tMs) ? 2 : 0;
  const conditioned = mode === 'heat' ? 21 - setback : mode === 'cool' ? 24 + setback : 22;
  const people = occupancy(site, building, room, tMs);
  return (
    conditioned +
    leak * (outdoorTemperatureC(site, tMs) - conditioned) +
    0.8 * daylight(site, tMs) +
    0.5 * people.active
  );
}

/** Camera CPU heat follows load within a few minutes. */
const CPU_TIME_CONSTANT_MS = 5 * 60_000;
/** Loop recording: at this fill level the camera deletes its oldest footage. */
const STORAGE_PURGE_AT_PCT = 95;

/**
 * A camera watching a room or an entrance: frames drop in low light on some models, bitrate follows
 * light and motion (a lit, busy scene compresses worse), footage fills storage until loop recording
 * purges it, and the CPU warms with the encoding load.
 */
class CameraSignal implements DeviceSignal {
  private readonly spec: { fps: number; lowLightFps: number; bitrateKbps: number };
  private storagePct: number;
  private cpuC: number;
  private readonly fillPctPerH: number;
  private readonly cpuOffsetC: number;
  private readonly bootMs: number;
  private lastMs: number | undefined;

  constructor(
    device: Device,
    private readonly place: DevicePlace,
    private readonly rng: Random,
    startMs: number,
    private readonly intervalMs: number,
  ) {
    const spec = CAMERA_MODELS[device.model];
    if (!spec) throw new Error(`no camera model '${device.model}'`);
    this.spec = spec;
    this.storagePct = rng.uniform(15, 85);
    this.fillPctPerH = rng.uniform(0.1, 0.5);
    this.cpuOffsetC = rng.uniform(18, 26);
    this.cpuC = 21 + this.cpuOffsetC + 7;
    this.bootMs = startMs - rng.uniform(2 * HOUR_MS, 45 * 24 * HOUR_MS);
  }

  sample(tMs: number): CameraFields {
    const { site, building, room } = this.place;
    const dtMs = this.lastMs === undefined ? this.intervalMs : tMs - this.lastMs;
    this.lastMs = tMs;
    const people = occupancy(site, building, room, tMs);
    // Lights come on when people are about; at night the scene is lit only by infrared.
    const light = Math.max(daylight(site, tMs), 0.7 * people.active);
    const motionPerMinute = 2.5 * people.active + 0.02;
    const motionDetected = this.rng.chance(1 - Math.exp((-motionPerMinute * dtMs) / 60_000));
    let fps = light < 0.25 ? this.spec.lowLightFps : this.spec.fps;
    if (this.rng.chance(0.05)) fps -= this.rng.int(1, 3);
    const bitrateKbps =
      this.spec.bitrateKbps *
      (0.5 + 0.5 * light) *
      (motionDetected ? 1.35 : 1) *
      Math.exp(this.rng.normal(0, 0.06));

    this.storagePct += ((this.fillPctPerH * dtMs) / HOUR_MS) * (bitrateKbps / this.spec.bitrateKbps);
    if (this.storagePct > STORAGE_PURGE_AT_PCT) this.storagePct -= this.rng.uniform(15, 22);

    const load = (0.5 * bitrateKbps) / this.spec.bitrateKbps + (motionDetected ? 0.25 : 0);
    const roomC = room.unconditioned ? 15 + 0.5 * (outdoorTemperatureC(site, tMs) - 15) : 21;
    this.cpuC = relax(this.cpuC, roomC + this.cpuOffsetC + 15 * load, dtMs, CPU_TIME_CONSTANT_MS);
    return {
      fps,
      bitrateKbps,
      motionDetected,
      storageUsedPct: this.storagePct,
      cpuTemperatureC: this.cpuC + this.rng.normal(0, 0.3),
      uptimeS: Math.floor((tMs - this.bootMs) / 1000),
    };
  }
}

/** A smart lock reports the state its door's routine leaves it in, and drains its battery slowly. */
class SmartLockSignal implements DeviceSignal {
  private readonly batteryAtStartPct: number;
  private readonly drainPctPerH: number;

  constructor(
    private readonly routine: LockRoutine,
    rng: Random,
    private readonly startMs: number,
  ) {
    this.batteryAtStartPct = rng.uniform(40, 100);
    // A set of AA cells lasts about a year: ~0.01 % an hour.
    this.drainPctPerH = rng.uniform(0.004, 0.012);
  }

  sample(tMs: number): SmartLockFields {
    const state = this.routine.stateAt(tMs);
    return {
      lockState: state.locked ? 'locked' : 'unlocked',
      batteryPct: this.batteryAtStartPct - (this.drainPctPerH * (tMs - this.startMs)) / HOUR_MS,
      lastAction: state.action?.action ?? 'none',
      failedAttempts: state.action?.failedAttempts ?? 0,
      doorOpen: state.doorOpen,
    };
  }
}

/** Time constants of what sensors measure: room air mixes in tens of minutes. */
const AIR_TIME_CONSTANT_MS = 45 * 60_000;
const HUMIDITY_TIME_CONSTANT_MS = 30 * 60_000;
const CO2_TIME_CONSTANT_MS = 40 * 60_000;
const OUTDOOR_CO2_PPM = 420;

/**
 * A battery sensor of one kind. Temperature and humidity follow the room's air, motion follows
 * people's activity, CO2 builds up with the people present, and leak and smoke stay at 0 unless an
 * event is injected.
 */
class SensorSignal implements DeviceSignal {
  private readonly kind: SensorKind;
  private readonly leak: number;
  private readonly biasC: number;
  private readonly batteryAtStartPct: number;
  private readonly drainPctPerH: number;
  private state: number;
  private lastMs: number | undefined;

  constructor(
    device: Device,
    private readonly place: DevicePlace,
    private readonly rng: Random,
    private readonly startMs: number,
    private readonly intervalMs: number,
  ) {
    if (!device.sensorKind) throw new Error(`sensor ${device.deviceId} has no kind`);
    this.kind = device.sensorKind;
    this.leak = place.room.unconditioned ? rng.uniform(0.5, 0.8) : rng.uniform(0.04, 0.1);
    this.biasC = rng.normal(0, 0.3);
    this.batteryAtStartPct = rng.uniform(30, 100);
    this.drainPctPerH = rng.uniform(0.001, 0.006);
    this.state = this.equilibrium(startMs);
  }

  private equilibrium(tMs: number): number {
    const { site, building, room } = this.place;
    switch (this.kind) {
      case 'temperature':
        return roomAirEquilibriumC(site, building, room, this.leak, tMs);
      case 'humidity': {
        const people = occupancy(site, building, room, tMs);
        const dryness = room.unconditioned ? 0 : 12 * heatingSeason(site, tMs);
        return 47 - dryness + 6 * people.present + 8 * this.leak * (1 - daylight(site, tMs));
      }
      case 'co2':
        return OUTDOOR_CO2_PPM + room.co2LoadPpm * occupancy(site, building, room, tMs).present;
      default:
        return 0;
    }
  }

  sample(tMs: number): SensorFields {
    const dtMs = this.lastMs === undefined ? this.intervalMs : tMs - this.lastMs;
    this.lastMs = tMs;
    const unit = SENSOR_KIND_SPECS[this.kind].unit;
    const batteryPct = this.batteryAtStartPct - (this.drainPctPerH * (tMs - this.startMs)) / HOUR_MS;
    let value = 0;
    switch (this.kind) {
      case 'temperature':
        this.state = relax(this.state, this.equilibrium(tMs), dtMs, AIR_TIME_CONSTANT_MS);
        value = this.state + this.biasC + this.rng.normal(0, 0.08);
        break;
      case 'humidity':
        this.state = relax(this.state, this.equilibrium(tMs), dtMs, HUMIDITY_TIME_CONSTANT_MS);
        value = this.state + this.rng.normal(0, 0.8);
        break;
      case 'co2':
        this.state = relax(this.state, this.equilibrium(tMs), dtMs, CO2_TIME_CONSTANT_MS);
        value = this.state + this.rng.normal(0, 8);
        break;
      case 'motion': {
        const { site, building, room } = this.place;
        const perMinute = 2.5 * occupancy(site, building, room, tMs).active + 0.01;
        value = this.rng.chance(1 - Math.exp((-perMinute * dtMs) / 60_000)) ? 1 : 0;
        break;
      }
      default:
        value = 0;
    }
    return { sensorKind: this.kind, value, unit, batteryPct };
  }
}

export interface SignalContext {
  readonly device: Device;
  readonly place: DevicePlace;
  /** The device's own stream for measurement noise and its physical parameters. */
  readonly rng: Random;
  readonly startMs: number;
  /** Required for smart locks: the door's routine, shared with the lock's reading schedule. */
  readonly routine?: LockRoutine;
  /** Thermostats: how the unit is set. @default 'seasonal' */
  readonly hvacPreference?: HvacPreference;
  /** Thermostats only: when the HVAC unit dies (an injected degradation's end). */
  readonly hvacFailureAtMs?: number;
}

export function createSignal(context: SignalContext): DeviceSignal {
  const { device, place, rng, startMs } = context;
  const intervalMs = device.reportingIntervalS * 1000;
  switch (device.deviceType) {
    case 'thermostat':
      return new ThermostatSignal(
        place,
        rng,
        startMs,
        intervalMs,
        context.hvacPreference ?? 'seasonal',
        context.hvacFailureAtMs ?? Number.POSITIVE_INFINITY,
      );
    case 'camera':
      return new CameraSignal(device, place, rng, startMs, intervalMs);
    case 'smart_lock':
      if (!context.routine) throw new Error(`smart lock ${device.deviceId} needs its routine`);
      return new SmartLockSignal(context.routine, rng, startMs);
    case 'sensor':
      return new SensorSignal(device, place, rng, startMs, intervalMs);
  }
}

/** Bounds of a contract number field. */
function bounds(schema: z.ZodNumber): readonly [number, number] {
  return [schema.minValue ?? Number.NEGATIVE_INFINITY, schema.maxValue ?? Number.POSITIVE_INFINITY];
}
const round = (value: number, decimals: number) => {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
};
const bounded = (value: number, range: readonly [number, number], decimals: number) =>
  round(clamp(value, range[0], range[1]), decimals);

const T = thermostatReading.shape;
const C = cameraReading.shape;
const L = smartLockReading.shape;
const RANGES = {
  ambient: bounds(T.ambientTemperatureC),
  target: bounds(T.targetTemperatureC),
  humidity: bounds(T.humidityPct),
  power: bounds(T.hvacPowerW),
  energy: bounds(T.energyWh),
  fps: bounds(C.fps),
  bitrate: bounds(C.bitrateKbps),
  storage: bounds(C.storageUsedPct),
  cpu: bounds(C.cpuTemperatureC),
  uptime: bounds(C.uptimeS),
  battery: bounds(L.batteryPct),
} as const;

/**
 * Rounds every number to the resolution a device would report and bounds it to the contract's
 * range, so what leaves the simulator always validates (unless a transport fault corrupts it on
 * purpose). Mutates and returns `fields`.
 */
export function finishFields(deviceType: DeviceType, fields: SignalFields): SignalFields {
  switch (deviceType) {
    case 'thermostat': {
      const f = fields as ThermostatFields;
      f.ambientTemperatureC = bounded(f.ambientTemperatureC, RANGES.ambient, 1);
      f.targetTemperatureC = bounded(f.targetTemperatureC, RANGES.target, 1);
      f.humidityPct = bounded(f.humidityPct, RANGES.humidity, 1);
      f.hvacPowerW = bounded(f.hvacPowerW, RANGES.power, 0);
      f.energyWh = bounded(f.energyWh, RANGES.energy, 2);
      return f;
    }
    case 'camera': {
      const f = fields as CameraFields;
      f.fps = bounded(f.fps, RANGES.fps, 1);
      f.bitrateKbps = bounded(f.bitrateKbps, RANGES.bitrate, 0);
      f.storageUsedPct = bounded(f.storageUsedPct, RANGES.storage, 2);
      f.cpuTemperatureC = bounded(f.cpuTemperatureC, RANGES.cpu, 1);
      f.uptimeS = bounded(f.uptimeS, RANGES.uptime, 0);
      return f;
    }
    case 'smart_lock': {
      const f = fields as SmartLockFields;
      f.batteryPct = bounded(f.batteryPct, RANGES.battery, 1);
      return f;
    }
    case 'sensor': {
      const f = fields as SensorFields;
      const spec = SENSOR_KIND_SPECS[f.sensorKind];
      const decimals = f.sensorKind === 'temperature' ? 2 : f.sensorKind === 'humidity' ? 1 : 0;
      f.value = bounded(f.value, [spec.min, spec.max], decimals);
      f.batteryPct = bounded(f.batteryPct, RANGES.battery, 1);
      return f;
    }
  }
}
