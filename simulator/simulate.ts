/**
 * The fleet simulation: every device's readings, with labelled injections and transport faults, as
 * the MQTT messages the devices publish, in publish order on fleet time.
 *
 * Pure and deterministic: no clock, no I/O. The same seed and options give byte-identical messages;
 * a caller (the twin, `sdap simulate`) maps fleet time to wall time and publishes.
 */
import {
  basicIngestTopic,
  CURRENT_SCHEMA_VERSION,
  DEVICE_TYPES,
  type DeviceType,
  MAX_MESSAGE_BYTES,
  type Reading,
  type RejectionCode,
  telemetryTopic,
} from '../lambdas/shared/contract.ts';
import { clamp, HOUR_MS } from './environment.ts';
import { buildFleet, type Device, type DevicePlace, type Fleet, placesOf } from './fleet.ts';
import {
  type DeviceInjector,
  type GroundTruthRecord,
  INJECTION_KINDS,
  type InjectionKind,
  NO_INJECTIONS,
  planInjections,
} from './injections.ts';
import {
  type ResolvedSimulationOptions,
  resolveSimulationOptions,
  type SimulationOptions,
} from './options.ts';
import { PublishQueue } from './publish-queue.ts';
import { Random } from './random.ts';
import { buildRegistry, type Registry } from './registry.ts';
import { LockRoutine, LockSchedule, PeriodicSchedule, type ReadingSchedule } from './schedule.ts';
import {
  createSignal,
  type DeviceSignal,
  drawHvacPreference,
  finishFields,
  type ThermostatFields,
} from './signals.ts';
import {
  corruptPayload,
  drawMessageFault,
  EXPECTED_REJECTION,
  FAULT_KINDS,
  type FaultKind,
  type MalformedFault,
  planClockSkew,
} from './transport-faults.ts';

/** One MQTT publish of one device. */
export interface OutgoingMessage {
  /** When to publish, on fleet time (epoch ms). Non-decreasing along the iteration. */
  readonly publishAtMs: number;
  /** `telemetryTopic(deviceId)`, or the Basic Ingest topic when the simulation uses one. */
  readonly topic: string;
  readonly payload: Buffer;
  /** The publishing device (its MQTT client id and thing name). */
  readonly deviceId: string;
  /** Readings the pipeline will count for this message: an unreadable payload counts as one. */
  readonly readingCount: number;
  /** Event ids of the readings the payload was built from, in order. */
  readonly eventIds: readonly string[];
  /** The transport fault this message carries, if any. A duplicate is the second copy. */
  readonly fault?: FaultKind;
  /** For malformed payloads: the code the validator rejects each of its readings with. */
  readonly expectedRejection?: RejectionCode;
  /** For `clock_skew`: how far the device clock is ahead (positive) or behind. */
  readonly clockSkewMs?: number;
}

export interface SimulationSummary {
  /** True once the iteration has ended: before that, counts cover what was published so far. */
  readonly complete: boolean;
  readonly fleetStart: string;
  readonly fleetEnd: string;
  readonly devices: number;
  readonly devicesByType: Readonly<Record<DeviceType, number>>;
  /** Messages published, duplicates included. */
  readonly messages: number;
  /** Distinct readings published (each event id once), including those in malformed messages. */
  readonly readings: number;
  readonly readingsByType: Readonly<Record<DeviceType, number>>;
  /** Readings inside messages whose payload is malformed on purpose (all quarantined). */
  readonly readingsInMalformedMessages: number;
  /** Readings taken but never sent (dropouts): the gaps in the devices' `seq`. */
  readonly readingsLost: number;
  /** Messages by transport fault. */
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** Ground-truth records by kind. */
  readonly injections: Readonly<Record<InjectionKind, number>>;
  readonly lastPublishAtMs?: number;
}

/** The readings a device publishes together, and whether a labelled injection touches them. */
interface Flush {
  readonly atMs: number;
  readonly readings: readonly Reading[];
  readonly json: readonly string[];
  readonly covered: boolean;
}

