/**
 * `sdap train`: trains the models of ml/models.json on a twin's output, as the cloud's training
 * workflow does on the lake: labelled examples from ml/sql/*_examples.sql, XGBoost 1.7 through
 * ml/train.py (Debian's /usr/bin/python3), then the candidate and the committed champion measured
 * on the same hold-out period; the candidate replaces the champion only when it passes the gate.
 * Every run is appended to the run log beside the models.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { parseXgboostModel, type XgboostModel } from '../../lambdas/shared/xgboost.ts';
import {
  COMMITTED_MODELS_DIR,
  featureNames,
  loadModelSpec,
  MODEL_NAMES,
  type ModelName,
  type ModelSpec,
  sagemakerHyperParameters,
} from '../../ml/model-spec.ts';
import { passesGate, QUALITY_TARGETS } from '../../ml/quality-targets.ts';
import { startS3StandIn } from '../s3-stand-in.ts';
import { TWIN_BUCKETS } from '../twin-pipeline.ts';
import { buildModelExamples, type ExampleSet, type TrainingWindow } from './model-examples.ts';
import { failureTimes, headline, type ModelQuality, measureModel } from './model-quality.ts';

/** Debian's interpreter, with python3-xgboost 1.7 (the `python3` on PATH may lack it). */
export const PYTHON = '/usr/bin/python3';
export const INSTALL_XGBOOST = 'apt-get update && apt-get install -y --no-install-recommends python3-xgboost';
const TRAIN_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ml', 'train.py');
/** The run log: one JSON line per model trained, kept with the committed models. */
export const RUN_LOG_FILE = 'runs.ndjson';

/** The training twin: long enough for daily baselines, next-day energy and several failures. */
export const TRAIN_DEFAULTS = { devices: 300, hours: 96, seed: 7, holdoutHours: 24 } as const;

export const TRAIN_USAGE = `usage: sdap train [options]

Trains the models of ml/models.json on twin output: builds the labelled examples with
ml/sql/*_examples.sql, trains each model with XGBoost 1.7 (${PYTHON}, ml/train.py), measures it
and the committed model on the same hold-out period (the last --holdout-hours), and replaces the
committed model only when the candidate passes the gate (its target, and no worse than the
committed model). Each run is appended to ml/models/${RUN_LOG_FILE}.

  --from-twin DIR       train on this twin output (default: first run a training twin into out/train)
  --devices N           the training twin's fleet (default ${TRAIN_DEFAULTS.devices})
  --hours H             the training twin's fleet hours (default ${TRAIN_DEFAULTS.hours})
  --seed N              the training twin's seed (default ${TRAIN_DEFAULTS.seed})
  --holdout-hours H     hours at the end held out for evaluation (default ${TRAIN_DEFAULTS.holdoutHours})
  --models LIST         comma-separated, of ${MODEL_NAMES.join(', ')} (default all)
  --models-dir DIR      where the committed models and the run log live (default ml/models)
  --force               replace the committed model even when the gate refuses the candidate
  --json                print the run records as JSON`;

export class TrainUsageError extends Error {
  override readonly name = 'TrainUsageError';
}

interface TrainArgs {
  readonly fromTwin?: string;
  readonly devices: number;
  readonly hours: number;
  readonly seed: number;
  readonly holdoutHours: number;
  readonly models: readonly ModelName[];
  readonly modelsDir: string;
  readonly force: boolean;
  readonly json: boolean;
}

const positiveInt = (flag: string, raw: string | undefined, fallback: number, max: number) => {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new TrainUsageError(`--${flag}: received '${raw}', expected an integer from 1 to ${max}`);
  }
  return value;
};

