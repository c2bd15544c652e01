/**
 * The twin's SageMaker Runtime, driven by the real `@aws-sdk/client-sagemaker-runtime`: content
 * types, the invoked-variant header, TargetVariant, the weighted A/B split, and each error as the
 * SDK raises it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InvokeEndpointCommand,
  type InvokeEndpointCommandInput,
  ModelError,
  SageMakerRuntimeClient,
  ServiceUnavailable,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseXgboostModel, predict, type XgboostModel } from '../../lambdas/shared/xgboost.ts';
import {
  DEFAULT_ACCOUNT_ID,
  parseCsvRows,
  pythonFloat,
  type SageMakerRuntime,
  startSageMakerRuntime,
} from '../../local/sagemaker-runtime.ts';
import { Random } from '../../simulator/random.ts';
import { randomModelJson } from '../ml/xgboost-model-builder.ts';

const FEATURES = 6;
const ENDPOINT = 'anomaly-scoring';

let dir: string;
let runtime: SageMakerRuntime;
let client: SageMakerRuntimeClient;
const models: Record<string, XgboostModel> = {};

function writeModel(name: string, json: Record<string, unknown>): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(json));
  models[name] = parseXgboostModel(json);
  return path;
}

/** Rows of feature values with about one value in ten missing (an empty CSV field). */
function randomRows(count: number, seed: number): number[][] {
  const random = Random.fromSeed(seed).derive('rows');
  return Array.from({ length: count }, () =>
    Array.from({ length: FEATURES }, () => (random.chance(0.1) ? Number.NaN : random.uniform(-12, 12))),
  );
}

const toCsv = (rows: readonly (readonly number[])[]) =>
  rows.map((row) => row.map((value) => (Number.isNaN(value) ? '' : String(value))).join(',')).join('\n');

async function invoke(input: Partial<InvokeEndpointCommandInput> & { Body: string }) {
  const output = await client.send(
    new InvokeEndpointCommand({ EndpointName: ENDPOINT, ContentType: 'text/csv', ...input }),
  );
  // The SDK gives no Body (null) when the answer has none.
  return { ...output, text: output.Body ? new TextDecoder().decode(output.Body) : '' };
}

