/**
 * `npm run bench`, fuzz section: the validator's classification path on 100,000 generated inputs
 * (RELIABILITY.md, fuzzing row): random bytes, mutations of valid readings, messages over 128 KiB,
 * invalid UTF-8, deep nesting, `__proto__` and other prototype keys, NaN and Infinity, huge batches,
 * each delivered plain or gzipped, inside the rule envelope or not. Every input goes through
 * `classifyRecord` (counted: crashes must be 0, and each input classified exactly once, checked by
 * {@link classificationProblems}), and every 100 of them through `planBatch` as one Kinesis event,
 * the handler's whole CPU path up to the objects it would write.
 *
 * The generators are shared with the property tests (test/lambdas/shared/classify.property.test.ts),
 * which run the same invariants on a few thousand inputs per property in `npm test`.
 */
import { gzipSync } from 'node:zlib';
import * as fc from 'fast-check';
import { type ClassifiedMessage, classifyRecord } from '../lambdas/shared/classify.ts';
import {
  DEVICE_ID_PATTERN,
  HVAC_MODES,
  LOCK_ACTIONS,
  LOCK_STATES,
  MAX_CLOCK_AHEAD_MS,
  MAX_MESSAGE_BYTES,
  MAX_READING_AGE_MS,
  MAX_READINGS_PER_MESSAGE,
  REJECTION_CODES,
  type Reading,
  reading,
  SENSOR_KIND_SPECS,
  SENSOR_KINDS,
} from '../lambdas/shared/contract.ts';
import { planBatch } from '../lambdas/validator/process-batch.ts';
import { buildKinesisEvent } from '../local/kinesis-event.ts';
import { loadValidFixtures, ruleEnvelope } from '../test/lambdas/shared/contract-fixtures.ts';

/** The arrival time of every generated record; readings' timestamps are drawn around it. */
export const ARRIVAL_MS = Date.parse('2025-03-14T09:30:05.000Z');
const KNOWN_CODES: ReadonlySet<string> = new Set(REJECTION_CODES);
const PREVIEW_MAX_CHARS = 121;

/** The contract fixtures' readings: realistic bases for mutation. */
export const seedReadings: Reading[] = loadValidFixtures().flatMap((f) => {
  const payload = f.payload as { readings?: Reading[] };
  return payload.readings ?? [f.payload as Reading];
});

/** Classifies one record's bytes as the validator does, at {@link ARRIVAL_MS}. */
export function classifyAtArrival(data: Uint8Array): ClassifiedMessage {
  return classifyRecord(data, { arrivalMs: ARRIVAL_MS });
}

/**
 * The invariants of any classification, whatever the input: every reading the message carried is
 * valid or rejected exactly once, reasons are known codes with small JSON-safe values, valid
 * readings satisfy the contract and are unique, and the payload kept for quarantine is the input.
 * Returns what is broken, in words (empty when nothing is).
 */
