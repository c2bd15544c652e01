/**
 * ml/models.json: valid, its features really exist where each model reads them, its
 * hyperparameters rendered for SageMaker as Python trains with them, and both languages' checks
 * refusing the same mistakes with the same words.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READING_SCHEMAS } from '../../lambdas/shared/contract.ts';
import {
  featureNames,
  loadModelSpec,
  MODEL_NAMES,
  MODEL_SPEC_PATH,
  type ModelSpec,
  parseModelSpec,
  sagemakerHyperParameters,
} from '../../ml/model-spec.ts';
import { requirePythonModules, runPythonScript } from './python.ts';

const ML_FEATURES_SQL = new URL('../../glue-scripts/sql/90_ml_features.sql', import.meta.url);

/** The output columns of the ml_features step: each SELECT item's alias or column name. */
function mlFeaturesColumns(): Set<string> {
  const sql = readFileSync(ML_FEATURES_SQL, 'utf8').replace(/--.*$/gm, '');
  const select = /\bSELECT\b([\s\S]*?)\bFROM\b/i.exec(sql)?.[1] ?? '';
  return new Set(
    select
      .split(',\n')
      .map((item) => item.trim())
      .filter((item) => item !== '')
      .map((item) => /([a-z_][a-z0-9_]*)\s*$/i.exec(item)?.[1] as string),
  );
}

/** A validated reading's columns, as curated_telemetry names them: the contract's fields in snake_case. */
function readingColumns(): Set<string> {
  const snake = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  return new Set(Object.values(READING_SCHEMAS).flatMap((schema) => Object.keys(schema.shape).map(snake)));
}

const REMOVE = Symbol('remove');

/** ml/models.json as parsed JSON, with the value at a dotted path replaced (or removed). */
function specWith(path: string, value: unknown): Record<string, unknown> {
  const spec = JSON.parse(readFileSync(MODEL_SPEC_PATH, 'utf8')) as Record<string, unknown>;
  const segments = path.split('.');
  let node = spec;
  for (const segment of segments.slice(0, -1)) node = node[segment] as Record<string, unknown>;
  const last = segments.at(-1) as string;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return spec;
}

