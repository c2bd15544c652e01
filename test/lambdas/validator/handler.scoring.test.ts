/**
 * The validator with an anomaly endpoint: valid readings scored after validation against the
 * twin's SageMaker runtime (with baselines from the S3 stand-in), model alerts raised where no rule
 * alerted, and every failure of the endpoint (unavailable, ModelError, throttling, timeouts, an open
 * breaker) ending in a normal batch with the rules' alerts: no record failed, none lost.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anomalyFeatureNames } from '../../../lambdas/shared/anomaly-features.ts';
import type { TelemetryAlert } from '../../../lambdas/shared/anomaly-rules.ts';
import {
  AnomalyScorer,
  type AnomalyScorerOptions,
  CircuitBreaker,
} from '../../../lambdas/shared/anomaly-scorer.ts';
import { createSageMakerRuntimeClient, createValidatorClients } from '../../../lambdas/shared/aws-clients.ts';
import { type Reading, telemetryTopic } from '../../../lambdas/shared/contract.ts';
import { DeviceBaselineCache } from '../../../lambdas/shared/device-baselines.ts';
import { DeviceSignalHistory } from '../../../lambdas/shared/device-signal-history.ts';
import { DEVICE_BASELINES_PREFIX, VALIDATOR_ENV } from '../../../lambdas/shared/pipeline-names.ts';
import { type AnomalyScoring, createAnomalyScoring } from '../../../lambdas/validator/anomaly-scoring.ts';
import { createHandler, scoringFromEnvironment } from '../../../lambdas/validator/handler.ts';
import { processKinesisBatch, type ValidatorDeps } from '../../../lambdas/validator/process-batch.ts';
import { type AlertsSink, startAlertsSink } from '../../../local/alerts-sink.ts';
import { applyTelemetryRule } from '../../../local/iot-rule.ts';
import { buildKinesisEvent } from '../../../local/kinesis-event.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import { type SageMakerRuntime, startSageMakerRuntime } from '../../../local/sagemaker-runtime.ts';
import { buildModelJson } from '../../ml/xgboost-model-builder.ts';
import { baselineParquet } from '../../support/baseline-parquet.ts';
import { makeReading } from '../../support/readings.ts';

const RAW = 'raw-bucket';
const QUARANTINE = 'quarantine-bucket';
const CURATED = 'curated-bucket';
const ENDPOINT = 'anomaly';
const WIDER_ENDPOINT = 'anomaly-wider';
const VARIANT = 'AllTraffic';
const ARRIVAL_MS = Date.parse('2026-11-27T17:05:00.000Z');
const DEVICE_TIME = '2026-11-27T17:04:58.000Z';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const context = { functionName: 'validator', awsRequestId: 'test' } as unknown as Context;

let dir: string;
let s3: S3StandIn;
let sink: AlertsSink;
let runtime: SageMakerRuntime;
let sageMaker: SageMakerRuntimeClient;
let clients: ValidatorDeps['clients'];

/**
 * The test model: one tree on `metric_zscore`, a reading 3 or more standard deviations above its
 * baseline scores sigmoid(3) = 0.95, any other (or one without a baseline) sigmoid(-3) = 0.05.
 */
function zscoreModel(featureCount: number) {
  return buildModelJson({
    objective: 'binary:logistic',
    featureCount,
    trees: [
      {
        feature: anomalyFeatureNames().indexOf('metric_zscore'),
        threshold: 3,
        defaultLeft: true,
        left: { leaf: -3 },
        right: { leaf: 3 },
      },
    ],
  });
}

/**
 * One batch: a temperature sensor 5 sigma above its baseline (model alert), an overheating camera
 * far above its baseline (a rules alert, so no model alert), an ordinary thermostat, a sensor
 * without a baseline, and a record that is not JSON (quarantined).
 */
function batch(n: number) {
  const sensor = (k: number, id: string, value: number) =>
    ({
      ...makeReading('sensor', n + k, DEVICE_TIME, id),
      sensorKind: 'temperature',
      value,
      unit: 'C',
    }) as Reading;
  const readings = [
    sensor(1, 'temp-1', 30),
    { ...makeReading('camera', n + 2, DEVICE_TIME, 'cam-1'), cpuTemperatureC: 95 } as Reading,
    makeReading('thermostat', n + 3, DEVICE_TIME, 'thermo-1'),
    sensor(4, 'temp-unknown', 80),
  ];
  const messages = [
    ...readings.map((reading) => ({ deviceId: reading.deviceId, payload: JSON.stringify(reading) })),
    { deviceId: 'lock-9', payload: 'not json at all' },
  ];
  const event: KinesisStreamEvent = buildKinesisEvent(
    messages.map(({ deviceId, payload }, i) => {
      const out = applyTelemetryRule(telemetryTopic(deviceId), Buffer.from(payload), ARRIVAL_MS - 1000);
      if (!out) throw new Error('topic did not match the rule');
      return {
        data: out.data,
        partitionKey: out.partitionKey,
        sequenceNumber: String(n * 10 + i),
        approximateArrivalMs: ARRIVAL_MS,
        shardId: 'shardId-000000000000',
      };
    }),
    {
      streamArn: 'arn:aws:kinesis:us-east-1:111122223333:stream/telemetry',
      region: 'us-east-1',
      executionRoleArn: 'arn:aws:iam::111122223333:role/validator',
    },
  );
  return { event, readings, sequenceNumbers: messages.map((_, i) => String(n * 10 + i)) };
}

