/**
 * The TypeScript XGBoost scorer, case by case: float32 splits, missing values, the objectives'
 * links, and the refusals of models it cannot score. Parity with xgboost itself is in
 * xgboost-parity.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FeatureCountError,
  parseXgboostModel,
  predict,
  predictMargin,
  predictRows,
  XgboostModelError,
} from '../../lambdas/shared/xgboost.ts';
import { buildModelJson, randomModelJson } from './xgboost-model-builder.ts';

const THRESHOLD = Math.fround(0.1);

/** One split on feature 0 at float32(0.1): below it scores -1, else +1; a missing value goes `missing`. */
function stump(missing: 'left' | 'right') {
  return parseXgboostModel(
    buildModelJson({
      objective: 'reg:squarederror',
      featureCount: 2,
      baseScore: 0,
      trees: [
        {
          feature: 0,
          threshold: THRESHOLD,
          defaultLeft: missing === 'left',
          left: { leaf: -1 },
          right: { leaf: 1 },
        },
      ],
    }),
  );
}

/** A parsed model JSON with one field replaced (a dotted path). */
function withField(path: string, value: unknown): Record<string, unknown> {
  const json = buildModelJson({
    objective: 'binary:logistic',
    featureCount: 3,
    trees: [{ feature: 2, threshold: 1.5, left: { leaf: -0.2 }, right: { leaf: 0.3 } }],
  });
  const segments = path.split('.');
  let node = json as Record<string, unknown>;
  for (const segment of segments.slice(0, -1)) node = node[segment] as Record<string, unknown>;
  node[segments.at(-1) as string] = value;
  return json;
}

