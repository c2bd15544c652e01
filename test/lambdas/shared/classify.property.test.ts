/**
 * Fuzzing the classifier: whatever bytes arrive, every record is classified exactly once and nothing
 * throws (RELIABILITY.md, fuzzing row).
 *
 * The default run is a few seconds. For the long run set SDAP_FUZZ_RUNS, the number of inputs per
 * property, e.g. `SDAP_FUZZ_RUNS=100000 npx vitest run test/lambdas/shared/classify.property.test.ts`.
 */
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batchText,
  classificationProblems,
  classifyAtArrival,
  deliver,
  delivery,
  INVALID_UTF8_SEQUENCES,
  mutatedReadingText,
  NESTING_PLACES,
  nestedMessage,
  oversizedMessage,
  PROTOTYPE_KEY_PLACES,
  PROTOTYPE_KEYS,
  randomBytes,
  readingBase,
  seedReadings,
  swappedValue,
  validReading,
  withInvalidUtf8,
  withPrototypeKey,
} from '../../../bench/fuzz.ts';
import type { ClassifiedMessage } from '../../../lambdas/shared/classify.ts';
import {
  MAX_MESSAGE_BYTES,
  MAX_READINGS_PER_MESSAGE,
  telemetryMessage,
} from '../../../lambdas/shared/contract.ts';

const RUNS = Number(process.env.SDAP_FUZZ_RUNS ?? 2_000);
if (!Number.isInteger(RUNS) || RUNS < 1) {
  throw new Error(`SDAP_FUZZ_RUNS must be a positive integer, got '${process.env.SDAP_FUZZ_RUNS}'`);
}
/** Properties whose every input is 100 KB or more (size limit, deep nesting, huge batches) run a tenth as often. */
const HEAVY_RUNS = Math.ceil(RUNS / 10);
/** Generous per-property budget: the long run must not fail on the default 30 s test timeout. */
const TIMEOUT_MS = Math.max(30_000, RUNS * 20);
/** Codes that depend on the record's context, not on the message alone (the contract cannot see them). */
const CONTEXT_CODES: ReadonlySet<string> = new Set([
  'timestamp_in_future',
  'timestamp_too_old',
  'device_mismatch',
  'duplicate_in_batch',
]);

/** Classifies and checks the invariants; this is the body of every property. */
function check(bytes: Uint8Array, enveloped: boolean): ClassifiedMessage {
  const result = classifyAtArrival(bytes);
  expect(classificationProblems(result, bytes, enveloped)).toEqual([]);
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
      property(fc.tuple(randomBytes, delivery), ([input, how]) => {
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
          const plain = oversizedMessage(size, fill);
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
      const input = fc.record({
        base: mutatedReadingText,
        at: fc.nat(),
        sequence: fc.constantFrom(...INVALID_UTF8_SEQUENCES),
        how: delivery,
      });
      property(input, ({ base, at, sequence, how }) => {
        const raw = withInvalidUtf8(base, at, sequence);
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
        shape: fc.constantFrom('array' as const, 'object' as const),
        place: fc.constantFrom(...NESTING_PLACES),
        how: delivery,
      });
      property(
        nesting,
        ({ depth, shape, place, how }) => {
          const { bytes, enveloped } = deliver(nestedMessage(depth, shape, place), how);
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
        place: fc.constantFrom(...PROTOTYPE_KEY_PLACES),
        how: delivery,
      });
      property(input, ({ base, key, value, place, how }) => {
        const { bytes, enveloped } = deliver(withPrototypeKey(base, key, value, place), how);

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
