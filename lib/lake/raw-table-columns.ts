/**
 * The raw table's columns, derived from the telemetry contract so that the catalog cannot drift from
 * what the validator writes: every field of every device type's reading (envelope included), each
 * nullable because a row holds one device type, plus the ingest fields the validator adds.
 */
import * as z from 'zod';
import { READING_SCHEMAS } from '../../lambdas/shared/contract.ts';
import { RAW_PARTITION_KEYS } from '../../lambdas/shared/pipeline-names.ts';
import { INGEST_FIELD_TYPES } from '../../lambdas/shared/raw-record.ts';

/** A Glue/Hive column type this table uses. */
export type RawColumnType = 'string' | 'int' | 'bigint' | 'double' | 'boolean';

/** One column of the raw table and the JSON key it reads. */
export interface RawTableColumn {
  /** Column name: the JSON key in snake_case, as Athena and Glue want lowercase names. */
  readonly name: string;
  readonly type: RawColumnType;
  /** The record's JSON key this column reads (camelCase, as the contract spells it). */
  readonly jsonKey: string;
  readonly comment: string;
}

/**
 * Types of the raw zone's Hive partition columns. `device_type` is also a reading field: it lives in
 * the partition only (Glue rejects a data column that repeats a partition column).
 */
export const RAW_PARTITION_COLUMN_TYPES: Readonly<
  Record<(typeof RAW_PARTITION_KEYS)[number], RawColumnType>
> = {
  device_type: 'string',
  ingest_date: 'string',
  ingest_hour: 'int',
};

/** The raw table's partition columns, in the order of the object key's path. */
export function rawPartitionColumns(): { readonly name: string; readonly type: RawColumnType }[] {
  return RAW_PARTITION_KEYS.map((name) => ({ name, type: RAW_PARTITION_COLUMN_TYPES[name] }));
}

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

interface JsonSchemaProperty {
  readonly type?: string;
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: string;
}

/** `ambientTemperatureC` -> `ambient_temperature_c`. */
export function toSnakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * Maps one JSON Schema property of the contract to a column type. Integers become `int` when their
 * declared range fits 32 bits, `bigint` otherwise; ISO timestamps stay `string` (the raw zone keeps
 * what the device sent; the curated zone parses them).
 */
export function columnTypeOf(property: JsonSchemaProperty, key: string): RawColumnType {
  const constType = property.const === undefined ? undefined : typeof property.const;
  const type = property.type ?? (constType === 'number' ? 'number' : constType);
  switch (type) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'integer':
      return (property.minimum ?? INT_MIN) >= INT_MIN && (property.maximum ?? INT_MAX + 1) <= INT_MAX
        ? 'int'
        : 'bigint';
    case 'number':
      return typeof property.const === 'number' && Number.isInteger(property.const) ? 'int' : 'double';
    default:
      throw new Error(
        `contract field '${key}': received JSON Schema type ${JSON.stringify(type)}, expected string, boolean, integer or number`,
      );
  }
}

function describe(key: string, property: JsonSchemaProperty, deviceTypes: readonly string[]): string {
  const scope =
    deviceTypes.length === Object.keys(READING_SCHEMAS).length ? 'all devices' : deviceTypes.join(', ');
  const format = property.format === 'date-time' ? '; ISO 8601 text as the device sent it' : '';
  return `${key} (${scope})${format}`.slice(0, 255);
}

/**
 * The raw table's data columns: the union of the fields of every reading schema in contract order
 * (the envelope first), then the ingest fields, minus fields that are partition columns. A field
 * shared by several device types must map to one column type, or this throws.
 */
export function rawTableColumns(): RawTableColumn[] {
  const fields = new Map<
    string,
    { type: RawColumnType; property: JsonSchemaProperty; deviceTypes: string[] }
  >();
  for (const [deviceType, schema] of Object.entries(READING_SCHEMAS)) {
    const jsonSchema = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
      properties?: Record<string, JsonSchemaProperty>;
    };
    for (const [key, property] of Object.entries(jsonSchema.properties ?? {})) {
      const type = columnTypeOf(property, key);
      const seen = fields.get(key);
      if (seen === undefined) {
        fields.set(key, { type, property, deviceTypes: [deviceType] });
      } else if (seen.type !== type) {
        throw new Error(
          `contract field '${key}': type ${type} for ${deviceType} but ${seen.type} for ${seen.deviceTypes.join(', ')}; one column needs one type`,
        );
      } else {
        seen.deviceTypes.push(deviceType);
      }
    }
  }
  const readingColumns = [...fields].map(([key, { type, property, deviceTypes }]) => ({
    name: toSnakeCase(key),
    type,
    jsonKey: key,
    comment: describe(key, property, deviceTypes),
  }));
  const ingestColumns = Object.entries(INGEST_FIELD_TYPES).map(([key, type]) => ({
    name: toSnakeCase(key),
    type,
    jsonKey: key,
    comment: `${key}: added by the validator`,
  }));
  const partitionNames = new Set<string>(RAW_PARTITION_KEYS);
  const columns = [...readingColumns, ...ingestColumns].filter((column) => !partitionNames.has(column.name));
  const names = new Set(columns.map((column) => column.name));
  if (names.size !== columns.length) throw new Error('two contract fields map to the same column name');
  return columns;
}

/**
 * OpenX JSON SerDe properties mapping each snake_case column to its JSON key. The SerDe lowercases
 * JSON keys before matching (`case.insensitive`, on by default), so the mapped key is lowercase too.
 */
export function rawTableSerdeMappings(columns: readonly RawTableColumn[]): Record<string, string> {
  return Object.fromEntries(
    columns
      .filter((column) => column.name !== column.jsonKey.toLowerCase())
      .map((column) => [`mapping.${column.name}`, column.jsonKey.toLowerCase()]),
  );
}
