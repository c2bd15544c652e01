import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SENSOR_KINDS } from '../../../lambdas/shared/contract.ts';
import { telemetryJsonSchema, telemetryJsonSchemaText } from '../../../lambdas/shared/json-schema.ts';
import { loadInvalidFixtures, loadValidFixtures } from './contract-fixtures.ts';

const COMMITTED_PATH = 'schema/telemetry-message.schema.json';
const REGENERATE = 'npm run schema';

type Schema = Record<string, unknown>;

/**
 * Just enough of a JSON Schema (draft 2020-12) validator for the keywords the generated schema uses.
 * It throws on any other keyword, so a schema that grows a keyword this check ignores cannot pass
 * silently.
 */
function conforms(root: Schema, schema: Schema, value: unknown): boolean {
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  const object = value as Record<string, unknown>;
  for (const [keyword, arg] of Object.entries(schema)) {
    const sub = arg as Schema;
    const subs = arg as Schema[];
    let ok: boolean;
    switch (keyword) {
      case '$schema':
      case '$defs':
      case 'title':
      case 'description':
      case 'format': // an annotation in draft 2020-12; the generated `pattern` carries the check
      case 'then':
      case 'else':
        ok = true;
        break;
      case '$ref': {
        const name = String(arg).replace(/^#\/\$defs\//, '');
        const target = (root.$defs as Record<string, Schema> | undefined)?.[name];
        if (!target) throw new Error(`unresolvable $ref ${String(arg)}`);
        ok = conforms(root, target, value);
        break;
      }
      case 'type':
        ok =
          arg === 'object'
            ? isObject
            : arg === 'array'
              ? Array.isArray(value)
              : arg === 'integer'
                ? Number.isInteger(value)
                : arg === 'number'
                  ? typeof value === 'number' && Number.isFinite(value)
                  : typeof value === arg;
        break;
      case 'const':
        ok = value === arg;
        break;
      case 'enum':
        ok = (arg as unknown[]).includes(value);
        break;
      case 'pattern':
        ok = typeof value !== 'string' || new RegExp(String(arg), 'u').test(value);
        break;
      case 'minimum':
        ok = typeof value !== 'number' || value >= Number(arg);
        break;
      case 'maximum':
        ok = typeof value !== 'number' || value <= Number(arg);
        break;
      case 'minItems':
        ok = !Array.isArray(value) || value.length >= Number(arg);
        break;
      case 'maxItems':
        ok = !Array.isArray(value) || value.length <= Number(arg);
        break;
      case 'items':
        ok = !Array.isArray(value) || value.every((item) => conforms(root, sub, item));
        break;
      case 'required':
        ok = !isObject || (arg as string[]).every((key) => Object.hasOwn(object, key));
        break;
      case 'properties':
        ok =
          !isObject ||
          Object.entries(sub).every(
            ([key, property]) =>
              !Object.hasOwn(object, key) || conforms(root, property as Schema, object[key]),
          );
        break;
      case 'additionalProperties':
        if (arg !== false) throw new Error('only additionalProperties: false is supported');
        ok = !isObject || Object.keys(object).every((key) => Object.hasOwn(schema.properties as Schema, key));
        break;
      case 'anyOf':
        ok = subs.some((s) => conforms(root, s, value));
        break;
      case 'oneOf':
        ok = subs.filter((s) => conforms(root, s, value)).length === 1;
        break;
      case 'allOf':
        ok = subs.every((s) => conforms(root, s, value));
        break;
      case 'if': {
        const branch = conforms(root, sub, value) ? schema.then : schema.else;
        ok = branch === undefined || conforms(root, branch as Schema, value);
        break;
      }
      default:
        throw new Error(`the check does not know the JSON Schema keyword '${keyword}'`);
    }
    if (!ok) return false;
  }
  return true;
}

describe('telemetry JSON Schema', () => {
  const schema = telemetryJsonSchema();
  const accepts = (value: unknown) => conforms(schema, schema, value);

  it('matches the committed schema file', () => {
    const committed = readFileSync(new URL(`../../../${COMMITTED_PATH}`, import.meta.url), 'utf8');

    expect(
      committed,
      `${COMMITTED_PATH} differs from the contract (stale, or edited by hand). Regenerate it with \`${REGENERATE}\` and commit the result.`,
    ).toBe(telemetryJsonSchemaText());
  });

  it('produces the same text on every call', () => {
    expect(telemetryJsonSchemaText()).toBe(telemetryJsonSchemaText());
  });

  it('declares draft 2020-12 and describes a reading or a batch by reference', () => {
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      anyOf: [{ $ref: '#/$defs/Reading' }, { $ref: '#/$defs/ReadingBatch' }],
    });
    expect(schema.$defs).toMatchObject({
      ReadingBatch: { properties: { readings: { items: { $ref: '#/$defs/Reading' }, maxItems: 64 } } },
    });
  });

  it('spells out the unit and range of every sensor kind (a zod refinement)', () => {
    const sensor = (schema.$defs as Record<string, Schema>).SensorReading as { allOf: { if: unknown }[] };

    expect(sensor.allOf.map((rule) => rule.if)).toEqual(
      SENSOR_KINDS.map((kind) => ({ properties: { sensorKind: { const: kind } }, required: ['sensorKind'] })),
    );
  });

  it.each(loadValidFixtures().map((f) => [f.name, f.payload] as const))(
    'accepts the valid fixture %s',
    (_, payload) => {
      expect(accepts(payload)).toBe(true);
    },
  );

  const invalid = loadInvalidFixtures().filter((f) => f.payload !== undefined);
  const contextCodes = new Set([
    'timestamp_in_future',
    'timestamp_too_old',
    'device_mismatch',
    'duplicate_in_batch',
  ]);

  it.each(invalid.filter((f) => !contextCodes.has(f.code)).map((f) => [f.name, f.payload] as const))(
    'rejects the invalid fixture %s',
    (_, payload) => {
      expect(accepts(payload)).toBe(false);
    },
  );

  it.each(invalid.filter((f) => contextCodes.has(f.code)).map((f) => [f.name, f.payload] as const))(
    'leaves the check of %s to the validator: it needs the arrival time, the topic or the whole batch',
    (_, payload) => {
      expect(accepts(payload)).toBe(true);
    },
  );
});