export function classificationProblems(
  result: ClassifiedMessage,
  input: Uint8Array,
  enveloped: boolean,
): string[] {
  const problems: string[] = [];
  if (!(result.readingCount >= 1)) problems.push(`readingCount ${result.readingCount} < 1`);
  if (result.valid.length + result.rejected.length !== result.readingCount) {
    problems.push(
      `${result.valid.length} valid + ${result.rejected.length} rejected != ${result.readingCount} readings`,
    );
  }
  const indices = new Set<number>();
  for (const rejection of result.rejected) {
    if (rejection.index === null) {
      if (result.readingCount !== 1)
        problems.push('a whole-message rejection in a message of several readings');
    } else if (
      rejection.index < 0 ||
      rejection.index >= result.readingCount ||
      indices.has(rejection.index)
    ) {
      problems.push(`rejection index ${rejection.index} out of range or repeated`);
    } else {
      indices.add(rejection.index);
    }
    if (rejection.reasons.length === 0) problems.push('a rejection without a reason');
    for (const reason of rejection.reasons) {
      if (!KNOWN_CODES.has(reason.code)) problems.push(`unknown code ${reason.code}`);
      if (typeof reason.path !== 'string') problems.push('a reason without a path');
      if (reason.expected.length === 0) problems.push('a reason without an expectation');
      if (!isSmallJsonValue(reason.received))
        problems.push(`received value too large: ${String(reason.received)}`);
    }
  }
  const eventIds = new Set<string>();
  for (const valid of result.valid) {
    if (!reading.safeParse(valid).success)
      problems.push(`valid reading ${valid.eventId} breaks the contract`);
    if (eventIds.has(valid.eventId)) problems.push(`valid reading ${valid.eventId} twice`);
    eventIds.add(valid.eventId);
  }
  try {
    // The quarantine must be able to write the reasons as JSON.
    JSON.stringify(result.rejected);
  } catch {
    problems.push('rejections do not serialise as JSON');
  }
  if (enveloped && result.rule === undefined) problems.push('an enveloped record lost its envelope');
  // Without an envelope the payload is the record itself, byte for byte (the quarantine keeps it).
  if (!enveloped && result.rule === undefined && !Buffer.from(result.payload).equals(Buffer.from(input))) {
    problems.push('the payload kept differs from the input');
  }
  return problems;
}

/** A received value is a short scalar: quarantine reasons stay small and survive JSON. */
function isSmallJsonValue(received: unknown): boolean {
  if (typeof received === 'string') return received.length <= PREVIEW_MAX_CHARS;
  if (typeof received === 'number') return Number.isFinite(received);
  return received === undefined || received === null || typeof received === 'boolean';
}

const finite = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
const whole = (min: number, max: number) => fc.integer({ min, max });

