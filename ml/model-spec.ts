/**
 * The ML models' definitions (`ml/models.json`), as TypeScript reads them: what each model predicts,
 * its features in the order a CSV row carries them, and the XGBoost hyperparameters. The same file
 * is read by `ml/model_spec.py` for local training, so the SageMaker training job and `sdap train`
 * cannot drift apart: both take their hyperparameters from here.
 *
 * `parseModelSpec` is pure (no I/O), so code that bundles the JSON (a Lambda function) can validate
 * it too; `loadModelSpec` reads the file.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { showValue, valueAt } from '../lambdas/shared/received-value.ts';

export const MODEL_SPEC_PATH = join(dirname(fileURLToPath(import.meta.url)), 'models.json');

export const MODEL_NAMES = ['anomaly', 'failure', 'energy'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** Where `sdap train` writes the trained models the repository carries (XGBoost JSON). */
export const COMMITTED_MODELS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'models');

/** The committed model of `name`: what the twin serves and the endpoints deploy. */
export function committedModelPath(name: ModelName): string {
  return join(COMMITTED_MODELS_DIR, `${name}.json`);
}

/**
 * Objectives the TypeScript scorer (`lambdas/shared/xgboost.ts`) can score. Tweedie suits energy: it
 * is never negative, often zero (HVAC off) and its spread grows with its level.
 */
export const MODEL_OBJECTIVES = ['binary:logistic', 'reg:squarederror', 'reg:tweedie'] as const;
export type ModelObjective = (typeof MODEL_OBJECTIVES)[number];

/**
 * Where a model's rows come from: `ml_features` is the curated device-hour table
 * (`glue-scripts/sql/90_ml_features.sql`); `reading` is one validated reading (the contract's
 * fields in snake_case, as in `curated_telemetry`) with its device's `device_baselines` row.
 */
export const MODEL_TABLES = ['ml_features', 'reading'] as const;

const SNAKE_CASE = /^[a-z][a-z0-9_]*$/;
const snakeCase = z.string().regex(SNAKE_CASE, { error: 'a snake_case name' });

const featureSchema = z
  .strictObject({
    name: snakeCase,
    description: z.string({ error: 'a description' }).min(1, { error: 'a description' }),
    /** The feature is 1 when `column` equals `equals`, else 0 (also when the column is NULL). */
    indicator: z.strictObject({ column: snakeCase, equals: z.string({ error: 'a value' }) }).optional(),
    /** Computed by code from the row (only for `reading` models); the description says how. */
    derived: z.literal(true, { error: 'true, or leave it out' }).optional(),
  })
  .refine((feature) => !(feature.indicator && feature.derived), {
    error: 'a feature that is either an indicator or derived, not both',
  });

const int = (min: number, max: number) =>
  z
    .number({ error: `an integer from ${min} to ${max}` })
    .int({ error: `an integer from ${min} to ${max}` })
    .min(min, { error: `an integer from ${min} to ${max}` })
    .max(max, { error: `an integer from ${min} to ${max}` });
const openUnit = z
  .number({ error: 'a number in (0, 1]' })
  .gt(0, { error: 'a number in (0, 1]' })
  .max(1, { error: 'a number in (0, 1]' });
const nonNegative = z.number({ error: 'a number >= 0' }).min(0, { error: 'a number >= 0' });
const openInterval = z
  .number({ error: 'a number in (0, 1)' })
  .gt(0, { error: 'a number in (0, 1)' })
  .lt(1, { error: 'a number in (0, 1)' });

/**
 * XGBoost 1.7's names, so they pass unchanged to `xgboost.train` and to the SageMaker built-in
 * container. Only these are accepted: a misspelt name would otherwise fall back to XGBoost's
 * default without a word. The bounds are XGBoost's own, narrowed where a value would be a mistake
 * here (a depth of 0 means unlimited in XGBoost).
 */
const hyperparametersSchema = z.strictObject({
  num_round: int(1, 10_000),
  max_depth: int(1, 20),
  eta: openUnit,
  subsample: openUnit.optional(),
  colsample_bytree: openUnit.optional(),
  min_child_weight: nonNegative.optional(),
  gamma: nonNegative.optional(),
  lambda: nonNegative.optional(),
  alpha: nonNegative.optional(),
  scale_pos_weight: z.number({ error: 'a number > 0' }).gt(0, { error: 'a number > 0' }).optional(),
  tree_method: z.enum(['auto', 'exact', 'approx', 'hist'], { error: 'one of auto, exact, approx, hist' }),
  max_bin: int(2, 65_535).optional(),
  tweedie_variance_power: z
    .number({ error: 'a number in (1, 2)' })
    .gt(1, { error: 'a number in (1, 2)' })
    .lt(2, { error: 'a number in (1, 2)' })
    .optional(),
  eval_metric: z
    .string({ error: 'an XGBoost metric name' })
    .regex(/^[a-z][a-z-]*(@[0-9.]+)?$/, { error: 'an XGBoost metric name' })
    .optional(),
  seed: int(0, 2_147_483_647),
});

