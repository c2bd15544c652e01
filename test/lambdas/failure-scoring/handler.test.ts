/**
 * The failure-scoring function against real stand-ins: `ml_features` Parquet as DuckDB writes it in
 * the S3 stand-in, scored through the real SDK client by the twin's SageMaker runtime. Each score
 * must equal the TypeScript scorer's on the same features; reruns write the same bytes; an endpoint
 * that cannot score fails the run, named for the workflow, and leaves the lake as it was.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { Context } from 'aws-lambda';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createHandler,
  type FailureScoringHandlerDeps,
  publishScoringMetrics,
  type ScoringMetricsSink,
} from '../../../lambdas/failure-scoring/handler.ts';
import { FAILURE_SCORING_ERRORS, SCORING_VARIANT } from '../../../lambdas/failure-scoring/names.ts';
import {
  failureModelDefinition,
  ML_FEATURES_PREFIX,
  PREDICTION_FILE,
} from '../../../lambdas/failure-scoring/score-window.ts';
import type { ScoringResult } from '../../../lambdas/failure-scoring/scoring-event.ts';
import { createS3Client, createSageMakerRuntimeClient } from '../../../lambdas/shared/aws-clients.ts';
import type { ScorerClock } from '../../../lambdas/shared/endpoint-client.ts';
import { tableFeatureRow } from '../../../lambdas/shared/table-features.ts';
import { parseXgboostModel, predict, type XgboostModel } from '../../../lambdas/shared/xgboost.ts';
import { getObject, listKeys } from '../../../local/etl/lake-io.ts';
import { lambdaContext } from '../../../local/lambda-runtime.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import { type SageMakerRuntime, startSageMakerRuntime } from '../../../local/sagemaker-runtime.ts';
import { PREDICTIONS } from '../../../warehouse/curated-tables.ts';
import { randomModelJson } from '../../ml/xgboost-model-builder.ts';
import { fleetRows, mlFeaturesParquet } from '../../support/ml-features-parquet.ts';

const ENDPOINT = 'failure';
const AB_ENDPOINT = 'failure-ab';
const WIDER_ENDPOINT = 'failure-wider';
const VERSION = '0123456789abcdef';
const DAY = '2026-11-27';
const FEATURES = failureModelDefinition().features.length;
const BUCKETS = ['fs-a', 'fs-b', 'fs-c', 'fs-d', 'fs-e', 'fs-f', 'fs-g', 'fs-h', 'fs-i'];

let dir: string;
let stand: S3StandIn;
let s3: S3Client;
let runtime: SageMakerRuntime;
let client: SageMakerRuntimeClient;
let model: XgboostModel;

const hourKey = (table: string, hour: string) => `${table}event_date=${DAY}/event_hour=${hour}/`;
const context = (): Context => lambdaContext('sdap-test-failure-scoring', 'arn:aws:lambda:::function:test');

/** A clock whose sleeps take no time and are remembered. */
function fakeClock() {
  const sleeps: number[] = [];
  const clock: ScorerClock = { now: () => 0, sleep: async (ms) => void sleeps.push(ms) };
  return { clock, sleeps };
}

function deps(bucket: string, overrides: Partial<FailureScoringHandlerDeps> = {}): FailureScoringHandlerDeps {
  return {
    s3,
    curatedBucket: bucket,
    sageMakerRuntime: client,
    endpointName: ENDPOINT,
    endpointVariant: SCORING_VARIANT,
    modelVersion: VERSION,
    clock: fakeClock().clock,
    random: () => 0.5,
    metrics: metricsRecorder().sink,
    ...overrides,
  };
}

async function putFeatures(bucket: string, hour: string, count: number, seed = 1): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: `${hourKey(ML_FEATURES_PREFIX, hour)}part-00000.parquet`,
      Body: await mlFeaturesParquet(`${DAY}T${hour}:00:00Z`, fleetRows(count), seed),
    }),
  );
}

async function readParquet(bucket: string, key: string): Promise<Record<string, unknown>[]> {
  const body = (await getObject(s3, bucket, key)) as Buffer;
  const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  return parquetReadObjects({ file });
}