/** Bytes of the batch envelope `{"schemaVersion":1,"readings":[...]}` around the readings. */
const BATCH_OVERHEAD_BYTES = 32;

/** What a device runner is made of: the device, its models and its own random streams. */
interface DeviceParts {
  readonly device: Device;
  readonly topic: string;
  /** A real neighbour's id, for payloads that claim to come from the wrong device. */
  readonly otherDeviceId: string;
  readonly clockSkewMs: number;
  readonly schedule: ReadingSchedule;
  readonly signal: DeviceSignal;
  readonly injector: DeviceInjector;
  readonly streams: {
    readonly ids: Random;
    readonly radio: Random;
    readonly profile: Random;
    readonly transport: Random;
  };
  readonly readingsPerMessage: number;
  readonly startMs: number;
  readonly endMs: number;
}

/** One device: takes its readings on schedule, alters them as planned and batches them. */
class DeviceRunner {
  readonly device: Device;
  readonly topic: string;
  readonly otherDeviceId: string;
  readonly clockSkewMs: number;
  readonly transport: Random;
  nextAtMs: number;
  lost = 0;
  private seq: number;
  private readings: Reading[] = [];
  private json: string[] = [];
  private bytes = BATCH_OVERHEAD_BYTES;
  private covered = false;
  private readonly rssiMeanDbm: number;
  private readonly schedule: ReadingSchedule;
  private readonly signal: DeviceSignal;
  private readonly injector: DeviceInjector;
  private readonly ids: Random;
  private readonly radio: Random;
  private readonly readingsPerMessage: number;
  private readonly endMs: number;

  constructor(parts: DeviceParts) {
    this.device = parts.device;
    this.topic = parts.topic;
    this.otherDeviceId = parts.otherDeviceId;
    this.clockSkewMs = parts.clockSkewMs;
    this.transport = parts.streams.transport;
    this.schedule = parts.schedule;
    this.signal = parts.signal;
    this.injector = parts.injector;
    this.ids = parts.streams.ids;
    this.radio = parts.streams.radio;
    this.readingsPerMessage = parts.readingsPerMessage;
    this.endMs = parts.endMs;
    this.nextAtMs = parts.schedule.atOrAfter(parts.startMs);
    // Devices have been reporting for a while: counters do not start at zero.
    this.seq = parts.streams.profile.int(0, 200_000);
    this.rssiMeanDbm = parts.streams.profile.uniform(-88, -45);
  }

  get done(): boolean {
    return this.nextAtMs >= this.endMs || this.nextAtMs >= this.injector.silentFromMs;
  }

  /** Takes the reading due at `nextAtMs`; returns what to publish now (usually nothing or one flush). */
  step(): Flush[] {
    const tMs = this.nextAtMs;
    const device = this.device;
    // Everything is drawn whether or not the reading is sent, so injections and faults never shift
    // the rest of the device's data.
    const fields = this.signal.sample(tMs);
    const seq = this.seq++;
    const eventId = this.ids.uuid();
    const rssiDbm = clamp(Math.round(this.rssiMeanDbm + this.radio.normal(0, 2.5)), -120, 0);
    this.nextAtMs = this.schedule.atOrAfter(tMs + 1);
    if (this.injector.silent(tMs)) {
      this.lost++;
      return [];
    }
    this.injector.apply(fields, tMs);
    finishFields(device.deviceType, fields);
    const reading = {
      schemaVersion: CURRENT_SCHEMA_VERSION,
      eventId,
      deviceId: device.deviceId,
      timestamp: new Date(tMs + this.clockSkewMs).toISOString(),
      seq,
      firmwareVersion: device.firmwareVersion,
      rssiDbm,
      deviceType: device.deviceType,
      ...fields,
    } as Reading;
    const json = JSON.stringify(reading);

    const flushes: Flush[] = [];
    // Readings are ASCII, so characters are bytes. Cannot trigger with the contract's limits
    // (64 readings of ~400 bytes), kept so a larger reading never breaks the message limit.
    if (this.readings.length > 0 && this.bytes + json.length + 1 > MAX_MESSAGE_BYTES) {
      flushes.push(this.flush(tMs));
    }
    this.readings.push(reading);
    this.json.push(json);
    this.bytes += json.length + 1;
    this.covered ||= this.injector.covers(tMs);
    // Publish when the batch is full, or when no further reading will be sent before a gap.
    const nextSent = this.nextAtMs < this.endMs && !this.injector.silent(this.nextAtMs);
    if (this.readings.length >= this.readingsPerMessage || !nextSent) flushes.push(this.flush(tMs));
    return flushes;
  }

