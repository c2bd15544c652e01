/**
 * Scores XGBoost models in TypeScript, from the JSON that XGBoost 1.7 writes with
 * `Booster.save_model('model.json')`: the same numbers as `Booster.predict` (parity-tested against
 * xgboost itself on every row, see test/ml/xgboost-parity.test.ts), with no native code, so the
 * stream's Lambda function and the twin's SageMaker runtime can both use it. Pure: no I/O.
 *
 * What "the same numbers" takes, as XGBoost's CPU predictor does it:
 * - a feature value is rounded to float32 before it meets a split (`value < threshold`, both
 *   float32): 0.1 as a double is below float32(0.1), as a float32 it is not;
 * - a missing value (NaN, null or undefined) follows the node's default direction;
 * - the margin starts at the base score (turned into a margin by the objective's link) and adds one
 *   leaf per tree, rounding to float32 after each addition;
 * - the objective's transform (sigmoid, exp) is applied in float32.
 *
 * Supported: the `gbtree` booster with numerical splits and one output, objectives
 * `binary:logistic`, `reg:squarederror` and `reg:tweedie`. Anything else (dart, gblinear,
 * categorical splits, multi-class, UBJSON) is refused when the model is parsed, with the reason.
 */
import * as z from 'zod';
import { showValue, valueAt } from './received-value.ts';

export const XGBOOST_OBJECTIVES = ['binary:logistic', 'reg:squarederror', 'reg:tweedie'] as const;
export type XgboostObjective = (typeof XGBOOST_OBJECTIVES)[number];

/** One regression tree as flat arrays indexed by node id; a leaf has `left[node] === -1`. */
export interface XgboostTree {
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Feature index of each split. */
  readonly feature: Int32Array;
  /** A split's threshold, or a leaf's value. */
  readonly value: Float32Array;
  /** 1 when a missing value goes left. */
  readonly defaultLeft: Uint8Array;
}

export interface XgboostModel {
  readonly objective: XgboostObjective;
  /** How many feature values a row must have. */
  readonly featureCount: number;
  /** The names the model was trained with, or empty when it was trained without names. */
  readonly featureNames: readonly string[];
  /** The base score as a margin (float32): where every prediction starts before the trees. */
  readonly baseMargin: number;
  readonly trees: readonly XgboostTree[];
}

/** The model JSON is not one this scorer can score. The message names the field and the reason. */
export class XgboostModelError extends Error {
  override readonly name = 'XgboostModelError';
}

/** A row has the wrong number of feature values. */
export class FeatureCountError extends Error {
  override readonly name = 'FeatureCountError';
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(`expected ${expected} feature values, received ${received}`);
  }
}

/** A feature row: NaN, null and undefined are missing values. */
export type FeatureRow = ArrayLike<number | null | undefined>;

const integerText = z
  .string({ error: 'an integer as a string' })
  .regex(/^\d+$/, { error: 'an integer as a string' });
const integers = z.array(z.number().int({ error: 'an integer' }), { error: 'an array of integers' });
const numbers = z.array(z.number({ error: 'a number' }), { error: 'an array of numbers' });

const treeSchema = z.looseObject({
  tree_param: z.looseObject({ num_nodes: integerText }),
  left_children: integers,
  right_children: integers,
  split_indices: integers,
  split_conditions: numbers,
  default_left: z.array(
    z.union([z.literal(0), z.literal(1), z.boolean()], { error: '0 or 1 (or a boolean)' }),
    { error: 'an array of 0/1 (or booleans)' },
  ),
  base_weights: numbers,
  split_type: integers.optional(),
  categories: numbers.optional(),
});

const modelSchema = z.looseObject({
  learner: z.looseObject({
    feature_names: z.array(z.string(), { error: 'an array of names' }).optional(),
    attributes: z.record(z.string(), z.string(), { error: 'an object of strings' }).optional(),
    learner_model_param: z.looseObject({
      base_score: z.string({ error: 'a number as a string' }),
      num_feature: integerText,
      num_class: integerText.optional(),
      num_target: integerText.optional(),
    }),
    objective: z.looseObject({ name: z.string({ error: 'an objective name' }) }),
    gradient_booster: z.looseObject({
      name: z.string({ error: 'a booster name' }),
      model: z
        .looseObject({
          trees: z.array(treeSchema, { error: 'an array of trees' }),
          tree_info: integers,
        })
        .optional(),
    }),
  }),
});