describe('the XGBoost scorer', () => {
  it('compares a feature value as float32 against the float32 threshold, as xgboost does', () => {
    // Prepare: 0.1 as a double is below float32(0.1); as a float32 it equals it.
    const model = stump('right');
    const justBelowAsDouble = THRESHOLD - 1e-10;
    expect(0.1 < THRESHOLD && justBelowAsDouble < THRESHOLD).toBe(true);

    // Act / Assess: both round to the threshold itself, and equal is not below: right.
    expect(predict(model, [0.1, 0])).toBe(1);
    expect(predict(model, [justBelowAsDouble, 0])).toBe(1);
    expect(predict(model, [Math.fround(0.099999), 0])).toBe(-1);
  });

  it('sends a missing value (NaN, null, undefined) the way its node says', () => {
    // Prepare
    const left = stump('left');
    const right = stump('right');

    // Act / Assess
    for (const missing of [Number.NaN, null, undefined]) {
      expect(predict(left, [missing, 0])).toBe(-1);
      expect(predict(right, [missing, 0])).toBe(1);
    }
  });

  it('starts from the base score as a margin and adds one leaf per tree in float32', () => {
    // Prepare
    const leaves = [0.1, 0.2, 0.3, 0.4].map(Math.fround);
    const model = parseXgboostModel(
      buildModelJson({
        objective: 'reg:squarederror',
        featureCount: 1,
        baseScore: 0.5,
        trees: leaves.map((leaf) => ({ leaf })),
      }),
    );
    let expected = Math.fround(0.5);
    for (const leaf of leaves) expected = Math.fround(expected + leaf);

    // Act
    const margin = predictMargin(model, [0]);

    // Assess
    expect(margin).toBe(expected);
    expect(margin).not.toBe(0.5 + leaves.reduce((sum, leaf) => sum + leaf, 0));
  });

  it("applies each objective's link: sigmoid for binary:logistic, exp for reg:tweedie", () => {
    // Prepare
    const leaf = Math.fround(Math.log(3));
    const logistic = parseXgboostModel(
      buildModelJson({ objective: 'binary:logistic', featureCount: 1, baseScore: 0.5, trees: [{ leaf }] }),
    );
    const tweedie = parseXgboostModel(
      buildModelJson({ objective: 'reg:tweedie', featureCount: 1, baseScore: 2, trees: [{ leaf }] }),
    );

    // Act / Assess: logit(0.5) = 0, so the probability is 1 / (1 + 1/3); log(2) + log(3) = log(6).
    expect(predictMargin(logistic, [0])).toBe(leaf);
    expect(predict(logistic, [0])).toBeCloseTo(0.75, 6);
    expect(predictMargin(tweedie, [0])).toBeCloseTo(Math.log(6), 6);
    expect(predict(tweedie, [0])).toBeCloseTo(6, 5);
  });

  it('keeps the feature names the model was saved with', () => {
    // Prepare
    const json = buildModelJson({
      objective: 'binary:logistic',
      featureCount: 2,
      featureNames: ['rssi_dbm', 'battery_pct'],
      trees: [{ leaf: 0 }],
    });

    // Act / Assess
    expect(parseXgboostModel(json).featureNames).toEqual(['rssi_dbm', 'battery_pct']);
    expect(parseXgboostModel(JSON.stringify(json)).featureCount).toBe(2);
  });

  it('fails when a row has the wrong number of features, naming both counts', () => {
    // Prepare
    const model = stump('right');

    // Act / Assess
    expect(() => predict(model, [1])).toThrow(new FeatureCountError(2, 1));
    expect(() => predict(model, [1, 2, 3])).toThrow('expected 2 feature values, received 3');
    expect(() => predictRows(model, [[1, 2], [1]])).toThrow(FeatureCountError);
  });

  it.each([
    [
      'learner.objective.name',
      'multi:softprob',
      /learner\.objective\.name: received "multi:softprob", expected one of binary:logistic/,
    ],
    ['learner.gradient_booster.name', 'dart', /gradient_booster\.name: received "dart", expected gbtree/],
    ['learner.learner_model_param.num_class', '3', /num_class: received "3", expected 0 or 1/],
    [
      'learner.learner_model_param.base_score',
      '1.5',
      /base_score: received "1.5", expected a probability in \(0, 1\)/,
    ],
    [
      'learner.learner_model_param.num_feature',
      3.5,
      /num_feature: received 3.5, expected an integer as a string/,
    ],
    [
      'learner.attributes',
      { best_ntree_limit: '0' },
      /best_ntree_limit: received "0", expected 1 \(the number of trees\)/,
    ],
    ['learner.feature_names', ['a'], /feature_names: received \["a"\], expected 3 names/],
  ])('fails when %s is %j, naming the field and the value', (path, value, message) => {
    // Act / Assess
    expect(() => parseXgboostModel(withField(path, value), 'model.json')).toThrow(XgboostModelError);
    expect(() => parseXgboostModel(withField(path, value), 'model.json')).toThrow(message);
  });

  it.each([
    ['split_type', [1, 0, 0], /trees\.0\.split_type: received \[1,0,0\], expected only 0 \(numerical splits/],
    [
      'split_indices',
      [3, 0, 0],
      /trees\.0\.split_indices\.0: received 3, expected a feature index from 0 to 2/,
    ],
    ['left_children', [1, 0, -1], /trees\.0\.left_children\.1: received 0, expected a node id from 1 to 2/],
    [
      'right_children',
      [7, -1, -1],
      /trees\.0\.right_children\.0: received 7, expected a node id from 1 to 2/,
    ],
    [
      'right_children',
      [1, -1, -1],
      /trees\.0\.left_children\/right_children: received "node 1 reached twice"/,
    ],
    ['base_weights', [0, 0], /trees\.0\.base_weights: received "2 entries", expected 3 entries/],
    ['default_left', [0, 'yes', 0], /trees\.0\.default_left\.1: received "yes", expected 0 or 1/],
  ])('fails when a tree has a bad %s', (field, value, message) => {
    // Act / Assess
    const json = withField(`learner.gradient_booster.model.trees.0.${field}`, value);
    expect(() => parseXgboostModel(json)).toThrow(message);
  });

  it('fails on text that is not JSON, saying what it expected', () => {
    expect(() => parseXgboostModel('{"learner":', 'champion.json')).toThrow(
      /^champion\.json: expected the JSON that Booster\.save_model\('model\.json'\) writes/,
    );
  });

  it('never throws on rows of the right length, whatever the values, and returns a probability', () => {
    // Prepare
    const featureCount = 7;
    const models = [1, 2, 3].map((seed) =>
      parseXgboostModel(
        randomModelJson(seed, { objective: 'binary:logistic', featureCount, trees: 40, depth: 5 }),
      ),
    );
    const value = fc.oneof(fc.double(), fc.constant(Number.NaN), fc.double({ min: -12, max: 12 }));

    // Act / Assess
    fc.assert(
      fc.property(fc.array(value, { minLength: featureCount, maxLength: featureCount }), (row) => {
        for (const model of models) {
          const margin = predictMargin(model, row);
          const probability = predict(model, row);
          expect(Number.isFinite(margin)).toBe(true);
          expect(Math.fround(margin)).toBe(margin);
          expect(probability).toBeGreaterThanOrEqual(0);
          expect(probability).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a row of any other length with a message naming expected and received counts', () => {
    // Prepare
    const model = parseXgboostModel(
      randomModelJson(4, { objective: 'reg:tweedie', featureCount: 5, trees: 10, depth: 3 }),
    );

    // Act / Assess
    fc.assert(
      fc.property(
        fc.array(fc.double(), { maxLength: 20 }).filter((row) => row.length !== 5),
        (row) => {
          expect(() => predict(model, row)).toThrow(`expected 5 feature values, received ${row.length}`);
        },
      ),
      { numRuns: 200 },
    );
  });
});