const isoTimestamp = fc
  .record({
    offsetMs: fc.integer({ min: -MAX_READING_AGE_MS, max: MAX_CLOCK_AHEAD_MS }),
    zoneMinutes: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
    precision: fc.constantFrom(0, 3),
  })
  .map(({ offsetMs, zoneMinutes, precision }) => {
    const instant = ARRIVAL_MS + offsetMs;
    const wall = new Date(instant + zoneMinutes * 60_000).toISOString();
    const text = precision === 0 ? `${wall.slice(0, 19)}` : wall.slice(0, 23);
    if (precision === 0 && instant % 1000 !== 0) {
      // Whole seconds only when the instant is one: keep the text equal to the instant.
      return new Date(instant).toISOString();
    }
    if (zoneMinutes === 0) return `${text}Z`;
    const sign = zoneMinutes > 0 ? '+' : '-';
    const abs = Math.abs(zoneMinutes);
    return `${text}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  });

const envelopeFields = {
  schemaVersion: fc.constant(1),
  eventId: fc.uuid(),
  deviceId: fc.stringMatching(DEVICE_ID_PATTERN),
  timestamp: isoTimestamp,
  seq: fc.maxSafeNat(),
  firmwareVersion: fc
    .tuple(fc.nat(99), fc.nat(99), fc.nat(999), fc.option(fc.constantFrom('-rc.1', '+build.7', '-beta')))
    .map(([a, b, c, suffix]) => `${a}.${b}.${c}${suffix ?? ''}`),
  rssiDbm: finite(-120, 0),
};

/** Any reading the contract accepts, arriving within the clock window. */
export const validReading: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({
    ...envelopeFields,
    deviceType: fc.constant('thermostat'),
    ambientTemperatureC: finite(-40, 60),
    targetTemperatureC: finite(5, 35),
    humidityPct: finite(0, 100),
    hvacMode: fc.constantFrom(...HVAC_MODES),
    hvacPowerW: finite(0, 15_000),
    energyWh: finite(0, 15_000),
  }),
  fc.record({
    ...envelopeFields,
    deviceType: fc.constant('camera'),
    fps: finite(0, 120),
    bitrateKbps: finite(0, 100_000),
    motionDetected: fc.boolean(),
    storageUsedPct: finite(0, 100),
    cpuTemperatureC: finite(-20, 120),
    uptimeS: whole(0, 10 * 365 * 24 * 3600),
  }),
  fc.record({
    ...envelopeFields,
    deviceType: fc.constant('smart_lock'),
    lockState: fc.constantFrom(...LOCK_STATES),
    batteryPct: finite(0, 100),
    lastAction: fc.constantFrom(...LOCK_ACTIONS),
    failedAttempts: whole(0, 1000),
    doorOpen: fc.boolean(),
  }),
  fc.constantFrom(...SENSOR_KINDS).chain((sensorKind) => {
    const { unit, min, max } = SENSOR_KIND_SPECS[sensorKind];
    return fc.record({
      ...envelopeFields,
      deviceType: fc.constant('sensor'),
      sensorKind: fc.constant(sensorKind),
      value: unit === 'bool' ? fc.constantFrom(0, 1) : finite(min, max),
      unit: fc.constant(unit),
      batteryPct: finite(0, 100),
    });
  }),
);

/** JSON text for numbers JSON.stringify cannot write: they must reach the parser as text. */
export const RAW_NUMBERS = [
  '1e999',
  '-1e999',
  '1e-999',
  '-0',
  '9007199254740993',
  '1E+308',
  '0.0000000000000000001',
];
export const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
];
const RAW_MARKER = '"\u0000raw\u0000"';

/** A value of another type (or an odd one of the same type) to put where a field's value was. */
export const swappedValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, false, '', 0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 'NaN', [], {}),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 300 }),
  fc.constantFrom(...PROTOTYPE_KEYS),
);

type Mutation =
  | { kind: 'delete'; field: number }
  | { kind: 'swap'; field: number; value: unknown }
  | { kind: 'raw-number'; field: number; text: string }
  | { kind: 'add'; key: string; value: unknown }
  | { kind: 'retype'; deviceType: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), field: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), field: fc.nat(), value: swappedValue }),
  fc.record({
    kind: fc.constant('raw-number' as const),
    field: fc.nat(),
    text: fc.constantFrom(...RAW_NUMBERS),
  }),
  fc.record({
    kind: fc.constant('add' as const),
    key: fc.oneof(
      fc.constantFrom(...PROTOTYPE_KEYS, 'readings', 'payload', 'topic'),
      fc.string({ maxLength: 20 }),
      fc.string({ minLength: 100, maxLength: 300 }),
    ),
    value: swappedValue,
  }),
  fc.record({
    kind: fc.constant('retype' as const),
    deviceType: fc.constantFrom('thermostat', 'camera', 'smart_lock', 'sensor', 'doorbell', '', null, 1),
  }),
);

/**
 * Applies mutations to a reading and writes it as JSON text. Keys are written as text, so
 * `__proto__` stays an ordinary key exactly as a device would send it.
 */
function mutatedText(base: Record<string, unknown>, mutations: readonly Mutation[]): string {
  const entries: [string, unknown][] = Object.entries(base);
  const raws: string[] = [];
  for (const m of mutations) {
    const at = 'field' in m && entries.length > 0 ? m.field % entries.length : -1;
    if (m.kind === 'delete' && at >= 0) entries.splice(at, 1);
    else if (m.kind === 'swap' && at >= 0) (entries[at] as [string, unknown])[1] = m.value;
    else if (m.kind === 'raw-number' && at >= 0) {
      (entries[at] as [string, unknown])[1] = RAW_MARKER;
      raws.push(m.text);
    } else if (m.kind === 'add') entries.push([m.key, m.value]);
    else if (m.kind === 'retype') entries.push(['deviceType', m.deviceType]);
  }
  let text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
  for (const raw of raws) text = text.replace(JSON.stringify(RAW_MARKER), raw);
  return text;
}

/** A contract fixture's reading or a generated valid one: the base of every mutation. */
export const readingBase = fc.oneof(fc.constantFrom(...seedReadings), validReading) as fc.Arbitrary<
  Record<string, unknown>
>;
/** A reading with up to four mutations, as JSON text. */
export const mutatedReadingText = fc
  .tuple(readingBase, fc.array(mutation, { minLength: 0, maxLength: 4 }))
  .map(([base, mutations]) => mutatedText(base, mutations));

/** How a message reaches the validator: wrapped or not in the rule envelope, gzipped or not. */
export const delivery = fc.record({
  gzip: fc.boolean(),
  envelope: fc.boolean(),
  topicDeviceId: fc.constantFrom(...seedReadings.map((r) => r.deviceId)),
});

/** The bytes a stream record carries for `text` delivered as `how` says. */
export function deliver(
  text: string | Uint8Array,
  how: { gzip: boolean; envelope: boolean; topicDeviceId: string },
) {
  let bytes: Uint8Array = typeof text === 'string' ? Buffer.from(text) : text;
  if (how.gzip) bytes = gzipSync(bytes);
  return {
    bytes: how.envelope ? ruleEnvelope(bytes, how.topicDeviceId, ARRIVAL_MS) : bytes,
    enveloped: how.envelope,
  };
}

/** A batched message's JSON text around already-written readings. */
export const batchText = (items: readonly string[], version = '1') =>
  `{"schemaVersion":${version},"readings":[${items.join(',')}]}`;

// Builders of the hostile inputs, shared by the bench's families and the property tests.

/** A message of `size` bytes (> 128 KiB: too_large) that starts like a reading and goes on with `fill`. */
export function oversizedMessage(size: number, fill: number): Buffer {
  const seed = Buffer.from(JSON.stringify(seedReadings[size % seedReadings.length]));
  const plain = Buffer.alloc(size, fill);
  seed.copy(plain);
  return plain;
}

/** Invalid UTF-8 sequences: a lone 0xff, overlong, a stray continuation, truncated, a surrogate, past U+10FFFF. */
export const INVALID_UTF8_SEQUENCES: readonly number[][] = [
  [0xff],
  [0xc0, 0xaf],
  [0x80],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
];

/** `text` with `sequence` inserted after its `at`-th byte (never before the first). */
export function withInvalidUtf8(text: string, at: number, sequence: readonly number[]): Buffer {
  const bytes = Buffer.from(text);
  const cut = 1 + (at % Math.max(1, bytes.byteLength - 1));
  return Buffer.concat([bytes.subarray(0, cut), Buffer.from(sequence), bytes.subarray(cut)]);
}

/** Where deep nesting goes: the whole message, a field, a batch item, the readings, an extra key. */
export const NESTING_PLACES = ['message', 'field', 'batch-item', 'readings', 'extra-key'] as const;

/** JSON nested `depth` levels deep (arrays or objects), put at `place` in a reading. */
export function nestedMessage(
  depth: number,
  shape: 'array' | 'object',
  place: (typeof NESTING_PLACES)[number],
): string {
  const nested =
    shape === 'array'
      ? `${'['.repeat(depth)}${']'.repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const base = JSON.stringify(seedReadings[depth % seedReadings.length]);
  switch (place) {
    case 'message':
      return nested;
    case 'field':
      return base.replace(/"seq":\d+/, `"seq":${nested}`);
    case 'batch-item':
      return batchText([base, nested]);
    case 'readings':
      return `{"schemaVersion":1,"readings":${nested}}`;
    case 'extra-key':
      return `${base.slice(0, -1)},"deep":${nested}}`;
  }
}

/** Where a prototype key goes: the reading, the batch, or the second reading of a batch. */
export const PROTOTYPE_KEY_PLACES = ['reading', 'batch', 'batch-item'] as const;

/** A message with `key` (such as `__proto__`, written as text) at `place`. */
export function withPrototypeKey(
  base: Record<string, unknown>,
  key: string,
  value: unknown,
  place: (typeof PROTOTYPE_KEY_PLACES)[number],
): string {
  const field = `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`;
  const text = JSON.stringify(base);
  const withKey = `{${field},${text.slice(1)}`;
  if (place === 'reading') return withKey;
  if (place === 'batch') return `{${field},"schemaVersion":1,"readings":[${text}]}`;
  return batchText([text, withKey]);
}

/** Number spellings JSON does not have, as devices with a careless serialiser send them. */
export const NON_FINITE_NUMBERS = ['NaN', 'Infinity', '-Infinity', '+Infinity', 'nan', 'inf'] as const;

// The bench's input mix.

/** One generated input: its family, and the bytes of the stream record. */
export interface FuzzInput {
  readonly family: string;
  readonly bytes: Uint8Array;
  readonly enveloped: boolean;
}

const delivered =
  (family: string) =>
  ([text, how]: readonly [string | Uint8Array, Parameters<typeof deliver>[1]]): FuzzInput => ({
    family,
    ...deliver(text, how),
  });

/** Bytes of any kind, some starting like gzip or like JSON. */
export const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.uint8Array({ maxLength: 512 }).map((b) => Uint8Array.from([0x1f, 0x8b, ...b])),
  fc.uint8Array({ maxLength: 512 }).map((b) => Uint8Array.from([0x7b, ...b])),
  fc.string({ unit: 'binary', maxLength: 512 }).map((s) => Buffer.from(s)),
);

/**
 * The mix, weighted towards the cheap families: inputs of 100 KB and more (oversized messages,
 * deep nesting, huge batches) are one in about seventy.
 */
export const fuzzInput: fc.Arbitrary<FuzzInput> = fc.oneof(
  { weight: 20, arbitrary: fc.tuple(randomBytes, delivery).map(delivered('random bytes')) },
  { weight: 25, arbitrary: fc.tuple(mutatedReadingText, delivery).map(delivered('mutated reading')) },
  {
    weight: 12,
    arbitrary: fc
      .tuple(
        fc.array(
          fc.oneof(
            mutatedReadingText,
            readingBase.map((r) => JSON.stringify(r)),
          ),
          {
            minLength: 1,
            maxLength: MAX_READINGS_PER_MESSAGE,
          },
        ),
        delivery,
      )
      .map(([items, how]) => delivered('mutated batch')([batchText(items), how])),
  },
  {
    weight: 10,
    arbitrary: fc
      .tuple(mutatedReadingText, fc.nat(), fc.constantFrom(...INVALID_UTF8_SEQUENCES), delivery)
      .map(([text, at, sequence, how]) =>
        delivered('invalid UTF-8')([withInvalidUtf8(text, at, sequence), how]),
      ),
  },
  {
    weight: 10,
    arbitrary: fc
      .tuple(
        readingBase,
        fc.constantFrom(...PROTOTYPE_KEYS),
        swappedValue,
        fc.constantFrom(...PROTOTYPE_KEY_PLACES),
        delivery,
      )
      .map(([base, key, value, place, how]) =>
        delivered('prototype keys')([withPrototypeKey(base, key, value, place), how]),
      ),
  },
  {
    weight: 10,
    arbitrary: fc
      .tuple(readingBase, fc.nat(), fc.constantFrom(...NON_FINITE_NUMBERS), delivery)
      .map(([base, at, spelling, how]) => {
        const numeric = Object.keys(base).filter((key) => typeof base[key] === 'number');
        const key = numeric[at % Math.max(1, numeric.length)] ?? 'seq';
        const text = JSON.stringify({ ...base, [key]: '\u0000n\u0000' }).replace(
          '"\\u0000n\\u0000"',
          spelling,
        );
        return delivered('NaN and Infinity')([text, how]);
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.integer({ min: MAX_MESSAGE_BYTES + 1, max: MAX_MESSAGE_BYTES + 64 * 1024 }),
        fc.constantFrom(0x20, 0x5b, 0x7b, 0x30, 0xff),
        delivery,
      )
      .map(([size, fill, how]) => delivered('over 128 KiB')([oversizedMessage(size, fill), how])),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 1, max: 60_000 }),
        fc.constantFrom('array' as const, 'object' as const),
        fc.constantFrom(...NESTING_PLACES),
        delivery,
      )
      .map(([depth, shape, place, how]) =>
        delivered('deep nesting')([nestedMessage(depth, shape, place), how]),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.integer({ min: MAX_READINGS_PER_MESSAGE + 1, max: 5_000 }),
        fc.constantFrom('{}', '1', 'null', '[]'),
        delivery,
      )
      .map(([count, item, how]) =>
        delivered('huge batch')([batchText(Array.from({ length: count }, () => item)), how]),
      ),
  },
);