  private flush(atMs: number): Flush {
    const flush: Flush = { atMs, readings: this.readings, json: this.json, covered: this.covered };
    this.readings = [];
    this.json = [];
    this.bytes = BATCH_OVERHEAD_BYTES;
    this.covered = false;
    return flush;
  }
}

type QueueItem =
  | { readonly runner: DeviceRunner }
  | { readonly message: OutgoingMessage; readonly deviceType: DeviceType };

const emptyCounts = <K extends string>(keys: readonly K[]) =>
  Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;

/** A running simulation: iterate it for the messages; ground truth and registry are known upfront. */
export class FleetSimulation implements IterableIterator<OutgoingMessage> {
  readonly fleet: Fleet;
  readonly startMs: number;
  readonly endMs: number;
  private readonly runners: readonly DeviceRunner[];
  private readonly records: readonly GroundTruthRecord[];
  private readonly messages: Generator<OutgoingMessage, undefined>;
  private registryCache: Registry | undefined;
  private readonly counts = {
    complete: false,
    messages: 0,
    readings: 0,
    readingsByType: emptyCounts(DEVICE_TYPES),
    readingsInMalformedMessages: 0,
    faults: emptyCounts(FAULT_KINDS),
    lastPublishAtMs: undefined as number | undefined,
  };

  constructor(readonly options: ResolvedSimulationOptions) {
    this.startMs = options.startMs;
    this.endMs = options.startMs + Math.round(options.durationHours * HOUR_MS);
    this.fleet = buildFleet({
      seed: options.seed,
      devices: options.devices,
      startMs: options.startMs,
      ...(options.typeShares && { typeShares: options.typeShares }),
      ...(options.sensorKindShares && { sensorKindShares: options.sensorKindShares }),
    });
    const root = Random.fromSeed(options.seed);
    const placeOf = placesOf(this.fleet);
    const records: GroundTruthRecord[] = [];
    this.runners = this.fleet.devices.map((device) => {
      const prepared = this.prepare(device, root.derive(`device/${device.deviceId}`), placeOf(device));
      records.push(...prepared.records);
      return prepared.runner;
    });
    // Code-point order, not locale order: the labels' order must not depend on the machine.
    const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    this.records = records.sort(
      (a, b) => byText(a.start, b.start) || byText(a.deviceId, b.deviceId) || byText(a.kind, b.kind),
    );
    this.messages = this.run();
  }

