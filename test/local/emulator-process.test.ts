/**
 * The emulators in child processes: the same APIs as in process, a clean stop, and a clear error
 * when a child cannot start.
 */

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSageMakerRuntimeClient, createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { parseXgboostModel, predictRows } from '../../lambdas/shared/xgboost.ts';
import { startEmulatorProcess } from '../../local/emulator-process.ts';
import { startKinesisStandIn } from '../../local/kinesis-stand-in.ts';
import { startS3StandIn } from '../../local/s3-stand-in.ts';
import { committedModelPath, featureNames, loadModelSpec } from '../../ml/model-spec.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('emulators in child processes', () => {
  let occupied: Server;

  beforeAll(async () => {
    occupied = createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => occupied.close(() => resolve())));

  it('serves the Kinesis API from a child process, with the stream created and active', async () => {
    const kinesis = await startKinesisStandIn({
      streamName: 'child-stream',
      shardCount: 3,
      inChildProcess: true,
    });
    try {
      const { StreamDescriptionSummary: summary } = await kinesis
        .createClient()
        .send(new DescribeStreamSummaryCommand({ StreamName: 'child-stream' }));
      expect(summary).toMatchObject({ StreamStatus: 'ACTIVE', OpenShardCount: 3 });
      expect(kinesis.shardIds).toHaveLength(3);
    } finally {
      await kinesis.close();
    }
  }, 30_000);

  it('serves the S3 API from a child process with the requested buckets', async () => {
    const s3 = await startS3StandIn({ buckets: ['child-a', 'child-b'], inChildProcess: true });
    try {
      const { Buckets: buckets = [] } = await createValidatorClients(s3.clientOverrides).s3.send(
        new ListBucketsCommand({}),
      );
      expect(buckets.map((b) => b.Name).sort()).toEqual(['child-a', 'child-b']);
    } finally {
      await s3.close();
    }
  }, 30_000);

  it('serves InvokeEndpoint from a child process, scoring as the model does', async () => {
    // Prepare: the committed anomaly model and a few rows of its width.
    const modelPath = committedModelPath('anomaly');
    const width = featureNames(loadModelSpec().models.anomaly).length;
    const rows = [0, 1, 2].map((r) => Array.from({ length: width }, (_, i) => ((i + 1) * (r + 3)) % 7));
    const runtime = await startEmulatorProcess('sagemaker', {
      endpoints: { anomaly: { variants: [{ name: 'AllTraffic', weight: 1, modelPath }] } },
    });
    try {
      // Act
      const response = await createSageMakerRuntimeClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        sageMakerRuntimeEndpoint: `http://127.0.0.1:${runtime.port}`,
      }).send(
        new InvokeEndpointCommand({
          EndpointName: 'anomaly',
          ContentType: 'text/csv',
          Body: rows.map((row) => row.join(',')).join('\n'),
        }),
      );

      // Assess
      const scores = new TextDecoder().decode(response.Body).trim().split('\n').map(Number);
      const expected = predictRows(parseXgboostModel(readFileSync(modelPath, 'utf8')), rows);
      expect(response.InvokedProductionVariant).toBe('AllTraffic');
      expect(scores).toHaveLength(rows.length);
      for (const [i, score] of scores.entries()) expect(score).toBeCloseTo(expected[i] as number, 6);
    } finally {
      await runtime.close();
    }
    expect(isAlive(runtime.pid)).toBe(false);
  }, 30_000);

  it('stops the child process on close', async () => {
    const child = await startEmulatorProcess('kinesalite', {
      createStreamMs: 0,
      deleteStreamMs: 0,
      updateStreamMs: 0,
      shardLimit: 10,
      port: 0,
    });
    expect(isAlive(child.pid)).toBe(true);

    await child.close();

    expect(isAlive(child.pid)).toBe(false);
  }, 30_000);

  it('fails with the emulator and the reason when the child cannot listen', async () => {
    const port = (occupied.address() as AddressInfo).port;

    const start = startS3StandIn({ buckets: ['x'], port, inChildProcess: true });

    await expect(start).rejects.toThrow(/s3rver child process: .*EADDRINUSE/);
  }, 30_000);
});
