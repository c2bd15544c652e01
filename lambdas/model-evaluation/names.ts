/**
 * Names the model-evaluation function shares with the infrastructure that deploys and invokes it
 * (lib/ml/training-workflow.ts) and with the Glue job that writes its input
 * (glue-scripts/ml_training_data.py): environment variables, the error it fails with, and where a
 * training run keeps its objects. Defined once so the workflow, the job and the function cannot
 * disagree on a key.
 */

/** Environment variables the evaluation function reads. */
export const MODEL_EVALUATION_ENV = {
  artifactsBucket: 'ARTIFACTS_BUCKET_NAME',
} as const;

/** Powertools' `service` dimension of the evaluation function's logs. */
export const MODEL_EVALUATION_SERVICE_NAME = 'model-evaluation';

/**
 * The error name (`errorType`) of an evaluation that cannot be made: a missing or malformed object,
 * outputs out of step with the hold-out. The workflow does not retry it (the same objects would fail
 * the same way); it ends the model's run and tells on-call.
 */
export const MODEL_EVALUATION_ERROR = 'ModelEvaluationError';

/** Every training run's objects live under this prefix of the artifacts bucket. */
export const TRAINING_PREFIX = 'training/';

/**
 * The objects of one model's run, relative to its prefix `training/<runId>/<model>/`. The Glue job
 * writes the channels (headerless CSV, label first, an empty field a missing value) and the hold-out
 * keys; SageMaker writes the model and the batch-transform scores; the function writes the report.
 */
export const TRAINING_RUN_LAYOUT = {
  /** The training channel's prefix, holding `train.csv`. */
  trainChannel: 'train/',
  trainFile: 'train/train.csv',
  /** The validation channel's prefix (the hold-out), holding `holdout.csv`; batch transform scores it. */
  holdoutChannel: 'holdout/',
  holdoutFile: 'holdout/holdout.csv',
  /** `device_id,example_time,label` of each hold-out row, in the order of `holdout.csv`. */
  holdoutKeysFile: 'holdout-keys/holdout-keys.csv',
  /** Row counts and the label's mean of each split, written by the Glue job. */
  summaryFile: 'training-data.json',
  /** Where the training job writes `<job name>/output/model.tar.gz`. */
  modelOutput: 'output/',
  /** The candidate's hold-out scores: batch transform names the object after its input, plus `.out`. */
  candidateScores: 'scores/candidate/',
  candidateScoresFile: 'scores/candidate/holdout.csv.out',
  /** The current champion's scores of the same hold-out. */
  championScores: 'scores/champion/',
  championScoresFile: 'scores/champion/holdout.csv.out',
  /** The evaluation report, referenced by the model package's `ModelMetrics`. */
  evaluationFile: 'evaluation.json',
} as const;

/** The prefix of one model's run. */
export function trainingRunPrefix(runId: string, model: string): string {
  return `${TRAINING_PREFIX}${runId}/${model}/`;
}