function deps(scoring?: AnomalyScoring): ValidatorDeps {
  return {
    rawBucket: RAW,
    quarantineBucket: QUARANTINE,
    alertBusName: 'alerts',
    criticalAlertTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
    clients,
    ...(scoring && { scoring }),
  };
}

/** Scoring with its own breaker (not the module's), so that one test's failures do not open another's. */
function scoringWith(options: Partial<AnomalyScorerOptions> = {}): AnomalyScoring {
  return {
    scorer: new AnomalyScorer({
      client: sageMaker,
      endpointName: ENDPOINT,
      threshold: 0.5,
      breaker: new CircuitBreaker(),
      clock: { now: Date.now, sleep: async () => undefined },
      ...options,
    }),
    baselines: new DeviceBaselineCache({ s3: clients.s3, bucket: CURATED }),
    history: new DeviceSignalHistory(),
  };
}

async function gzipLines(bucket: string, prefix: string): Promise<Array<Record<string, unknown>>> {
  const listed = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const lines: Array<Record<string, unknown>> = [];
  for (const { Key } of listed.Contents ?? []) {
    const object = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    const text = gunzipSync(Buffer.from((await object.Body?.transformToByteArray()) ?? [])).toString();
    lines.push(
      ...text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    );
  }
  return lines;
}

/** Every reading valid in raw, the bad record quarantined: nothing lost. */
async function expectNothingLost(readings: readonly Reading[], badSequenceNumber: string) {
  const raw = new Set((await gzipLines(RAW, 'telemetry/')).map((line) => line.eventId));
  for (const reading of readings) expect(raw.has(reading.eventId), reading.deviceId).toBe(true);
  const quarantined = await clients.s3.send(new ListObjectsV2Command({ Bucket: QUARANTINE }));
  expect(
    (quarantined.Contents ?? []).map((o) => o.Key).some((key) => key?.endsWith(`-${badSequenceNumber}.json`)),
  ).toBe(true);
}

