/**
 * The JSON Schema of a telemetry message, derived from the contract for device makers and for tools
 * that do not speak zod. The committed copy (`schema/telemetry-message.schema.json`) is checked
 * against this function by a test, so it cannot drift from the contract.
 */
import * as z from 'zod';
import {
  cameraReading,
  reading,
  readingBatch,
  SENSOR_KIND_SPECS,
  SENSOR_KINDS,
  sensorReading,
  smartLockReading,
  telemetryMessage,
  thermostatReading,
} from './contract.ts';

/** Names of the shared definitions (`$defs`), so the batch refers to a reading instead of repeating it. */
const DEFINITIONS = new Map<z.ZodType, string>([
  [reading, 'Reading'],
  [thermostatReading, 'ThermostatReading'],
  [cameraReading, 'CameraReading'],
  [smartLockReading, 'SmartLockReading'],
  [sensorReading, 'SensorReading'],
  [readingBatch, 'ReadingBatch'],
]);

/**
 * The JSON Schema (draft 2020-12) of one MQTT message: a single reading or a batch.
 *
 * It describes what a device may send (`io: 'input'`). The sensor's unit and range per kind is a
 * zod refinement, which JSON Schema cannot express as such; it is spelled out as one `if`/`then`
 * per sensor kind, from the same `SENSOR_KIND_SPECS`. Checks that need the record's context
 * (arrival time, topic, duplicates within a batch) are the validator's and are not in the schema.
 * The output is deterministic: keys follow the contract's declaration order.
 */
export function telemetryJsonSchema(): Record<string, unknown> {
  const metadata = z.registry<{ id: string }>();
  for (const [schema, id] of DEFINITIONS) metadata.add(schema, { id });
  const generated = z.toJSONSchema(telemetryMessage, {
    target: 'draft-2020-12',
    io: 'input',
    metadata,
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema === sensorReading) jsonSchema.allOf = sensorKindRules();
    },
  });
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'Telemetry message',
    description:
      'One MQTT message from a smart device: a single reading or a batch of readings. Generated from the zod contract; do not edit by hand.',
    ...rest,
  };
}

/** The committed file's exact text: two-space indentation and a final newline. */
export function telemetryJsonSchemaText(): string {
  return `${JSON.stringify(telemetryJsonSchema(), null, 2)}\n`;
}

function sensorKindRules(): Record<string, unknown>[] {
  return SENSOR_KINDS.map((kind) => {
    const spec = SENSOR_KIND_SPECS[kind];
    return {
      if: { properties: { sensorKind: { const: kind } }, required: ['sensorKind'] },
      // biome-ignore lint/suspicious/noThenProperty: `then` is JSON Schema's keyword; this object is never awaited.
      then: {
        properties: {
          unit: { const: spec.unit },
          // Binary kinds (unit `bool`) send exactly 0 or 1, as the contract's refinement requires.
          value: spec.unit === 'bool' ? { enum: [0, 1] } : { minimum: spec.min, maximum: spec.max },
        },
      },
    };
  });
}
