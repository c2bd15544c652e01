/**
 * Fuzzing the classifier: whatever bytes arrive, every record is classified exactly once and nothing
 * throws (RELIABILITY.md, fuzzing row).
 *
 * The default run is a few seconds. For the long run set SDAP_FUZZ_RUNS, the number of inputs per
 * property, e.g. `SDAP_FUZZ_RUNS=100000 npx vitest run test/lambdas/shared/classify.property.test.ts`.
 */
import { gzipSync } from 'node:zlib';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClassifiedMessage, classifyRecord } from '../../../lambdas/shared/classify.ts';
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
  telemetryMessage,
} from '../../../lambdas/shared/contract.ts';
import { loadValidFixtures, ruleEnvelope } from './contract-fixtures.ts';

const RUNS = Number(process.env.SDAP_FUZZ_RUNS ?? 2_000);
if (!Number.isInteger(RUNS) || RUNS < 1) {
  throw new Error(`SDAP_FUZZ_RUNS must be a positive integer, got '${process.env.SDAP_FUZZ_RUNS}'`);
}
/** Properties whose every input is 100 KB or more (size limit, deep nesting, huge batches) run a tenth as often. */
const HEAVY_RUNS = Math.ceil(RUNS / 10);
/** Generous per-property budget: the long run must not fail on the default 30 s test timeout. */
const TIMEOUT_MS = Math.max(30_000, RUNS * 20);
const ARRIVAL_MS = Date.parse('2025-03-14T09:30:05.000Z');
const KNOWN_CODES: ReadonlySet<string> = new Set(REJECTION_CODES);
/** Codes that depend on the record's context, not on the message alone (the contract cannot see them). */
const CONTEXT_CODES: ReadonlySet<string> = new Set([
  'timestamp_in_future',
  'timestamp_too_old',
  'device_mismatch',
  'duplicate_in_batch',
]);
const PREVIEW_MAX_CHARS = 121;

const seedReadings: Reading[] = loadValidFixtures().flatMap((f) => {
  const payload = f.payload as { readings?: Reading[] };
  return payload.readings ?? [f.payload as Reading];
});

function classify(data: Uint8Array): ClassifiedMessage {
  return classifyRecord(data, { arrivalMs: ARRIVAL_MS });
}

/** The invariants of any classification, whatever the input. Throws (fails the property) when one breaks. */
function expectClassifiedOnce(result: ClassifiedMessage, input: Uint8Array, enveloped: boolean): void {
  expect(result.readingCount).toBeGreaterThanOrEqual(1);
  expect(result.valid.length + result.rejected.length).toBe(result.readingCount);
  const indices = new Set<number>();
  for (const rejection of result.rejected) {
    if (rejection.index === null) {
      expect(result.readingCount).toBe(1);
    } else {
      expect(rejection.index).toBeGreaterThanOrEqual(0);
      expect(rejection.index).toBeLessThan(result.readingCount);
      expect(indices.has(rejection.index)).toBe(false);
      indices.add(rejection.index);
    }
    expect(rejection.reasons.length).toBeGreaterThanOrEqual(1);
    for (const reason of rejection.reasons) {
      expect(KNOWN_CODES.has(reason.code)).toBe(true);
      expect(typeof reason.path).toBe('string');
      expect(reason.expected.length).toBeGreaterThan(0);
      expectSmallJsonValue(reason.received);
    }
  }
  const eventIds = new Set<string>();
  for (const valid of result.valid) {
    expect(reading.safeParse(valid).success).toBe(true);
    expect(eventIds.has(valid.eventId)).toBe(false);
    eventIds.add(valid.eventId);
  }
  // The quarantine must be able to write the reasons as JSON.
  expect(() => JSON.stringify(result.rejected)).not.toThrow();
  if (enveloped) expect(result.rule).toBeDefined();
  // Without an envelope the payload is the record itself, byte for byte (the quarantine keeps it).
  else if (result.rule === undefined)
    expect(Buffer.from(result.payload).equals(Buffer.from(input))).toBe(true);
}