const alertsOf = (readings: readonly Reading[]) => {
  const ids = new Set(readings.map((r) => r.eventId));
  return sink.events.map((e) => e.detail as TelemetryAlert).filter((alert) => ids.has(alert.eventId));
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sdap-validator-scoring-'));
  const features = anomalyFeatureNames().length;
  const modelPath = join(dir, 'anomaly.json');
  writeFileSync(modelPath, JSON.stringify(zscoreModel(features)));
  const widerPath = join(dir, 'wider.json');
  writeFileSync(widerPath, JSON.stringify(zscoreModel(features + 1)));
  [s3, sink, runtime] = await Promise.all([
    startS3StandIn({ buckets: [RAW, QUARANTINE, CURATED] }),
    startAlertsSink(),
    startSageMakerRuntime({
      endpoints: {
        [ENDPOINT]: { variants: [{ name: VARIANT, weight: 1, modelPath }] },
        [WIDER_ENDPOINT]: { variants: [{ name: VARIANT, weight: 1, modelPath: widerPath }] },
      },
    }),
  ]);
  clients = createValidatorClients({ ...sink.clientOverrides, ...s3.clientOverrides });
  sageMaker = createSageMakerRuntimeClient({
    region: 'us-east-1',
    credentials: CREDENTIALS,
    sageMakerRuntimeEndpoint: runtime.url,
  });
  // The baselines valid on the readings' day: those of the day before.
  await clients.s3.send(
    new PutObjectCommand({
      Bucket: CURATED,
      Key: `${DEVICE_BASELINES_PREFIX}/event_date=2026-11-26/part-00000.parquet`,
      Body: await baselineParquet('2026-11-26', [
        { deviceId: 'temp-1', deviceType: 'sensor', hours: 160, mean: 20, stddev: 2, rssi: -60 },
        { deviceId: 'cam-1', deviceType: 'camera', hours: 160, mean: 55, stddev: 1, rssi: -60 },
        { deviceId: 'thermo-1', hours: 160, mean: 20.4, stddev: 1, rssi: -60 },
      ]),
    }),
  );
});
afterAll(async () => {
  sageMaker?.destroy();
  await Promise.all([s3?.close(), sink?.close(), runtime?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  runtime.setVariantAvailable(ENDPOINT, VARIANT, true);
});

describe('validator with an anomaly endpoint', () => {
  it('raises a model alert for a reading scoring at or above the threshold, where no rule alerted', async () => {
    // Prepare
    const { event, readings, sequenceNumbers } = batch(100);
    const scoring = createAnomalyScoring({
      endpointName: ENDPOINT,
      curatedBucket: CURATED,
      s3: clients.s3,
      sageMakerRuntime: sageMaker,
    });

    // Act
    const outcome = await processKinesisBatch(event, deps(scoring));

    // Assess
    expect(outcome.response).toEqual({ batchItemFailures: [] });
    expect(outcome.scoring).toEqual({
      endpoint: ENDPOINT,
      outcome: 'scored',
      variant: VARIANT,
      rowsScored: 4,
      rowsRulesOnly: 0,
      modelAlerts: 1,
    });
    const alerts = alertsOf(readings);
    expect(alerts.map((a) => `${a.deviceId}:${a.rule}`).sort()).toEqual([
      'cam-1:camera_overheating',
      'temp-1:model_anomaly',
    ]);
    const model = alerts.find((a) => a.rule === 'model_anomaly');
    expect(model).toMatchObject({
      alertId: `${readings[0]?.eventId}:model_anomaly`,
      severity: 'warning',
      threshold: 0.5,
      timestamp: DEVICE_TIME,
    });
    expect(model?.observed).toBeCloseTo(0.9526, 4);
    expect(model?.message).toContain(`variant ${VARIANT}`);
    // Archived for the batch ETL beside the rules' alerts.
    const archived = (await gzipLines(RAW, 'alerts/')).filter((line) => line.rule === 'model_anomaly');
    expect(archived.map((line) => line.alertId)).toContain(model?.alertId);
    await expectNothingLost(readings, sequenceNumbers[4] as string);
  });

  it('behaves as before without an endpoint: no scoring, no scoring outcome', async () => {
    const { event, readings } = batch(200);
    const outcome = await processKinesisBatch(event, deps());
    expect(outcome.response).toEqual({ batchItemFailures: [] });
    expect('scoring' in outcome).toBe(false);
    expect(alertsOf(readings).map((a) => a.rule)).toEqual(['camera_overheating']);
  });

  it.each([
    [
      'the endpoint is unavailable (ServiceUnavailable)',
      'service_unavailable',
      () => {
        runtime.setVariantAvailable(ENDPOINT, VARIANT, false);
        return scoringWith();
      },
    ],
    [
      'the model refuses the rows (ModelError)',
      'model_error',
      () => scoringWith({ endpointName: WIDER_ENDPOINT }),
    ],
  ] as const)('completes the batch with the rules only when %s', async (_label, reason, scoring) => {
    // Prepare
    const { event, readings, sequenceNumbers } = batch(reason === 'model_error' ? 300 : 310);

    // Act
    const response = await createHandler(() => deps(scoring()))(event, context);
    const outcome = await processKinesisBatch(event, deps(scoring()));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(outcome.failed).toEqual([]);
    expect(outcome.scoring).toEqual({
      endpoint: reason === 'model_error' ? WIDER_ENDPOINT : ENDPOINT,
      outcome: 'rules-only',
      reason,
      rowsScored: 0,
      rowsRulesOnly: 4,
      modelAlerts: 0,
    });
    expect(outcome).toMatchObject({ valid: 4, quarantined: 1 });
    expect(alertsOf(readings).map((a) => a.rule)).toEqual(['camera_overheating', 'camera_overheating']);
    await expectNothingLost(readings, sequenceNumbers[4] as string);
  });

  it('completes the batch with the rules only under throttling and timeouts', async () => {
    // Prepare: one client throttled on every call, one that never answers.
    const throttled = new SageMakerRuntimeClient({ region: 'us-east-1', credentials: CREDENTIALS });
    mockClient(throttled)
      .on(InvokeEndpointCommand)
      .rejects(
        Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        }),
      );
    const silent = new SageMakerRuntimeClient({ region: 'us-east-1', credentials: CREDENTIALS });
    mockClient(silent)
      .on(InvokeEndpointCommand)
      .callsFake(() => new Promise(() => undefined));
    const first = batch(400);
    const second = batch(410);

    // Act
    const throttledOutcome = await processKinesisBatch(first.event, deps(scoringWith({ client: throttled })));
    const silentOutcome = await processKinesisBatch(
      second.event,
      deps(scoringWith({ client: silent, callTimeoutMs: 20, maxAttempts: 2 })),
    );

    // Assess
    for (const [outcome, reason] of [
      [throttledOutcome, 'throttled'],
      [silentOutcome, 'timeout'],
    ] as const) {
      expect(outcome.response).toEqual({ batchItemFailures: [] });
      expect(outcome.scoring).toMatchObject({ outcome: 'rules-only', reason, rowsRulesOnly: 4 });
      expect(outcome).toMatchObject({ valid: 4, quarantined: 1 });
    }
    await expectNothingLost(first.readings, first.sequenceNumbers[4] as string);
    await expectNothingLost(second.readings, second.sequenceNumbers[4] as string);
  });

  it('stops calling after N failed batches across invocations, and scores again after the cooldown', async () => {
    // Prepare: the handler's deps built once, as in a warm execution environment.
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 60_000, now: () => now });
    const environment = deps(scoringWith({ breaker, maxAttempts: 1 }));
    runtime.setVariantAvailable(ENDPOINT, VARIANT, false);
    const calls = () => runtime.invocations[ENDPOINT]?.[VARIANT] ?? 0;
    const outcomes = [];

    // Act
    outcomes.push(await processKinesisBatch(batch(500).event, environment));
    outcomes.push(await processKinesisBatch(batch(510).event, environment));
    const before = calls();
    outcomes.push(await processKinesisBatch(batch(520).event, environment));
    const whileOpen = calls() - before;
    runtime.setVariantAvailable(ENDPOINT, VARIANT, true);
    now = 60_000;
    outcomes.push(await processKinesisBatch(batch(530).event, environment));

    // Assess
    expect(outcomes.map((o) => o.scoring?.reason ?? o.scoring?.outcome)).toEqual([
      'service_unavailable',
      'service_unavailable',
      'circuit_open',
      'scored',
    ]);
    expect(whileOpen).toBe(0);
    expect(outcomes.every((o) => o.response.batchItemFailures.length === 0)).toBe(true);
    expect(breaker.state).toBe('closed');
  });

  it('completes the batch with the rules only when the rows cannot be built', async () => {
    // Prepare
    const broken: AnomalyScoring = {
      ...scoringWith(),
      baselines: {
        lookup: async () => {
          throw new Error('a bug');
        },
      },
    };
    const { event, readings, sequenceNumbers } = batch(600);

    // Act
    const outcome = await processKinesisBatch(event, deps(broken));

    // Assess
    expect(outcome.response).toEqual({ batchItemFailures: [] });
    expect(outcome.scoring).toMatchObject({
      outcome: 'rules-only',
      reason: 'scoring_error',
      rowsRulesOnly: 4,
    });
    await expectNothingLost(readings, sequenceNumbers[4] as string);
  });
});