export interface FuzzBenchConfig {
  readonly inputs: number;
  readonly seed: number;
  /** Inputs per Kinesis event through `planBatch`. */
  readonly recordsPerEvent: number;
}

/** 100,000 inputs (the proof's figure); quick: 10,000. */
export function fuzzBenchConfig(quick: boolean, inputs?: number, seed = 20261128): FuzzBenchConfig {
  return { inputs: inputs ?? (quick ? 10_000 : 100_000), seed, recordsPerEvent: 100 };
}

/** Per family of inputs, what the run found. */
export interface FuzzFamilyCounts {
  inputs: number;
  /** `classifyRecord` threw. Must be 0. */
  crashes: number;
  /** Inputs whose classification broke an invariant (not exactly once, unknown code, ...). Must be 0. */
  invariantViolations: number;
  readings: number;
  valid: number;
  rejected: number;
}

export interface FuzzBenchReport {
  readonly config: FuzzBenchConfig;
  readonly families: Readonly<Record<string, FuzzFamilyCounts>>;
  readonly total: FuzzFamilyCounts;
  /** Kinesis events through `planBatch`, and those that threw or planned a record other than once. */
  readonly events: { readonly planned: number; readonly crashes: number; readonly mismatches: number };
  /** The first problems found, for the report. */
  readonly examples: readonly string[];
  readonly seconds: number;
  readonly ok: boolean;
}

