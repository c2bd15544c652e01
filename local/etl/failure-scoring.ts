/**
 * The batch stage's scoring step in the twin, as the deployed workflow runs it after each Glue run:
 * the failure-scoring Lambda handler, unchanged, over the window the run rebuilt, against the twin's
 * SageMaker runtime serving the committed failure model (endpoint `failure`, variant `champion`,
 * as the stack names the variant). The seam is configuration only: the handler gets the twin's S3
 * and SageMaker Runtime clients, endpoint and model version.
 *
 * As in the workflow, a scoring failure does not undo the run's curated output: the stage reports
 * it (`predictions.status` `failed`, with the error) and goes on, and a rerun of the window scores
 * it again.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FailureScoringHandlerDeps } from '../../lambdas/failure-scoring/handler.ts';
import { modelVersionOf, SCORING_VARIANT } from '../../lambdas/failure-scoring/names.ts';
import type { ScoringResult } from '../../lambdas/failure-scoring/scoring-event.ts';
import { createSageMakerRuntimeClient } from '../../lambdas/shared/aws-clients.ts';
import { committedModelPath } from '../../ml/model-spec.ts';
import { importFailureScoringQuietly, lambdaContext } from '../lambda-runtime.ts';
import { type SageMakerRuntime, startSageMakerRuntime } from '../sagemaker-runtime.ts';

/** The twin's name for the failure model's endpoint (the stack's is `sdap-<stage>-failure`). */
export const TWIN_FAILURE_ENDPOINT = 'failure';
const TWIN_FUNCTION_NAME = 'sdap-twin-failure-scoring';
const TWIN_FUNCTION_ARN = `arn:aws:lambda:us-east-1:000000000000:function:${TWIN_FUNCTION_NAME}`;

/** The endpoint the scoring step calls and the model it serves, as the stack's environment names them. */
export type FailureScoringEndpoint = Pick<
  FailureScoringHandlerDeps,
  'sageMakerRuntime' | 'endpointName' | 'endpointVariant' | 'modelVersion' | 'callPolicy' | 'clock' | 'random'
>;

/** What the scoring step did: the function's result, or the error it failed with. */
export type PredictionsSummary =
  | ({ readonly status: 'written' } & ScoringResult)
  | {
      readonly status: 'failed';
      readonly window: { readonly from: string; readonly to: string };
      /** The function's error name (`PredictionEndpointUnavailableError`, ...). */
      readonly error: string;
      readonly message: string;
    };

/** A SageMaker runtime of the twin serving one failure model, and the endpoint settings to call it. */
export interface TwinFailureEndpoint {
  readonly endpoint: FailureScoringEndpoint;
  readonly runtime: SageMakerRuntime;
  /** The model file served. */
  readonly modelPath: string;
  close(): Promise<void>;
}

/**
 * Starts a SageMaker runtime serving the failure model at `modelPath` as endpoint `failure`,
 * variant `champion`; the model version is the one the stack writes for the same file.
 */
export async function startFailureEndpoint(
  options: { readonly modelPath?: string; readonly seed?: number } = {},
): Promise<TwinFailureEndpoint> {
  const modelPath = options.modelPath ?? committedModelPath('failure');
  const modelJson = await readFile(modelPath);
  const runtime = await startSageMakerRuntime({
    endpoints: {
      [TWIN_FAILURE_ENDPOINT]: { variants: [{ name: SCORING_VARIANT, weight: 1, modelPath }] },
    },
    ...(options.seed !== undefined && { seed: options.seed }),
  });
  // The function's own client (one attempt per call: the scoring retries itself), pointed at the twin.
  const client = createSageMakerRuntimeClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    sageMakerRuntimeEndpoint: runtime.url,
  });
  return {
    endpoint: {
      sageMakerRuntime: client,
      endpointName: TWIN_FAILURE_ENDPOINT,
      endpointVariant: SCORING_VARIANT,
      modelVersion: modelVersionOf(modelJson),
    },
    runtime,
    modelPath,
    async close() {
      client.destroy();
      await runtime.close();
    },
  };
}

/**
 * Runs `run` with a failure endpoint serving the committed model, closed afterwards; without a
 * committed model (a fresh clone before `sdap train`), `run` gets undefined and nothing is scored.
 */
export async function withCommittedFailureEndpoint<T>(
  run: (endpoint: FailureScoringEndpoint | undefined) => Promise<T>,
  options: { readonly seed?: number } = {},
): Promise<T> {
  if (!existsSync(committedModelPath('failure'))) return run(undefined);
  const served = await startFailureEndpoint(options);
  try {
    return await run(served.endpoint);
  } finally {
    await served.close();
  }
}

/**
 * Invokes the failure-scoring handler over `[from, to)`, as the workflow's `ScorePredictions` state
 * does. Never throws for the scoring's own failures: they are the summary's `failed`.
 */
export async function runFailureScoring(options: {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly endpoint: FailureScoringEndpoint;
}): Promise<PredictionsSummary> {
  const { createHandler } = await importFailureScoringQuietly();
  const handler = createHandler(() => ({
    ...options.endpoint,
    s3: options.s3,
    curatedBucket: options.curatedBucket,
  }));
  try {
    const result = await handler(
      { windowStart: options.window.from, windowEnd: options.window.to },
      lambdaContext(TWIN_FUNCTION_NAME, TWIN_FUNCTION_ARN),
    );
    return { status: 'written', ...result };
  } catch (error) {
    return {
      status: 'failed',
      window: options.window,
      error: error instanceof Error ? error.name : 'Error',
      message: error instanceof Error ? error.message : String(error),
    };
  }
}

/** The scoring step's line of a twin summary, or none when the stage did not score. */
export function formatPredictions(predictions: PredictionsSummary | undefined): string[] {
  if (predictions === undefined) return [];
  if (predictions.status === 'failed') {
    return [
      `  predictions    FAILED (${predictions.error}): ${predictions.message} The curated output stands; rerun the window to score it.`,
    ];
  }
  const p = predictions;
  const share = p.highScoreShare === null ? '-' : `${p.highScoreShare.toFixed(1)} %`;
  return [
    `  predictions    ${p.rowsScored} device-hours scored by the ${p.model.name} model ${p.model.version} on endpoint ${p.model.endpoint} (${p.model.variant ?? '-'}) in ${p.calls} calls: ${share} at or above its threshold; ${p.partitionsWritten} partitions written to predictions/`,
  ];
}
