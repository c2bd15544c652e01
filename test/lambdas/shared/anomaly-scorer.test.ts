/**
 * The anomaly scorer against the twin's SageMaker runtime through the real SDK client: scores equal
 * the TypeScript scorer's on the same rows; each endpoint error is retried or not as it deserves,
 * the breaker opens and half-opens on an injected clock, and no failure escapes as an exception.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  anomalyFeatureNames,
  anomalyFeatureRow,
  type FeatureValue,
} from '../../../lambdas/shared/anomaly-features.ts';
import {
  AnomalyScorer,
  type AnomalyScorerOptions,
  CircuitBreaker,
  circuitBreakerFor,
  classifyScoringError,
  featureRowsCsv,
  type ScorerClock,
  type SingleMetricSink,
} from '../../../lambdas/shared/anomaly-scorer.ts';
import { createSageMakerRuntimeClient } from '../../../lambdas/shared/aws-clients.ts';
import { DEVICE_TYPES } from '../../../lambdas/shared/contract.ts';
import { parseXgboostModel, predict, type XgboostModel } from '../../../lambdas/shared/xgboost.ts';
import { type SageMakerRuntime, startSageMakerRuntime } from '../../../local/sagemaker-runtime.ts';
import { Random } from '../../../simulator/random.ts';
import { randomModelJson } from '../../ml/xgboost-model-builder.ts';
import { makeReading } from '../../support/readings.ts';

const ENDPOINT = 'anomaly';
const WIDER_ENDPOINT = 'anomaly-wider';
const VARIANT = 'AllTraffic';
const FEATURES = anomalyFeatureNames().length;
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

let dir: string;
let runtime: SageMakerRuntime;
let client: SageMakerRuntimeClient;
let model: XgboostModel;

/** Feature rows of real readings of every type (with and without a baseline), then random rows with gaps. */
function featureRows(count: number, seed: number): FeatureValue[][] {
  const at = '2026-11-27T17:04:58.000Z';
  const readings = DEVICE_TYPES.flatMap((type, i) => [
    anomalyFeatureRow(makeReading(type, i, at), undefined),
    anomalyFeatureRow(makeReading(type, i + 10, at), {
      deviceId: 'd',
      baselineHours: 100,
      metricMean: 21,
      metricStddev: 0.7,
      rssiMeanDbm: -55,
    }),
  ]);
  const random = Random.fromSeed(seed).derive('scorer-rows');
  const randomRows = Array.from({ length: count }, () =>
    Array.from({ length: FEATURES }, () =>
      random.chance(0.15)
        ? null
        : random.chance(0.3)
          ? Math.fround(random.uniform(-10, 10))
          : random.uniform(-12, 12),
    ),
  );
  return [...readings, ...randomRows];
}

