/**
 * The telemetry contract: the one definition of what a device may send.
 *
 * Everything else conforms to this module: the validator parses with it, the simulator builds
 * readings from it, and the JSON Schema, Glue columns and warehouse DDL are derived from it.
 * It imports nothing but zod, so any part of the project (Lambda, CDK, twin) can import it.
 */
import * as z from 'zod';

/** The contract version this code writes. Earlier versions stay readable (see `SUPPORTED_SCHEMA_VERSIONS`). */
export const CURRENT_SCHEMA_VERSION = 1;
/** Every version a device may still send. A version is only added, never removed while devices send it. */
export const SUPPORTED_SCHEMA_VERSIONS = [1] as const;

export const DEVICE_TYPES = ['thermostat', 'camera', 'smart_lock', 'sensor'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

/**
 * Limits of one MQTT message. 128 KiB is AWS IoT Core's message size limit; 64 readings keeps a
 * typical batch (~300 B a reading) well under it, and under 5 KB when devices batch ~15 readings,
 * which is IoT's metering unit (see AWS-FACTS).
 */
export const MAX_MESSAGE_BYTES = 128 * 1024;
export const MAX_READINGS_PER_MESSAGE = 64;

/**
 * How far device time may run ahead of the pipeline's arrival time before a reading is rejected.
 * Device clocks drift; five minutes tolerates NTP-less devices without accepting readings dated
 * in the future by misconfigured clocks.
 */
export const MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000;
/**
 * How old a reading may be on arrival. Seven days matches the longest Kinesis retention we
 * configure: older data cannot be replayed consistently, so it is quarantined for a human to judge.
 */
export const MAX_READING_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** An AWS IoT thing name: 1-128 characters of `[a-zA-Z0-9:_-]`. The device id IS the thing name. */
export const DEVICE_ID_PATTERN = /^[a-zA-Z0-9:_-]{1,128}$/;

/**
 * The MQTT topic scheme. Devices publish to `dt/sdap/<deviceId>/telemetry`, or through IoT Basic
 * Ingest to `$aws/rules/<ruleName>/dt/sdap/<deviceId>/telemetry` (no messaging charge). The rule
 * sees the topic without the Basic Ingest prefix, so `topic(3)` is the device id either way.
 */
export const TELEMETRY_TOPIC_PREFIX = 'dt/sdap';
export const TELEMETRY_TOPIC_FILTER = `${TELEMETRY_TOPIC_PREFIX}/+/telemetry`;
/** 1-based position of the device id in the topic, as the IoT SQL `topic(n)` function counts. */
export const TOPIC_DEVICE_ID_LEVEL = 3;

export function telemetryTopic(deviceId: string): string {
  return `${TELEMETRY_TOPIC_PREFIX}/${deviceId}/telemetry`;
}

export function basicIngestTopic(ruleName: string, deviceId: string): string {
  return `$aws/rules/${ruleName}/${telemetryTopic(deviceId)}`;
}

/** Returns the device id a telemetry topic names, or undefined when the topic is not one of ours. */
export function deviceIdFromTopic(topic: string): string | undefined {
  const withoutBasicIngest = topic.startsWith('$aws/rules/') ? topic.split('/').slice(3).join('/') : topic;
  const levels = withoutBasicIngest.split('/');
  if (
    levels.length !== 4 ||
    `${levels[0]}/${levels[1]}` !== TELEMETRY_TOPIC_PREFIX ||
    levels[3] !== 'telemetry'
  ) {
    return undefined;
  }
  const deviceId = levels[TOPIC_DEVICE_ID_LEVEL - 1];
  return deviceId !== undefined && DEVICE_ID_PATTERN.test(deviceId) ? deviceId : undefined;
}

const percent = z.number().min(0).max(100);
const whole = (min: number, max: number) => z.number().int().min(min).max(max);

/** Fields every reading carries, whatever the device type. */
const envelope = {
  schemaVersion: z.literal(SUPPORTED_SCHEMA_VERSIONS),
  /** Set by the device, unique per reading: the de-duplication key through every at-least-once hop. */
  eventId: z.uuid(),
  deviceId: z.string().regex(DEVICE_ID_PATTERN),
  /** Device clock, ISO 8601 with an offset (`Z` or `+hh:mm`). */
  timestamp: z.iso.datetime({ offset: true }),
  /** Per-device counter that increases by one per reading; gaps reveal lost readings. */
  seq: whole(0, Number.MAX_SAFE_INTEGER),
  firmwareVersion: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/),
  /** Received signal strength of the device's radio link. */
  rssiDbm: z.number().min(-120).max(0),
};

export const HVAC_MODES = ['off', 'heat', 'cool', 'auto', 'fan'] as const;
export const LOCK_STATES = ['locked', 'unlocked', 'jammed'] as const;
export const LOCK_ACTIONS = ['none', 'lock', 'unlock', 'auto_lock'] as const;
export const SENSOR_KINDS = ['temperature', 'humidity', 'motion', 'water_leak', 'smoke', 'co2'] as const;
export type SensorKind = (typeof SENSOR_KINDS)[number];

export const thermostatReading = z.strictObject({
  ...envelope,
  deviceType: z.literal('thermostat'),
  ambientTemperatureC: z.number().min(-40).max(60),
  targetTemperatureC: z.number().min(5).max(35),
  humidityPct: percent,
  hvacMode: z.enum(HVAC_MODES),
  hvacPowerW: z.number().min(0).max(15_000),
  /** Energy used since the previous reading of this device. */
  energyWh: z.number().min(0).max(15_000),
});

