/**
 * The training workflow's evaluation of a candidate model: pure functions over the lines of the
 * run's objects (no I/O), so the same code judges a run in Lambda and in a test.
 *
 * The inputs, all in the order of the hold-out channel (`holdout.csv`):
 * - the hold-out keys: `device_id,example_time,label`, one line per hold-out row;
 * - each batch transform's output, joined to its input's label: `label,score` (the transform runs
 *   with `InputFilter $[1:]`, `JoinSource Input`, `OutputFilter $[0,-1]`), for the candidate and,
 *   when the endpoint has one, the current champion;
 * - for a model judged against the seasonal-naive forecast (energy), the hold-out channel itself,
 *   whose `energy_wh` feature is that forecast.
 *
 * The label of every output line must equal the key's: a transform whose output is out of step with
 * the hold-out fails the evaluation instead of scoring the wrong rows. Each figure is the model's
 * metric from `QUALITY_TARGETS` (ml/metrics.ts), and the verdict is `passesGate` plus, where the
 * target names one, beating the baseline measured on the same rows.
 */

import {
  MetricInputError,
  meanAbsolutePercentageError,
  precisionAtK,
  qualityAtThreshold,
  rocAuc,
} from '../../ml/metrics.ts';
import { featureNames, type ModelDefinition, type ModelName } from '../../ml/model-spec.ts';
import {
  CHAMPION_TOLERANCE,
  meetsTarget,
  passesGate,
  QUALITY_TARGETS,
  type QualityMetric,
  type QualityTarget,
} from '../../ml/quality-targets.ts';
import { MODEL_EVALUATION_ERROR } from './names.ts';

/** A binary model's decision threshold when `models.json` gives it none. */
export const DEFAULT_DECISION_THRESHOLD = 0.5;
/** The feature that is the seasonal-naive forecast of the energy label (the same hour, a day earlier). */
export const SEASONAL_NAIVE_FEATURE = 'energy_wh';
const DAY_MS = 86_400_000;
/** How much of a malformed line an error message quotes. */
const QUOTE_LENGTH = 80;

/** An evaluation that cannot be made from the run's objects; the message names the object and line. */
export class ModelEvaluationError extends Error {
  override readonly name = MODEL_EVALUATION_ERROR;
}

/** The lines of one object, and how errors name it (`s3://bucket/key`). */
export interface LineSource {
  readonly name: string;
  readonly lines: AsyncIterable<string> | Iterable<string>;
}

export interface HoldoutSources {
  readonly keys: LineSource;
  readonly candidate: LineSource;
  /** The champion's scores; absent when there is no endpoint (and so no champion) yet. */
  readonly champion?: LineSource;
  /** The hold-out channel; required when the model's target is judged against seasonal-naive. */
  readonly holdout?: LineSource;
}

/** The hold-out as the metrics read it: one entry per row, in the channel's order. */
export interface HoldoutRows {
  readonly labels: readonly number[];
  readonly candidate: readonly number[];
  readonly champion: readonly number[] | null;
  /** The seasonal-naive forecast of each row, for a model judged against it. */
  readonly baseline: readonly number[] | null;
  /** For a MAPE model: the device-day each row's forecast belongs to (forecasts are judged on day totals). */
  readonly groups: readonly string[] | null;
}

/** A model's figures on the hold-out, by name; null where a figure is undefined (NaN). */
export type Figures = Readonly<Record<string, number | null>>;

export interface Evaluation {
  readonly model: ModelName;
  readonly metric: QualityMetric;
  readonly higherIsBetter: boolean;
  /** The target's floor (ceiling for MAPE); null when only the baseline counts. */
  readonly bound: number | null;
  /** The score at or above which a binary model predicts positive; null for regression. */
  readonly decisionThreshold: number | null;
  /** Hold-out rows scored. */
  readonly rows: number;
  /** Positive labels among them (binary models); null for regression. */
  readonly positives: number | null;
  /** The candidate's metric; null when undefined (e.g. ROC-AUC without a positive). */
  readonly candidate: number | null;
  /** The champion's metric on the same rows; null without a champion. */
  readonly champion: number | null;
  /** The baseline's metric on the same rows; null when the target names none this workflow measures. */
  readonly baseline: number | null;
  readonly baselineMethod: QualityTarget['baseline'];
  /** How far the candidate may fall behind the champion (metric units). */
  readonly championTolerance: number;
  readonly passed: boolean;
  /** The verdict in a sentence, with the figures: what the model package and on-call read. */
  readonly reason: string;
  readonly details: {
    readonly candidate: Figures;
    readonly champion: Figures | null;
    readonly baseline: Figures | null;
  };
}

