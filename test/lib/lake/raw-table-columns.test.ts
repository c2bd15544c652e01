import { describe, expect, it } from 'vitest';
import { READING_SCHEMAS } from '../../../lambdas/shared/contract.ts';
import { RAW_PARTITION_KEYS } from '../../../lambdas/shared/pipeline-names.ts';
import { INGEST_FIELD_TYPES } from '../../../lambdas/shared/raw-record.ts';
import {
  columnTypeOf,
  rawPartitionColumns,
  rawTableColumns,
  rawTableSerdeMappings,
  toSnakeCase,
} from '../../../lib/lake/raw-table-columns.ts';

/** Every field name of every reading schema, read straight from the zod objects. */
function contractFields(): Set<string> {
  return new Set(Object.values(READING_SCHEMAS).flatMap((schema) => Object.keys(schema.shape)));
}

describe('raw table columns', () => {
  it('cover every field of every device type and every ingest field', () => {
    // Prepare
    const covered = new Set([
      ...rawTableColumns().map((column) => column.jsonKey),
      ...rawPartitionColumns().map((column) => column.name),
    ]);
    const expected = [...contractFields(), ...Object.keys(INGEST_FIELD_TYPES)];

    // Act
    const missing = expected.filter((field) => !covered.has(field) && !covered.has(toSnakeCase(field)));

    // Assess
    expect(missing).toEqual([]);
  });

  it('have no column the contract does not define', () => {
    // Prepare
    const known = new Set([...contractFields(), ...Object.keys(INGEST_FIELD_TYPES)]);

    // Act & Assess
    expect(rawTableColumns().filter((column) => !known.has(column.jsonKey))).toEqual([]);
  });

  it('leave device_type to the partition, since Glue rejects a data column repeating a partition column', () => {
    // Act
    const names = rawTableColumns().map((column) => column.name);

    // Assess
    for (const key of RAW_PARTITION_KEYS) expect(names).not.toContain(key);
    expect(rawPartitionColumns()).toEqual([
      { name: 'device_type', type: 'string' },
      { name: 'ingest_date', type: 'string' },
      { name: 'ingest_hour', type: 'int' },
    ]);
  });

  it('type each column from the contract, keeping timestamps as text', () => {
    // Act
    const types = Object.fromEntries(rawTableColumns().map((column) => [column.jsonKey, column.type]));

    // Assess
    expect(types).toMatchObject({
      schemaVersion: 'int',
      eventId: 'string',
      timestamp: 'string',
      seq: 'bigint',
      rssiDbm: 'double',
      motionDetected: 'boolean',
      uptimeS: 'int',
      failedAttempts: 'int',
      hvacMode: 'string',
      ingestArrivedAt: 'string',
      ingestBrokerReceivedAt: 'string',
    });
  });

  it('name columns in snake_case and map them to the lowercased JSON keys', () => {
    // Act
    const mappings = rawTableSerdeMappings(rawTableColumns());

    // Assess
    expect(toSnakeCase('ambientTemperatureC')).toBe('ambient_temperature_c');
    expect(mappings['mapping.ambient_temperature_c']).toBe('ambienttemperaturec');
    expect(mappings['mapping.ingest_sequence_number']).toBe('ingestsequencenumber');
    expect(mappings['mapping.seq']).toBeUndefined();
  });

  it('fails when a contract field has a type the catalog cannot hold, naming the field', () => {
    expect(() => columnTypeOf({ type: 'object' }, 'nested')).toThrow(
      `contract field 'nested': received JSON Schema type "object", expected string, boolean, integer or number`,
    );
  });

  it('types integers by their declared range', () => {
    expect(columnTypeOf({ type: 'integer', minimum: 0, maximum: 1000 }, 'small')).toBe('int');
    expect(columnTypeOf({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, 'big')).toBe(
      'bigint',
    );
    expect(columnTypeOf({ type: 'integer' }, 'unbounded')).toBe('bigint');
  });
});