export function parseTrainArgs(args: string[]): TrainArgs | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        'from-twin': { type: 'string' },
        devices: { type: 'string' },
        hours: { type: 'string' },
        seed: { type: 'string' },
        'holdout-hours': { type: 'string' },
        models: { type: 'string' },
        'models-dir': { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new TrainUsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const models = ((values.models as string | undefined) ?? MODEL_NAMES.join(','))
    .split(',')
    .map((name) => name.trim());
  for (const name of models) {
    if (!(MODEL_NAMES as readonly string[]).includes(name)) {
      throw new TrainUsageError(`--models: received '${name}', expected some of ${MODEL_NAMES.join(', ')}`);
    }
  }
  const hours = positiveInt('hours', values.hours as string | undefined, TRAIN_DEFAULTS.hours, 7 * 24 - 1);
  const holdoutHours = positiveInt(
    'holdout-hours',
    values['holdout-hours'] as string | undefined,
    TRAIN_DEFAULTS.holdoutHours,
    7 * 24,
  );
  return {
    ...(values['from-twin'] !== undefined && { fromTwin: values['from-twin'] as string }),
    devices: positiveInt('devices', values.devices as string | undefined, TRAIN_DEFAULTS.devices, 100_000),
    hours,
    seed: positiveInt('seed', values.seed as string | undefined, TRAIN_DEFAULTS.seed, 0xffff_ffff),
    holdoutHours,
    models: models as ModelName[],
    modelsDir: (values['models-dir'] as string | undefined) ?? COMMITTED_MODELS_DIR,
    force: values.force === true,
    json: values.json === true,
  };
}

/** What the run log records of one model's training. */
export interface TrainingRunRecord {
  readonly trainedAt: string;
  readonly model: ModelName;
  /** Where the examples came from: the twin's fleet and period (never a local path). */
  readonly data: {
    readonly twin: {
      readonly seed?: number;
      readonly devices?: number;
      readonly fleetStart: string;
      readonly fleetEnd: string;
    };
    readonly window: { readonly start: string; readonly splitAt: string; readonly end: string };
    readonly rows: { readonly train: number; readonly holdout: number };
    readonly positives?: { readonly train: number; readonly holdout: number };
  };
  /** What SageMaker's built-in container would receive. */
  readonly hyperParameters: Readonly<Record<string, string>>;
  readonly features: readonly string[];
  readonly xgboost: string;
  readonly candidate: { readonly sha256: string; readonly quality: ModelQuality };
  readonly champion: { readonly sha256: string; readonly quality: ModelQuality } | null;
  readonly gate: {
    readonly metric: string;
    readonly candidate: number;
    readonly champion: number | null;
    readonly passed: boolean;
  };
  readonly promoted: boolean;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function csvChannel(set: ExampleSet, split: 'train' | 'holdout'): string {
  // Label first, then the features; an empty field is a missing value. String(number) writes the
  // shortest text that reads back as the same double, so XGBoost's loader sees the same value.
  return set.examples
    .filter((example) => example.split === split)
    .map((example) =>
      [example.label, ...example.features.map((v) => (v === null ? '' : String(v)))].join(','),
    )
    .join('\n')
    .concat('\n');
}

function runPython(args: readonly string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(PYTHON, [TRAIN_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (error) =>
      reject(
        new Error(`${PYTHON} could not run (${error.message}); install XGBoost 1.7 with: ${INSTALL_XGBOOST}`),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolvePromise(stdout);
      else {
        const missing = /No module named 'xgboost'/.test(stderr)
          ? `; install it with: ${INSTALL_XGBOOST}`
          : '';
        reject(new Error(`ml/train.py ${args.join(' ')} failed (exit ${code}): ${stderr.trim()}${missing}`));
      }
    });
  });
}

async function readChampion(
  path: string,
  expectedFeatures: number,
): Promise<{ text: string; model: XgboostModel } | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const model = parseXgboostModel(text, path);
  // A champion trained on another feature list cannot score these rows: the candidate stands alone.
  return model.featureCount === expectedFeatures ? { text, model } : undefined;
}

const hourFloor = (at: Date) => new Date(Math.floor(at.getTime() / 3_600_000) * 3_600_000);
const hourCeil = (at: Date) => new Date(Math.ceil(at.getTime() / 3_600_000) * 3_600_000);

interface TwinRunInfo {
  readonly dir: string;
  readonly seed?: number;
  readonly devices?: number;
  readonly fleetStart: string;
  readonly fleetEnd: string;
}