/** key -> bytes (base64) of every object under `prefix`. */
async function snapshot(bucket: string, prefix = ''): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const key of await listKeys(s3, bucket, prefix)) {
    result[key] = ((await getObject(s3, bucket, key)) as Buffer).toString('base64');
  }
  return result;
}

/** A metrics sink that keeps every single metric with its dimensions (service stands for the defaults). */
function metricsRecorder() {
  const published: Array<{ name: string; unit: string; value: number; dimensions: Record<string, string> }> =
    [];
  const sink: ScoringMetricsSink = {
    singleMetric() {
      const dimensions: Record<string, string> = { service: 'failure-scoring' };
      return {
        clearDefaultDimensions: () => {
          delete dimensions.service;
        },
        addDimension: (name: string, value: string) => {
          dimensions[name] = value;
        },
        addMetric: (name: string, unit: string, value: number) => {
          published.push({ name, unit, value, dimensions: { ...dimensions } });
        },
      };
    },
  };
  return { published, sink };
}

const invocations = (endpoint: string, variant = SCORING_VARIANT) =>
  runtime.invocations[endpoint]?.[variant] ?? 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sdap-failure-scoring-'));
  const json = randomModelJson(21, {
    objective: 'binary:logistic',
    featureCount: FEATURES,
    trees: 30,
    depth: 4,
  });
  const path = join(dir, 'failure.json');
  writeFileSync(path, JSON.stringify(json));
  model = parseXgboostModel(json);
  const wider = join(dir, 'wider.json');
  writeFileSync(
    wider,
    JSON.stringify(
      randomModelJson(22, { objective: 'binary:logistic', featureCount: FEATURES + 1, trees: 2, depth: 2 }),
    ),
  );
  const challenger = join(dir, 'challenger.json');
  writeFileSync(
    challenger,
    JSON.stringify(
      randomModelJson(23, { objective: 'binary:logistic', featureCount: FEATURES, trees: 5, depth: 3 }),
    ),
  );
  runtime = await startSageMakerRuntime({
    endpoints: {
      [ENDPOINT]: { variants: [{ name: SCORING_VARIANT, weight: 1, modelPath: path }] },
      // The challenger takes nearly all of the traffic that does not name a variant.
      [AB_ENDPOINT]: {
        variants: [
          { name: SCORING_VARIANT, weight: 1, modelPath: path },
          { name: 'challenger', weight: 99, modelPath: challenger },
        ],
      },
      [WIDER_ENDPOINT]: { variants: [{ name: SCORING_VARIANT, weight: 1, modelPath: wider }] },
    },
  });
  client = createSageMakerRuntimeClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    sageMakerRuntimeEndpoint: runtime.url,
  });
  stand = await startS3StandIn({ buckets: BUCKETS });
  s3 = createS3Client(stand.clientOverrides, 1);
});

afterAll(async () => {
  client?.destroy();
  await runtime?.close();
  await stand?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  runtime.setVariantAvailable(ENDPOINT, SCORING_VARIANT, true);
});

