/**
 * The twin's model-quality stage: the committed models measured on the run that just ended, a
 * period (and a fleet seed) they were not trained on, against the simulator's labels and next to
 * the rules-only or seasonal-naive baseline. Runs after the batch stage, on its curated output.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseXgboostModel, type XgboostModel } from '../../lambdas/shared/xgboost.ts';
import type { AnomalyQuality, EnergyQuality, FailureQuality } from '../../ml/evaluate.ts';
import {
  COMMITTED_MODELS_DIR,
  committedModelPath,
  loadModelSpec,
  MODEL_NAMES,
  type ModelName,
  type ModelSpec,
} from '../../ml/model-spec.ts';
import { buildModelExamples } from './model-examples.ts';
import { failureTimes, type ModelQuality, measureModel } from './model-quality.ts';
import { RUN_LOG_FILE, type TrainingRunRecord } from './train-command.ts';

export interface ModelQualitySummary {
  /** The period scored: the run's whole hours. */
  readonly period: { readonly from: string; readonly to: string };
  readonly anomaly?: AnomalyQuality;
  readonly failure?: FailureQuality;
  readonly energy?: EnergyQuality;
  /** Models not measured, with the reason (no committed model, or no labelled rows in the run). */
  readonly notMeasured: Readonly<Partial<Record<ModelName, string>>>;
  /**
   * Each committed model's figures on the hold-out days of the run that trained it, from the run
   * log (`ml/models/runs.ndjson`): the time split the ML issue asks for, and the only figure a run
   * too short for a model's labels (next-day energy needs more than a day) can show.
   */
  readonly atTraining: Readonly<Partial<Record<ModelName, TrainingFigures>>>;
  readonly seconds: number;
}

/** A committed model's hold-out figures, as its training run logged them. */
export interface TrainingFigures {
  readonly trainedAt: string;
  readonly holdout: { readonly from: string; readonly to: string };
  readonly quality: ModelQuality;
}

export interface ModelQualityStageOptions {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  readonly outDir: string;
  readonly fleetStart: string;
  readonly fleetEnd: string;
  readonly spec?: ModelSpec;
  /** Where each model is read from. @default {@link committedModelPath} */
  readonly modelPath?: (name: ModelName) => string;
  /** The run log that trained them. @default `ml/models/runs.ndjson` */
  readonly runLogPath?: string;
}

async function loadModel(path: string): Promise<{ model: XgboostModel; sha256: string } | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  return { model: parseXgboostModel(text, path), sha256: createHash('sha256').update(text).digest('hex') };
}

/** The run log's record of the run that produced each committed model (matched by artefact hash). */
async function trainingFigures(
  runLogPath: string,
  hashes: ReadonlyMap<ModelName, string>,
): Promise<Partial<Record<ModelName, TrainingFigures>>> {
  const text = await readFile(runLogPath, 'utf8').catch(() => '');
  const figures: Partial<Record<ModelName, TrainingFigures>> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const record = JSON.parse(line) as TrainingRunRecord;
    if (!record.promoted || hashes.get(record.model) !== record.candidate.sha256) continue;
    figures[record.model] = {
      trainedAt: record.trainedAt,
      holdout: { from: record.data.window.splitAt, to: record.data.window.end },
      quality: record.candidate.quality,
    };
  }
  return figures;
}

/** Why a model's figures cannot be had from a run of this length, or undefined. */
function tooShort(name: ModelName, holdout: number, positives: number): string | undefined {
  if (holdout === 0) {
    return name === 'energy'
      ? 'no thermostat-hour has its next day in this run (next-day energy needs more than 24 fleet hours)'
      : 'no examples in this run';
  }
  if (name !== 'energy' && positives === 0) return 'no labelled positives in this run';
  return undefined;
}

export async function runModelQualityStage(options: ModelQualityStageOptions): Promise<ModelQualitySummary> {
  const started = performance.now();
  const spec = options.spec ?? loadModelSpec();
  const pathOf = options.modelPath ?? committedModelPath;
  const hour = 3_600_000;
  const from = new Date(Math.floor(Date.parse(options.fleetStart) / hour) * hour);
  const to = new Date(Math.ceil(Date.parse(options.fleetEnd) / hour) * hour);
  const notMeasured: Partial<Record<ModelName, string>> = {};
  const models = new Map<ModelName, XgboostModel>();
  const hashes = new Map<ModelName, string>();
  for (const name of MODEL_NAMES) {
    const loaded = await loadModel(pathOf(name));
    if (loaded === undefined) notMeasured[name] = 'no committed model (sdap train writes it)';
    else {
      models.set(name, loaded.model);
      hashes.set(name, loaded.sha256);
    }
  }
  const atTraining = await trainingFigures(
    options.runLogPath ?? join(COMMITTED_MODELS_DIR, RUN_LOG_FILE),
    hashes,
  );
  const groundTruthPath = join(options.outDir, 'ground-truth.ndjson');
  const examples = await buildModelExamples({
    s3: options.s3,
    curatedBucket: options.curatedBucket,
    groundTruthPath,
    // Everything is hold-out: the committed models never saw this run.
    window: { start: from, splitAt: from, end: to },
    spec,
    models: [...models.keys()],
  });
  const context = { examples, failures: await failureTimes(groundTruthPath), spec };
  const measured: { anomaly?: AnomalyQuality; failure?: FailureQuality; energy?: EnergyQuality } = {};
  for (const [name, model] of models) {
    const set = examples.sets[name];
    if (set === undefined) continue;
    const holdout = set.examples.filter((e) => e.split === 'holdout');
    const reason = tooShort(name, holdout.length, holdout.filter((e) => e.label > 0).length);
    if (reason !== undefined) {
      notMeasured[name] = reason;
      continue;
    }
    const quality = measureModel(name, set, model, context);
    if (quality.model === 'anomaly') measured.anomaly = quality.quality;
    else if (quality.model === 'failure') measured.failure = quality.quality;
    else measured.energy = quality.quality;
  }
  return {
    period: { from: from.toISOString(), to: to.toISOString() },
    ...measured,
    notMeasured,
    atTraining,
    seconds: (performance.now() - started) / 1000,
  };
}