/** A metrics sink that keeps every single metric with its dimensions. */
function metricsRecorder() {
  const published: Array<{ name: string; unit: string; value: number; dimensions: Record<string, string> }> =
    [];
  const sink: SingleMetricSink = {
    singleMetric() {
      const dimensions: Record<string, string> = {};
      return {
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

/** A clock whose sleeps take no time and are remembered. */
function fakeClock(startMs = 0) {
  const sleeps: number[] = [];
  const clock: ScorerClock & { nowMs: number } = {
    nowMs: startMs,
    now: () => clock.nowMs,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
  return { clock, sleeps };
}

function scorer(overrides: Partial<AnomalyScorerOptions> = {}) {
  const { clock, sleeps } = fakeClock();
  const { published, sink } = metricsRecorder();
  const instance = new AnomalyScorer({
    client,
    endpointName: ENDPOINT,
    threshold: 0.5,
    breaker: new CircuitBreaker({ now: clock.now }),
    clock,
    random: () => 0.5,
    metrics: sink,
    ...overrides,
  });
  return { scorer: instance, clock, sleeps, published };
}

const invocations = (endpoint = ENDPOINT) => runtime.invocations[endpoint]?.[VARIANT] ?? 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sdap-anomaly-scorer-'));
  const json = randomModelJson(11, {
    objective: 'binary:logistic',
    featureCount: FEATURES,
    trees: 40,
    depth: 5,
  });
  const path = join(dir, 'anomaly.json');
  writeFileSync(path, JSON.stringify(json));
  model = parseXgboostModel(json);
  const wider = join(dir, 'wider.json');
  writeFileSync(
    wider,
    JSON.stringify(
      randomModelJson(12, { objective: 'binary:logistic', featureCount: FEATURES + 1, trees: 2, depth: 2 }),
    ),
  );
  runtime = await startSageMakerRuntime({
    endpoints: {
      [ENDPOINT]: { variants: [{ name: VARIANT, weight: 1, modelPath: path }] },
      [WIDER_ENDPOINT]: { variants: [{ name: VARIANT, weight: 1, modelPath: wider }] },
    },
  });
  client = createSageMakerRuntimeClient({
    region: 'us-east-1',
    credentials: CREDENTIALS,
    sageMakerRuntimeEndpoint: runtime.url,
  });
});
afterAll(async () => {
  client?.destroy();
  await runtime?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  runtime.setVariantAvailable(ENDPOINT, VARIANT, true);
});

describe('AnomalyScorer against the local SageMaker runtime', () => {
  it('scores a whole batch in one call, each score equal to the TypeScript scorer on the same row', async () => {
    // Prepare
    const rows = featureRows(300, 1);
    const { scorer: anomaly, published } = scorer();
    const before = invocations();

    // Act
    const result = await anomaly.score(rows);

    // Assess
    expect(result).toMatchObject({ outcome: 'scored', variant: VARIANT, attempts: 1 });
    expect(invocations() - before).toBe(1);
    expect(result.outcome === 'scored' && result.scores).toEqual(rows.map((row) => predict(model, row)));
    const high = rows.filter((row) => predict(model, row) >= 0.5).length;
    expect(high).toBeGreaterThan(0);
    expect(high).toBeLessThan(rows.length);
    expect(published).toEqual([
      { name: 'RowsScored', unit: 'Count', value: rows.length, dimensions: { Model: 'anomaly' } },
      {
        name: 'HighScoreShare',
        unit: 'Percent',
        value: (100 * high) / rows.length,
        dimensions: { Model: 'anomaly' },
      },
    ]);
  });

  it('splits rows over several calls only when one call would exceed the payload limit', async () => {
    // Prepare
    const rows = featureRows(60, 2);
    const { scorer: anomaly } = scorer({ maxCallBytes: 2000 });
    const before = invocations();

    // Act
    const result = await anomaly.score(rows);

    // Assess
    expect(invocations() - before).toBeGreaterThan(1);
    expect(result.outcome === 'scored' && result.scores).toEqual(rows.map((row) => predict(model, row)));
  });

  it('retries ServiceUnavailable with jittered backoff, then leaves the batch to the rules', async () => {
    // Prepare
    runtime.setVariantAvailable(ENDPOINT, VARIANT, false);
    const { scorer: anomaly, sleeps, published } = scorer({ maxAttempts: 3 });
    const before = invocations();

    // Act
    const result = await anomaly.score(featureRows(5, 3));

    // Assess: 3 calls, 2 backoffs of half (the jitter) of 100 and 200 ms.
    expect(result).toMatchObject({ outcome: 'rules-only', reason: 'service_unavailable', attempts: 3 });
    expect(invocations() - before).toBe(3);
    expect(sleeps).toEqual([50, 100]);
    expect(published).toEqual([
      { name: 'RowsRulesOnly', unit: 'Count', value: 13, dimensions: { Model: 'anomaly' } },
      {
        name: 'RulesOnlyBatches',
        unit: 'Count',
        value: 1,
        dimensions: { Model: 'anomaly', Reason: 'service_unavailable' },
      },
    ]);
  });

  it('does not retry a ModelError: the model refused the rows', async () => {
    // Prepare: a model of one more feature than the rows carry (the runtime refuses short rows).
    const { scorer: anomaly, sleeps } = scorer({ endpointName: WIDER_ENDPOINT });
    const before = invocations(WIDER_ENDPOINT);

    // Act
    const result = await anomaly.score(featureRows(2, 4));

    // Assess
    expect(result).toMatchObject({ outcome: 'rules-only', reason: 'model_error', attempts: 1 });
    expect(result.outcome === 'rules-only' && result.detail).toContain(
      `expected ${FEATURES + 1} feature values, received ${FEATURES}`,
    );
    expect(invocations(WIDER_ENDPOINT) - before).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('does not retry a ValidationError (no such endpoint)', async () => {
    const { scorer: anomaly } = scorer({ endpointName: 'no-such-endpoint' });
    const result = await anomaly.score(featureRows(1, 5));
    expect(result).toMatchObject({ outcome: 'rules-only', reason: 'validation_error', attempts: 1 });
  });

  it('gives up on a call after its timeout, aborting the request, and retries it', async () => {
    // Prepare: an endpoint that accepts requests and never answers.
    const requests: string[] = [];
    const closed: string[] = [];
    const stalled: Server = createServer((request) => {
      requests.push(request.url ?? '');
      request.socket.on('close', () => closed.push(request.url ?? ''));
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const stalledClient = createSageMakerRuntimeClient({
      region: 'us-east-1',
      credentials: CREDENTIALS,
      sageMakerRuntimeEndpoint: `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`,
    });
    try {
      const { scorer: anomaly } = scorer({ client: stalledClient, callTimeoutMs: 100, maxAttempts: 2 });

      // Act
      const result = await anomaly.score(featureRows(1, 6));

      // Assess
      expect(result).toMatchObject({ outcome: 'rules-only', reason: 'timeout', attempts: 2 });
      expect(requests).toHaveLength(2);
      await expect.poll(() => closed.length).toBe(2);
    } finally {
      stalledClient.destroy();
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  it('leaves the batch to the rules when nothing listens (a network error), after retries', async () => {
    const unreachable = createSageMakerRuntimeClient({
      region: 'us-east-1',
      credentials: CREDENTIALS,
      sageMakerRuntimeEndpoint: 'http://127.0.0.1:1',
    });
    const { scorer: anomaly } = scorer({ client: unreachable });
    const result = await anomaly.score(featureRows(1, 7));
    unreachable.destroy();
    expect(result).toMatchObject({ outcome: 'rules-only', reason: 'network_error', attempts: 3 });
  });
});

describe('AnomalyScorer under injected throttling and bad answers', () => {
  const mocked = new SageMakerRuntimeClient({ region: 'us-east-1', credentials: CREDENTIALS });
  const sagemaker = mockClient(mocked);
  const error = (name: string, status: number) =>
    Object.assign(new Error(`${name} injected`), { name, $metadata: { httpStatusCode: status } });
  const answer = (text: string) => ({
    Body: new TextEncoder().encode(text) as never,
    ContentType: 'text/csv',
    InvokedProductionVariant: VARIANT,
    $metadata: {},
  });

  beforeEach(() => sagemaker.reset());

  it('retries throttling and ModelNotReady, and scores when a later attempt succeeds', async () => {
    // Prepare
    sagemaker
      .on(InvokeEndpointCommand)
      .rejectsOnce(error('ThrottlingException', 400))
      .rejectsOnce(error('ModelNotReadyException', 429))
      .resolves(answer('0.25\n0.75\n'));
    const { scorer: anomaly, sleeps } = scorer({ client: mocked });

    // Act
    const result = await anomaly.score([[1], [2]]);

    // Assess
    expect(result).toMatchObject({
      outcome: 'scored',
      scores: [0.25, 0.75],
      attempts: 3,
      highScoreShare: 50,
    });
    expect(sleeps).toHaveLength(2);
    const input = sagemaker.commandCalls(InvokeEndpointCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ EndpointName: ENDPOINT, ContentType: 'text/csv', Accept: 'text/csv' });
    expect(new TextDecoder().decode(input?.Body as Uint8Array)).toBe('1\n2');
  });

  it('leaves the batch to the rules when throttling outlasts its attempts', async () => {
    sagemaker.on(InvokeEndpointCommand).rejects(error('ThrottlingException', 400));
    const { scorer: anomaly } = scorer({ client: mocked, maxAttempts: 4 });
    const result = await anomaly.score([[1]]);
    expect(result).toMatchObject({ outcome: 'rules-only', reason: 'throttled', attempts: 4 });
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(4);
  });

  it('does not retry an answer that is not one score per row', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answer('0.5\n'));
    const { scorer: anomaly } = scorer({ client: mocked });
    const result = await anomaly.score([[1], [2]]);
    expect(result).toMatchObject({ outcome: 'rules-only', reason: 'bad_response', attempts: 1 });
  });

  it('reads the comma-separated answer of containers before 2022', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answer('0.1,0.9'));
    const { scorer: anomaly } = scorer({ client: mocked });
    expect(await anomaly.score([[1], [2]])).toMatchObject({ outcome: 'scored', scores: [0.1, 0.9] });
  });

  it('classifies every error the service documents', () => {
    expect(classifyScoringError(error('InternalFailure', 500))).toEqual({
      reason: 'internal_failure',
      retryable: true,
    });
    expect(classifyScoringError(error('InternalDependencyException', 530))).toEqual({
      reason: 'internal_failure',
      retryable: true,
    });
    expect(classifyScoringError(error('ServiceUnavailable', 503))).toEqual({
      reason: 'service_unavailable',
      retryable: true,
    });
    expect(classifyScoringError(error('AccessDeniedException', 403))).toEqual({
      reason: 'client_error',
      retryable: false,
    });
    expect(classifyScoringError(error('SomethingElse', 429))).toEqual({
      reason: 'throttled',
      retryable: true,
    });
  });

  it('writes missing values as empty fields and numbers as the shortest text of their double', () => {
    expect(featureRowsCsv([[1, null, 0.1, -2.5e-7, 1e21, Number.NaN, 20.123456]])).toEqual([
      '1,,0.1,-2.5e-7,1e+21,,20.123456',
    ]);
  });
});

describe('the circuit breaker', () => {
  it('opens after N consecutive failed batches, refuses calls for the cooldown, then lets one batch try', async () => {
    // Prepare
    runtime.setVariantAvailable(ENDPOINT, VARIANT, false);
    const { clock } = fakeClock(1_000_000);
    const breaker = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 30_000, now: clock.now });
    const { scorer: anomaly, published } = scorer({ breaker, clock, maxAttempts: 1 });
    const rows = featureRows(1, 8);

    // Act + Assess: two failed batches open it.
    expect(await anomaly.score(rows)).toMatchObject({ reason: 'service_unavailable' });
    expect(breaker.state).toBe('closed');
    expect(await anomaly.score(rows)).toMatchObject({ reason: 'service_unavailable' });
    expect(breaker.state).toBe('open');

    // Open: no call reaches the endpoint, even once it is back.
    runtime.setVariantAvailable(ENDPOINT, VARIANT, true);
    const before = invocations();
    clock.nowMs += 29_999;
    expect(await anomaly.score(rows)).toMatchObject({
      outcome: 'rules-only',
      reason: 'circuit_open',
      attempts: 0,
    });
    expect(invocations()).toBe(before);

    // Half-open after the cooldown: one batch tries, succeeds, and closes it.
    clock.nowMs += 1;
    expect(breaker.state).toBe('half-open');
    expect(await anomaly.score(rows)).toMatchObject({ outcome: 'scored' });
    expect(invocations()).toBe(before + 1);
    expect(breaker.state).toBe('closed');
    expect(published.filter((m) => m.name === 'RulesOnlyBatches').map((m) => m.dimensions.Reason)).toEqual([
      'service_unavailable',
      'service_unavailable',
      'circuit_open',
    ]);
  });

  it('opens again for a whole cooldown when the half-open trial fails, and admits one trial at a time', () => {
    // Prepare
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 100, now: () => now });
    breaker.onFailure();
    now = 100;

    // Act + Assess
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    breaker.onFailure();
    expect(breaker.state).toBe('open');
    now = 199;
    expect(breaker.tryAcquire()).toBe(false);
    now = 200;
    expect(breaker.tryAcquire()).toBe(true);
    breaker.onSuccess();
    expect([breaker.state, breaker.failures]).toEqual(['closed', 0]);
  });

  it('counts only consecutive failures: a scored batch resets the count', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3 });
    breaker.onFailure();
    breaker.onFailure();
    breaker.onSuccess();
    breaker.onFailure();
    breaker.onFailure();
    expect(breaker.state).toBe('closed');
  });

  it('is kept per endpoint in module scope, shared by every scorer of the execution environment', async () => {
    // Prepare
    const name = 'shared-breaker-endpoint';
    const first = new AnomalyScorer({ client, endpointName: name, threshold: 0.5, maxAttempts: 1 });
    const second = new AnomalyScorer({ client, endpointName: name, threshold: 0.5, maxAttempts: 1 });

    // Act
    for (let i = 0; i < 3; i++) await first.score([[1]]);

    // Assess
    expect(second.breaker).toBe(first.breaker);
    expect(circuitBreakerFor(name)).toBe(first.breaker);
    expect(await second.score([[1]])).toMatchObject({ reason: 'circuit_open' });
  });
});
