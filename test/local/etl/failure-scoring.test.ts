/**
 * The twin's batch stage with its scoring step: the ETL over the fixture lake on a real S3 API
 * (s3rver), then the failure-scoring handler, unchanged, against the twin's SageMaker runtime serving
 * the committed failure model. Reruns leave every object byte-identical; an endpoint outage leaves
 * the run's curated output in place and says why there are no predictions.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelVersionOf, SCORING_VARIANT } from '../../../lambdas/failure-scoring/names.ts';
import { failureModelDefinition } from '../../../lambdas/failure-scoring/score-window.ts';
import { createValidatorClients } from '../../../lambdas/shared/aws-clients.ts';
import { tableFeatureRow } from '../../../lambdas/shared/table-features.ts';
import { parseXgboostModel, predict } from '../../../lambdas/shared/xgboost.ts';
import { runBatchStage } from '../../../local/etl/batch-stage.ts';
import {
  formatPredictions,
  startFailureEndpoint,
  TWIN_FAILURE_ENDPOINT,
  type TwinFailureEndpoint,
} from '../../../local/etl/failure-scoring.ts';
import { getObject, listKeys } from '../../../local/etl/lake-io.ts';
import { loadPipeline, type Pipeline } from '../../../local/etl/manifest.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import { committedModelPath } from '../../../ml/model-spec.ts';
import { PREDICTIONS } from '../../../warehouse/curated-tables.ts';
import { FIXTURE_WINDOW, fixtureObjects, putLake } from './fixture-lake.ts';

const CURATED = ['score-a', 'score-b', 'score-c'];
const buckets = (curated: string) => ({ raw: 'score-raw', quarantine: 'score-quarantine', curated });

let stand: S3StandIn;
let s3: S3Client;
let pipeline: Pipeline;
let failure: TwinFailureEndpoint;

/** key -> sha256 of every object in a bucket. */
async function snapshot(bucket: string, prefix = ''): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const key of await listKeys(s3, bucket, prefix)) {
    const body = (await getObject(s3, bucket, key)) ?? Buffer.alloc(0);
    result[key] = createHash('sha256').update(body).digest('hex');
  }
  return result;
}

async function rowsOf(bucket: string, key: string): Promise<Record<string, unknown>[]> {
  const body = (await getObject(s3, bucket, key)) as Buffer;
  return parquetReadObjects({
    file: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
  });
}

beforeAll(async () => {
  stand = await startS3StandIn({ buckets: ['score-raw', 'score-quarantine', ...CURATED] });
  s3 = createValidatorClients(stand.clientOverrides).s3;
  pipeline = await loadPipeline();
  await putLake(s3, buckets(CURATED[0] as string), await fixtureObjects());
  failure = await startFailureEndpoint();
}, 60_000);

afterAll(async () => {
  await failure?.close();
  await stand?.close();
});

describe('the batch stage with the failure model', () => {
  it("scores every device-hour of the window's ml_features on the twin's endpoint and writes its predictions", async () => {
    // Act
    const summary = await runBatchStage({
      s3,
      buckets: buckets('score-a'),
      pipeline,
      ...FIXTURE_WINDOW,
      threads: 1,
      scoring: failure.endpoint,
    });

    // Assess
    const model = parseXgboostModel(readFileSync(committedModelPath('failure'), 'utf8'));
    const definition = failureModelDefinition();
    const featureKeys = (await listKeys(s3, 'score-a', 'ml_features/')).filter((key) =>
      key.endsWith('.parquet'),
    );
    expect(featureKeys).toHaveLength(2);
    let rows = 0;
    for (const featureKey of featureKeys) {
      const features = await rowsOf('score-a', featureKey);
      const predictions = await rowsOf(
        'score-a',
        featureKey.replace('ml_features/', PREDICTIONS.prefix).replace(/[^/]+$/, 'part-00000.parquet'),
      );
      expect(predictions.map((row) => [row.device_id, row.failure_probability])).toEqual(
        features.map((row) => [row.device_id, predict(model, tableFeatureRow(definition, row))]),
      );
      rows += features.length;
    }
    expect(summary.predictions).toMatchObject({
      status: 'written',
      window: { from: '2026-11-27T10:00:00.000Z', to: '2026-11-27T12:00:00.000Z' },
      model: {
        name: 'failure',
        version: modelVersionOf(readFileSync(committedModelPath('failure'))),
        endpoint: TWIN_FAILURE_ENDPOINT,
        variant: SCORING_VARIANT,
      },
      hoursScored: 2,
      rowsScored: rows,
      partitionsWritten: 2,
    });
    expect(formatPredictions(summary.predictions)[0]).toMatch(
      /^ {2}predictions {4}\d+ device-hours scored by the failure model [0-9a-f]{16} on endpoint failure \(champion\) in 2 calls: .* 2 partitions written to predictions\/$/,
    );
    expect(summary.seconds.scoring).toBeGreaterThan(0);
  });

  it('leaves the curated bucket byte-identical, predictions included, when the window is run again', async () => {
    // Prepare
    const run = () =>
      runBatchStage({
        s3,
        buckets: buckets('score-b'),
        pipeline,
        ...FIXTURE_WINDOW,
        threads: 1,
        scoring: failure.endpoint,
      });
    await run();
    const before = await snapshot('score-b');

    // Act
    await run();
    await run();

    // Assess
    expect(Object.keys(before).filter((key) => key.startsWith(PREDICTIONS.prefix))).toHaveLength(2);
    expect(await snapshot('score-b')).toEqual(before);
  });

  it("keeps the run's curated output and reports the failure when the endpoint cannot score", async () => {
    // Prepare
    failure.runtime.setVariantAvailable(TWIN_FAILURE_ENDPOINT, SCORING_VARIANT, false);
    const endpoint = {
      ...failure.endpoint,
      callPolicy: { maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 1 },
    };
    const lines: string[] = [];

    // Act
    const summary = await runBatchStage({
      s3,
      buckets: buckets('score-c'),
      pipeline,
      ...FIXTURE_WINDOW,
      threads: 1,
      scoring: endpoint,
      log: (line) => lines.push(line),
    }).finally(() => failure.runtime.setVariantAvailable(TWIN_FAILURE_ENDPOINT, SCORING_VARIANT, true));

    // Assess
    expect(summary.predictions).toMatchObject({
      status: 'failed',
      error: 'PredictionEndpointUnavailableError',
      window: { from: '2026-11-27T10:00:00.000Z', to: '2026-11-27T12:00:00.000Z' },
    });
    expect(summary.tables.ml_features?.rows).toBeGreaterThan(0);
    expect(await listKeys(s3, 'score-c', 'ml_features/')).toHaveLength(2);
    expect(await listKeys(s3, 'score-c', PREDICTIONS.prefix)).toEqual([]);
    expect(
      lines.some((line) =>
        line.startsWith('batch: no predictions written: PredictionEndpointUnavailableError'),
      ),
    ).toBe(true);
    expect(formatPredictions(summary.predictions)[0]).toMatch(
      /^ {2}predictions {4}FAILED \(PredictionEndpointUnavailableError\): .*service_unavailable.* rerun the window to score it\.$/,
    );
  });

  it('shows no predictions line for a stage that does not score', () => {
    expect(formatPredictions(undefined)).toEqual([]);
  });
});