describe('scoring from the environment', () => {
  it('is off without an endpoint name', () => {
    expect(scoringFromEnvironment(clients.s3, {})).toBeUndefined();
    expect(scoringFromEnvironment(clients.s3, { [VALIDATOR_ENV.anomalyEndpoint]: ' ' })).toBeUndefined();
  });

  it('scores on the named endpoint with baselines from the curated bucket', () => {
    const scoring = scoringFromEnvironment(clients.s3, {
      [VALIDATOR_ENV.anomalyEndpoint]: 'sdap-anomaly',
      [VALIDATOR_ENV.curatedBucket]: CURATED,
      [VALIDATOR_ENV.baselineMaxAgeSeconds]: '600',
    });
    expect(scoring?.scorer).toMatchObject({ endpointName: 'sdap-anomaly', threshold: 0.5 });
  });

  it('fails when an endpoint is named without the curated bucket, or with a bad maximum age', () => {
    expect(() =>
      scoringFromEnvironment(clients.s3, { [VALIDATOR_ENV.anomalyEndpoint]: 'sdap-anomaly' }),
    ).toThrow(`environment variable ${VALIDATOR_ENV.curatedBucket} is required but not set`);
    expect(() =>
      scoringFromEnvironment(clients.s3, {
        [VALIDATOR_ENV.anomalyEndpoint]: 'sdap-anomaly',
        [VALIDATOR_ENV.curatedBucket]: CURATED,
        [VALIDATOR_ENV.baselineMaxAgeSeconds]: '15m',
      }),
    ).toThrow(
      `environment variable ${VALIDATOR_ENV.baselineMaxAgeSeconds}: received "15m", expected a positive integer`,
    );
  });
});