describe('the failure-scoring handler', () => {
  it("scores every device-hour of the window through the endpoint and writes each hour's predictions as one Parquet object", async () => {
    // Prepare
    await putFeatures('fs-a', '10', 12, 1);
    await putFeatures('fs-a', '11', 8, 2);
    const before = invocations(ENDPOINT);

    // Act
    const result = await createHandler(() => deps('fs-a'))(
      { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T12:00:00Z` },
      context(),
    );

    // Assess
    expect(await listKeys(s3, 'fs-a', PREDICTIONS.prefix)).toEqual([
      `${hourKey(PREDICTIONS.prefix, '10')}${PREDICTION_FILE}`,
      `${hourKey(PREDICTIONS.prefix, '11')}${PREDICTION_FILE}`,
    ]);
    expect(invocations(ENDPOINT) - before).toBe(2);
    const definition = failureModelDefinition();
    let high = 0;
    for (const hour of ['10', '11']) {
      const features = await readParquet('fs-a', `${hourKey(ML_FEATURES_PREFIX, hour)}part-00000.parquet`);
      const predictions = await readParquet('fs-a', `${hourKey(PREDICTIONS.prefix, hour)}${PREDICTION_FILE}`);
      const expected = features.map((row) => ({
        hour_start: new Date(`${DAY}T${hour}:00:00Z`),
        device_id: row.device_id,
        device_type: row.device_type,
        site_id: row.site_id,
        model_name: 'failure',
        model_version: VERSION,
        failure_probability: predict(model, tableFeatureRow(definition, row)),
        scored_at: new Date(Date.parse(`${DAY}T${hour}:00:00Z`) + 3_600_000),
      }));
      expect(predictions).toEqual(expected);
      high += expected.filter((row) => row.failure_probability >= 0.5).length;
    }
    expect(result).toEqual({
      window: { from: `${DAY}T10:00:00.000Z`, to: `${DAY}T12:00:00.000Z` },
      model: { name: 'failure', version: VERSION, endpoint: ENDPOINT, variant: SCORING_VARIANT },
      hours: 2,
      hoursScored: 2,
      rowsScored: 20,
      calls: 2,
      highScoreShare: (100 * high) / 20,
      partitionsWritten: 2,
      objectsDeleted: 0,
    } satisfies ScoringResult);
    expect(high).toBeGreaterThan(0);
    expect(high).toBeLessThan(20);
  });

  it("writes the file's columns in the order and types the warehouse's PREDICTIONS lists", async () => {
    // Prepare
    await putFeatures('fs-b', '10', 3);

    // Act
    await createHandler(() => deps('fs-b'))(
      { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T11:00:00Z` },
      context(),
    );

    // Assess
    const body = (await getObject(
      s3,
      'fs-b',
      `${hourKey(PREDICTIONS.prefix, '10')}${PREDICTION_FILE}`,
    )) as Buffer;
    const schema = parquetMetadata(
      body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
    )
      .schema.slice(1)
      .map(
        (element) =>
          `${element.name} ${element.type}${element.converted_type ? ` ${element.converted_type}` : ''}`,
      );
    const parquetOf = {
      string: 'BYTE_ARRAY UTF8',
      double: 'DOUBLE',
      timestamp: 'INT64 TIMESTAMP_MICROS',
    } as Record<string, string>;
    expect(schema).toEqual(PREDICTIONS.columns.map((column) => `${column.name} ${parquetOf[column.type]}`));
  });

  it('writes byte-identical objects when the window is scored again, and drops the predictions of an hour without features', async () => {
    // Prepare
    await putFeatures('fs-c', '10', 10, 3);
    await putFeatures('fs-c', '11', 10, 4);
    const handler = createHandler(() => deps('fs-c'));
    const event = { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T12:00:00Z` };
    await handler(event, context());
    const first = await snapshot('fs-c', PREDICTIONS.prefix);

    // Act
    const second = await handler(event, context());
    const again = await snapshot('fs-c', PREDICTIONS.prefix);
    await s3.send(
      new DeleteObjectCommand({
        Bucket: 'fs-c',
        Key: `${hourKey(ML_FEATURES_PREFIX, '11')}part-00000.parquet`,
      }),
    );
    const third = await handler(event, context());

    // Assess
    expect(Object.keys(first)).toHaveLength(2);
    expect(again).toEqual(first);
    expect(second).toMatchObject({ partitionsWritten: 2, objectsDeleted: 0 });
    expect(third).toMatchObject({ hoursScored: 1, rowsScored: 10, partitionsWritten: 1, objectsDeleted: 1 });
    expect(await snapshot('fs-c', PREDICTIONS.prefix)).toEqual({
      [`${hourKey(PREDICTIONS.prefix, '10')}${PREDICTION_FILE}`]:
        first[`${hourKey(PREDICTIONS.prefix, '10')}${PREDICTION_FILE}`],
    });
  });

  it("splits an hour over several calls only when its rows exceed one call's payload", async () => {
    // Prepare
    await putFeatures('fs-d', '10', 60, 5);
    await putFeatures('fs-e', '10', 60, 5);
    const event = { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T11:00:00Z` };
    await createHandler(() => deps('fs-d'))(event, context());
    const before = invocations(ENDPOINT);

    // Act
    const result = await createHandler(() => deps('fs-e', { maxCallBytes: 2_000 }))(event, context());

    // Assess
    expect(invocations(ENDPOINT) - before).toBeGreaterThan(2);
    expect(result.calls).toBe(invocations(ENDPOINT) - before);
    expect(await snapshot('fs-e', PREDICTIONS.prefix)).toEqual(await snapshot('fs-d', PREDICTIONS.prefix));
  });

  it('scores on the champion even when a challenger takes most of the traffic', async () => {
    // Prepare
    await putFeatures('fs-f', '10', 5);
    await putFeatures('fs-f', '11', 5);
    const challengerBefore = invocations(AB_ENDPOINT, 'challenger');

    // Act
    const result = await createHandler(() => deps('fs-f', { endpointName: AB_ENDPOINT }))(
      { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T12:00:00Z` },
      context(),
    );

    // Assess
    expect(result.model.variant).toBe(SCORING_VARIANT);
    expect(invocations(AB_ENDPOINT, 'challenger')).toBe(challengerBefore);
  });

  it('fails as PredictionEndpointUnavailableError after its jittered retries when the endpoint is unavailable, and writes nothing', async () => {
    // Prepare: predictions from an earlier run, then new features and an outage.
    await putFeatures('fs-g', '10', 6, 6);
    const event = { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T11:00:00Z` };
    await createHandler(() => deps('fs-g'))(event, context());
    const before = await snapshot('fs-g', PREDICTIONS.prefix);
    await putFeatures('fs-g', '10', 9, 7);
    runtime.setVariantAvailable(ENDPOINT, SCORING_VARIANT, false);
    const { clock, sleeps } = fakeClock();
    const calls = invocations(ENDPOINT);

    // Act
    const failed = createHandler(() => deps('fs-g', { clock, callPolicy: { maxAttempts: 3 } }))(
      event,
      context(),
    );

    // Assess: 3 calls, 2 backoffs of half (the jitter) of 1 and 2 s; the old predictions stand.
    await expect(failed).rejects.toMatchObject({
      name: FAILURE_SCORING_ERRORS.endpointUnavailable,
      reason: 'service_unavailable',
    });
    await expect(failed).rejects.toThrow(
      /after 3 attempt\(s\): service_unavailable: ServiceUnavailable.*Nothing was written/,
    );
    expect(invocations(ENDPOINT) - calls).toBe(3);
    expect(sleeps).toEqual([500, 1000]);
    expect(await snapshot('fs-g', PREDICTIONS.prefix)).toEqual(before);
  });

  it('fails as PredictionEndpointRefusedError without retrying when the model refuses the rows', async () => {
    // Prepare: a model of one feature more than models.json gives the failure model.
    await putFeatures('fs-h', '10', 2);
    const calls = invocations(WIDER_ENDPOINT);

    // Act
    const failed = createHandler(() => deps('fs-h', { endpointName: WIDER_ENDPOINT }))(
      { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T11:00:00Z` },
      context(),
    );

    // Assess
    await expect(failed).rejects.toMatchObject({
      name: FAILURE_SCORING_ERRORS.endpointRefused,
      reason: 'model_error',
    });
    await expect(failed).rejects.toThrow(`expected ${FEATURES + 1} feature values, received ${FEATURES}`);
    expect(invocations(WIDER_ENDPOINT) - calls).toBe(1);
    expect(await listKeys(s3, 'fs-h', PREDICTIONS.prefix)).toEqual([]);
  });

  it('fails as PredictionEndpointRefusedError on an endpoint that does not exist (ValidationError)', async () => {
    await putFeatures('fs-h', '11', 2);
    const failed = createHandler(() => deps('fs-h', { endpointName: 'no-such-endpoint' }))(
      { windowStart: `${DAY}T11:00:00Z`, windowEnd: `${DAY}T12:00:00Z` },
      context(),
    );
    await expect(failed).rejects.toMatchObject({
      name: FAILURE_SCORING_ERRORS.endpointRefused,
      reason: 'validation_error',
    });
  });

  it('fails as FeatureTableError, naming the file and column, when a feature file lacks a feature column', async () => {
    // Prepare
    await s3.send(
      new PutObjectCommand({
        Bucket: 'fs-i',
        Key: `${hourKey(ML_FEATURES_PREFIX, '10')}part-00000.parquet`,
        Body: await readBaselineLikeFile(),
      }),
    );

    // Act
    const failed = createHandler(() => deps('fs-i'))(
      { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T11:00:00Z` },
      context(),
    );

    // Assess
    await expect(failed).rejects.toMatchObject({ name: FAILURE_SCORING_ERRORS.badFeatures });
    await expect(failed).rejects.toThrow(`s3://fs-i/${hourKey(ML_FEATURES_PREFIX, '10')}part-00000.parquet`);
    expect(await listKeys(s3, 'fs-i', PREDICTIONS.prefix)).toEqual([]);
  });

  it('writes nothing and reports no share for a window without features', async () => {
    const result = await createHandler(() => deps('fs-i'))(
      { windowStart: `${DAY}T20:00:00Z`, windowEnd: `${DAY}T22:00:00Z` },
      context(),
    );
    expect(result).toMatchObject({ hours: 2, hoursScored: 0, rowsScored: 0, calls: 0, highScoreShare: null });
    expect(result.model.variant).toBeNull();
  });

  it.each([
    [
      { windowStart: `${DAY}T10:30:00Z`, windowEnd: `${DAY}T11:00:00Z` },
      /windowStart: received "2026-11-27T10:30:00Z", expected a whole UTC hour/,
    ],
    [
      { windowStart: `${DAY}T11:00:00Z`, windowEnd: `${DAY}T11:00:00Z` },
      /windowEnd: .* expected an hour 1 to 744 hours after windowStart/,
    ],
    [{ windowStart: `${DAY}T10:00:00Z` }, /windowEnd: received nothing, expected a whole UTC hour/],
    [
      { windowStart: 'soon', windowEnd: `${DAY}T11:00:00Z` },
      /windowStart: received "soon", expected a whole UTC hour/,
    ],
    [
      { windowStart: `${DAY}T25:00:00Z`, windowEnd: `${DAY}T11:00:00Z` },
      /windowStart: received "2026-11-27T25:00:00Z"/,
    ],
    [
      '2026-11-27T10:00:00Z',
      /\(event\): received "2026-11-27T10:00:00Z", expected an object \{"windowStart"/,
    ],
    [
      { windowStart: `${DAY}T10:00:00Z`, windowEnd: `${DAY}T11:00:00Z`, hour: 1 },
      /received unknown key\(s\) hour/,
    ],
  ])('fails as InvalidScoringEventError on %j, naming the field', async (event, message) => {
    const failed = createHandler(() => deps('fs-i'))(event, context());
    await expect(failed).rejects.toMatchObject({ name: FAILURE_SCORING_ERRORS.invalidEvent });
    await expect(failed).rejects.toThrow(message);
  });
});

describe('the scoring metrics', () => {
  it('puts RowsScored with the service and Model, and HighScoreShare with Model alone (the drift alarm)', () => {
    const { published, sink } = metricsRecorder();
    publishScoringMetrics(
      { model: { name: 'failure' }, rowsScored: 40, highScoreShare: 12.5 } as ScoringResult,
      sink,
    );
    expect(published).toEqual([
      {
        name: 'RowsScored',
        unit: 'Count',
        value: 40,
        dimensions: { service: 'failure-scoring', Model: 'failure' },
      },
      { name: 'HighScoreShare', unit: 'Percent', value: 12.5, dimensions: { Model: 'failure' } },
    ]);
  });

  it('puts no HighScoreShare when nothing was scored', () => {
    const { published, sink } = metricsRecorder();
    publishScoringMetrics(
      { model: { name: 'failure' }, rowsScored: 0, highScoreShare: null } as ScoringResult,
      sink,
    );
    expect(published.map((metric) => metric.name)).toEqual(['RowsScored']);
  });
});

/** A Parquet file with the key columns but none of the feature columns. */
async function readBaselineLikeFile(): Promise<Buffer> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const path = join(dir, 'keys-only.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(
      `COPY (SELECT TIMESTAMP '${DAY} 10:00:00' AS hour_start, 'd-1' AS device_id, 'camera' AS device_type, 's' AS site_id) TO '${path}' (FORMAT parquet)`,
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  const { readFile } = await import('node:fs/promises');
  return readFile(path);
}