/** The binary model's decision threshold: `threshold` of its definition when set, else 0.5. */
export function decisionThreshold(definition: ModelDefinition): number {
  const value = (definition as unknown as { threshold?: unknown }).threshold;
  return typeof value === 'number' && value > 0 && value < 1 ? value : DEFAULT_DECISION_THRESHOLD;
}

/** Reads the hold-out and every output in step, then judges the candidate. */
export async function evaluateCandidate(
  model: ModelName,
  definition: ModelDefinition,
  sources: HoldoutSources,
): Promise<Evaluation> {
  return judgeCandidate(model, definition, await readHoldout(model, definition, sources));
}

interface Reader {
  readonly source: LineSource;
  readonly iterator: AsyncIterator<string> | Iterator<string>;
  lineNumber: number;
}

function reader(source: LineSource): Reader {
  const lines = source.lines as Partial<AsyncIterable<string> & Iterable<string>>;
  const iterator = lines[Symbol.asyncIterator]?.() ?? (lines as Iterable<string>)[Symbol.iterator]();
  return { source, iterator, lineNumber: 0 };
}

function quote(line: string): string {
  const text = JSON.stringify(line.length > QUOTE_LENGTH ? `${line.slice(0, QUOTE_LENGTH - 3)}...` : line);
  return `'${text.slice(1, -1)}'`;
}

function lineError(at: Reader, line: string, expected: string): ModelEvaluationError {
  return new ModelEvaluationError(
    `${at.source.name} line ${at.lineNumber}: received ${quote(line)}, expected ${expected}`,
  );
}

/** A finite number written in a CSV field; undefined for anything else (an empty field too). */
function parseNumber(field: string | undefined): number | undefined {
  if (field === undefined || field.trim() === '') return undefined;
  const value = Number(field);
  return Number.isFinite(value) ? value : undefined;
}

function sameLabel(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a));
}

const KEYS_EXPECTED = 'device_id,example_time,label (an id, an ISO time and a number)';
const SCORES_EXPECTED = 'label,score (two numbers: the transform output joined to its input label)';

/**
 * Reads the hold-out keys and every output line by line, in step: the n-th line of each belongs to
 * the n-th hold-out row. @throws ModelEvaluationError naming the object and the line
 */
export async function readHoldout(
  model: ModelName,
  definition: ModelDefinition,
  sources: HoldoutSources,
): Promise<HoldoutRows> {
  const target = QUALITY_TARGETS[model];
  const features = featureNames(definition);
  const seasonalNaive = target.baseline === 'seasonal-naive';
  const baselineColumn = 1 + features.indexOf(SEASONAL_NAIVE_FEATURE);
  if (seasonalNaive && baselineColumn === 0) {
    throw new ModelEvaluationError(
      `models.json ${model}: has no feature ${SEASONAL_NAIVE_FEATURE}, expected it as the seasonal-naive forecast the model is judged against`,
    );
  }
  if (seasonalNaive && !sources.holdout) {
    throw new ModelEvaluationError(
      `${model}: the hold-out channel is needed for the seasonal-naive baseline`,
    );
  }

  const keys = reader(sources.keys);
  const candidate = reader(sources.candidate);
  const champion = sources.champion ? reader(sources.champion) : undefined;
  const holdout = seasonalNaive && sources.holdout ? reader(sources.holdout) : undefined;
  const readers = [keys, candidate, champion, holdout].filter((r): r is Reader => r !== undefined);

  const rows = {
    labels: [] as number[],
    candidate: [] as number[],
    champion: champion ? ([] as number[]) : null,
    baseline: holdout ? ([] as number[]) : null,
    groups: target.metric === 'mape' ? ([] as string[]) : null,
  };

  for (;;) {
    const steps = await Promise.all(readers.map((r) => r.iterator.next()));
    const ended = readers.filter((_, i) => steps[i]?.done);
    if (ended.length === readers.length) break;
    if (ended.length > 0) {
      const short = ended[0] as Reader;
      const long = readers.find((r) => !ended.includes(r)) as Reader;
      throw new ModelEvaluationError(
        `${short.source.name}: ends after line ${short.lineNumber}, but ${long.source.name} has more lines: expected one line per hold-out row in each`,
      );
    }
    for (const r of readers) r.lineNumber++;
    const [keyLine, candidateLine, ...rest] = steps.map((step) => String(step.value).replace(/\r$/, ''));

    const key = (keyLine as string).split(',');
    const label = parseNumber(key[2]);
    const exampleMs = Date.parse(key[1] ?? '');
    if (key.length !== 3 || !key[0] || Number.isNaN(exampleMs) || label === undefined) {
      throw lineError(keys, keyLine as string, KEYS_EXPECTED);
    }
    rows.labels.push(label);
    rows.candidate.push(score(candidate, candidateLine as string, label, keys));
    if (champion && rows.champion) rows.champion.push(score(champion, rest.shift() as string, label, keys));
    if (holdout && rows.baseline) {
      rows.baseline.push(
        seasonalNaiveForecast(holdout, rest.shift() as string, label, features, baselineColumn),
      );
    }
    // The label is the same hour of the next day: its forecast belongs to that day's total.
    rows.groups?.push(`${key[0]} ${new Date(exampleMs + DAY_MS).toISOString().slice(0, 10)}`);
  }
  if (rows.labels.length === 0) {
    throw new ModelEvaluationError(`${keys.source.name}: received no lines, expected one per hold-out row`);
  }
  return rows;
}