describe('ml/models.json', () => {
  let spec: ModelSpec;
  beforeAll(() => {
    spec = loadModelSpec();
  });

  it('defines the anomaly, failure and energy models', () => {
    expect(Object.keys(spec.models)).toEqual([...MODEL_NAMES]);
    expect(spec.models.anomaly.objective).toBe('binary:logistic');
    expect(spec.models.failure.objective).toBe('binary:logistic');
    expect(spec.models.energy.objective).toBe('reg:tweedie');
    expect(spec.models.energy.deviceTypes).toEqual(['thermostat']);
    expect(spec.models.anomaly.threshold).toBe(0.5);
  });

  it('takes every ml_features model feature from a column the ETL writes', () => {
    // Prepare
    const columns = mlFeaturesColumns();
    expect(columns.has('battery_min_pct') && columns.has('device_type')).toBe(true);

    for (const name of MODEL_NAMES) {
      const model = spec.models[name];
      if (model.table !== 'ml_features') continue;
      // Act
      const missing = model.features
        .map((feature) => feature.indicator?.column ?? feature.name)
        .filter((column) => !columns.has(column));

      // Assess
      expect(missing, name).toEqual([]);
    }
  });

  it("takes every reading model feature that is not derived from the contract's fields", () => {
    // Prepare
    const columns = readingColumns();
    expect(columns.has('rssi_dbm') && columns.has('lock_state')).toBe(true);

    // Act
    const missing = spec.models.anomaly.features
      .filter((feature) => !feature.derived)
      .map((feature) => feature.indicator?.column ?? feature.name)
      .filter((column) => !columns.has(column));

    // Assess
    expect(missing).toEqual([]);
  });

  it('is described in ml/README.md with every feature list as it stands', () => {
    const readme = readFileSync(new URL('../../ml/README.md', import.meta.url), 'utf8');
    for (const name of MODEL_NAMES) {
      const names = featureNames(spec.models[name]);
      const line = `- \`${name}\` (${names.length}): ${names.map((feature) => `\`${feature}\``).join(', ')}`;
      expect(readme.split('\n'), name).toContain(line);
    }
  });

  it('renders the hyperparameters as the SageMaker container takes them: every value a string', () => {
    // Act
    const rendered = sagemakerHyperParameters(spec.models.energy);

    // Assess
    expect(rendered).toMatchObject({
      objective: 'reg:tweedie',
      num_round: '300',
      eta: '0.05',
      tweedie_variance_power: '1.3',
      tree_method: 'hist',
      seed: '42',
    });
    expect(Object.values(rendered).every((value) => typeof value === 'string')).toBe(true);
  });

  describe('read by Python', () => {
    beforeAll(() => {
      requirePythonModules(['json']);
    });

    it('gives xgboost.train the same hyperparameters and features that SageMaker gets', () => {
      // Act
      const run = runPythonScript('model_spec.py', []);

      // Assess
      expect(run.stderr).toBe('');
      const python = JSON.parse(run.stdout) as Record<
        string,
        { params: Record<string, unknown>; num_round: number; features: string[] }
      >;
      for (const name of MODEL_NAMES) {
        const { params, num_round, features } = python[name] as (typeof python)[string];
        const asStrings = Object.fromEntries(
          Object.entries({ ...params, num_round }).map(([key, value]) => [key, String(value)]),
        );
        expect(asStrings, name).toEqual(sagemakerHyperParameters(spec.models[name]));
        expect(features, name).toEqual(featureNames(spec.models[name]));
      }
    });
  });
});

describe('the model spec checks (TypeScript and Python)', () => {
  let dir: string;
  beforeAll(() => {
    requirePythonModules(['json']);
    dir = mkdtempSync(join(tmpdir(), 'sdap-model-spec-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cases: [string, string, unknown, string][] = [
    [
      'eta above 1',
      'models.energy.hyperparameters.eta',
      1.5,
      'models.energy.hyperparameters.eta: received 1.5, expected a number in (0, 1]',
    ],
    [
      'no rounds',
      'models.failure.hyperparameters.num_round',
      0,
      'models.failure.hyperparameters.num_round: received 0, expected an integer from 1 to 10000',
    ],
    [
      'no seed',
      'models.anomaly.hyperparameters.seed',
      REMOVE,
      'models.anomaly.hyperparameters.seed: received nothing, expected an integer from 0 to 2147483647',
    ],
    [
      'a misspelt hyperparameter',
      'models.anomaly.hyperparameters.etta',
      0.1,
      'models.anomaly.hyperparameters: received unknown key(s) etta, expected only the documented keys',
    ],
    [
      'an objective the scorer cannot score',
      'models.failure.objective',
      'multi:softprob',
      'models.failure.objective: received "multi:softprob", expected one of binary:logistic, reg:squarederror, reg:tweedie',
    ],
    [
      'a tree method XGBoost 1.7 does not name so',
      'models.energy.hyperparameters.tree_method',
      'gpu_hist',
      'models.energy.hyperparameters.tree_method: received "gpu_hist", expected one of auto, exact, approx, hist',
    ],
    [
      'a Tweedie power on a classifier',
      'models.failure.hyperparameters.tweedie_variance_power',
      1.5,
      'models.failure.hyperparameters.tweedie_variance_power: received 1.5, expected nothing: it applies to reg:tweedie only',
    ],
    [
      'a feature named twice',
      'models.energy.features.3.name',
      'hour_of_day',
      'models.energy.features.3.name: received "hour_of_day", expected a name not used before',
    ],
    [
      'a feature name that is not snake_case',
      'models.energy.features.0.name',
      'Hour-of-day',
      'models.energy.features.0.name: received "Hour-of-day", expected a snake_case name',
    ],
    [
      'a threshold outside (0, 1)',
      'models.anomaly.threshold',
      1,
      'models.anomaly.threshold: received 1, expected a number in (0, 1)',
    ],
    [
      'a threshold on a regression model',
      'models.energy.threshold',
      0.5,
      'models.energy.threshold: received 0.5, expected nothing: it applies to binary:logistic only',
    ],
    [
      'a derived feature in an ml_features model',
      'models.failure.features.5.derived',
      true,
      'models.failure.features.5.derived: received true, expected nothing: an ml_features feature is a column or an indicator',
    ],
  ];

  it.each(cases)('both fail on %s (%s), with the same message', (_label, field, value, expected) => {
    // Prepare
    const spec = specWith(field, value);
    const path = join(dir, 'models.json');
    writeFileSync(path, JSON.stringify(spec));

    // Act
    const python = runPythonScript('model_spec.py', [path]);
    let typescript = '';
    try {
      parseModelSpec(spec, path);
    } catch (error) {
      typescript = (error as Error).message;
    }

    // Assess
    expect(typescript).toBe(`${path}: ${expected}`);
    expect(python.status).toBe(1);
    expect(python.stderr.trim()).toBe(`${path}: ${expected}`);
  });
});
