/**
 * Model-quality metrics: the figures the training gate, the run log and the twin's summary report.
 * Pure functions over plain arrays, so the evaluation Lambda, `sdap train` and the twin share them.
 */

/** A binary classifier's confusion counts at one threshold. */
export interface ConfusionCounts {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  readonly trueNegatives: number;
}

/** Precision, recall and F1; each is 0 when its denominator is 0 (nothing predicted or present). */
export interface ClassificationQuality {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

/** Thrown when paired arrays differ in length or a label is not 0 or 1. */
export class MetricInputError extends Error {
  override readonly name = 'MetricInputError';
}

function checkPairs(what: string, left: readonly unknown[], right: readonly unknown[]): void {
  if (left.length !== right.length) {
    throw new MetricInputError(
      `${what}: received ${left.length} and ${right.length} values, expected as many of each`,
    );
  }
}

function checkLabels(labels: readonly number[]): void {
  const bad = labels.findIndex((label) => label !== 0 && label !== 1);
  if (bad >= 0) throw new MetricInputError(`labels[${bad}]: received ${labels[bad]}, expected 0 or 1`);
}

/** Counts a prediction as positive when its flag is true. */
export function confusionCounts(predicted: readonly boolean[], labels: readonly number[]): ConfusionCounts {
  checkPairs('confusionCounts', predicted, labels);
  checkLabels(labels);
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  let trueNegatives = 0;
  predicted.forEach((positive, i) => {
    if (positive && labels[i] === 1) truePositives++;
    else if (positive) falsePositives++;
    else if (labels[i] === 1) falseNegatives++;
    else trueNegatives++;
  });
  return { truePositives, falsePositives, falseNegatives, trueNegatives };
}

export function classificationQuality(counts: ConfusionCounts): ClassificationQuality {
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const precision = ratio(counts.truePositives, counts.truePositives + counts.falsePositives);
  const recall = ratio(counts.truePositives, counts.truePositives + counts.falseNegatives);
  return { precision, recall, f1: ratio(2 * precision * recall, precision + recall) };
}

/** Precision, recall and F1 of `score >= threshold` against the labels. */
export function qualityAtThreshold(
  scores: readonly number[],
  labels: readonly number[],
  threshold: number,
): ClassificationQuality & ConfusionCounts {
  const counts = confusionCounts(
    scores.map((score) => score >= threshold),
    labels,
  );
  return { ...counts, ...classificationQuality(counts) };
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counting one half (the Mann-Whitney statistic, computed from average ranks).
 * Undefined (NaN) without at least one positive and one negative.
 */
export function rocAuc(scores: readonly number[], labels: readonly number[]): number {
  checkPairs('rocAuc', scores, labels);
  checkLabels(labels);
  const order = scores.map((_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1] as number] === scores[order[start] as number])
      end++;
    // Ranks are 1-based; a run of ties shares the mean of its ranks.
    const averageRank = (start + end + 2) / 2;
    for (let k = start; k <= end; k++) {
      if (labels[order[k] as number] === 1) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    start = end + 1;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * The share of positives among the `k` highest scores (ties broken by position, so the result is
 * deterministic). `k` larger than the input uses all of it.
 */
export function precisionAtK(scores: readonly number[], labels: readonly number[], k: number): number {
  checkPairs('precisionAtK', scores, labels);
  checkLabels(labels);
  if (!Number.isInteger(k) || k < 1) throw new MetricInputError(`k: received ${k}, expected an integer >= 1`);
  const top = scores
    .map((score, i) => ({ score, i }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, k);
  return top.filter(({ i }) => labels[i] === 1).length / top.length;
}

/** Mean absolute percentage error and what it rests on. */
export interface PercentageError {
  /** Percent, e.g. 12.5; NaN when no pair has a non-zero actual. */
  readonly mape: number;
  /** Pairs the mean is taken over. */
  readonly pairs: number;
  /** Pairs left out because the actual is 0 (the percentage is undefined there). */
  readonly zeroActuals: number;
}

/**
 * MAPE in percent over the pairs whose actual is not 0. Forecasts are judged on totals (a day of
 * a thermostat or a site), where a zero actual is rare; the count of left-out pairs is reported
 * so that a silent exclusion cannot flatter a model.
 */
export function meanAbsolutePercentageError(
  actual: readonly number[],
  forecast: readonly number[],
): PercentageError {
  checkPairs('meanAbsolutePercentageError', actual, forecast);
  let sum = 0;
  let pairs = 0;
  let zeroActuals = 0;
  actual.forEach((value, i) => {
    if (value === 0) {
      zeroActuals++;
      return;
    }
    sum += Math.abs(((forecast[i] as number) - value) / value);
    pairs++;
  });
  return { mape: pairs === 0 ? Number.NaN : (100 * sum) / pairs, pairs, zeroActuals };
}

/** The median of the values (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
