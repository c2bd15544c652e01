/**
 * Deterministic benchmark data: device messages turned into Kinesis events exactly as production
 * produces them (device JSON -> IoT rule envelope -> stream record -> event source mapping event).
 *
 * The same seed always yields the same bytes, so runs on different machines or commits measure the
 * same work, and a change in the numbers is a change in the code, not in the data.
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import {
  basicIngestTopic,
  CURRENT_SCHEMA_VERSION,
  type DeviceType,
  MAX_READINGS_PER_MESSAGE,
  type Reading,
  type RejectionCode,
  SENSOR_KIND_SPECS,
  SENSOR_KINDS,
  type SensorKind,
  telemetryTopic,
} from '../lambdas/shared/contract.ts';
import { applyTelemetryRule } from '../local/iot-rule.ts';
import { buildKinesisEvent, type StreamRecordInput } from '../local/kinesis-event.ts';
import { makeReading } from '../test/support/readings.ts';

/**
 * What the generator meant a message to be. The bench checks that both variants agree with it, so
 * a generator bug cannot silently turn "valid" data into a cheap rejection path.
 */
export type MessageKind =
  | 'single'
  | 'batch'
  | 'not_json'
  | 'out_of_range'
  | 'unknown_device_type'
  | 'batch_with_one_out_of_range';

/**
 * Share of each kind among messages. Invalid kinds add up to 3 % of messages, inside the 2-5 % we
 * see from a fleet with some flaky firmware; a truncated publish (not JSON) is the most common.
 */
const MESSAGE_MIX: ReadonlyArray<readonly [MessageKind, number]> = [
  ['single', 0.57],
  ['batch', 0.4],
  ['not_json', 0.01],
  ['out_of_range', 0.01],
  ['unknown_device_type', 0.005],
  ['batch_with_one_out_of_range', 0.005],
];

/** The first rejection code the validator must give each invalid kind. */
export const EXPECTED_CODE: Readonly<Record<Exclude<MessageKind, 'single' | 'batch'>, RejectionCode>> = {
  not_json: 'not_json',
  out_of_range: 'out_of_range',
  unknown_device_type: 'unknown_device_type',
  batch_with_one_out_of_range: 'out_of_range',
};

/** Fleet composition: sensors dominate a smart-home fleet; the others are one per home or door. */
const DEVICE_MIX: ReadonlyArray<readonly [DeviceType, number]> = [
  ['sensor', 0.4],
  ['thermostat', 0.2],
  ['smart_lock', 0.2],
  ['camera', 0.2],
];

const DEVICE_COUNT = 2000;
const SHARD_COUNT = 4;
/** Devices that batch send between 2 readings and this many; ~15 is the 5 KB IoT metering sweet spot. */
const MAX_BATCH = 32;
const FIRMWARE = ['2.4.1', '2.4.2', '2.5.0', '3.0.0-rc.1'] as const;
/** Starts 20 s before an hour boundary so that some batches span two raw partitions, as in production. */
const START_MS = Date.UTC(2026, 2, 1, 10, 59, 40);

export const STREAM = {
  streamArn: 'arn:aws:kinesis:eu-west-1:111122223333:stream/sdap-telemetry',
  region: 'eu-west-1',
  executionRoleArn: 'arn:aws:iam::111122223333:role/sdap-validator',
} as const;

export interface DatasetOptions {
  /** Readings to generate (a message that cannot be read counts as one). */
  readonly readings: number;
  readonly seed: number;
  /** Records per Kinesis event, drawn uniformly from this range. */
  readonly minBatchRecords: number;
  readonly maxBatchRecords: number;
}

export interface RecordMeta {
  readonly kind: MessageKind;
  /** Readings the message carries (1 for a message that is not JSON). */
  readonly readings: number;
}

export interface Dataset {
  readonly events: readonly KinesisStreamEvent[];
  /** Per event, per record: what the generator meant. Parallel to `events[i].Records`. */
  readonly meta: ReadonlyArray<readonly RecordMeta[]>;
  readonly records: number;
  readonly readings: number;
  readonly messagesByKind: Readonly<Record<MessageKind, number>>;
  /** Base64 characters of `kinesis.data` over all records: what the floor decodes. */
  readonly kinesisDataChars: number;
  /** Device payload bytes over all records. */
  readonly payloadBytes: number;
}

/** mulberry32: tiny, fast and good enough to pick data; not for anything secret. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Device {
  readonly id: string;
  readonly type: DeviceType;
  readonly firmware: string;
  /** Sensors measure one kind for life. */
  readonly sensorKind: SensorKind;
  readonly shard: number;
  seq: number;
  uptimeS: number;
  batteryPct: number;
}