type TreeJson = z.output<typeof treeSchema>;

/**
 * Parses and checks a model saved by XGBoost as JSON (the file's text, or its parsed value).
 * `source` prefixes every error message (a file path, an S3 key).
 *
 * @throws XgboostModelError naming the field, the value received and what is expected
 */
export function parseXgboostModel(input: string | unknown, source = 'XGBoost model'): XgboostModel {
  let json: unknown = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (error) {
      throw new XgboostModelError(
        `${source}: expected the JSON that Booster.save_model('model.json') writes (${(error as Error).message})`,
      );
    }
  }
  const result = modelSchema.safeParse(json);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.') || '(root)';
      return `${source}: ${path}: received ${showValue(valueAt(json, issue.path))}, expected ${issue.message}`;
    });
    throw new XgboostModelError(lines.join('\n'));
  }
  const { learner } = result.data;
  const fail = (path: string, received: unknown, expected: string): never => {
    throw new XgboostModelError(
      `${source}: learner.${path}: received ${showValue(received)}, expected ${expected}`,
    );
  };

  const booster = learner.gradient_booster;
  if (booster.name !== 'gbtree' || booster.model === undefined) {
    fail('gradient_booster.name', booster.name, 'gbtree (dart and gblinear are not supported)');
  }
  const { trees: treesJson, tree_info: treeInfo } = booster.model as NonNullable<typeof booster.model>;

  const objective = learner.objective.name;
  if (!(XGBOOST_OBJECTIVES as readonly string[]).includes(objective)) {
    fail('objective.name', objective, `one of ${XGBOOST_OBJECTIVES.join(', ')}`);
  }
  const params = learner.learner_model_param;
  if (params.num_class !== undefined && Number(params.num_class) > 1) {
    fail('learner_model_param.num_class', params.num_class, '0 or 1 (multi-class models are not supported)');
  }
  if (params.num_target !== undefined && Number(params.num_target) !== 1) {
    fail('learner_model_param.num_target', params.num_target, '1 (multi-output models are not supported)');
  }
  const featureCount = Number(params.num_feature);
  const baseMargin = toMargin(objective as XgboostObjective, Number(params.base_score));
  if (!Number.isFinite(baseMargin)) {
    fail(
      'learner_model_param.base_score',
      params.base_score,
      objective === 'binary:logistic' ? 'a probability in (0, 1)' : 'a finite number (> 0 for reg:tweedie)',
    );
  }
  if (treeInfo.length !== treesJson.length || treeInfo.some((group) => group !== 0)) {
    fail('gradient_booster.model.tree_info', treeInfo, `${treesJson.length} zeros (one output group)`);
  }
  const bestLimit = learner.attributes?.best_ntree_limit;
  if (bestLimit !== undefined && Number(bestLimit) !== treesJson.length) {
    // SageMaker's XGBoost container scores with the first `best_ntree_limit` trees, Booster.predict
    // with all of them: such a model would score differently in the twin and in the cloud.
    fail(
      'attributes.best_ntree_limit',
      bestLimit,
      `${treesJson.length} (the number of trees): save a model trained with early stopping truncated to its best iteration`,
    );
  }
  const featureNames = learner.feature_names ?? [];
  if (featureNames.length !== 0 && featureNames.length !== featureCount) {
    fail('feature_names', featureNames, `${featureCount} names (num_feature) or none`);
  }

  const trees = treesJson.map((tree, index) =>
    toTree(tree, featureCount, (path, received, expected) =>
      fail(`gradient_booster.model.trees.${index}.${path}`, received, expected),
    ),
  );
  return {
    objective: objective as XgboostObjective,
    featureCount,
    featureNames,
    baseMargin,
    trees,
  };
}

/** The raw score (`output_margin=True`): base margin plus one leaf per tree, in float32. */
export function predictMargin(model: XgboostModel, features: FeatureRow): number {
  if (features.length !== model.featureCount) {
    throw new FeatureCountError(model.featureCount, features.length);
  }
  let margin = model.baseMargin;
  for (const tree of model.trees) margin = Math.fround(margin + leafValue(tree, features));
  return margin;
}

/** The prediction as `Booster.predict` returns it: a probability, or a value on the label's scale. */
export function predict(model: XgboostModel, features: FeatureRow): number {
  return transform(model.objective, predictMargin(model, features));
}