function emptyCounts(): FuzzFamilyCounts {
  return { inputs: 0, crashes: 0, invariantViolations: 0, readings: 0, valid: 0, rejected: 0 };
}

/** Samples generated per draw: bounded memory whatever the number of inputs. */
const CHUNK = 1_000;

/** Runs the fuzz section. */
export function runFuzzBench(config: FuzzBenchConfig, log: (line: string) => void): FuzzBenchReport {
  const started = performance.now();
  const families: Record<string, FuzzFamilyCounts> = {};
  const examples: string[] = [];
  const events = { planned: 0, crashes: 0, mismatches: 0 };
  const targets = {
    rawBucket: 'fuzz-raw',
    quarantineBucket: 'fuzz-quarantine',
    alertBusName: 'fuzz-alerts',
    criticalAlertTopicArn: 'arn:aws:sns:us-east-1:000000000000:fuzz-critical',
  };
  const stream = {
    streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/fuzz',
    region: 'us-east-1',
    executionRoleArn: 'arn:aws:iam::000000000000:role/fuzz',
  };
  let sequence = 0;
  for (let done = 0; done < config.inputs; ) {
    const n = Math.min(CHUNK, config.inputs - done);
    const sample = fc.sample(fuzzInput, { numRuns: n, seed: config.seed + done });
    for (const input of sample) {
      const counts = families[input.family] ?? emptyCounts();
      families[input.family] = counts;
      counts.inputs++;
      try {
        const result = classifyAtArrival(input.bytes);
        counts.readings += result.readingCount;
        counts.valid += result.valid.length;
        counts.rejected += result.rejected.length;
        const problems = classificationProblems(result, input.bytes, input.enveloped);
        if (problems.length > 0) {
          counts.invariantViolations++;
          if (examples.length < 5) examples.push(`${input.family}: ${problems.join('; ')}`);
        }
      } catch (error) {
        counts.crashes++;
        if (examples.length < 5) examples.push(`${input.family}: threw ${String(error)}`);
      }
    }
    for (let start = 0; start < sample.length; start += config.recordsPerEvent) {
      const records = sample.slice(start, start + config.recordsPerEvent).map((input) => ({
        data: input.bytes,
        partitionKey: 'fuzz',
        sequenceNumber: String(++sequence).padStart(20, '0'),
        approximateArrivalMs: ARRIVAL_MS,
        shardId: 'shardId-000000000000',
      }));
      events.planned++;
      try {
        const plan = planBatch(buildKinesisEvent(records, stream), targets);
        // Each record planned once, and each rejected record quarantined in exactly one object.
        const quarantined = plan.objects.filter((o) => o.bucket === targets.quarantineBucket);
        const rejectedRecords = plan.records.filter((r) => r.classified.rejected.length > 0).length;
        if (plan.records.length !== records.length || quarantined.length !== rejectedRecords) {
          events.mismatches++;
          if (examples.length < 5)
            examples.push(`event ${events.planned}: records or quarantine objects miscounted`);
        }
      } catch (error) {
        events.crashes++;
        if (examples.length < 5) examples.push(`event ${events.planned}: planBatch threw ${String(error)}`);
      }
    }
    done += n;
    if (done % 20_000 === 0 || done === config.inputs) log(`  fuzz: ${done.toLocaleString('en-US')} inputs`);
  }
  const total = Object.values(families).reduce<FuzzFamilyCounts>(
    (sum, c) => ({
      inputs: sum.inputs + c.inputs,
      crashes: sum.crashes + c.crashes,
      invariantViolations: sum.invariantViolations + c.invariantViolations,
      readings: sum.readings + c.readings,
      valid: sum.valid + c.valid,
      rejected: sum.rejected + c.rejected,
    }),
    emptyCounts(),
  );
  return {
    config,
    families,
    total,
    events,
    examples,
    seconds: (performance.now() - started) / 1000,
    ok:
      total.inputs === config.inputs &&
      total.crashes === 0 &&
      total.invariantViolations === 0 &&
      events.crashes === 0 &&
      events.mismatches === 0,
  };
}