  /** Builds one device's schedule, injection plan, signal and runner from its own streams. */
  private prepare(
    device: Device,
    streams: Random,
    place: DevicePlace,
  ): { runner: DeviceRunner; records: readonly GroundTruthRecord[] } {
    const { options, startMs, endMs } = this;
    const intervalMs = device.reportingIntervalS * 1000;
    const periodic = new PeriodicSchedule(
      startMs + Math.floor(streams.derive('phase').next() * intervalMs),
      intervalMs,
    );
    const routine =
      device.deviceType === 'smart_lock'
        ? new LockRoutine(streams.derive('routine'), place.site, place.building)
        : undefined;
    const schedule = routine ? new LockSchedule(periodic, routine) : periodic;
    const transport = streams.derive('transport');
    const clockSkewMs = planClockSkew(transport, options.faults, options.readingsPerMessage * intervalMs);
    const hvacPreference = drawHvacPreference(streams.derive('hvac-preference'));
    const signalOf = (hvacFailureAtMs?: number) =>
      createSignal({
        device,
        place,
        // The same key gives the same stream: a second signal replays the first exactly.
        rng: streams.derive('signal'),
        startMs,
        ...(routine && { routine }),
        hvacPreference,
        ...(hvacFailureAtMs !== undefined && { hvacFailureAtMs }),
      });
    /** Replays the thermostat without injections to see whether its unit runs in a span. */
    const hvacRuns = (fromMs: number, toMs: number) => {
      const replay = signalOf();
      for (let t = schedule.atOrAfter(startMs); t < toMs; t = schedule.atOrAfter(t + 1)) {
        const fields = replay.sample(t) as ThermostatFields;
        if (t >= fromMs && fields.hvacPowerW > 0) return true;
      }
      return false;
    };
    // A device with a skewed clock gets no injections: its timestamps would not match the labels.
    const plan = planInjections({
      device,
      schedule,
      rng: streams.derive('plan'),
      rates: clockSkewMs === 0 ? options.injections : NO_INJECTIONS,
      startMs,
      endMs,
      hvacControlled: hvacPreference === 'seasonal' || hvacPreference === 'auto',
      hvacRuns,
    });
    const signal = signalOf(plan.hvacFailureAtMs);
    const devices = this.fleet.devices;
    const neighbour = devices[device.index - 1] ?? devices[device.index + 1];
    const runner = new DeviceRunner({
      device,
      topic: options.basicIngest
        ? basicIngestTopic(options.basicIngest.ruleName, device.deviceId)
        : telemetryTopic(device.deviceId),
      otherDeviceId: neighbour?.deviceId ?? `${device.deviceId}-clone`,
      clockSkewMs,
      schedule,
      signal,
      injector: plan.injector,
      streams: {
        ids: streams.derive('ids'),
        radio: streams.derive('radio'),
        profile: streams.derive('profile'),
        transport,
      },
      readingsPerMessage: options.readingsPerMessage,
      startMs,
      endMs,
    });
    return { runner, records: plan.records };
  }

  next(): IteratorResult<OutgoingMessage, undefined> {
    return this.messages.next();
  }

  [Symbol.iterator](): this {
    return this;
  }

  /** The labels of every injection, sorted by start time. */
  groundTruth(): readonly GroundTruthRecord[] {
    return this.records;
  }

  /** The fleet as AWS IoT's registry would hold it. */
  registry(): Registry {
    this.registryCache ??= buildRegistry(this.fleet);
    return this.registryCache;
  }

  summary(): SimulationSummary {
    const c = this.counts;
    return {
      complete: c.complete,
      fleetStart: new Date(this.startMs).toISOString(),
      fleetEnd: new Date(this.endMs).toISOString(),
      devices: this.fleet.devices.length,
      devicesByType: countBy(this.fleet.devices, DEVICE_TYPES, (device) => device.deviceType),
      messages: c.messages,
      readings: c.readings,
      readingsByType: { ...c.readingsByType },
      readingsInMalformedMessages: c.readingsInMalformedMessages,
      readingsLost: this.runners.reduce((sum, runner) => sum + runner.lost, 0),
      faults: { ...c.faults },
      injections: countBy(this.records, INJECTION_KINDS, (record) => record.kind),
      ...(c.lastPublishAtMs !== undefined && { lastPublishAtMs: c.lastPublishAtMs }),
    };
  }

  private *run(): Generator<OutgoingMessage, undefined> {
    const queue = new PublishQueue<QueueItem>();
    for (const runner of this.runners) if (!runner.done) queue.push(runner.nextAtMs, { runner });
    for (let entry = queue.pop(); entry; entry = queue.pop()) {
      const item = entry.item;
      if ('message' in item) {
        this.count(item.message, item.deviceType);
        yield item.message;
        continue;
      }
      const runner = item.runner;
      const deviceType = runner.device.deviceType;
      const flushes = runner.step();
      // Back in the queue first, so that its next reading bounds what may go out at once.
      if (!runner.done) queue.push(runner.nextAtMs, { runner });
      for (const flush of flushes) {
        for (const message of this.publish(runner, flush)) {
          // Most messages go out at once: skip the queue unless something is due before or with them.
          if (message.publishAtMs < (queue.peekAtMs() ?? Number.POSITIVE_INFINITY)) {
            this.count(message, deviceType);
            yield message;
          } else {
            queue.push(message.publishAtMs, { message, deviceType });
          }
        }
      }
    }
    this.counts.complete = true;
    return undefined;
  }

