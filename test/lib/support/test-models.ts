/**
 * Small XGBoost models, one per model of ml/models.json (its objective and feature count), written to
 * a temporary directory: the infrastructure tests synthesize endpoints without depending on the
 * committed models in ml/models/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelSpec, MODEL_NAMES, type ModelName } from '../../../ml/model-spec.ts';
import { buildModelJson } from '../../ml/xgboost-model-builder.ts';

export interface TestModels {
  readonly dir: string;
  /** Where the model `name` is, as the stack's `modelPath` wants it. */
  readonly modelPath: (name: ModelName) => string;
  /** Deletes the directory. */
  readonly remove: () => void;
}

/** The JSON of a one-tree model shaped like the model `name` of ml/models.json; `leaf` varies it. */
export function testModelJson(name: ModelName, leaf = 0.25): string {
  const definition = loadModelSpec().models[name];
  return JSON.stringify(
    buildModelJson({
      objective: definition.objective,
      featureCount: definition.features.length,
      baseScore: definition.objective === 'reg:tweedie' ? 2 : 0.5,
      trees: [{ feature: 0, threshold: 0.5, left: { leaf: -leaf }, right: { leaf } }],
    }),
  );
}

/** Writes one small model per name into a new temporary directory. */
export function writeTestModels(): TestModels {
  const dir = mkdtempSync(join(tmpdir(), 'sdap-test-models-'));
  const modelPath = (name: ModelName) => join(dir, `${name}.json`);
  for (const name of MODEL_NAMES) writeFileSync(modelPath(name), testModelJson(name));
  return { dir, modelPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
