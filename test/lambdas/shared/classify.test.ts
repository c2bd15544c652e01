import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type ClassifiedMessage, classifyRecord } from '../../../lambdas/shared/classify.ts';
import {
  MAX_CLOCK_AHEAD_MS,
  MAX_MESSAGE_BYTES,
  MAX_READING_AGE_MS,
  REJECTION_CODES,
  type Reading,
  SENSOR_KIND_SPECS,
  SENSOR_KINDS,
  SENSOR_UNITS,
  type SensorReading,
  telemetryTopic,
} from '../../../lambdas/shared/contract.ts';
import {
  type InvalidFixture,
  loadInvalidFixtures,
  loadValidFixtures,
  ruleEnvelope,
  topicDeviceIdOf,
} from './contract-fixtures.ts';

const validFixtures = loadValidFixtures();
const invalidFixtures = loadInvalidFixtures();

const bytesOf = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));
const readingsOf = (payload: unknown): unknown[] => {
  const message = payload as { readings?: unknown[] };
  return Array.isArray(message.readings) ? message.readings : [payload];
};
const fixtureNamed = (name: string) => {
  const fixture = validFixtures.find((f) => f.name === `v1/valid/${name}.json`);
  if (!fixture) throw new Error(`no valid fixture ${name}`);
  return fixture;
};

/** Readings taken at a fixed instant, for tests that build their own messages. */
const ARRIVAL_MS = Date.parse('2025-03-14T09:30:05.000Z');
const thermostat = readingsOf(fixtureNamed('thermostat').payload)[0] as Reading;
const smoke = readingsOf(fixtureNamed('sensor-smoke').payload)[0] as SensorReading;
const thermostatBatch = fixtureNamed('batch-thermostat').payload as { schemaVersion: 1; readings: Reading[] };

describe('classifyRecord with the valid fixtures', () => {
  it.each(validFixtures.map((f) => [f.name, f] as const))(
    'classifies %s as valid when put on the stream directly',
    (_, fixture) => {
      const result = classifyRecord(fixture.bytes, { arrivalMs: fixture.arrivalMs });

      expect(result.rejected).toEqual([]);
      expect(result.valid).toEqual(readingsOf(fixture.payload));
      expect(result.readingCount).toBe(result.valid.length);
      expect(result.rule).toBeUndefined();
      expect(Buffer.from(result.payload).equals(Buffer.from(fixture.bytes))).toBe(true);
    },
  );

  it.each(validFixtures.map((f) => [f.name, f] as const))(
    'classifies %s as valid inside the IoT rule envelope',
    (_, fixture) => {
      const deviceId = topicDeviceIdOf(fixture);
      const receivedAtMs = fixture.arrivalMs - 40;

      const result = classifyRecord(ruleEnvelope(fixture.bytes, deviceId, receivedAtMs), {
        arrivalMs: fixture.arrivalMs,
      });

      expect(result.rejected).toEqual([]);
      expect(result.valid).toEqual(readingsOf(fixture.payload));
      expect(result.rule).toEqual({ topic: telemetryTopic(deviceId), deviceId, receivedAtMs });
      expect(Buffer.from(result.payload).equals(Buffer.from(fixture.bytes))).toBe(true);
    },
  );

  it.each(validFixtures.map((f) => [f.name, f] as const))(
    'decompresses %s when the device gzips it',
    (_, fixture) => {
      const gzipped = gzipSync(fixture.bytes);

      const direct = classifyRecord(gzipped, { arrivalMs: fixture.arrivalMs });
      const enveloped = classifyRecord(ruleEnvelope(gzipped, topicDeviceIdOf(fixture), fixture.arrivalMs), {
        arrivalMs: fixture.arrivalMs,
      });

      for (const result of [direct, enveloped]) {
        expect(result.rejected).toEqual([]);
        expect(result.valid).toEqual(readingsOf(fixture.payload));
        // The quarantine and audit trail keep the device's bytes as sent: still compressed.
        expect(Buffer.from(result.payload).equals(gzipped)).toBe(true);
      }
    },
  );
});