export function generateDataset(options: DatasetOptions): Dataset {
  const random = prng(options.seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const weighted = <T>(mix: ReadonlyArray<readonly [T, number]>): T => {
    let r = random();
    for (const [item, share] of mix) {
      r -= share;
      if (r < 0) return item;
    }
    return (mix[mix.length - 1] as readonly [T, number])[0];
  };
  const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
  const hex = (digits: number) =>
    Array.from({ length: digits }, () => Math.floor(random() * 16).toString(16)).join('');
  /**
   * A random version-4 UUID, as devices generate them. `makeReading`'s ids count up, which would
   * make the raw NDJSON compress far better than production data does.
   */
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(random() * 4)]}${hex(3)}-${hex(12)}`;

  const devices: Device[] = Array.from({ length: DEVICE_COUNT }, (_, i) => {
    const type = weighted(DEVICE_MIX);
    return {
      id: `${type}-${i.toString(36).padStart(4, '0')}`,
      type,
      firmware: pick(FIRMWARE),
      sensorKind: pick(SENSOR_KINDS),
      // Kinesis hashes the partition key; any stable spread over shards behaves the same here.
      shard: i % SHARD_COUNT,
      seq: int(0, 1_000_000),
      uptimeS: int(60, 3_000_000),
      batteryPct: int(5, 100),
    };
  });

  let readingCounter = 0;
  /** A valid reading with values that vary as real ones do (compression ratios depend on it). */
  const validReading = (device: Device, timestamp: string): Reading => {
    const n = readingCounter++;
    const base = makeReading(device.type, n, timestamp, device.id);
    const common = {
      eventId: uuid(),
      seq: device.seq++,
      firmwareVersion: device.firmware,
      rssiDbm: int(-95, -30),
    };
    switch (base.deviceType) {
      case 'thermostat': {
        const hvacMode = pick(['off', 'heat', 'heat', 'cool', 'auto', 'fan'] as const);
        const running = hvacMode !== 'off' && hvacMode !== 'fan';
        return {
          ...base,
          ...common,
          ambientTemperatureC: round(15 + random() * 12, 1),
          targetTemperatureC: 18 + int(0, 12) / 2,
          humidityPct: round(30 + random() * 40, 1),
          hvacMode,
          hvacPowerW: running ? int(400, 3500) : 0,
          energyWh: running ? round(random() * 60, 2) : 0,
        };
      }
      case 'camera':
        device.uptimeS += 60;
        return {
          ...base,
          ...common,
          fps: random() < 0.002 ? 0 : pick([15, 25, 30]),
          bitrateKbps: int(800, 8000),
          motionDetected: random() < 0.15,
          storageUsedPct: round(random() * 100, 1),
          cpuTemperatureC: round(random() < 0.003 ? 86 + random() * 10 : 40 + random() * 35, 1),
          uptimeS: device.uptimeS,
        };
      case 'smart_lock':
        return {
          ...base,
          ...common,
          lockState: random() < 0.001 ? 'jammed' : random() < 0.7 ? 'locked' : 'unlocked',
          batteryPct: device.batteryPct,
          lastAction: pick(['none', 'none', 'lock', 'unlock', 'auto_lock'] as const),
          failedAttempts: random() < 0.01 ? int(1, 8) : 0,
          doorOpen: random() < 0.1,
        };
      case 'sensor': {
        const spec = SENSOR_KIND_SPECS[device.sensorKind];
        const binary = spec.unit === 'bool';
        const value = binary
          ? random() < 0.001
            ? 1
            : 0
          : device.sensorKind === 'co2'
            ? int(400, 2100)
            : round(spec.min + random() * (spec.max - spec.min) * 0.6 + (spec.max - spec.min) * 0.2, 1);
        return {
          ...base,
          ...common,
          sensorKind: device.sensorKind,
          unit: spec.unit,
          value,
          batteryPct: device.batteryPct,
        };
      }
    }
  };

  /** The value each device type can get wrong in a way the contract's ranges catch. */
  const outOfRange = (reading: Reading): Record<string, unknown> => {
    switch (reading.deviceType) {
      case 'thermostat':
        return { ...reading, humidityPct: 140 };
      case 'camera':
        return { ...reading, cpuTemperatureC: 250 };
      case 'smart_lock':
        return { ...reading, batteryPct: 130 };
      case 'sensor':
        return { ...reading, value: SENSOR_KIND_SPECS[reading.sensorKind].max * 3 + 10 };
    }
  };

  const perShard: StreamRecordInput[][] = Array.from({ length: SHARD_COUNT }, () => []);
  const metaPerShard: RecordMeta[][] = Array.from({ length: SHARD_COUNT }, () => []);
  const sequence = new Array<number>(SHARD_COUNT).fill(0);
  const messagesByKind: Record<MessageKind, number> = {
    single: 0,
    batch: 0,
    not_json: 0,
    out_of_range: 0,
    unknown_device_type: 0,
    batch_with_one_out_of_range: 0,
  };
  let arrivalMs = START_MS;
  let readings = 0;
  let payloadBytes = 0;

  while (readings < options.readings) {
    const kind = weighted(MESSAGE_MIX);
    const device = pick(devices);
    // ~1.5 ms between messages: a few thousand messages a second, as on a busy stream.
    arrivalMs += int(0, 3);
    const receivedAtMs = arrivalMs - int(20, 200);
    const count =
      kind === 'batch' || kind === 'batch_with_one_out_of_range'
        ? int(2, Math.min(MAX_BATCH, MAX_READINGS_PER_MESSAGE))
        : 1;
    // Readings of a batch were taken a second apart and sent together.
    const items: Array<Record<string, unknown>> = Array.from({ length: count }, (_, j) =>
      validReading(device, new Date(receivedAtMs - (count - j) * 1000).toISOString()),
    );
    let body: string;
    switch (kind) {
      case 'single':
        body = JSON.stringify(items[0]);
        break;
      case 'batch':
        body = JSON.stringify({ schemaVersion: CURRENT_SCHEMA_VERSION, readings: items });
        break;
      case 'not_json': {
        // A publish cut short (device reset mid-send): a prefix of a JSON object is never JSON.
        const full = JSON.stringify(items[0]);
        body = full.slice(0, int(10, full.length - 5));
        break;
      }
      case 'out_of_range':
        body = JSON.stringify(outOfRange(items[0] as Reading));
        break;
      case 'unknown_device_type':
        body = JSON.stringify({ ...items[0], deviceType: 'doorbell' });
        break;
      case 'batch_with_one_out_of_range': {
        const bad = int(0, count - 1);
        items[bad] = outOfRange(items[bad] as Reading);
        body = JSON.stringify({ schemaVersion: CURRENT_SCHEMA_VERSION, readings: items });
        break;
      }
    }
    const payload = Buffer.from(body);
    // Half the fleet publishes through Basic Ingest; the rule normalises the topic either way.
    const topic = random() < 0.5 ? telemetryTopic(device.id) : basicIngestTopic('sdap_telemetry', device.id);
    const ruled = applyTelemetryRule(topic, payload, receivedAtMs);
    if (!ruled) throw new Error(`the telemetry rule did not match the generated topic '${topic}'`);
    const shard = device.shard;
    const sequenceNumber = `4959${shard}${String(sequence[shard]).padStart(51, '0')}`;
    sequence[shard] = (sequence[shard] ?? 0) + 1;
    perShard[shard]?.push({
      ...ruled,
      sequenceNumber,
      approximateArrivalMs: arrivalMs,
      shardId: `shardId-${String(shard).padStart(12, '0')}`,
    });
    metaPerShard[shard]?.push({ kind, readings: count });
    messagesByKind[kind]++;
    readings += count;
    payloadBytes += payload.byteLength;
  }

  // One event holds records of one shard, as the event source mapping delivers them; shards take
  // turns so that the event order interleaves them like concurrent shard pollers would.
  const events: KinesisStreamEvent[] = [];
  const meta: RecordMeta[][] = [];
  const offsets = new Array<number>(SHARD_COUNT).fill(0);
  let remaining = perShard.reduce((sum, records) => sum + records.length, 0);
  while (remaining > 0) {
    for (let shard = 0; shard < SHARD_COUNT; shard++) {
      const records = perShard[shard] ?? [];
      const start = offsets[shard] ?? 0;
      if (start >= records.length) continue;
      const end = Math.min(records.length, start + int(options.minBatchRecords, options.maxBatchRecords));
      events.push(buildKinesisEvent(records.slice(start, end), STREAM));
      meta.push((metaPerShard[shard] ?? []).slice(start, end));
      offsets[shard] = end;
      remaining -= end - start;
    }
  }
  let kinesisDataChars = 0;
  for (const event of events)
    for (const record of event.Records) kinesisDataChars += record.kinesis.data.length;
  const records = events.reduce((sum, event) => sum + event.Records.length, 0);
  return { events, meta, records, readings, messagesByKind, kinesisDataChars, payloadBytes };
}