/** The error the SDK raises for a call, for assertions on its class and members. */
async function failure(input: Partial<InvokeEndpointCommandInput> & { Body: string }) {
  try {
    await invoke(input);
  } catch (error) {
    return error as Error & { $metadata: { httpStatusCode?: number } } & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sdap-sagemaker-runtime-'));
  const shape = { featureCount: FEATURES, trees: 30, depth: 4 } as const;
  const champion = writeModel('champion', randomModelJson(1, { objective: 'binary:logistic', ...shape }));
  const challenger = writeModel('challenger', randomModelJson(2, { objective: 'binary:logistic', ...shape }));
  const energy = writeModel('energy', randomModelJson(3, { objective: 'reg:tweedie', ...shape }));
  runtime = await startSageMakerRuntime({
    endpoints: {
      [ENDPOINT]: {
        variants: [
          { name: 'champion', weight: 3, modelPath: champion },
          { name: 'challenger', weight: 1, modelPath: challenger },
          { name: 'shadow', weight: 0, modelPath: challenger },
        ],
      },
      'energy-forecast': { variants: [{ name: 'AllTraffic', weight: 1, modelPath: energy }] },
    },
    seed: 7,
  });
  client = new SageMakerRuntimeClient({
    endpoint: runtime.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client?.destroy();
  await runtime?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the local SageMaker runtime', () => {
  it('answers text/csv with one score per line, from the model of the variant that served', async () => {
    // Prepare
    const rows = randomRows(3, 1);

    // Act
    const output = await invoke({ Body: toCsv(rows), TargetVariant: 'champion' });

    // Assess
    expect(output.ContentType).toBe('text/csv');
    expect(output.InvokedProductionVariant).toBe('champion');
    expect(output.text).toMatch(/^([^\n]+\n){3}$/);
    const champion = models.champion as XgboostModel;
    expect(output.text.trimEnd().split('\n').map(Number)).toEqual(rows.map((row) => predict(champion, row)));
  });

  it('answers a JSON array of scores when Accept asks for application/json', async () => {
    // Prepare
    const rows = randomRows(4, 2);

    // Act
    const output = await invoke({
      EndpointName: 'energy-forecast',
      Body: toCsv(rows),
      Accept: 'application/json',
    });

    // Assess
    expect(output.ContentType).toBe('application/json');
    expect(output.InvokedProductionVariant).toBe('AllTraffic');
    expect(JSON.parse(output.text)).toEqual(rows.map((row) => predict(models.energy as XgboostModel, row)));
  });

  it('serves the variant TargetVariant names, even one without traffic weight', async () => {
    // Prepare
    const rows = randomRows(5, 3);
    const challenger = models.challenger as XgboostModel;

    for (const variant of ['challenger', 'shadow']) {
      // Act
      const output = await invoke({ Body: toCsv(rows), TargetVariant: variant });

      // Assess
      expect(output.InvokedProductionVariant).toBe(variant);
      expect(output.text.trimEnd().split('\n').map(Number)).toEqual(
        rows.map((row) => predict(challenger, row)),
      );
    }
  });

  it('splits untargeted traffic by weight (3 : 1 : 0) and counts each variant', async () => {
    // Prepare
    const calls = 1000;
    const before = runtime.invocations[ENDPOINT] as Record<string, number>;
    const served: Record<string, number> = {};

    // Act
    for (let call = 0; call < calls; call++) {
      const output = await invoke({ Body: '1,2,3,4,5,6' });
      const variant = output.InvokedProductionVariant as string;
      served[variant] = (served[variant] ?? 0) + 1;
    }

    // Assess: 3.3σ of a 1000-call binomial share at 0.75 is 0.045.
    expect(Object.keys(served).sort()).toEqual(['challenger', 'champion']);
    expect((served.champion as number) / calls).toBeGreaterThan(0.75 - 0.045);
    expect((served.champion as number) / calls).toBeLessThan(0.75 + 0.045);
    const after = runtime.invocations[ENDPOINT] as Record<string, number>;
    expect((after.champion as number) - (before.champion as number)).toBe(served.champion);
    expect((after.challenger as number) - (before.challenger as number)).toBe(served.challenger);
    expect(after.shadow).toBe(before.shadow);
  });

  it('scores a batch of 500 rows in one call exactly as 500 calls of one row', async () => {
    // Prepare
    const rows = randomRows(500, 4);

    // Act
    const batch = await invoke({ Body: toCsv(rows), TargetVariant: 'champion' });
    const single: number[] = [];
    for (const row of rows) {
      const output = await invoke({ Body: toCsv([row]), TargetVariant: 'champion' });
      single.push(Number(output.text.trim()));
    }

    // Assess
    expect(rows.some((row) => row.some(Number.isNaN))).toBe(true);
    expect(batch.text.trimEnd().split('\n').map(Number)).toEqual(single);
  });

  it('fails with ValidationError (400) when the endpoint does not exist', async () => {
    const error = await failure({ EndpointName: 'no-such-endpoint', Body: '1,2,3,4,5,6' });
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe(`Endpoint no-such-endpoint of account ${DEFAULT_ACCOUNT_ID} not found.`);
  });

  it('fails with ValidationError (400) when TargetVariant names no variant of the endpoint', async () => {
    const error = await failure({ Body: '1,2,3,4,5,6', TargetVariant: 'canary' });
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(
      /TargetVariant canary is not a production variant of endpoint anomaly-scoring/,
    );
  });

  it('fails with ModelError (424) carrying the original 415 when a CSV row is malformed', async () => {
    // Act
    const error = await failure({ Body: '1,2,3,4,5,6\n1,2,oops,4,5,6', TargetVariant: 'champion' });

    // Assess
    expect(error).toBeInstanceOf(ModelError);
    expect(error.$metadata.httpStatusCode).toBe(424);
    expect(error.OriginalStatusCode).toBe(415);
    expect(error.OriginalMessage).toMatch(/row 2, column 3: could not convert string to float: 'oops'/);
    expect(error.message).toMatch(
      /^Received client error \(415\) from primary with message ".*"\. See https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudwatch\/.*group=\/aws\/sagemaker\/Endpoints\/anomaly-scoring in account 000000000000 for more information\.$/s,
    );
    expect(error.LogStreamArn).toBe(
      `arn:aws:logs:us-east-1:${DEFAULT_ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/anomaly-scoring`,
    );
  });

  it.each([
    ['rows of different lengths', { Body: '1,2,3,4,5,6\n1,2,3' }, 415, /row 2 has 3 values, row 1 has 6/],
    ['an infinite value', { Body: '1,2,inf,4,5,6' }, 415, /inf, which xgboost does not accept/],
    [
      'a row of 5 features for a model of 6',
      { Body: '1,2,3,4,5' },
      400,
      /expected 6 feature values, received 5/,
    ],
    [
      'a body that is not CSV',
      { Body: '{"a":1}', ContentType: 'application/json' },
      415,
      /application\/json is not an accepted ContentType/,
    ],
    [
      'an Accept the container cannot write',
      { Body: '1,2,3,4,5,6', Accept: 'application/x-recordio-protobuf' },
      406,
      /Accept type application\/x-recordio-protobuf is not supported/,
    ],
  ])('fails with ModelError for %s', async (_label, input, originalStatus, message) => {
    const error = await failure(input);
    expect(error).toBeInstanceOf(ModelError);
    expect(error.OriginalStatusCode).toBe(originalStatus);
    expect(error.OriginalMessage).toMatch(message);
  });

  it('fails with ServiceUnavailable (503) while the variant that serves is marked unavailable', async () => {
    // Prepare
    runtime.setVariantAvailable(ENDPOINT, 'challenger', false);
    try {
      // Act
      const error = await failure({ Body: '1,2,3,4,5,6', TargetVariant: 'challenger' });
      const healthy = await invoke({ Body: '1,2,3,4,5,6', TargetVariant: 'champion' });

      // Assess
      expect(error).toBeInstanceOf(ServiceUnavailable);
      expect(error.$metadata.httpStatusCode).toBe(503);
      expect(healthy.InvokedProductionVariant).toBe('champion');
    } finally {
      runtime.setVariantAvailable(ENDPOINT, 'challenger', true);
    }
    expect(
      (await invoke({ Body: '1,2,3,4,5,6', TargetVariant: 'challenger' })).InvokedProductionVariant,
    ).toBe('challenger');
  });

  it('answers an empty body with an empty body', async () => {
    const output = await invoke({ Body: '' });
    expect(output.text).toBe('');
    expect(output.InvokedProductionVariant).toBeDefined();
  });
});

describe('starting the local SageMaker runtime', () => {
  it('fails on bad options, naming the option, the value and what is expected', async () => {
    await expect(
      startSageMakerRuntime({
        endpoints: { scoring: { variants: [{ name: 'a', weight: -1, modelPath: 'm.json' }] } },
      }),
    ).rejects.toThrow(
      'SageMaker runtime options: endpoints.scoring.variants.0.weight: received -1, expected a weight >= 0',
    );
    await expect(
      startSageMakerRuntime({
        endpoints: {
          scoring: {
            variants: [
              { name: 'a', weight: 0, modelPath: 'm.json' },
              { name: 'a', weight: 0, modelPath: 'm.json' },
            ],
          },
        },
      }),
    ).rejects.toThrow(
      /variants\.1\.name: received "a", expected a variant name not used before[\s\S]*at least one variant with a weight > 0/,
    );
  });

  it('fails when a model cannot be loaded, naming the endpoint, the variant and the file', async () => {
    const path = join(dir, 'missing.json');
    await expect(
      startSageMakerRuntime({
        endpoints: { scoring: { variants: [{ name: 'a', weight: 1, modelPath: path }] } },
      }),
    ).rejects.toThrow(`SageMaker runtime: endpoint scoring, variant a: ENOENT`);
  });
});

describe('the container formats', () => {
  it('writes scores as Python writes floats', () => {
    const cases: [number, string][] = [
      [0.1, '0.1'],
      [1e-5, '1e-05'],
      [1e-4, '0.0001'],
      [0.00012, '0.00012'],
      [5, '5.0'],
      [-2.5e-7, '-2.5e-07'],
      [1e15, '1000000000000000.0'],
      [1e16, '1e+16'],
      [123456789012345680, '1.2345678901234568e+17'],
      [1.5e300, '1.5e+300'],
      [2 ** -149, '1.401298464324817e-45'],
      [0.250647708773613, '0.250647708773613'],
    ];
    for (const [value, text] of cases) expect(pythonFloat(value), String(value)).toBe(text);
  });

  it('reads CSV as the container does: empty fields and nan are missing, whitespace around numbers is fine', () => {
    const rows = parseCsvRows(' 1, 2.5e1,,nan,-.5\r\n3,4,5,6,7\n');
    expect(rows).toEqual([
      [1, 25, Number.NaN, Number.NaN, -0.5],
      [3, 4, 5, 6, 7],
    ]);
  });
});