/** The score of one transform output line, after checking its label against the key's. */
function score(at: Reader, line: string, keyLabel: number, keys: Reader): number {
  const fields = line.split(',');
  const label = parseNumber(fields[0]);
  const value = parseNumber(fields[1]);
  if (fields.length !== 2 || label === undefined || value === undefined) {
    throw lineError(at, line, SCORES_EXPECTED);
  }
  if (!sameLabel(label, keyLabel)) {
    throw new ModelEvaluationError(
      `${at.source.name} line ${at.lineNumber}: received label ${fields[0]}, expected ${keyLabel} as on line ${keys.lineNumber} of ${keys.source.name}: the output is out of step with the hold-out`,
    );
  }
  return value;
}

/** The seasonal-naive forecast of a hold-out row; a missing value forecasts 0 (the hour recorded no energy). */
function seasonalNaiveForecast(
  at: Reader,
  line: string,
  keyLabel: number,
  features: readonly string[],
  column: number,
): number {
  const fields = line.split(',');
  const label = parseNumber(fields[0]);
  const raw = fields[column] ?? '';
  const forecast = raw.trim() === '' ? 0 : parseNumber(raw);
  if (fields.length !== features.length + 1 || label === undefined || forecast === undefined) {
    throw lineError(
      at,
      line,
      `${features.length + 1} comma-separated fields (the label, then ${features.join(', ')}; an empty field a missing value)`,
    );
  }
  if (!sameLabel(label, keyLabel)) {
    throw new ModelEvaluationError(
      `${at.source.name} line ${at.lineNumber}: received label ${fields[0]}, expected ${keyLabel}: the hold-out channel is out of step with its keys`,
    );
  }
  return forecast;
}

const finiteOrNull = (value: number): number | null => (Number.isFinite(value) ? value : null);

