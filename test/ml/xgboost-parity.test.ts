/**
 * The TypeScript scorer against xgboost itself: ml/parity_fixture.py trains models with xgboost 1.7
 * (one per definition in ml/models.json, with its hyperparameters, and a deep reg:squarederror
 * model), scores fresh rows with Booster.predict, and this test scores the same rows from the saved
 * JSON. Every row must agree to 1e-6, margins and predictions alike.
 *
 * Needs /usr/bin/python3 with xgboost: `apt-get install -y python3-xgboost` (CI does it).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseXgboostModel,
  predict,
  predictMargin,
  type XgboostModel,
  type XgboostObjective,
} from '../../lambdas/shared/xgboost.ts';
import { featureNames, loadModelSpec, type ModelName } from '../../ml/model-spec.ts';
import { requirePythonModules, runPythonScript } from './python.ts';

const TOLERANCE = 1e-6;
const MIN_ROWS = 1000;

interface FixtureModel {
  readonly name: string;
  readonly objective: XgboostObjective;
  readonly rows: number;
  readonly features: number;
  readonly trees: number;
}

interface Fixture {
  readonly model: XgboostModel;
  readonly rows: number[][];
  readonly margin: readonly number[];
  readonly prediction: readonly number[];
}

let dir: string;
let manifest: { xgboost: string; models: FixtureModel[] };

beforeAll(() => {
  requirePythonModules(['xgboost', 'numpy']);
  dir = mkdtempSync(join(tmpdir(), 'sdap-xgboost-parity-'));
  const run = runPythonScript('parity_fixture.py', [dir]);
  if (run.status !== 0) throw new Error(`ml/parity_fixture.py failed (exit ${run.status}):\n${run.stderr}`);
  manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function load(name: string): Fixture {
  const expected = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8'));
  return {
    model: parseXgboostModel(readFileSync(join(dir, `${name}.model.json`), 'utf8'), `${name}.model.json`),
    rows: readFileSync(join(dir, `${name}.rows.csv`), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => line.split(',').map((field) => (field === '' ? Number.NaN : Number(field)))),
    margin: expected.margin,
    prediction: expected.prediction,
  };
}

/** The same trees walked with double comparisons: what a scorer without float32 semantics returns. */
function doubleComparisonMargin(model: XgboostModel, row: readonly number[]): number {
  let margin = model.baseMargin;
  for (const tree of model.trees) {
    let node = 0;
    while ((tree.left[node] as number) !== -1) {
      const x = row[tree.feature[node] as number] as number;
      const goLeft = Number.isNaN(x) ? tree.defaultLeft[node] === 1 : x < (tree.value[node] as number);
      node = goLeft ? (tree.left[node] as number) : (tree.right[node] as number);
    }
    margin = Math.fround(margin + (tree.value[node] as number));
  }
  return margin;
}

describe('the TypeScript scorer against xgboost', () => {
  it('was given xgboost 1.7 and a model for every definition in ml/models.json', () => {
    expect(manifest.xgboost).toMatch(/^1\.7\./);
    expect(manifest.models.map((model) => model.name)).toEqual([
      'anomaly',
      'failure',
      'energy',
      'deep_squarederror',
    ]);
    expect(new Set(manifest.models.map((model) => model.objective))).toEqual(
      new Set(['binary:logistic', 'reg:tweedie', 'reg:squarederror']),
    );
  });

  it.each(['anomaly', 'failure', 'energy', 'deep_squarederror'])(
    'scores every row of %s as xgboost does (margins and predictions within 1e-6)',
    (name) => {
      // Prepare
      const { model, rows, margin, prediction } = load(name);
      const info = manifest.models.find((candidate) => candidate.name === name) as FixtureModel;
      expect(rows.length).toBeGreaterThanOrEqual(MIN_ROWS);
      expect(model.trees).toHaveLength(info.trees);
      expect(rows.some((row) => row.some(Number.isNaN))).toBe(true);

      // Act
      let worstMargin = 0;
      let worstPrediction = 0;
      rows.forEach((row, index) => {
        worstMargin = Math.max(worstMargin, Math.abs(predictMargin(model, row) - (margin[index] as number)));
        worstPrediction = Math.max(
          worstPrediction,
          Math.abs(predict(model, row) - (prediction[index] as number)),
        );
      });

      // Assess
      expect(worstMargin).toBeLessThanOrEqual(TOLERANCE);
      expect(worstPrediction).toBeLessThanOrEqual(TOLERANCE);
    },
  );

  it('would catch a scorer that compares doubles: the rows beside thresholds tell them apart', () => {
    for (const name of ['anomaly', 'failure', 'energy', 'deep_squarederror']) {
      // Prepare
      const { model, rows, margin } = load(name);

      // Act
      const wrong = rows.filter(
        (row, index) => Math.abs(doubleComparisonMargin(model, row) - (margin[index] as number)) > TOLERANCE,
      );

      // Assess
      expect(wrong.length, name).toBeGreaterThan(rows.length / 50);
    }
  });

  it('reads back the feature names it was trained with, in the order ml/models.json gives', () => {
    const spec = loadModelSpec();
    for (const name of ['anomaly', 'failure', 'energy'] as const satisfies readonly ModelName[]) {
      expect(load(name).model.featureNames).toEqual(featureNames(spec.models[name]));
    }
    expect(load('deep_squarederror').model.featureNames).toEqual([]);
  });
});
