/**
 * Builds models in XGBoost 1.7's JSON format from trees written by hand or drawn at random, for
 * tests that need a model without running Python. The parity test proves the scorer against models
 * xgboost itself wrote; these prove behaviour case by case.
 */
import type { XgboostObjective } from '../../lambdas/shared/xgboost.ts';
import { Random } from '../../simulator/random.ts';

export type TreeSpec =
  | { readonly leaf: number }
  | {
      readonly feature: number;
      readonly threshold: number;
      /** Where a missing value goes. @default false (right) */
      readonly defaultLeft?: boolean;
      readonly left: TreeSpec;
      readonly right: TreeSpec;
    };

export interface ModelSpecForTest {
  readonly objective: XgboostObjective;
  readonly featureCount: number;
  readonly trees: readonly TreeSpec[];
  /** @default 0.5 */
  readonly baseScore?: number;
  readonly featureNames?: readonly string[];
}

/** The tree as XGBoost lays it out: nodes numbered breadth-first, children after their parent. */
function treeJson(tree: TreeSpec, id: number, featureCount: number): Record<string, unknown> {
  const nodes: TreeSpec[] = [tree];
  const left: number[] = [];
  const right: number[] = [];
  const parents: number[] = [2_147_483_647];
  for (let index = 0; index < nodes.length; index++) {
    const node = nodes[index] as TreeSpec;
    if ('leaf' in node) {
      left.push(-1);
      right.push(-1);
    } else {
      left.push(nodes.length);
      parents.push(index);
      nodes.push(node.left);
      right.push(nodes.length);
      parents.push(index);
      nodes.push(node.right);
    }
  }
  return {
    base_weights: nodes.map((node) => ('leaf' in node ? node.leaf : 0)),
    categories: [],
    categories_nodes: [],
    categories_segments: [],
    categories_sizes: [],
    default_left: nodes.map((node) => ('leaf' in node || !node.defaultLeft ? 0 : 1)),
    id,
    left_children: left,
    loss_changes: nodes.map(() => 0),
    parents,
    right_children: right,
    split_conditions: nodes.map((node) => ('leaf' in node ? node.leaf : node.threshold)),
    split_indices: nodes.map((node) => ('leaf' in node ? 0 : node.feature)),
    split_type: nodes.map(() => 0),
    sum_hessian: nodes.map(() => 1),
    tree_param: {
      num_deleted: '0',
      num_feature: String(featureCount),
      num_nodes: String(nodes.length),
      size_leaf_vector: '0',
    },
  };
}

/** A model object shaped as `Booster.save_model('model.json')` writes it in XGBoost 1.7. */
export function buildModelJson(spec: ModelSpecForTest): Record<string, unknown> {
  const objective: Record<string, unknown> = { name: spec.objective };
  if (spec.objective === 'reg:tweedie')
    objective.tweedie_regression_param = { tweedie_variance_power: '1.5' };
  else objective.reg_loss_param = { scale_pos_weight: '1' };
  return {
    learner: {
      attributes: {},
      feature_names: spec.featureNames ?? [],
      feature_types: [],
      gradient_booster: {
        model: {
          gbtree_model_param: {
            num_parallel_tree: '1',
            num_trees: String(spec.trees.length),
            size_leaf_vector: '0',
          },
          tree_info: spec.trees.map(() => 0),
          trees: spec.trees.map((tree, id) => treeJson(tree, id, spec.featureCount)),
        },
        name: 'gbtree',
      },
      learner_model_param: {
        base_score: String(spec.baseScore ?? 0.5),
        boost_from_average: '1',
        num_class: '0',
        num_feature: String(spec.featureCount),
        num_target: '1',
      },
      objective,
    },
    version: [1, 7, 4],
  };
}

function randomTree(random: Random, featureCount: number, depth: number): TreeSpec {
  if (depth === 0 || random.chance(0.15)) return { leaf: Math.fround(random.uniform(-0.5, 0.5)) };
  return {
    feature: random.int(0, featureCount - 1),
    threshold: Math.fround(random.uniform(-10, 10)),
    defaultLeft: random.chance(0.5),
    left: randomTree(random, featureCount, depth - 1),
    right: randomTree(random, featureCount, depth - 1),
  };
}

/** A model of random trees: splits on every feature, thresholds in [-10, 10), missing values both ways. */
export function randomModelJson(
  seed: number,
  options: { objective: XgboostObjective; featureCount: number; trees: number; depth: number },
): Record<string, unknown> {
  const random = Random.fromSeed(seed).derive('xgboost-model');
  return buildModelJson({
    objective: options.objective,
    featureCount: options.featureCount,
    baseScore: options.objective === 'reg:tweedie' ? 2 : 0.5,
    trees: Array.from({ length: options.trees }, () =>
      randomTree(random, options.featureCount, options.depth),
    ),
  });
}