/** The model's metric (and the figures around it) for one set of predictions. */
function measure(
  model: ModelName,
  rows: HoldoutRows,
  predictions: readonly number[],
  threshold: number,
): { value: number; figures: Figures } {
  const { metric } = QUALITY_TARGETS[model];
  try {
    if (metric === 'f1') {
      const quality = qualityAtThreshold(predictions, rows.labels, threshold);
      return {
        value: quality.f1,
        figures: {
          f1: quality.f1,
          precision: quality.precision,
          recall: quality.recall,
          truePositives: quality.truePositives,
          falsePositives: quality.falsePositives,
          falseNegatives: quality.falseNegatives,
          trueNegatives: quality.trueNegatives,
        },
      };
    }
    if (metric === 'rocAuc') {
      const value = rocAuc(predictions, rows.labels);
      // Precision among as many top scores as there are failures (R-precision): how much of an
      // on-call list of that length would be real.
      const k = Math.max(1, rows.labels.filter((label) => label === 1).length);
      return {
        value,
        figures: { rocAuc: finiteOrNull(value), precisionAtK: precisionAtK(predictions, rows.labels, k), k },
      };
    }
    const totals = new Map<string, { actual: number; forecast: number }>();
    rows.labels.forEach((actual, i) => {
      const group = rows.groups?.[i] ?? String(i);
      const total = totals.get(group) ?? { actual: 0, forecast: 0 };
      total.actual += actual;
      total.forecast += predictions[i] as number;
      totals.set(group, total);
    });
    const days = [...totals.values()];
    const error = meanAbsolutePercentageError(
      days.map((day) => day.actual),
      days.map((day) => day.forecast),
    );
    return {
      value: error.mape,
      figures: { mape: finiteOrNull(error.mape), deviceDays: error.pairs, zeroActualDays: error.zeroActuals },
    };
  } catch (error) {
    if (error instanceof MetricInputError) {
      throw new ModelEvaluationError(`${model} hold-out: ${error.message}`);
    }
    throw error;
  }
}

const show = (value: number | null) => (value === null ? 'undefined' : String(Number(value.toPrecision(4))));

/** Judges the candidate on rows read by {@link readHoldout}. */
export function judgeCandidate(model: ModelName, definition: ModelDefinition, rows: HoldoutRows): Evaluation {
  const target = QUALITY_TARGETS[model];
  const binary = definition.objective === 'binary:logistic';
  const threshold = decisionThreshold(definition);
  const tolerance = CHAMPION_TOLERANCE[target.metric];

  const candidateMeasure = measure(model, rows, rows.candidate, threshold);
  const championMeasure = rows.champion ? measure(model, rows, rows.champion, threshold) : null;
  const baselineMeasure = rows.baseline ? measure(model, rows, rows.baseline, threshold) : null;
  const candidate = finiteOrNull(candidateMeasure.value);
  const champion = championMeasure ? finiteOrNull(championMeasure.value) : null;
  const baseline = baselineMeasure ? finiteOrNull(baselineMeasure.value) : null;

  const name = target.metric === 'mape' ? 'MAPE' : target.metric === 'rocAuc' ? 'ROC-AUC' : 'F1';
  const direction = target.higherIsBetter ? '>=' : '<=';
  let passed = false;
  let reason: string;
  if (candidate === null) {
    reason = `the candidate's ${name} is undefined on the hold-out (${binary ? 'it needs positive and negative labels' : 'no day with non-zero energy'})`;
  } else if (!meetsTarget(model, candidate)) {
    reason = `the candidate's ${name} ${show(candidate)} misses the target ${direction} ${target.bound}`;
  } else if (baseline !== null && !meetsTarget(model, candidate, baseline)) {
    reason = `the candidate's ${name} ${show(candidate)} does not beat ${target.baseline} (${show(baseline)})`;
  } else if (!passesGate(model, candidate, champion ?? undefined)) {
    reason = `the candidate's ${name} ${show(candidate)} falls more than ${tolerance} behind the champion's ${show(champion)}`;
  } else {
    passed = true;
    const parts = [
      target.bound === undefined ? undefined : `meets the target ${direction} ${target.bound}`,
      baseline === null ? undefined : `beats ${target.baseline} (${show(baseline)})`,
      champion === null
        ? 'has no champion to compare with'
        : `stays within ${tolerance} of the champion's ${show(champion)}`,
    ].filter((part) => part !== undefined);
    reason = `the candidate's ${name} ${show(candidate)} ${parts.join(', ')}`;
  }

  return {
    model,
    metric: target.metric,
    higherIsBetter: target.higherIsBetter,
    bound: target.bound ?? null,
    decisionThreshold: binary ? threshold : null,
    rows: rows.labels.length,
    positives: binary ? rows.labels.filter((label) => label === 1).length : null,
    candidate,
    champion,
    baseline,
    baselineMethod: target.baseline,
    championTolerance: tolerance,
    passed,
    reason,
    details: {
      candidate: candidateMeasure.figures,
      champion: championMeasure?.figures ?? null,
      baseline: baselineMeasure?.figures ?? null,
    },
  };
}
