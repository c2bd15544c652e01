/**
 * What a model must achieve on its hold-out period to be served: the targets the twin's summary
 * shows next to each figure, and the gate of the training workflow (a candidate must meet its
 * target and must not fall behind the current champion on the same hold-out).
 */
import type { ModelName } from './model-spec.ts';

/** The figure a model is judged on. */
export type QualityMetric = 'f1' | 'rocAuc' | 'mape';

export interface QualityTarget {
  readonly metric: QualityMetric;
  /** Higher is better for F1 and ROC-AUC; lower for MAPE. */
  readonly higherIsBetter: boolean;
  /** The floor (or, for MAPE, the ceiling) a model must reach; `undefined` when only the baseline counts. */
  readonly bound?: number;
  /** The simple method a model must beat on the same rows. */
  readonly baseline: 'rules-only' | 'seasonal-naive' | 'none';
}

/** From the ML issue: anomaly F1 >= 0.80 and above rules-only; failure ROC-AUC >= 0.85; forecast MAPE below seasonal-naive. */
export const QUALITY_TARGETS: Readonly<Record<ModelName, QualityTarget>> = {
  anomaly: { metric: 'f1', higherIsBetter: true, bound: 0.8, baseline: 'rules-only' },
  failure: { metric: 'rocAuc', higherIsBetter: true, bound: 0.85, baseline: 'none' },
  energy: { metric: 'mape', higherIsBetter: false, baseline: 'seasonal-naive' },
};

/**
 * How far a candidate may fall behind the champion on the champion's own metric and still replace
 * it: retraining on new data moves the figure by noise; a larger drop is a regression.
 * Absolute, in the metric's units (0.01 F1 or AUC; 1 percentage point of MAPE).
 */
export const CHAMPION_TOLERANCE: Readonly<Record<QualityMetric, number>> = {
  f1: 0.01,
  rocAuc: 0.01,
  mape: 1,
};

/** Whether `value` meets the model's bound and beats its baseline (when one was measured). */
export function meetsTarget(model: ModelName, value: number, baselineValue?: number): boolean {
  const target = QUALITY_TARGETS[model];
  if (!Number.isFinite(value)) return false;
  const better = (a: number, b: number) => (target.higherIsBetter ? a > b : a < b);
  const withinBound =
    target.bound === undefined || (target.higherIsBetter ? value >= target.bound : value <= target.bound);
  const beatsBaseline =
    baselineValue === undefined || !Number.isFinite(baselineValue) || better(value, baselineValue);
  return withinBound && beatsBaseline;
}

/** The gate: the candidate meets its target and stays within tolerance of the champion. */
export function passesGate(model: ModelName, candidate: number, champion?: number): boolean {
  if (!meetsTarget(model, candidate)) return false;
  if (champion === undefined || !Number.isFinite(champion)) return true;
  const target = QUALITY_TARGETS[model];
  const tolerance = CHAMPION_TOLERANCE[target.metric];
  return target.higherIsBetter ? candidate >= champion - tolerance : candidate <= champion + tolerance;
}