/** The fuzz section of the bench's text report. */
export function renderFuzzTable(report: FuzzBenchReport): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const { total, events } = report;
  const out = [
    '',
    `sdap fuzz bench: ${fmt(total.inputs)} generated inputs through classifyRecord (seed ${report.config.seed}), every ${report.config.recordsPerEvent} also through planBatch as one Kinesis event`,
    '  family                 inputs   crashes   not exactly once   readings   valid   rejected',
  ];
  const row = (name: string, c: FuzzFamilyCounts) =>
    `  ${name.padEnd(20)}${fmt(c.inputs).padStart(9)}${fmt(c.crashes).padStart(10)}${fmt(c.invariantViolations).padStart(19)}${fmt(c.readings).padStart(11)}${fmt(c.valid).padStart(8)}${fmt(c.rejected).padStart(11)}`;
  for (const [name, counts] of Object.entries(report.families).sort((a, b) => b[1].inputs - a[1].inputs)) {
    out.push(row(name, counts));
  }
  out.push(
    row('all', total),
    `  planBatch: ${fmt(events.planned)} events, ${fmt(events.crashes)} crashes, ${fmt(events.mismatches)} with a record planned other than once`,
    ...report.examples.map((example) => `  problem: ${example}`),
    `  => ${report.ok ? 'OK' : 'FAILED'}: ${fmt(total.crashes)} crashes, ${fmt(total.invariantViolations)} inputs not classified exactly once (${report.seconds.toFixed(0)} s)`,
    '',
  );
  return out.join('\n');
}
