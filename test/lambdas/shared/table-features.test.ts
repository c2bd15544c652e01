/**
 * The pure parts of batch scoring: a model's feature row from a table row, in the order of
 * ml/models.json; rows as the container's CSV (a NULL an empty field); request bodies within the
 * payload limit, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { failureModelDefinition } from '../../../lambdas/failure-scoring/score-window.ts';
import { callBodies, featureRowsCsv } from '../../../lambdas/shared/endpoint-client.ts';
import {
  FeatureTableError,
  featureColumns,
  type TableRow,
  tableFeatureRow,
} from '../../../lambdas/shared/table-features.ts';
import { featureNames, loadModelSpec } from '../../../ml/model-spec.ts';

const failure = failureModelDefinition();

/** A table row whose every feature column holds its index in the model's features, plus `extra`. */
function rowOf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const row: Record<string, unknown> = { device_id: 'd-1', device_type: 'camera', site_id: 's-1' };
  failure.features.forEach((feature, index) => {
    if (!feature.indicator) row[feature.name] = index + 0.25;
  });
  return { ...row, ...extra };
}

describe('tableFeatureRow', () => {
  it("gives one value per feature in models.json's order: indicators from their column, the rest from the column of their name", () => {
    // Act
    const values = tableFeatureRow(failure, rowOf());

    // Assess
    expect(values).toHaveLength(featureNames(failure).length);
    failure.features.forEach((feature, index) => {
      const expected = feature.indicator ? (feature.indicator.equals === 'camera' ? 1 : 0) : index + 0.25;
      expect(values[index], feature.name).toBe(expected);
    });
  });

  it('is the same for the model of the spec file as for the bundled one', () => {
    expect(loadModelSpec().models.failure).toEqual(failure);
  });

  it('reads NULL, NaN and infinity as missing values, BIGINT counts as numbers, and an indicator of NULL as 0', () => {
    // Prepare
    const [first, second, third] = failure.features
      .filter((feature) => !feature.indicator)
      .map((f) => f.name);
    const row = rowOf({
      device_type: null,
      [first as string]: null,
      [second as string]: Number.NaN,
      [third as string]: 42n,
    });

    // Act
    const values = tableFeatureRow(failure, row);

    // Assess
    const at = (name: string | undefined) => values[failure.features.findIndex((f) => f.name === name)];
    expect(at(first)).toBeNull();
    expect(at(second)).toBeNull();
    expect(at(third)).toBe(42);
    expect(failure.features.flatMap((f, i) => (f.indicator ? [values[i]] : []))).toEqual([0, 0, 0, 0]);
  });

  it('fails when a feature column is missing or not a number, naming the row, the column and the value', () => {
    const missing = rowOf();
    delete missing.dq_score;
    expect(() => tableFeatureRow(failure, missing, 's3://b/k, row 3')).toThrow(
      new FeatureTableError(
        's3://b/k, row 3: dq_score: received no such column, expected the column of feature dq_score',
      ),
    );
    expect(() => tableFeatureRow(failure, rowOf({ readings: 'many' }), 'row 1')).toThrow(
      'row 1: readings: received "many", expected a number or NULL',
    );
  });

  it('lists the columns the features read once each: the indicator column and the plain features', () => {
    const columns = featureColumns(failure);
    expect(columns[0]).toBe('device_type');
    expect(new Set(columns).size).toBe(columns.length);
    expect(columns).toEqual([
      'device_type',
      ...failure.features.filter((f) => !f.indicator).map((f) => f.name),
    ]);
  });

  it('never fails and gives a value per feature for any numeric or NULL column values (property)', () => {
    const plain = failure.features.filter((feature) => !feature.indicator).map((feature) => feature.name);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double(), fc.constant(null), fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n })), {
          minLength: plain.length,
          maxLength: plain.length,
        }),
        fc.constantFrom('thermostat', 'camera', 'smart_lock', 'sensor', null),
        (cells, deviceType) => {
          const row: TableRow = Object.fromEntries([
            ['device_type', deviceType],
            ...plain.map((name, i) => [name, cells[i]]),
          ]);
          const values = tableFeatureRow(failure, row);
          expect(values).toHaveLength(failure.features.length);
          for (const value of values) expect(value === null || Number.isFinite(value)).toBe(true);
        },
      ),
    );
  });
});

describe('rows as CSV and request bodies', () => {
  it('writes a missing value as an empty field and a number as the shortest text of its double', () => {
    expect(featureRowsCsv([[1, null, 0.1, null], [null], [Number.POSITIVE_INFINITY, -2.5e-7]])).toEqual([
      '1,,0.1,',
      '',
      ',-2.5e-7',
    ]);
  });

  it('groups lines into bodies of at most the limit, in order, each line whole', () => {
    // Prepare: lines of 9 bytes plus a newline each.
    const lines = Array.from({ length: 25 }, (_, i) => `row-${String(i).padStart(5, '0')}`);

    // Act
    const bodies = callBodies(lines, 35);

    // Assess: three lines (30 bytes) fit in 35, a fourth would not.
    expect(bodies?.map((body) => body.rows)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 1]);
    expect(bodies?.flatMap((body) => body.body.split('\n'))).toEqual(lines);
    for (const body of bodies ?? []) expect(Buffer.byteLength(body.body) + 1).toBeLessThanOrEqual(35);
  });

  it('counts bytes, not characters, and refuses a line larger than one body', () => {
    expect(callBodies(['ééé', 'a'], 7)?.map((body) => body.rows)).toEqual([1, 1]);
    expect(callBodies(['x'.repeat(10)], 10)).toBeUndefined();
    expect(callBodies([], 10)).toEqual([]);
  });

  it('keeps every line, in order, within the limit, for any lines and limit (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 20 }).map((s) => s.replaceAll('\n', ''))),
        fc.integer({ min: 22, max: 200 }),
        (lines, limit) => {
          const bodies = callBodies(lines, limit) ?? [];
          expect(bodies.flatMap((body) => (body.rows === 0 ? [] : body.body.split('\n')))).toEqual(lines);
          expect(bodies.reduce((sum, body) => sum + body.rows, 0)).toBe(lines.length);
          for (const body of bodies) expect(Buffer.byteLength(body.body) + 1).toBeLessThanOrEqual(limit);
        },
      ),
    );
  });
});