const modelSchema = z
  .strictObject({
    description: z.string({ error: 'a description' }).min(1, { error: 'a description' }),
    objective: z.enum(MODEL_OBJECTIVES, { error: `one of ${MODEL_OBJECTIVES.join(', ')}` }),
    /**
     * A `binary:logistic` model's decision threshold: a score at or above it counts as positive
     * (the stream raises a `model_anomaly` alert; `HighScoreShare` counts it).
     */
    threshold: openInterval.optional(),
    table: z.enum(MODEL_TABLES, { error: `one of ${MODEL_TABLES.join(', ')}` }),
    grain: z.string({ error: 'a description of one row' }).min(1, { error: 'a description of one row' }),
    label: z.string({ error: 'a description of the label' }).min(1, { error: 'a description of the label' }),
    deviceTypes: z
      .array(z.enum(['thermostat', 'camera', 'smart_lock', 'sensor'], { error: 'a device type' }), {
        error: 'an array of device types',
      })
      .min(1, { error: 'at least one device type' }),
    features: z
      .array(featureSchema, { error: 'an array of features' })
      .min(1, { error: 'at least one feature' }),
    hyperparameters: hyperparametersSchema,
  })
  .superRefine((model, ctx) => {
    const names = model.features.map((feature) => feature.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: ['features', index, 'name'],
          message: 'a name not used before',
        });
      }
    });
    model.features.forEach((feature, index) => {
      if (feature.derived && model.table !== 'reading') {
        ctx.addIssue({
          code: 'custom',
          path: ['features', index, 'derived'],
          message: `nothing: an ${model.table} feature is a column or an indicator`,
        });
      }
    });
    if (model.threshold !== undefined && model.objective !== 'binary:logistic') {
      ctx.addIssue({
        code: 'custom',
        path: ['threshold'],
        message: 'nothing: it applies to binary:logistic only',
      });
    }
    const { hyperparameters: h } = model;
    if (h.tweedie_variance_power !== undefined && model.objective !== 'reg:tweedie') {
      ctx.addIssue({
        code: 'custom',
        path: ['hyperparameters', 'tweedie_variance_power'],
        message: 'nothing: it applies to reg:tweedie only',
      });
    }
    if (h.scale_pos_weight !== undefined && model.objective !== 'binary:logistic') {
      ctx.addIssue({
        code: 'custom',
        path: ['hyperparameters', 'scale_pos_weight'],
        message: 'nothing: it applies to binary:logistic only',
      });
    }
  });

const specSchema = z.strictObject({
  version: z.literal(1, { error: '1' }),
  description: z.string({ error: 'a description' }),
  sagemakerXgboostVersion: z
    .string({ error: "a SageMaker XGBoost image version such as '1.7-1'" })
    .regex(/^1\.7-\d+$/, { error: "a SageMaker XGBoost 1.7 image version such as '1.7-1'" }),
  models: z.strictObject(
    Object.fromEntries(MODEL_NAMES.map((name) => [name, modelSchema])) as Record<
      ModelName,
      typeof modelSchema
    >,
  ),
});

export type ModelSpec = z.output<typeof specSchema>;
export type ModelDefinition = z.output<typeof modelSchema>;
export type FeatureDefinition = z.output<typeof featureSchema>;
export type Hyperparameters = z.output<typeof hyperparametersSchema>;

/**
 * Validates the spec's JSON. @throws Error with one line per problem, each naming the field, the
 * value received and what is expected
 */
export function parseModelSpec(json: unknown, source = MODEL_SPEC_PATH): ModelSpec {
  const result = specSchema.safeParse(json);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.') || '(root)';
      if (issue.code === 'unrecognized_keys') {
        return `${source}: ${path}: received unknown key(s) ${issue.keys.join(', ')}, expected only the documented keys`;
      }
      return `${source}: ${path}: received ${showValue(valueAt(json, issue.path))}, expected ${issue.message}`;
    });
    throw new Error(lines.join('\n'));
  }
  return result.data;
}

/** Reads and validates `ml/models.json` (or another spec file). */
export function loadModelSpec(path = MODEL_SPEC_PATH): ModelSpec {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: expected a readable JSON file (${(error as Error).message})`);
  }
  return parseModelSpec(json, path);
}

/** The model's feature names, in CSV column order. */
export function featureNames(model: ModelDefinition): string[] {
  return model.features.map((feature) => feature.name);
}

/**
 * The hyperparameters as the SageMaker built-in XGBoost container takes them
 * (`CreateTrainingJob.HyperParameters`: every value a string), the objective included.
 *
 * @example sagemakerHyperParameters(spec.models.failure) // { objective: 'binary:logistic', num_round: '300', ... }
 */
export function sagemakerHyperParameters(model: ModelDefinition): Record<string, string> {
  const rendered: Record<string, string> = { objective: model.objective };
  for (const [name, value] of Object.entries(model.hyperparameters)) {
    if (value !== undefined) rendered[name] = String(value);
  }
  return rendered;
}