describe('classifyRecord with the invalid fixtures', () => {
  /** How a fixture reaches the validator: straight from a producer, or through the topic rule. */
  const deliveries = (fixture: InvalidFixture): [string, Uint8Array][] => {
    const enveloped = ruleEnvelope(fixture.bytes, topicDeviceIdOf(fixture), fixture.arrivalMs);
    // A topic device id only exists on the IoT path; without the topic the fixture means nothing.
    return fixture.topicDeviceId === undefined
      ? [
          ['direct', fixture.bytes],
          ['rule envelope', enveloped],
        ]
      : [['rule envelope', enveloped]];
  };
  const cases = invalidFixtures.flatMap((fixture) =>
    deliveries(fixture).map(([how, bytes]) => [fixture.name, how, fixture, bytes] as const),
  );

  it.each(cases)('rejects %s (%s) with exactly its code at its path', (_, __, fixture, bytes) => {
    const { index, path, received, expectedIncludes } = fixture.rejection;

    const result = classifyRecord(bytes, { arrivalMs: fixture.arrivalMs });

    expect(result.rejected).toHaveLength(1);
    const [rejection] = result.rejected;
    expect(rejection?.index).toBe(index);
    expect(rejection?.reasons).toHaveLength(1);
    const [reason] = rejection?.reasons ?? [];
    expect(reason?.code).toBe(fixture.code);
    expect(reason?.path).toBe(path);
    // What a person reading the quarantine sees: the value sent and what the contract wants.
    expect(reason?.received).toEqual(received);
    expect(reason?.expected).toContain(expectedIncludes);
    expect(result.valid).toHaveLength(index === null ? 0 : result.readingCount - 1);
    expect(result.readingCount).toBe(result.valid.length + result.rejected.length);
    expect(Buffer.from(result.payload).equals(Buffer.from(fixture.bytes))).toBe(true);
  });

  it('has a fixture for every rejection code a payload can produce', () => {
    // validator_error marks the validator's own failures (a bug, a dependency down), never a payload.
    const producible = REJECTION_CODES.filter((code) => code !== 'validator_error');

    const covered = new Set(invalidFixtures.map((f) => f.code));

    expect(producible.filter((code) => !covered.has(code))).toEqual([]);
  });
});