/** `predict` for each row, in order. @throws FeatureCountError at the first row of the wrong length */
export function predictRows(model: XgboostModel, rows: readonly FeatureRow[]): number[] {
  return rows.map((row) => predict(model, row));
}

/** The float32 sigmoid XGBoost applies, with its clamp against overflow of exp. */
const SIGMOID_CLAMP = Math.fround(88.7);

function transform(objective: XgboostObjective, margin: number): number {
  switch (objective) {
    case 'binary:logistic': {
      const exponent = Math.min(-margin, SIGMOID_CLAMP);
      return Math.fround(1 / Math.fround(Math.fround(Math.exp(exponent)) + 1));
    }
    case 'reg:tweedie':
      return Math.fround(Math.exp(margin));
    case 'reg:squarederror':
      return margin;
  }
}

/** The objective's link applied to the base score (XGBoost's `ProbToMargin`), in float32. */
function toMargin(objective: XgboostObjective, baseScore: number): number {
  const base = Math.fround(baseScore);
  switch (objective) {
    case 'binary:logistic':
      return base > 0 && base < 1
        ? Math.fround(-Math.log(Math.fround(Math.fround(1 / base) - 1)))
        : Number.NaN;
    case 'reg:tweedie':
      return base > 0 ? Math.fround(Math.log(base)) : Number.NaN;
    case 'reg:squarederror':
      return base;
  }
}

function leafValue(tree: XgboostTree, features: FeatureRow): number {
  const { left, right, feature, value, defaultLeft } = tree;
  let node = 0;
  for (;;) {
    const leftChild = left[node] as number;
    if (leftChild === -1) return value[node] as number;
    const x = features[feature[node] as number];
    if (x === null || x === undefined || Number.isNaN(x)) {
      node = defaultLeft[node] === 1 ? leftChild : (right[node] as number);
    } else {
      node = Math.fround(x) < (value[node] as number) ? leftChild : (right[node] as number);
    }
  }
}

function toTree(
  json: TreeJson,
  featureCount: number,
  fail: (path: string, received: unknown, expected: string) => never,
): XgboostTree {
  const nodes = Number(json.tree_param.num_nodes);
  for (const field of [
    'left_children',
    'right_children',
    'split_indices',
    'split_conditions',
    'default_left',
    'base_weights',
  ] as const) {
    if (json[field].length !== nodes) {
      fail(field, `${json[field].length} entries`, `${nodes} entries (tree_param.num_nodes)`);
    }
  }
  if (json.split_type?.some((type) => type !== 0)) {
    fail('split_type', json.split_type, 'only 0 (numerical splits; categorical splits are not supported)');
  }
  if (json.categories !== undefined && json.categories.length > 0) {
    fail('categories', json.categories, 'none (categorical splits are not supported)');
  }
  const tree: XgboostTree = {
    left: Int32Array.from(json.left_children),
    right: Int32Array.from(json.right_children),
    feature: Int32Array.from(json.split_indices),
    value: Float32Array.from(json.split_conditions),
    defaultLeft: Uint8Array.from(json.default_left, (flag) => (flag === 1 || flag === true ? 1 : 0)),
  };
  // Walk the nodes reachable from the root: each must be reached once (a tree, so scoring ends),
  // name valid children and split on a feature the model has. Unreachable nodes are ones XGBoost
  // deleted while pruning, and are never read.
  const seen = new Uint8Array(nodes);
  const stack = nodes > 0 ? [0] : fail('tree_param.num_nodes', nodes, 'at least one node');
  while (stack.length > 0) {
    const node = stack.pop() as number;
    if (seen[node] === 1) {
      fail('left_children/right_children', `node ${node} reached twice`, 'a tree (each node has one parent)');
    }
    seen[node] = 1;
    const left = tree.left[node] as number;
    const right = tree.right[node] as number;
    if (left === -1 && right === -1) continue;
    for (const [field, child] of [
      ['left_children', left],
      ['right_children', right],
    ] as const) {
      if (child <= 0 || child >= nodes) {
        fail(`${field}.${node}`, child, `a node id from 1 to ${nodes - 1}, or -1 on both sides for a leaf`);
      }
    }
    const split = tree.feature[node] as number;
    if (split < 0 || split >= featureCount) {
      fail(`split_indices.${node}`, split, `a feature index from 0 to ${featureCount - 1} (num_feature)`);
    }
    stack.push(right, left);
  }
  return tree;
}