const percent = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} %` : 'n/a');
const ratio = (value: number) => (Number.isFinite(value) ? value.toFixed(3) : 'n/a');
const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

/** The summary's lines for the models. */
export function formatModelQuality(summary: ModelQualitySummary): string[] {
  const lines = [
    `  models         committed models scored on this run (${summary.period.from} .. ${summary.period.to}), unseen in training`,
  ];
  const { anomaly, failure, energy } = summary;
  if (anomaly) {
    lines.push(
      `                 anomaly  F1 ${ratio(anomaly.model.f1)} (precision ${ratio(anomaly.model.precision)}, recall ${ratio(anomaly.model.recall)}) over ${anomaly.rows} readings, ${anomaly.positives} anomalous; rules-only F1 ${ratio(anomaly.rulesOnly.f1)}; target F1 >= 0.80 and above rules-only: ${verdict(anomaly.targetMet)}`,
    );
  }
  if (failure) {
    lines.push(
      `                 failure  ROC-AUC ${ratio(failure.model.rocAuc)} over ${failure.deviceHours} device-hours; precision ${ratio(failure.model.precisionAtK)} among the ${failure.k} riskiest devices; ${failure.model.failuresWarned} of ${failure.failedDevices} failures warned, median lead ${Number.isFinite(failure.model.medianLeadTimeHours) ? `${failure.model.medianLeadTimeHours.toFixed(1)} h` : 'n/a'}; rules-only ROC-AUC ${ratio(failure.rulesOnly.rocAuc)}; target ROC-AUC >= 0.85: ${verdict(failure.targetMet)}`,
    );
  }
  if (energy) {
    lines.push(
      `                 energy   next-day MAPE ${percent(energy.thermostatDays.model)} per thermostat-day (${energy.thermostatDays.pairs}), ${percent(energy.siteDays.model)} per site-day (${energy.siteDays.pairs}); seasonal-naive ${percent(energy.thermostatDays.seasonalNaive)} and ${percent(energy.siteDays.seasonalNaive)}; target below seasonal-naive: ${verdict(energy.targetMet)}`,
    );
  }
  for (const [name, reason] of Object.entries(summary.notMeasured))
    lines.push(`${' '.repeat(17)}${name.padEnd(8)} not measured: ${reason}`);
  const trained = Object.values(summary.atTraining);
  if (trained.length > 0) {
    lines.push(
      `${' '.repeat(17)}at training: the same figures on the hold-out days of the run that trained each model (ml/models/runs.ndjson)`,
    );
    for (const figures of trained) lines.push(`${' '.repeat(19)}${trainingLine(figures)}`);
  }
  return lines;
}

function trainingLine({ quality, holdout }: TrainingFigures): string {
  const days = `hold-out ${holdout.from.slice(0, 16)} .. ${holdout.to.slice(0, 16)}`;
  switch (quality.model) {
    case 'anomaly':
      return `anomaly  F1 ${ratio(quality.quality.model.f1)} vs rules-only ${ratio(quality.quality.rulesOnly.f1)} (${days}): ${verdict(quality.quality.targetMet)}`;
    case 'failure':
      return `failure  ROC-AUC ${ratio(quality.quality.model.rocAuc)} vs rules-only ${ratio(quality.quality.rulesOnly.rocAuc)}, precision ${ratio(quality.quality.model.precisionAtK)} among the ${quality.quality.k} riskiest devices (${days}): ${verdict(quality.quality.targetMet)}`;
    case 'energy':
      return `energy   next-day MAPE ${percent(quality.quality.thermostatDays.model)} per thermostat-day vs seasonal-naive ${percent(quality.quality.thermostatDays.seasonalNaive)}; per site-day ${percent(quality.quality.siteDays.model)} vs ${percent(quality.quality.siteDays.seasonalNaive)} (${days}): ${verdict(quality.quality.targetMet)}`;
  }
}