  /** The message(s) for a flush: the healthy one, or one altered by a transport fault. */
  private publish(runner: DeviceRunner, flush: Flush): OutgoingMessage[] {
    const { device, topic } = runner;
    const batch = this.options.readingsPerMessage > 1;
    const eventIds = flush.readings.map((reading) => reading.eventId);
    const readingCount = flush.readings.length;
    // Readings are plain ASCII (ids, ISO times, numbers, enum words): latin1 encodes them as UTF-8
    // does, and faster.
    const healthy = () =>
      Buffer.from(
        batch
          ? `{"schemaVersion":${CURRENT_SCHEMA_VERSION},"readings":[${flush.json.join(',')}]}`
          : (flush.json[0] as string),
        'latin1',
      );
    const message = (
      publishAtMs: number,
      payload: Buffer,
      extra?: Partial<OutgoingMessage>,
    ): OutgoingMessage => ({
      publishAtMs,
      topic,
      payload,
      deviceId: device.deviceId,
      readingCount,
      eventIds,
      ...extra,
    });
    if (runner.clockSkewMs !== 0) {
      return [message(flush.atMs, healthy(), { fault: 'clock_skew', clockSkewMs: runner.clockSkewMs })];
    }
    const fault = drawMessageFault(runner.transport, this.options.faults, {
      publishAtMs: flush.atMs,
      endMs: this.endMs,
      messageIntervalMs: this.options.readingsPerMessage * device.reportingIntervalS * 1000,
      mayCorrupt: !flush.covered,
    });
    if (fault === undefined) return [message(flush.atMs, healthy())];
    switch (fault.kind) {
      case 'duplicate': {
        const payload = healthy();
        // QoS 1 redelivery: the very same bytes again.
        return [
          message(flush.atMs, payload),
          message(flush.atMs + fault.delayMs, Buffer.from(payload), { fault: 'duplicate' }),
        ];
      }
      case 'out_of_order':
      case 'late':
        return [message(flush.atMs + fault.delayMs, healthy(), { fault: fault.kind })];
      default: {
        const kind = fault.kind as MalformedFault;
        const corrupted = corruptPayload(kind, flush.readings, batch, runner.transport, runner.otherDeviceId);
        return [
          message(flush.atMs, corrupted.payload, {
            readingCount: corrupted.readingCount,
            fault: kind,
            expectedRejection: EXPECTED_REJECTION[kind],
          }),
        ];
      }
    }
  }

  private count(message: OutgoingMessage, deviceType: DeviceType): void {
    const c = this.counts;
    c.messages++;
    c.lastPublishAtMs = message.publishAtMs;
    if (message.fault) c.faults[message.fault]++;
    if (message.fault === 'duplicate') return;
    c.readings += message.eventIds.length;
    c.readingsByType[deviceType] += message.eventIds.length;
    if (message.expectedRejection) c.readingsInMalformedMessages += message.eventIds.length;
  }
}

function countBy<T, K extends string>(
  items: readonly T[],
  keys: readonly K[],
  keyOf: (item: T) => K,
): Record<K, number> {
  const counts = emptyCounts(keys);
  for (const item of items) counts[keyOf(item)]++;
  return counts;
}

/**
 * Simulates a fleet. Options are validated (a `SimulationOptionsError` names each bad option, the
 * value received and what is allowed) and default to 300 devices for 6 fleet hours from
 * `DEFAULT_START`, one reading per message, the default injection and fault rates.
 *
 * @example
 * const sim = simulateFleet({ seed: 7, devices: 50, durationHours: 2 });
 * for (const message of sim) publish(message.topic, message.payload);
 * console.log(sim.summary(), sim.groundTruth().length);
 */
export function simulateFleet(options: SimulationOptions = {}): FleetSimulation {
  return new FleetSimulation(resolveSimulationOptions(options));
}