export const cameraReading = z.strictObject({
  ...envelope,
  deviceType: z.literal('camera'),
  fps: z.number().min(0).max(120),
  bitrateKbps: z.number().min(0).max(100_000),
  motionDetected: z.boolean(),
  storageUsedPct: percent,
  cpuTemperatureC: z.number().min(-20).max(120),
  /** Seconds since the camera last booted: a drop reveals a reboot. */
  uptimeS: whole(0, 10 * 365 * 24 * 3600),
});

export const smartLockReading = z.strictObject({
  ...envelope,
  deviceType: z.literal('smart_lock'),
  lockState: z.enum(LOCK_STATES),
  batteryPct: percent,
  lastAction: z.enum(LOCK_ACTIONS),
  /** Failed unlock attempts since the previous reading. */
  failedAttempts: whole(0, 1000),
  doorOpen: z.boolean(),
});

/**
 * The unit and the physical range each sensor kind must report in. Binary kinds (motion, leak,
 * smoke) report 0 or 1.
 */
export const SENSOR_KIND_SPECS = {
  temperature: { unit: 'C', min: -40, max: 85 },
  humidity: { unit: 'pct', min: 0, max: 100 },
  motion: { unit: 'bool', min: 0, max: 1 },
  water_leak: { unit: 'bool', min: 0, max: 1 },
  smoke: { unit: 'bool', min: 0, max: 1 },
  co2: { unit: 'ppm', min: 250, max: 10_000 },
} as const satisfies Record<SensorKind, { unit: string; min: number; max: number }>;
export const SENSOR_UNITS = ['C', 'pct', 'bool', 'ppm'] as const;

export const sensorReading = z
  .strictObject({
    ...envelope,
    deviceType: z.literal('sensor'),
    sensorKind: z.enum(SENSOR_KINDS),
    value: z.number(),
    unit: z.enum(SENSOR_UNITS),
    batteryPct: percent,
  })
  .superRefine((reading, ctx) => {
    const spec = SENSOR_KIND_SPECS[reading.sensorKind];
    if (reading.unit !== spec.unit) {
      ctx.addIssue({
        code: 'custom',
        path: ['unit'],
        input: reading.unit,
        message: `a ${reading.sensorKind} sensor reports in '${spec.unit}'`,
        params: { reason: 'schema_violation' },
      });
    }
    // A binary kind must send exactly 0 or 1: alert rules test `value === 1`, so 0.9 would pass
    // validation and never raise the alarm.
    const binary = spec.unit === 'bool';
    const outside = binary
      ? reading.value !== 0 && reading.value !== 1
      : reading.value < spec.min || reading.value > spec.max;
    if (outside) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        input: reading.value,
        message: binary
          ? `0 or 1 for a ${reading.sensorKind} sensor`
          : `between ${spec.min} and ${spec.max} ${spec.unit} for a ${reading.sensorKind} sensor`,
        params: { reason: 'out_of_range' },
      });
    }
  });

export const READING_SCHEMAS = {
  thermostat: thermostatReading,
  camera: cameraReading,
  smart_lock: smartLockReading,
  sensor: sensorReading,
} as const;

export type ThermostatReading = z.infer<typeof thermostatReading>;
export type CameraReading = z.infer<typeof cameraReading>;
export type SmartLockReading = z.infer<typeof smartLockReading>;
export type SensorReading = z.infer<typeof sensorReading>;
export type Reading = ThermostatReading | CameraReading | SmartLockReading | SensorReading;

/** A single reading: any of the four device types, told apart by `deviceType`. */
export const reading = z.discriminatedUnion('deviceType', [
  thermostatReading,
  cameraReading,
  smartLockReading,
  sensorReading,
]);

/**
 * One MQTT message carries either a single reading or a batch of readings from one device.
 * Batching is how the pipeline reaches a low cost per million events (see AWS-FACTS).
 */
export const readingBatch = z.strictObject({
  schemaVersion: envelope.schemaVersion,
  readings: z.array(reading).min(1).max(MAX_READINGS_PER_MESSAGE),
});
export type ReadingBatch = z.infer<typeof readingBatch>;

export const telemetryMessage = z.union([reading, readingBatch]);

/**
 * What the IoT topic rule puts on the stream: the device's bytes, untouched and base64-encoded (so a
 * payload that is not JSON still reaches the validator and is quarantined with its original bytes),
 * the device id from the topic (authenticated by the IoT policy) and the broker's receive time.
 * The rule's SQL selects exactly these fields.
 */
export const RULE_ENVELOPE_FIELDS = {
  payload: 'payload',
  topic: 'topic',
  deviceId: 'deviceId',
  receivedAtMs: 'receivedAtMs',
} as const;
export interface RuleEnvelope {
  readonly payload: string;
  readonly topic: string;
  readonly deviceId: string;
  readonly receivedAtMs: number;
}

/**
 * Why a message or reading was quarantined. Machine-readable and stable: dashboards, alarms and
 * the quarantine's partitions use these codes.
 */
export const REJECTION_CODES = [
  'too_large',
  'bad_gzip',
  'not_utf8',
  'not_json',
  'not_an_object',
  'too_many_readings',
  'unsupported_schema_version',
  'unknown_device_type',
  'schema_violation',
  'out_of_range',
  'timestamp_in_future',
  'timestamp_too_old',
  'device_mismatch',
  'duplicate_in_batch',
  'validator_error',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/**
 * A reason a message or one of its readings was rejected: the code, where (a JSON path, `''` for the
 * message as a whole), what was received and what is expected.
 */
export interface Rejection {
  readonly code: RejectionCode;
  readonly path: string;
  readonly received?: unknown;
  readonly expected: string;
}
