import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyRecord } from '../../../lambdas/shared/classify.ts';
import {
  basicIngestTopic,
  CURRENT_SCHEMA_VERSION,
  DEVICE_ID_PATTERN,
  DEVICE_TYPES,
  deviceIdFromTopic,
  MAX_READINGS_PER_MESSAGE,
  reading,
  SENSOR_KIND_SPECS,
  SENSOR_KINDS,
  SENSOR_UNITS,
  SUPPORTED_SCHEMA_VERSIONS,
  TELEMETRY_TOPIC_FILTER,
  TOPIC_DEVICE_ID_LEVEL,
  telemetryMessage,
  telemetryTopic,
} from '../../../lambdas/shared/contract.ts';
import { loadInvalidFixtures, loadValidFixtures } from './contract-fixtures.ts';

const readingsOf = (payload: unknown): Record<string, unknown>[] => {
  const message = payload as { readings?: Record<string, unknown>[] };
  return message.readings ?? [payload as Record<string, unknown>];
};

describe('topics', () => {
  it('names the telemetry topic of a device', () => {
    expect(telemetryTopic('thermostat-hallway-01')).toBe('dt/sdap/thermostat-hallway-01/telemetry');
  });

  it('names the Basic Ingest topic of a device, which skips the message broker', () => {
    expect(basicIngestTopic('sdap_telemetry', 'lock-backdoor-01')).toBe(
      '$aws/rules/sdap_telemetry/dt/sdap/lock-backdoor-01/telemetry',
    );
  });

  it('puts the device id at the level the IoT rule reads with topic(n)', () => {
    expect(telemetryTopic('camera-02').split('/')[TOPIC_DEVICE_ID_LEVEL - 1]).toBe('camera-02');
    expect(TELEMETRY_TOPIC_FILTER.split('/')[TOPIC_DEVICE_ID_LEVEL - 1]).toBe('+');
  });

  it('reads the device id back from both topic forms, for every valid thing name', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(DEVICE_ID_PATTERN),
        fc.stringMatching(/^[a-zA-Z0-9_]{1,128}$/),
        (id, rule) => {
          expect(deviceIdFromTopic(telemetryTopic(id))).toBe(id);
          expect(deviceIdFromTopic(basicIngestTopic(rule, id))).toBe(id);
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ['an empty topic', ''],
    ['a topic missing its last level', 'dt/sdap/thermostat-1'],
    ['a topic with an extra level', 'dt/sdap/thermostat-1/telemetry/extra'],
    ['another application prefix', 'dt/other/thermostat-1/telemetry'],
    ['another message type', 'dt/sdap/thermostat-1/status'],
    ['an empty device id', 'dt/sdap//telemetry'],
    ['a wildcard as the device id', 'dt/sdap/+/telemetry'],
    ['a device id with a space', 'dt/sdap/thermostat 1/telemetry'],
    ['a device id longer than 128 characters', `dt/sdap/${'a'.repeat(129)}/telemetry`],
    ['a Basic Ingest topic with another suffix', '$aws/rules/sdap_telemetry/dt/sdap/thermostat-1/status'],
    ['a Basic Ingest prefix alone', '$aws/rules/sdap_telemetry'],
    ['a reserved topic that is not Basic Ingest', '$aws/things/thermostat-1/shadow/update'],
    ['a topic with a leading slash', '/dt/sdap/thermostat-1/telemetry'],
  ])('finds no device id in %s', (_, topic) => {
    expect(deviceIdFromTopic(topic)).toBeUndefined();
  });
});

describe('sensor kinds', () => {
  it.each(SENSOR_KINDS)('gives the %s kind a known unit and a non-empty range', (kind) => {
    const { unit, min, max } = SENSOR_KIND_SPECS[kind];

    expect(SENSOR_UNITS).toContain(unit);
    expect(min).toBeLessThan(max);
  });

  it('uses every unit for at least one kind', () => {
    const used = new Set(Object.values(SENSOR_KIND_SPECS).map((spec) => spec.unit));

    expect(SENSOR_UNITS.filter((unit) => !used.has(unit))).toEqual([]);
  });
});

describe('contract fixtures', () => {
  const valid = loadValidFixtures();
  const invalid = loadInvalidFixtures();

  it('has a valid fixture for every device type and every sensor kind of the current version', () => {
    const current = valid
      .filter((f) => f.version === CURRENT_SCHEMA_VERSION)
      .flatMap((f) => readingsOf(f.payload));

    expect(new Set(current.map((r) => r.deviceType))).toEqual(new Set(DEVICE_TYPES));
    expect(new Set(current.filter((r) => r.deviceType === 'sensor').map((r) => r.sensorKind))).toEqual(
      new Set(SENSOR_KINDS),
    );
  });

  it('has batched valid fixtures, including one of the largest size allowed', () => {
    const batchSizes = valid
      .map((f) => (f.payload as { readings?: unknown[] }).readings?.length)
      .filter((size) => size !== undefined);

    expect(batchSizes.length).toBeGreaterThanOrEqual(2);
    expect(batchSizes).toContain(MAX_READINGS_PER_MESSAGE);
  });

  it('keeps every fixture of a version folder at that version', () => {
    for (const fixture of valid) {
      for (const r of readingsOf(fixture.payload))
        expect(r.schemaVersion, fixture.name).toBe(fixture.version);
    }
  });

  it('rejects with the zod contract alone every invalid fixture that breaks the contract itself', () => {
    // Context checks (clock, topic, duplicates) and byte-level checks are the classifier's; these are the contract's.
    const contractCodes = new Set([
      'not_an_object',
      'too_many_readings',
      'unsupported_schema_version',
      'unknown_device_type',
      'schema_violation',
      'out_of_range',
    ]);
    const cases = invalid.filter((f) => contractCodes.has(f.code) && f.payload !== undefined);

    expect(cases.length).toBeGreaterThan(0);
    for (const fixture of cases) {
      expect(telemetryMessage.safeParse(fixture.payload).success, fixture.name).toBe(false);
    }
  });
});

/*
 * Schema evolution: every valid fixture ever written, of every version (v1/valid, v2/valid, ...),
 * must stay valid under the current contract. A new optional field keeps old devices' messages
 * valid; a change that would strand a fleet still sending an older version fails here.
 */
describe('schema evolution', () => {
  const fixtures = loadValidFixtures();

  it('finds the valid fixtures of every version folder', () => {
    const versions = new Set(fixtures.map((f) => f.version));

    expect(versions).toContain(CURRENT_SCHEMA_VERSION);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('still accepts %s', (_, fixture) => {
    expect(SUPPORTED_SCHEMA_VERSIONS as readonly number[]).toContain(fixture.version);
    const parsed = telemetryMessage.safeParse(fixture.payload);
    expect(parsed.success, parsed.error?.message).toBe(true);
    for (const r of readingsOf(fixture.payload)) expect(reading.safeParse(r).success).toBe(true);

    const classified = classifyRecord(fixture.bytes, { arrivalMs: fixture.arrivalMs });

    expect(classified.rejected).toEqual([]);
    expect(classified.valid).toHaveLength(readingsOf(fixture.payload).length);
  });
});
