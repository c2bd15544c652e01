/**
 * The registry-export handler: the middy adapter with the IoT API and S3 mocked. A scheduled run
 * writes both files and answers its summary; a failed run rejects (the Errors metric the alarm
 * watches) and writes nothing; the deployed handler takes its bucket from the environment.
 */
import { readFileSync } from 'node:fs';
import { IoTClient, ListThingsCommand, ThrottlingException } from '@aws-sdk/client-iot';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistryExportSummary } from '../../../lambdas/registry-export/export-registry.ts';
import { createHandler, handler, RUN_SAFETY_MARGIN_MS } from '../../../lambdas/registry-export/handler.ts';
import { REGISTRY_EXPORT_ENV } from '../../../lambdas/registry-export/names.ts';
import {
  IOT_REGISTRY_THING_GROUPS_KEY,
  IOT_REGISTRY_THINGS_KEY,
} from '../../../lambdas/shared/pipeline-names.ts';
import { simulateFleet } from '../../../simulator/simulate.ts';
import { mockIot, REGION, serveRegistry } from './registry-api.ts';

const RAW = 'sdap-test-raw';
const iot = mockIot();
const s3 = mockClient(S3Client);
const registry = simulateFleet({ devices: 120, seed: 9, durationHours: 1 }).registry();
const scheduled = JSON.parse(
  readFileSync(new URL('../../events/registry-export/scheduled.json', import.meta.url), 'utf8'),
);
const context = (remainingMs = 900_000) =>
  ({
    functionName: 'registry-export',
    awsRequestId: 'test',
    getRemainingTimeInMillis: () => remainingMs,
  }) as unknown as Context;
const testHandler = () =>
  createHandler(() => ({
    iot: new IoTClient({ region: REGION }),
    s3: new S3Client({ region: REGION }),
    rawBucket: RAW,
  }));

afterEach(() => {
  iot.reset();
  s3.reset();
  delete process.env[REGISTRY_EXPORT_ENV.rawBucket];
});

describe('registry-export handler', () => {
  it('exports the registry on a scheduled run and answers what it wrote', async () => {
    // Prepare
    serveRegistry(iot, registry);
    s3.on(PutObjectCommand).resolves({});

    // Act
    const summary = (await testHandler()(scheduled, context())) as RegistryExportSummary;

    // Assess
    expect(summary).toMatchObject({
      things: registry.things.length,
      thingGroups: registry.thingGroups.length,
      thingGroupsVanished: [],
    });
    expect(summary.objects.map((object) => object.key)).toEqual([
      IOT_REGISTRY_THING_GROUPS_KEY,
      IOT_REGISTRY_THINGS_KEY,
    ]);
    expect(
      s3.commandCalls(PutObjectCommand).map((call) => [call.args[0].input.Bucket, call.args[0].input.Key]),
    ).toEqual([
      [RAW, IOT_REGISTRY_THING_GROUPS_KEY],
      [RAW, IOT_REGISTRY_THINGS_KEY],
    ]);
    expect(summary.objects.every((object) => object.bytes > 0)).toBe(true);
  });

  it('fails, writing nothing, when the registry cannot be read whole', async () => {
    // Prepare
    serveRegistry(iot, registry);
    iot.on(ListThingsCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }));

    // Act
    const run = testHandler()(scheduled, context());

    // Assess
    await expect(run).rejects.toThrow('registry export: ListThings (page 1) failed: ThrottlingException');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it("fails with its own message when the invocation's time is nearly out", async () => {
    // Prepare
    serveRegistry(iot, registry);

    // Act
    const run = testHandler()({}, context(RUN_SAFETY_MARGIN_MS - 1));

    // Assess
    await expect(run).rejects.toThrow('registry export: out of time after reading 0 of');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('takes the raw bucket from the environment when deployed', async () => {
    // Prepare
    process.env[REGISTRY_EXPORT_ENV.rawBucket] = 'sdap-dev-raw';
    serveRegistry(iot, registry);
    s3.on(PutObjectCommand).resolves({});

    // Act
    await handler(scheduled, context());

    // Assess
    expect(new Set(s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Bucket))).toEqual(
      new Set(['sdap-dev-raw']),
    );
  });

  it('fails naming the variable when the bucket is not configured', async () => {
    await expect(handler(scheduled, context())).rejects.toThrow(
      `environment variable ${REGISTRY_EXPORT_ENV.rawBucket} is required but not set`,
    );
  });
});