/** A received value is a short scalar: quarantine reasons stay small and survive JSON. */
function expectSmallJsonValue(received: unknown): void {
  if (typeof received === 'string') expect(received.length).toBeLessThanOrEqual(PREVIEW_MAX_CHARS);
  else if (typeof received === 'number') expect(Number.isFinite(received)).toBe(true);
  else expect(received === undefined || received === null || typeof received === 'boolean').toBe(true);
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
const validReading: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
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
const RAW_NUMBERS = [
  '1e999',
  '-1e999',
  '1e-999',
  '-0',
  '9007199254740993',
  '1E+308',
  '0.0000000000000000001',
];
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
const RAW_MARKER = '"\u0000raw\u0000"';

/** A value of another type (or an odd one of the same type) to put where a field's value was. */
const swappedValue: fc.Arbitrary<unknown> = fc.oneof(
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

const readingBase = fc.oneof(fc.constantFrom(...seedReadings), validReading) as fc.Arbitrary<
  Record<string, unknown>
>;
const mutatedReadingText = fc
  .tuple(readingBase, fc.array(mutation, { minLength: 0, maxLength: 4 }))
  .map(([base, mutations]) => mutatedText(base, mutations));

/** How a message reaches the validator: wrapped or not in the rule envelope, gzipped or not. */
const delivery = fc.record({
  gzip: fc.boolean(),
  envelope: fc.boolean(),
  topicDeviceId: fc.constantFrom(...seedReadings.map((r) => r.deviceId)),
});

function deliver(
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

const batchText = (items: readonly string[], version = '1') =>
  `{"schemaVersion":${version},"readings":[${items.join(',')}]}`;

/** Classifies and checks the invariants; this is the body of every property. */
function check(bytes: Uint8Array, enveloped: boolean): ClassifiedMessage {
  const result = classify(bytes);
  expectClassifiedOnce(result, bytes, enveloped);
  return result;
}

const property = <T>(arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, numRuns = RUNS) =>
  fc.assert(
    fc.property(arbitrary, (value) => {
      predicate(value);
    }),
    { numRuns },
  );

describe('classifyRecord on any input', () => {
  it(
    'classifies random bytes exactly once without throwing',
    () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 2048 }),
        fc.uint8Array({ maxLength: 512 }).map((b) => Uint8Array.from([0x1f, 0x8b, ...b])),
        fc.uint8Array({ maxLength: 512 }).map((b) => Uint8Array.from([0x7b, ...b])),
        fc.string({ unit: 'binary', maxLength: 512 }).map((s) => Buffer.from(s)),
      );
      property(fc.tuple(bytes, delivery), ([input, how]) => {
        const { bytes: data, enveloped } = deliver(input, how);
        check(data, enveloped);
      });
    },
    TIMEOUT_MS,
  );

  it(
    'classifies mutated readings (deleted fields, swapped types, out-of-range and huge numbers) exactly once',
    () => {
      property(fc.tuple(mutatedReadingText, delivery), ([text, how]) => {
        const { bytes, enveloped } = deliver(text, how);
        check(bytes, enveloped);
      });
    },
    TIMEOUT_MS,
  );

  it(
    'classifies batches of mutated readings exactly once, one outcome per reading',
    () => {
      const batch = fc.record({
        items: fc.array(
          fc.oneof(
            mutatedReadingText,
            readingBase.map((r) => JSON.stringify(r)),
          ),
          {
            minLength: 1,
            maxLength: MAX_READINGS_PER_MESSAGE,
          },
        ),
        version: fc.constantFrom('1', '1', '1', '2', '"1"', 'null'),
      });
      property(fc.tuple(batch, delivery), ([{ items, version }, how]) => {
        const { bytes, enveloped } = deliver(batchText(items, version), how);
        const result = check(bytes, enveloped);
        const readable = Buffer.byteLength(batchText(items, version)) <= MAX_MESSAGE_BYTES && version === '1';
        if (readable) expect(result.readingCount).toBe(items.length);
      });
    },
    TIMEOUT_MS,
  );

  it(
    'rejects any message over 128 KiB as too_large, plain or gzipped',
    () => {
      const oversized = fc.record({
        size: fc.integer({ min: MAX_MESSAGE_BYTES + 1, max: MAX_MESSAGE_BYTES + 64 * 1024 }),
        fill: fc.constantFrom(0x20, 0x5b, 0x7b, 0x30, 0xff),
        gzip: fc.boolean(),
        envelope: fc.boolean(),
      });
      property(
        oversized,
        ({ size, fill, gzip, envelope }) => {
          const seed = Buffer.from(JSON.stringify(seedReadings[size % seedReadings.length]));
          const plain = Buffer.alloc(size, fill);
          seed.copy(plain);
          const { bytes, enveloped } = deliver(plain, { gzip, envelope, topicDeviceId: 'sensor-1' });

          const result = check(bytes, enveloped);

          expect(result.rejected.flatMap((r) => r.reasons.map((x) => x.code))).toEqual(['too_large']);
        },
        HEAVY_RUNS,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'rejects readings with invalid UTF-8 sequences as not_utf8',
    () => {
      const invalidSequences = [
        [0xff],
        [0xc0, 0xaf],
        [0x80],
        [0xe2, 0x82],
        [0xed, 0xa0, 0x80],
        [0xf4, 0x90, 0x80, 0x80],
      ];
      const input = fc.record({
        base: mutatedReadingText,
        at: fc.nat(),
        sequence: fc.constantFrom(...invalidSequences),
        how: delivery,
      });
      property(input, ({ base, at, sequence, how }) => {
        const text = Buffer.from(base);
        const cut = 1 + (at % Math.max(1, text.byteLength - 1));
        const raw = Buffer.concat([text.subarray(0, cut), Buffer.from(sequence), text.subarray(cut)]);
        const { bytes, enveloped } = deliver(raw, how);

        const result = check(bytes, enveloped);

        // (A direct record with string `payload` and `topic` fields is read as an envelope: skip those.)
        if (raw.byteLength <= MAX_MESSAGE_BYTES && (enveloped || result.rule === undefined)) {
          expect(result.rejected.flatMap((r) => r.reasons.map((x) => x.code))).toEqual(['not_utf8']);
        }
      });
    },
    TIMEOUT_MS,
  );

  it(
    'classifies deeply nested JSON (up to 60,000 levels) exactly once without a stack overflow',
    () => {
      const nesting = fc.record({
        depth: fc.integer({ min: 1, max: 60_000 }),
        shape: fc.constantFrom('array', 'object'),
        place: fc.constantFrom('message', 'field', 'batch-item', 'readings', 'extra-key'),
        how: delivery,
      });
      property(
        nesting,
        ({ depth, shape, place, how }) => {
          const nested =
            shape === 'array'
              ? `${'['.repeat(depth)}${']'.repeat(depth)}`
              : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
          const base = JSON.stringify(seedReadings[depth % seedReadings.length]);
          const text =
            place === 'message'
              ? nested
              : place === 'field'
                ? base.replace(/"seq":\d+/, `"seq":${nested}`)
                : place === 'batch-item'
                  ? batchText([base, nested])
                  : place === 'readings'
                    ? `{"schemaVersion":1,"readings":${nested}}`
                    : `${base.slice(0, -1)},"deep":${nested}}`;
          const { bytes, enveloped } = deliver(text, how);
          check(bytes, enveloped);
        },
        HEAVY_RUNS,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'never lets __proto__ or constructor keys reach a valid reading or the prototype',
    () => {
      const input = fc.record({
        base: readingBase,
        key: fc.constantFrom(...PROTOTYPE_KEYS),
        value: swappedValue,
        place: fc.constantFrom('reading', 'batch', 'batch-item'),
        how: delivery,
      });
      property(input, ({ base, key, value, place, how }) => {
        const field = `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`;
        const text = JSON.stringify(base);
        const withKey = `{${field},${text.slice(1)}`;
        const message =
          place === 'reading'
            ? withKey
            : place === 'batch'
              ? `{${field},"schemaVersion":1,"readings":[${text}]}`
              : batchText([text, withKey]);
        const { bytes, enveloped } = deliver(message, how);

        const result = check(bytes, enveloped);

        expect(result.rejected.length).toBeGreaterThanOrEqual(1);
        for (const valid of result.valid) expect(Object.hasOwn(valid, key)).toBe(false);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.getPrototypeOf({})).toBe(Object.prototype);
      });
    },
    TIMEOUT_MS,
  );

  it(
    'rejects huge batches as a whole, counting the message once',
    () => {
      const input = fc.record({
        count: fc.integer({ min: MAX_READINGS_PER_MESSAGE + 1, max: 5_000 }),
        item: fc.constantFrom('{}', '1', 'null', '[]', JSON.stringify(seedReadings[0])),
        how: delivery,
      });
      property(
        input,
        ({ count, item, how }) => {
          const text = batchText(Array.from({ length: count }, () => item));
          const { bytes, enveloped } = deliver(text, how);

          const result = check(bytes, enveloped);

          const expected = Buffer.byteLength(text) > MAX_MESSAGE_BYTES ? 'too_large' : 'too_many_readings';
          expect(result.rejected.flatMap((r) => r.reasons.map((x) => x.code))).toEqual([expected]);
          expect(result.readingCount).toBe(1);
        },
        HEAVY_RUNS,
      );
    },
    TIMEOUT_MS,
  );
});

describe('classifyRecord agrees with the contract', () => {
  it(
    'classifies every reading the contract accepts as valid, in every delivery',
    () => {
      property(
        fc.tuple(
          fc.uniqueArray(validReading, { minLength: 1, maxLength: 8, selector: (r) => r.eventId }),
          fc.boolean(),
          delivery,
        ),
        ([readings, batched, how]) => {
          // One device per message, as the topic rule enforces.
          const deviceId = String(readings[0]?.deviceId);
          const payload = batched
            ? { schemaVersion: 1, readings: readings.map((r) => ({ ...r, deviceId })) }
            : readings[0];
          const { bytes, enveloped } = deliver(JSON.stringify(payload), { ...how, topicDeviceId: deviceId });

          const result = check(bytes, enveloped);

          expect(result.rejected).toEqual([]);
          expect(result.valid).toHaveLength(batched ? readings.length : 1);
        },
      );
    },
    TIMEOUT_MS,
  );

  it(
    'rejects a message for a contract reason exactly when the zod contract rejects it',
    () => {
      const message = fc.oneof(
        mutatedReadingText,
        fc.array(mutatedReadingText, { minLength: 1, maxLength: 5 }).map((items) => batchText(items)),
      );
      property(message, (text) => {
        const result = check(Buffer.from(text), false);

        const contractAccepts = telemetryMessage.safeParse(JSON.parse(text)).success;
        const contractReasons = result.rejected
          .flatMap((r) => r.reasons)
          .filter((x) => !CONTEXT_CODES.has(x.code));
        expect(contractReasons.length === 0).toBe(contractAccepts);
      });
    },
    TIMEOUT_MS,
  );
});
