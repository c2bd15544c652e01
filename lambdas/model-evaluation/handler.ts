/**
 * The model-evaluation Lambda: a thin middy adapter around `evaluateCandidate`. The training
 * workflow invokes it once per model and run, after batch transform has scored the hold-out with the
 * candidate (and the champion, when the endpoint has one). It streams the run's objects from the
 * artifacts bucket, judges the candidate, hashes its artefact, writes `evaluation.json` next to them
 * and returns the verdict, which the workflow records in the model package and gates on.
 * It fails as `ModelEvaluationError` (not retried) when an object is missing or malformed.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import { type ModelSpec, parseModelSpec } from '../../ml/model-spec.ts';
import specJson from '../../ml/models.json' with { type: 'json' };
import { QUALITY_TARGETS } from '../../ml/quality-targets.ts';
import { createS3Client } from '../shared/aws-clients.ts';
import { requiredEnv } from '../shared/env.ts';
import { evaluateCandidate, type LineSource, ModelEvaluationError } from './evaluate-candidate.ts';
import { type EvaluationResult, parseEvaluationEvent } from './evaluation-event.ts';
import { MODEL_EVALUATION_ENV, TRAINING_RUN_LAYOUT, trainingRunPrefix } from './names.ts';
import { logger } from './observability.ts';

export interface EvaluationHandlerDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  /** The model definitions the run was trained with (bundled `ml/models.json`). */
  readonly spec: ModelSpec;
}

const isMissing = (error: unknown) =>
  (error as { name?: string }).name === 'NoSuchKey' || (error as { name?: string }).name === 'NotFound';

/** The body of an object as a stream; a missing object is an evaluation error naming it. */
async function openObject(s3: S3Client, bucket: string, key: string, what: string): Promise<Readable> {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return response.Body as Readable;
  } catch (error) {
    if (isMissing(error)) {
      throw new ModelEvaluationError(`s3://${bucket}/${key}: received no object, expected ${what}`);
    }
    throw error;
  }
}

async function lineSource(s3: S3Client, bucket: string, key: string, what: string): Promise<LineSource> {
  const body = await openObject(s3, bucket, key, what);
  return {
    name: `s3://${bucket}/${key}`,
    lines: createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY }),
  };
}

/** `s3://bucket/key` of an object that must lie in `bucket`. */
function keyOf(url: string, bucket: string): string {
  const prefix = `s3://${bucket}/`;
  if (!url.startsWith(prefix)) {
    throw new ModelEvaluationError(`modelArtifactUrl: received '${url}', expected an object of ${prefix}`);
  }
  return url.slice(prefix.length);
}

async function readJson(s3: S3Client, bucket: string, key: string, what: string): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of await openObject(s3, bucket, key, what))
    chunks.push(Buffer.from(chunk as Uint8Array));
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ModelEvaluationError(`s3://${bucket}/${key}: received text that is not JSON, expected ${what}`);
  }
}

async function sha256(body: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Builds the handler around its dependencies; Lambda uses `handler` below, the tests their own. */
export function createHandler(resolveDeps: () => EvaluationHandlerDeps) {
  return middy(async (event: unknown): Promise<EvaluationResult> => {
    const request = parseEvaluationEvent(event);
    const { s3, artifactsBucket: bucket, spec } = resolveDeps();
    const prefix = trainingRunPrefix(request.runId, request.model);
    const at = (file: string) => `${prefix}${file}`;
    const definition = spec.models[request.model];

    const evaluation = await evaluateCandidate(request.model, definition, {
      keys: await lineSource(s3, bucket, at(TRAINING_RUN_LAYOUT.holdoutKeysFile), 'the hold-out keys'),
      candidate: await lineSource(
        s3,
        bucket,
        at(TRAINING_RUN_LAYOUT.candidateScoresFile),
        "the candidate's batch transform output",
      ),
      ...(request.championModelName !== null && {
        champion: await lineSource(
          s3,
          bucket,
          at(TRAINING_RUN_LAYOUT.championScoresFile),
          "the champion's batch transform output",
        ),
      }),
      // The hold-out channel carries the seasonal-naive forecast a model may be judged against.
      ...(QUALITY_TARGETS[request.model].baseline === 'seasonal-naive' && {
        holdout: await lineSource(s3, bucket, at(TRAINING_RUN_LAYOUT.holdoutFile), 'the hold-out channel'),
      }),
    });
    const artifactSha256 = await sha256(
      await openObject(
        s3,
        bucket,
        keyOf(request.modelArtifactUrl, bucket),
        "the training job's model.tar.gz",
      ),
    );
    const trainingData = await readJson(
      s3,
      bucket,
      at(TRAINING_RUN_LAYOUT.summaryFile),
      "the Glue job's summary",
    );

    const evaluationKey = at(TRAINING_RUN_LAYOUT.evaluationFile);
    const report = {
      ...evaluation,
      run: request,
      hyperParameters: definition.hyperparameters,
      trainingData,
      artifactSha256,
    };
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: evaluationKey,
        Body: JSON.stringify(report, null, 2),
        ContentType: 'application/json',
      }),
    );
    logger.info('candidate evaluated', {
      model: request.model,
      runId: request.runId,
      metric: evaluation.metric,
      candidate: evaluation.candidate,
      champion: evaluation.champion,
      baseline: evaluation.baseline,
      passed: evaluation.passed,
      reason: evaluation.reason,
    });
    return { ...evaluation, artifactSha256, evaluationUrl: `s3://${bucket}/${evaluationKey}` };
  }).use(injectLambdaContext(logger));
}

/** Bounded S3 attempts: an evaluation that still fails is retried by nobody but a human rerun. */
const S3_MAX_ATTEMPTS = 5;
let deps: EvaluationHandlerDeps | undefined;

/** Dependencies of the deployed function: the bucket from the environment, the spec bundled, clients built once. */
function depsFromEnvironment(): EvaluationHandlerDeps {
  deps ??= {
    s3: createS3Client({}, S3_MAX_ATTEMPTS),
    artifactsBucket: requiredEnv(MODEL_EVALUATION_ENV.artifactsBucket),
    spec: parseModelSpec(specJson, 'models.json'),
  };
  return deps;
}

export const handler = createHandler(depsFromEnvironment);
