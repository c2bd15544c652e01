/**
 * The evaluation function with S3 mocked (aws-sdk-client-mock): which objects of a run it reads,
 * the report it writes next to them, the artefact hash it returns, and the errors the workflow
 * catches. The judging itself is tested in evaluate-candidate.test.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  type GetObjectCommandInput,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseEvaluationEvent } from '../../../lambdas/model-evaluation/evaluation-event.ts';
import { createHandler } from '../../../lambdas/model-evaluation/handler.ts';
import {
  MODEL_EVALUATION_ERROR,
  TRAINING_RUN_LAYOUT,
  trainingRunPrefix,
} from '../../../lambdas/model-evaluation/names.ts';
import { loadModelSpec } from '../../../ml/model-spec.ts';

const BUCKET = 'sdap-test-artifacts';
const EVENT = JSON.parse(
  readFileSync(new URL('../../events/model-evaluation/evaluate-failure.json', import.meta.url), 'utf8'),
);
const PREFIX = trainingRunPrefix(EVENT.runId, 'failure');
const ARTEFACT = Buffer.from('model.tar.gz bytes');
const context = { functionName: 'model-evaluation', awsRequestId: 'test' } as unknown as Context;

const s3 = mockClient(S3Client);
let objects: Map<string, Buffer>;
let written: PutObjectCommandInput[];

/** The run's objects: 4 hold-out rows, both transform outputs, the artefact and the Glue summary. */
function serveRun(): void {
  const keys = [
    'failure-1,2026-11-23T00:00:00.000Z,1.0',
    'failure-1,2026-11-23T01:00:00.000Z,0.0',
    'failure-2,2026-11-23T00:00:00.000Z,0.0',
    'failure-2,2026-11-23T01:00:00.000Z,1.0',
  ];
  objects = new Map([
    [`${PREFIX}${TRAINING_RUN_LAYOUT.holdoutKeysFile}`, Buffer.from(`${keys.join('\n')}\n`)],
    [
      `${PREFIX}${TRAINING_RUN_LAYOUT.candidateScoresFile}`,
      Buffer.from('1.0,0.9\n0.0,0.1\n0.0,0.2\n1.0,0.8\n'),
    ],
    [
      `${PREFIX}${TRAINING_RUN_LAYOUT.championScoresFile}`,
      Buffer.from('1.0,0.6\n0.0,0.7\n0.0,0.2\n1.0,0.8\n'),
    ],
    [EVENT.modelArtifactUrl.slice(`s3://${BUCKET}/`.length), ARTEFACT],
    [
      `${PREFIX}${TRAINING_RUN_LAYOUT.summaryFile}`,
      Buffer.from('{"splits":{"train":{"rows":40},"holdout":{"rows":4}}}'),
    ],
  ]);
  s3.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const body = objects.get(input.Key ?? '');
    if (input.Bucket !== BUCKET || body === undefined) {
      throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
    }
    return { Body: Readable.from([body]) as never };
  });
  s3.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
    written.push(input);
    return {};
  });
}

const handler = createHandler(() => ({
  s3: new S3Client({ region: 'eu-west-1' }),
  artifactsBucket: BUCKET,
  spec: loadModelSpec(),
}));

describe('the model-evaluation handler', () => {
  beforeEach(() => {
    s3.reset();
    written = [];
    serveRun();
  });

  it('judges the candidate against the champion and returns the verdict, the artefact hash and the report', async () => {
    // Act
    const result = await handler(EVENT, context);

    // Assess
    expect(result).toMatchObject({
      model: 'failure',
      metric: 'rocAuc',
      rows: 4,
      candidate: 1,
      champion: 0.75,
      passed: true,
      artifactSha256: createHash('sha256').update(ARTEFACT).digest('hex'),
      evaluationUrl: `s3://${BUCKET}/${PREFIX}${TRAINING_RUN_LAYOUT.evaluationFile}`,
    });
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      Bucket: BUCKET,
      Key: `${PREFIX}${TRAINING_RUN_LAYOUT.evaluationFile}`,
      ContentType: 'application/json',
    });
    const report = JSON.parse(String(written[0]?.Body));
    expect(report).toMatchObject({
      candidate: 1,
      champion: 0.75,
      run: parseEvaluationEvent(EVENT),
      hyperParameters: loadModelSpec().models.failure.hyperparameters,
      trainingData: { splits: { holdout: { rows: 4 } } },
      artifactSha256: result.artifactSha256,
    });
  });

  it('reads no champion output when the endpoint has no champion', async () => {
    // Prepare
    objects.delete(`${PREFIX}${TRAINING_RUN_LAYOUT.championScoresFile}`);

    // Act
    const result = await handler({ ...EVENT, championModelName: null }, context);

    // Assess
    expect(result).toMatchObject({ champion: null, passed: true });
    const keys = s3.commandCalls(GetObjectCommand).map((call) => call.args[0].input.Key);
    expect(keys).not.toContain(`${PREFIX}${TRAINING_RUN_LAYOUT.championScoresFile}`);
  });

  it('fails as ModelEvaluationError naming a missing output, and writes no report', async () => {
    // Prepare
    objects.delete(`${PREFIX}${TRAINING_RUN_LAYOUT.candidateScoresFile}`);

    // Act & Assess
    await expect(handler(EVENT, context)).rejects.toMatchObject({
      name: MODEL_EVALUATION_ERROR,
      message: `s3://${BUCKET}/${PREFIX}${TRAINING_RUN_LAYOUT.candidateScoresFile}: received no object, expected the candidate's batch transform output`,
    });
    expect(written).toEqual([]);
  });

  it('fails as ModelEvaluationError on an event it cannot use, naming the field', async () => {
    await expect(
      handler(
        { ...EVENT, model: 'weather', window: { ...EVENT.window, splitAt: EVENT.window.end } },
        context,
      ),
    ).rejects.toMatchObject({
      name: MODEL_EVALUATION_ERROR,
      message: expect.stringContaining('model: received "weather", expected one of anomaly, failure, energy'),
    });
  });

  it('refuses an artefact outside the artifacts bucket', async () => {
    await expect(
      handler({ ...EVENT, modelArtifactUrl: 's3://elsewhere/model.tar.gz' }, context),
    ).rejects.toMatchObject({
      name: MODEL_EVALUATION_ERROR,
      message: `modelArtifactUrl: received 's3://elsewhere/model.tar.gz', expected an object of s3://${BUCKET}/`,
    });
  });
});