async function twinInfo(dir: string): Promise<TwinRunInfo> {
  const text = await readFile(join(dir, 'summary.json'), 'utf8').catch(() => undefined);
  if (text === undefined) {
    throw new TrainUsageError(
      `--from-twin ${dir}: no summary.json there; give the --out of a finished sdap twin run`,
    );
  }
  const summary = JSON.parse(text) as {
    run: { seed?: number; devices?: number; fleetStart?: string; fleetEnd?: string };
    batch?: unknown;
  };
  const { fleetStart, fleetEnd } = summary.run;
  if (fleetStart === undefined || fleetEnd === undefined || summary.batch === undefined) {
    throw new TrainUsageError(
      `--from-twin ${dir}: expected a fleet run with its batch stage (sdap twin without --payloads or --no-batch)`,
    );
  }
  return {
    dir,
    ...(summary.run.seed !== undefined && { seed: summary.run.seed }),
    ...(summary.run.devices !== undefined && { devices: summary.run.devices }),
    fleetStart,
    fleetEnd,
  };
}

/** Trains, measures, gates and logs the chosen models on a finished twin run. */
export async function trainOnTwin(
  twin: TwinRunInfo,
  options: Pick<TrainArgs, 'holdoutHours' | 'models' | 'modelsDir' | 'force'>,
  spec: ModelSpec = loadModelSpec(),
  log: (line: string) => void = () => {},
): Promise<TrainingRunRecord[]> {
  const end = hourCeil(new Date(twin.fleetEnd));
  // The hold-out starts at a UTC midnight, so that it holds whole days to forecast.
  const day = 86_400_000;
  const window: TrainingWindow = {
    start: hourFloor(new Date(twin.fleetStart)),
    splitAt: new Date(Math.floor((end.getTime() - options.holdoutHours * 3_600_000) / day) * day),
    end,
  };
  if (window.splitAt <= window.start) {
    throw new TrainUsageError(
      `--holdout-hours ${options.holdoutHours}: the twin covers ${twin.fleetStart} to ${twin.fleetEnd}; hold out fewer hours than it has`,
    );
  }
  const s3Stand = await startS3StandIn({
    buckets: Object.values(TWIN_BUCKETS),
    directory: join(twin.dir, 'lake'),
  });
  let built: Awaited<ReturnType<typeof buildModelExamples>>;
  try {
    log(
      `building examples over ${window.start.toISOString()} .. ${window.end.toISOString()} (hold-out from ${window.splitAt.toISOString()})`,
    );
    built = await buildModelExamples({
      s3: createValidatorClients(s3Stand.clientOverrides).s3,
      curatedBucket: TWIN_BUCKETS.curated,
      groundTruthPath: join(twin.dir, 'ground-truth.ndjson'),
      window,
      spec,
      models: options.models,
    });
  } finally {
    await s3Stand.close();
  }
  const failures = await failureTimes(join(twin.dir, 'ground-truth.ndjson'));
  const context = { examples: built, failures, spec };
  const channelDir = join(twin.dir, 'training');
  const modelsDir = resolve(options.modelsDir);
  await mkdir(modelsDir, { recursive: true });
  const records: TrainingRunRecord[] = [];
  for (const name of options.models) {
    const set = built.sets[name] as ExampleSet;
    const count = (split: 'train' | 'holdout', positive?: boolean) =>
      set.examples.filter((e) => e.split === split && (positive === undefined || e.label > 0 === positive))
        .length;
    if (count('train') === 0 || count('holdout') === 0) {
      throw new Error(
        `${name}: ${count('train')} training and ${count('holdout')} hold-out examples; the twin run is too short for this window (try more --hours or fewer --holdout-hours)`,
      );
    }
    const dir = join(channelDir, name);
    await mkdir(dir, { recursive: true });
    const train = join(dir, 'train.csv');
    const validation = join(dir, 'validation.csv');
    const candidatePath = join(dir, 'candidate.json');
    await writeFile(train, csvChannel(set, 'train'));
    await writeFile(validation, csvChannel(set, 'holdout'));
    log(`${name}: training on ${count('train')} rows, holding out ${count('holdout')}`);
    const output = JSON.parse(
      (
        await runPython([
          '--model',
          name,
          '--train',
          train,
          '--validation',
          validation,
          '--out',
          candidatePath,
        ])
      ).trim(),
    ) as { xgboost: string };
    const candidateText = await readFile(candidatePath, 'utf8');
    const candidate = measureModel(name, set, parseXgboostModel(candidateText, candidatePath), context);
    const championPath = join(modelsDir, `${name}.json`);
    const championModel = await readChampion(championPath, set.featureNames.length);
    const champion = championModel && measureModel(name, set, championModel.model, context);
    const candidateFigure = headline(candidate);
    const championFigure = champion === undefined ? null : headline(champion);
    const passed = passesGate(name, candidateFigure, championFigure ?? undefined);
    const promoted = passed || options.force;
    if (promoted) await writeFile(championPath, candidateText);
    const binary = spec.models[name].objective === 'binary:logistic';
    const record: TrainingRunRecord = {
      trainedAt: new Date().toISOString(),
      model: name,
      data: {
        twin: {
          ...(twin.seed !== undefined && { seed: twin.seed }),
          ...(twin.devices !== undefined && { devices: twin.devices }),
          fleetStart: twin.fleetStart,
          fleetEnd: twin.fleetEnd,
        },
        window: {
          start: window.start.toISOString(),
          splitAt: window.splitAt.toISOString(),
          end: window.end.toISOString(),
        },
        rows: { train: count('train'), holdout: count('holdout') },
        ...(binary && { positives: { train: count('train', true), holdout: count('holdout', true) } }),
      },
      hyperParameters: sagemakerHyperParameters(spec.models[name]),
      features: featureNames(spec.models[name]),
      xgboost: output.xgboost,
      candidate: { sha256: sha256(candidateText), quality: candidate },
      champion: championModel && champion ? { sha256: sha256(championModel.text), quality: champion } : null,
      gate: {
        metric: QUALITY_TARGETS[name].metric,
        candidate: candidateFigure,
        champion: championFigure,
        passed,
      },
      promoted,
    };
    await appendFile(join(modelsDir, RUN_LOG_FILE), `${JSON.stringify(record)}\n`);
    records.push(record);
  }
  return records;
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** One line per model: the gate's figure for candidate and champion, and what happened. */
export function formatTrainingRuns(records: readonly TrainingRunRecord[]): string[] {
  return records.map((r) => {
    const { metric, candidate, champion, passed } = r.gate;
    const digits = metric === 'mape' ? 1 : 3;
    const verdict = r.promoted ? (passed ? 'promoted' : 'promoted (--force)') : 'kept the committed model';
    return `${r.model.padEnd(8)} ${metric} ${fixed(candidate, digits)} (committed: ${champion === null ? 'none' : fixed(champion, digits)})  gate ${passed ? 'passed' : 'refused'}: ${verdict}`;
  });
}

/** Runs the command; returns the exit code. */
export async function trainCommand(
  args: string[],
  log: (line: string) => void = console.log,
): Promise<number> {
  let parsed: TrainArgs | 'help';
  try {
    parsed = parseTrainArgs(args);
  } catch (error) {
    console.error(`sdap train: ${(error as Error).message}\n\n${TRAIN_USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    log(TRAIN_USAGE);
    return 0;
  }
  const progress = parsed.json ? () => {} : (line: string) => console.error(`sdap train: ${line}`);
  let twin: TwinRunInfo;
  try {
    if (parsed.fromTwin !== undefined) twin = await twinInfo(resolve(parsed.fromTwin));
    else {
      const { runTwin } = await import('../twin.ts');
      const outDir = resolve('out', 'train');
      progress(
        `running a training twin: ${parsed.devices} devices, ${parsed.hours} fleet hours, seed ${parsed.seed} into ${basename(outDir)}/`,
      );
      const summary = await runTwin({
        outDir,
        simulation: {
          devices: parsed.devices,
          durationHours: parsed.hours,
          seed: parsed.seed,
          readingsPerMessage: 5,
        },
        shards: 4,
        speed: 0,
        warehouse: false,
      });
      progress(`training twin done: ${summary.outcome.valid} valid readings`);
      twin = await twinInfo(outDir);
    }
  } catch (error) {
    if (error instanceof TrainUsageError) {
      console.error(`sdap train: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const records = await trainOnTwin(twin, parsed, loadModelSpec(), progress);
  log(parsed.json ? JSON.stringify(records, null, 2) : formatTrainingRuns(records).join('\n'));
  return 0;
}
