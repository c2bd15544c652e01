/**
 * Scores a hold-out set with a model (the TypeScript scorer, bit-identical to XGBoost's) and
 * measures it against the simulator's labels and the simple method it must beat. Used by
 * `sdap train` (candidate and champion on the same hold-out) and by the twin's summary (the
 * committed models on the run's own, unseen, period).
 */
import { readFile } from 'node:fs/promises';
import { predictRows, type XgboostModel } from '../../lambdas/shared/xgboost.ts';
import {
  type AnomalyQuality,
  type EnergyQuality,
  evaluateAnomaly,
  evaluateEnergy,
  evaluateFailure,
  type FailureQuality,
  type ScoredRow,
} from '../../ml/evaluate.ts';
import type { ModelName, ModelSpec } from '../../ml/model-spec.ts';
import { type ExampleSet, type ModelExamples, readingKey } from './model-examples.ts';

/** The decision threshold of a binary model. */
export const DEFAULT_DECISION_THRESHOLD = 0.5;

export function decisionThreshold(spec: ModelSpec, model: ModelName): number {
  const definition = spec.models[model] as { threshold?: number };
  return definition.threshold ?? DEFAULT_DECISION_THRESHOLD;
}

export type ModelQuality =
  | { readonly model: 'anomaly'; readonly quality: AnomalyQuality }
  | { readonly model: 'failure'; readonly quality: FailureQuality }
  | { readonly model: 'energy'; readonly quality: EnergyQuality };

/** The headline figure of a quality: what the gate compares and the summary leads with. */
export function headline(quality: ModelQuality): number {
  switch (quality.model) {
    case 'anomaly':
      return quality.quality.model.f1;
    case 'failure':
      return quality.quality.model.rocAuc;
    case 'energy':
      return quality.quality.thermostatDays.model;
  }
}

/** The devices' failure times from the simulator's ground truth (the first, if several). */
export async function failureTimes(groundTruthPath: string): Promise<Map<string, string>> {
  const failures = new Map<string, string>();
  const text = await readFile(groundTruthPath, 'utf8');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const record = JSON.parse(line) as { deviceId: string; failureAt?: string };
    if (record.failureAt === undefined) continue;
    const known = failures.get(record.deviceId);
    if (known === undefined || record.failureAt < known) failures.set(record.deviceId, record.failureAt);
  }
  return failures;
}

/** Context the baselines and device-level figures need. */
export interface QualityContext {
  readonly examples: ModelExamples;
  readonly failures: ReadonlyMap<string, string>;
  readonly spec: ModelSpec;
}

/** Scores the hold-out rows of `set` with `model` and evaluates them. */
export function measureModel(
  name: ModelName,
  set: ExampleSet,
  model: XgboostModel,
  context: QualityContext,
): ModelQuality {
  const holdout = set.examples.filter((example) => example.split === 'holdout');
  const scores = predictRows(
    model,
    holdout.map((example) => example.features),
  );
  const energyIndex = set.featureNames.indexOf('energy_wh');
  const rows: ScoredRow[] = holdout.map((example, i) => {
    const key = readingKey(example.deviceId, example.exampleTime);
    const baseline =
      name === 'anomaly'
        ? Number(context.examples.ruleAlerts.has(key))
        : name === 'failure'
          ? Number(context.examples.ruleAlertHours.has(key))
          : (example.features[energyIndex] ?? 0);
    return {
      deviceId: example.deviceId,
      time: example.exampleTime,
      label: example.label,
      score: scores[i] as number,
      baseline,
    };
  });
  switch (name) {
    case 'anomaly':
      return { model: name, quality: evaluateAnomaly(rows, decisionThreshold(context.spec, name)) };
    case 'failure':
      return {
        model: name,
        quality: evaluateFailure(rows, context.failures, decisionThreshold(context.spec, name)),
      };
    case 'energy':
      return { model: name, quality: evaluateEnergy(rows, (id) => context.examples.sites.get(id)) };
  }
}