describe('classifyRecord', () => {
  const classify = (data: Uint8Array, arrivalMs = ARRIVAL_MS): ClassifiedMessage =>
    classifyRecord(data, { arrivalMs });
  const codesOf = (result: ClassifiedMessage) => result.rejected.flatMap((r) => r.reasons.map((x) => x.code));

  describe('size limit', () => {
    /** A valid reading padded with trailing whitespace (legal JSON) to exactly `size` bytes. */
    const paddedTo = (size: number): Uint8Array => {
      const text = JSON.stringify(thermostat);
      return Buffer.from(text + ' '.repeat(size - Buffer.byteLength(text)));
    };

    it('accepts a message of exactly 128 KiB', () => {
      const result = classify(paddedTo(MAX_MESSAGE_BYTES));

      expect(result.valid).toEqual([thermostat]);
    });

    it('fails when a message is one byte over 128 KiB, naming its size', () => {
      const result = classify(paddedTo(MAX_MESSAGE_BYTES + 1));

      expect(result.rejected).toEqual([
        {
          index: null,
          reasons: [
            {
              code: 'too_large',
              path: '',
              received: `${MAX_MESSAGE_BYTES + 1} bytes`,
              expected: 'at most 131072 bytes (the AWS IoT Core message limit)',
            },
          ],
        },
      ]);
      expect(result.readingCount).toBe(1);
    });

    it('fails when an oversized message arrives inside the rule envelope', () => {
      const bytes = ruleEnvelope(paddedTo(MAX_MESSAGE_BYTES + 500), thermostat.deviceId, ARRIVAL_MS);

      expect(codesOf(classify(bytes))).toEqual(['too_large']);
    });

    it('fails when gzip inflates past the limit (a gzip bomb), without inflating it all', () => {
      const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, '['));

      const result = classify(bomb);

      expect(bomb.byteLength).toBeLessThan(MAX_MESSAGE_BYTES);
      expect(result.rejected[0]?.reasons).toEqual([
        expect.objectContaining({ code: 'too_large', received: 'gzip that inflates past the limit' }),
      ]);
    });

    it('accepts gzip that inflates to exactly 128 KiB', () => {
      const result = classify(gzipSync(paddedTo(MAX_MESSAGE_BYTES)));

      expect(result.valid).toEqual([thermostat]);
    });
  });

  describe('batches', () => {
    it('rejects only the bad reading of a batch and keeps the others valid', () => {
      const readings = thermostatBatch.readings.map((r, i) => (i === 1 ? { ...r, humidityPct: 140 } : r));

      const result = classify(bytesOf({ schemaVersion: 1, readings }));

      expect(result.valid).toEqual([readings[0], readings[2]]);
      expect(result.rejected).toEqual([
        {
          index: 1,
          eventId: readings[1]?.eventId,
          reasons: [
            { code: 'out_of_range', path: 'readings[1].humidityPct', received: 140, expected: 'at most 100' },
          ],
        },
      ]);
      expect(result.readingCount).toBe(3);
    });

    it('keeps the first reading with an eventId and rejects each later one as duplicate_in_batch', () => {
      const first = thermostatBatch.readings[0] as Reading;
      const readings = [first, thermostatBatch.readings[1], { ...first, seq: first.seq + 5 }, first];

      const result = classify(bytesOf({ schemaVersion: 1, readings }));

      expect(result.valid).toEqual([first, thermostatBatch.readings[1]]);
      expect(result.rejected.map((r) => r.index)).toEqual([2, 3]);
      for (const rejection of result.rejected) {
        expect(rejection.eventId).toBe(first.eventId);
        expect(rejection.reasons).toEqual([
          {
            code: 'duplicate_in_batch',
            path: `readings[${rejection.index}].eventId`,
            received: first.eventId,
            expected: 'an eventId not used by an earlier reading of the same message',
          },
        ]);
      }
    });

    it('accepts the same eventId in two different messages (de-duplication across messages is downstream)', () => {
      const once = classify(bytesOf(thermostat));
      const again = classify(bytesOf(thermostat));

      expect([...once.valid, ...again.valid]).toEqual([thermostat, thermostat]);
    });

    it('fails when a batch item is not an object, rejecting that item only', () => {
      const result = classify(bytesOf({ schemaVersion: 1, readings: [thermostat, null, [1, 2]] }));

      expect(result.valid).toEqual([thermostat]);
      expect(result.rejected).toEqual([
        {
          index: 1,
          reasons: [
            { code: 'not_an_object', path: 'readings[1]', received: null, expected: 'a JSON object' },
          ],
        },
        {
          index: 2,
          reasons: [
            {
              code: 'not_an_object',
              path: 'readings[2]',
              received: 'an array of 2',
              expected: 'a JSON object',
            },
          ],
        },
      ]);
    });
  });

  describe('device named by the topic', () => {
    it('fails when a reading names another device than its topic', () => {
      const result = classify(ruleEnvelope(bytesOf(thermostat), 'thermostat-attic-09', ARRIVAL_MS));

      expect(result.valid).toEqual([]);
      expect(result.rejected[0]?.reasons).toEqual([
        {
          code: 'device_mismatch',
          path: 'deviceId',
          received: thermostat.deviceId,
          expected: "'thermostat-attic-09', the device named by the topic it was published to",
        },
      ]);
    });

    it('rejects only the readings of a batch that name another device', () => {
      const readings = thermostatBatch.readings.map((r, i) =>
        i === 2 ? { ...r, deviceId: 'thermostat-attic-09' } : r,
      );
      const bytes = ruleEnvelope(bytesOf({ schemaVersion: 1, readings }), thermostat.deviceId, ARRIVAL_MS);

      const result = classify(bytes);

      expect(result.valid).toEqual(readings.slice(0, 2));
      expect(result.rejected.map((r) => [r.index, r.reasons.map((x) => `${x.code} at ${x.path}`)])).toEqual([
        [2, ['device_mismatch at readings[2].deviceId']],
      ]);
    });

    it('does not check the device of a record put on the stream directly (there is no topic)', () => {
      const result = classify(bytesOf({ ...thermostat, deviceId: 'thermostat-attic-09' }));

      expect(result.rejected).toEqual([]);
    });
  });

  describe('timestamps relative to arrival', () => {
    const at = (timestamp: string) => classify(bytesOf({ ...thermostat, timestamp }));
    const iso = (ms: number) => new Date(ms).toISOString();

    it('accepts a reading exactly 5 minutes ahead of arrival (device clocks drift)', () => {
      expect(at(iso(ARRIVAL_MS + MAX_CLOCK_AHEAD_MS)).rejected).toEqual([]);
    });

    it('fails when a reading is more than 5 minutes ahead of arrival, naming the latest time allowed', () => {
      const timestamp = iso(ARRIVAL_MS + MAX_CLOCK_AHEAD_MS + 1);

      expect(at(timestamp).rejected[0]?.reasons).toEqual([
        {
          code: 'timestamp_in_future',
          path: 'timestamp',
          received: timestamp,
          expected: 'no later than 2025-03-14T09:35:05.000Z (arrival + 5 min)',
        },
      ]);
    });

    it('accepts a reading exactly 7 days old', () => {
      expect(at(iso(ARRIVAL_MS - MAX_READING_AGE_MS)).rejected).toEqual([]);
    });

    it('fails when a reading is more than 7 days old, naming the earliest time allowed', () => {
      const timestamp = iso(ARRIVAL_MS - MAX_READING_AGE_MS - 1);

      expect(at(timestamp).rejected[0]?.reasons).toEqual([
        {
          code: 'timestamp_too_old',
          path: 'timestamp',
          received: timestamp,
          expected: 'no earlier than 2025-03-07T09:30:05.000Z (arrival - 7 days)',
        },
      ]);
    });

    it('compares instants, not wall-clock text: a +05:30 offset that is on time is accepted', () => {
      // 15:00:05+05:30 is 09:30:05Z, the arrival instant, though its wall clock reads 5½ hours ahead.
      expect(at('2025-03-14T15:00:05+05:30').rejected).toEqual([]);
      expect(codesOf(at('2025-03-14T15:06:05+05:30'))).toEqual(['timestamp_in_future']);
    });

    it('judges every reading of a batch on its own', () => {
      const readings = thermostatBatch.readings.map((r, i) =>
        i === 0
          ? { ...r, timestamp: '2024-12-24T18:00:00Z' }
          : i === 2
            ? { ...r, timestamp: '2025-03-15T00:00:00Z' }
            : r,
      );

      const result = classify(bytesOf({ schemaVersion: 1, readings }));

      expect(result.valid).toEqual([readings[1]]);
      expect(result.rejected.map((r) => [r.index, r.reasons[0]?.code])).toEqual([
        [0, 'timestamp_too_old'],
        [2, 'timestamp_in_future'],
      ]);
    });
  });

  describe('sensor kinds and units', () => {
    const sensor = (sensorKind: SensorReading['sensorKind'], value: number, unit: string) =>
      classify(bytesOf({ ...smoke, sensorKind, value, unit }));

    it.each(SENSOR_KINDS)('accepts a %s sensor at both ends of its range, in its unit', (kind) => {
      const { unit, min, max } = SENSOR_KIND_SPECS[kind];

      expect(sensor(kind, min, unit).rejected).toEqual([]);
      expect(sensor(kind, max, unit).rejected).toEqual([]);
    });

    it.each(SENSOR_KINDS)(
      'fails when a %s sensor reports in another unit, naming the unit it must use',
      (kind) => {
        const { unit, min } = SENSOR_KIND_SPECS[kind];
        const wrongUnit = SENSOR_UNITS.find((u) => u !== unit) as string;

        expect(sensor(kind, min, wrongUnit).rejected[0]?.reasons).toEqual([
          {
            code: 'schema_violation',
            path: 'unit',
            received: wrongUnit,
            expected: `a ${kind} sensor reports in '${unit}'`,
          },
        ]);
      },
    );

    it.each(SENSOR_KINDS.filter((kind) => SENSOR_KIND_SPECS[kind].unit !== 'bool'))(
      'fails when a %s sensor reads outside its physical range, naming the range',
      (kind) => {
        const { unit, min, max } = SENSOR_KIND_SPECS[kind];

        const result = sensor(kind, max + 1, unit);

        expect(result.rejected[0]?.reasons).toEqual([
          {
            code: 'out_of_range',
            path: 'value',
            received: max + 1,
            expected: `between ${min} and ${max} ${unit} for a ${kind} sensor`,
          },
        ]);
      },
    );

    it.each(SENSOR_KINDS.filter((kind) => SENSOR_KIND_SPECS[kind].unit === 'bool'))(
      'fails when a binary %s sensor reports anything but 0 or 1',
      (kind) => {
        for (const value of [0.5, 0.999, 2, -1]) {
          expect(sensor(kind, value, 'bool').rejected[0]?.reasons).toEqual([
            { code: 'out_of_range', path: 'value', received: value, expected: `0 or 1 for a ${kind} sensor` },
          ]);
        }
      },
    );

    it('reports both a wrong unit and an out-of-range value of the same reading', () => {
      const result = sensor('co2', 50, 'pct');

      expect(codesOf(result).sort()).toEqual(['out_of_range', 'schema_violation']);
    });

    it('fails when the sensor kind is unknown, skipping the kind-specific unit and range checks', () => {
      const result = sensor('radiation' as SensorReading['sensorKind'], 1e6, 'Sv');

      expect(result.rejected[0]?.reasons.map((r) => `${r.code} at ${r.path}`)).toEqual([
        'schema_violation at sensorKind',
        'schema_violation at unit',
      ]);
    });
  });

  describe('messages that are not readings', () => {
    it.each([
      ['null', null],
      ['a number', 42],
      ['a string', 'hello'],
      ['a boolean', true],
    ])('fails when the message is %s, not an object', (_, value) => {
      const result = classify(bytesOf(value));

      expect(result.rejected).toEqual([
        {
          index: null,
          reasons: [{ code: 'not_an_object', path: '', received: value, expected: 'a JSON object' }],
        },
      ]);
    });

    it('fails when the message is empty', () => {
      expect(codesOf(classify(new Uint8Array()))).toEqual(['not_json']);
    });

    it('shortens a long received value to 120 characters', () => {
      const result = classify(bytesOf({ ...thermostat, hvacMode: 'x'.repeat(5000) }));

      expect(result.rejected[0]?.reasons[0]?.received).toBe(`${'x'.repeat(120)}…`);
    });

    it('shortens the list of unknown fields and an over-long timestamp', () => {
      const extra = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`extraField${i}`, i]));
      const longTimestamp = `2020-01-01T00:00:00.${'0'.repeat(3000)}Z`;

      const unknownFields = classify(bytesOf({ ...thermostat, ...extra })).rejected[0]?.reasons[0];
      const oldTimestamp = classify(bytesOf({ ...thermostat, timestamp: longTimestamp })).rejected[0]
        ?.reasons[0];

      expect(unknownFields?.code).toBe('schema_violation');
      expect(String(unknownFields?.received)).toMatch(/^extraField0, extraField1, .*…$/);
      expect(String(unknownFields?.received).length).toBeLessThanOrEqual(121);
      expect(oldTimestamp?.code).toBe('timestamp_too_old');
      expect(String(oldTimestamp?.received).length).toBeLessThanOrEqual(121);
    });

    it('renders a number too large for a double (1e999) as the text Infinity, which JSON can carry', () => {
      const text = JSON.stringify(thermostat).replace('"energyWh":15.4', '"energyWh":1e999');

      const reasons = classify(Buffer.from(text)).rejected[0]?.reasons;

      expect(reasons).toEqual([
        { code: 'schema_violation', path: 'energyWh', received: 'Infinity', expected: 'a number' },
      ]);
    });
  });

  describe('rule envelope', () => {
    it('treats a record with a payload and a topic as the rule envelope and reports what the rule saw', () => {
      const bytes = ruleEnvelope(bytesOf(thermostat), thermostat.deviceId, ARRIVAL_MS - 250);

      const result = classify(bytes);

      expect(result.rule).toEqual({
        topic: telemetryTopic(thermostat.deviceId),
        deviceId: thermostat.deviceId,
        receivedAtMs: ARRIVAL_MS - 250,
      });
      expect(Buffer.from(result.payload).toString()).toBe(JSON.stringify(thermostat));
    });

    it('unwraps the envelope once only: a payload shaped like an envelope is judged as a reading', () => {
      const inner = ruleEnvelope(bytesOf(thermostat), thermostat.deviceId, ARRIVAL_MS);

      const result = classify(ruleEnvelope(inner, thermostat.deviceId, ARRIVAL_MS));

      expect(result.valid).toEqual([]);
      expect(codesOf(result)).toEqual(['unsupported_schema_version']);
    });

    it('fails when the enveloped payload is not valid UTF-8, keeping the original bytes', () => {
      const bytes = Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]);

      const result = classify(ruleEnvelope(bytes, 'sensor-1', ARRIVAL_MS));

      expect(codesOf(result)).toEqual(['not_utf8']);
      expect(Buffer.from(result.payload).equals(bytes)).toBe(true);
    });
  });
});
