/**
 * The fault proxies answer as the degraded AWS endpoint would, so the SDK and the twin's parts see
 * the real error shapes: Kinesis refuses PutRecords entries one by one inside a 200 answer and
 * GetRecords calls with a 400, both `ProvisionedThroughputExceededException`; an outage window fails
 * exactly the requests it covers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetRecordsCommand, GetShardIteratorCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyScoringError } from '../../lambdas/shared/anomaly-scorer.ts';
import { createSageMakerRuntimeClient } from '../../lambdas/shared/aws-clients.ts';
import {
  SAGEMAKER_MODEL_NOT_READY,
  SAGEMAKER_SERVICE_UNAVAILABLE,
  startFaultProxy,
  startKinesisFaultProxy,
} from '../../local/fault-proxy.ts';
import { type KinesisStandIn, startKinesisStandIn } from '../../local/kinesis-stand-in.ts';
import { readShard } from './kinesis-test-kit.ts';

let kinesis: KinesisStandIn;
let upstream: Server;
let upstreamUrl: string;

beforeAll(async () => {
  kinesis = await startKinesisStandIn({ streamName: 'throttled', shardCount: 1 });
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await kinesis?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

const entries = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ Data: Buffer.from(`record-${i}`), PartitionKey: 'device-1' }));

describe('Kinesis fault proxy', () => {
  it('refuses PutRecords entries one by one, writing the others in order', async () => {
    const proxy = await startKinesisFaultProxy({ target: kinesis.endpoint, throttleRate: 0.5, seed: 3 });
    const client = kinesis.createClient({ endpoint: proxy.endpoint });
    try {
      const out = await client.send(new PutRecordsCommand({ StreamName: 'throttled', Records: entries(40) }));

      const refused = (out.Records ?? []).filter((r) => r.ErrorCode !== undefined);
      expect(out.Records).toHaveLength(40);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.length).toBeLessThan(40);
      expect(out.FailedRecordCount).toBe(refused.length);
      expect(proxy.throttled.putRecordsEntries).toBe(refused.length);
      for (const record of refused) {
        expect(record).toMatchObject({ ErrorCode: 'ProvisionedThroughputExceededException' });
        expect(record.SequenceNumber).toBeUndefined();
      }
      const written = (out.Records ?? []).flatMap((r, i) => (r.SequenceNumber ? [`record-${i}`] : []));
      const read = await readShard(kinesis.createClient(), 'throttled', 'shardId-000000000000');
      expect(read.map((r) => Buffer.from(r.Data ?? []).toString())).toEqual(written);
    } finally {
      await proxy.close();
    }
  });

  it('answers a throttled GetRecords call 400 ProvisionedThroughputExceededException', async () => {
    const proxy = await startKinesisFaultProxy({ target: kinesis.endpoint, throttleRate: 1 });
    const client = kinesis.createClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      const { ShardIterator } = await client.send(
        new GetShardIteratorCommand({
          StreamName: 'throttled',
          ShardId: 'shardId-000000000000',
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );

      const error = await client.send(new GetRecordsCommand({ ShardIterator })).catch((e: unknown) => e);

      expect(error).toMatchObject({
        name: 'ProvisionedThroughputExceededException',
        $metadata: { httpStatusCode: 400 },
      });
      expect(proxy.throttled.getRecordsCalls).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

describe('fault proxy with a fixed answer', () => {
  it('fails exactly the matching requests the window covers, with the answer given', async () => {
    const proxy = await startFaultProxy({
      target: upstreamUrl,
      failureRate: 0,
      matches: ({ method }) => method === 'POST',
      answer: SAGEMAKER_SERVICE_UNAVAILABLE,
      outage: { fromRequest: 2, requests: 2 },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        if (i === 2) await fetch(proxy.endpoint); // a GET does not match, so does not count
        const answer = await fetch(proxy.endpoint, { method: 'POST', body: 'x' });
        statuses.push(answer.status);
        if (answer.status === 503) expect(answer.headers.get('x-amzn-errortype')).toBe('ServiceUnavailable');
        await answer.arrayBuffer();
      }

      expect(statuses).toEqual([200, 503, 503, 200, 200]);
      expect(proxy.stats).toEqual({ forwarded: 4, failed: 2 });
    } finally {
      await proxy.close();
    }
  });

  it.each([
    { answer: SAGEMAKER_SERVICE_UNAVAILABLE, name: 'ServiceUnavailable', reason: 'service_unavailable' },
    { answer: SAGEMAKER_MODEL_NOT_READY, name: 'ModelNotReadyException', reason: 'model_not_ready' },
  ])(
    'answers InvokeEndpoint so that the SDK raises $name, which the scorer retries',
    async ({ answer, name, reason }) => {
      const proxy = await startFaultProxy({
        target: upstreamUrl,
        failureRate: 1,
        matches: ({ method }) => method === 'POST',
        answer,
      });
      const client = createSageMakerRuntimeClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        sageMakerRuntimeEndpoint: proxy.endpoint,
      });
      try {
        const error = await client
          .send(new InvokeEndpointCommand({ EndpointName: 'anomaly', Body: '1,2', ContentType: 'text/csv' }))
          .catch((e: unknown) => e);

        expect(error).toMatchObject({ name });
        expect(classifyScoringError(error)).toEqual({ reason, retryable: true });
      } finally {
        client.destroy();
        await proxy.close();
      }
    },
  );

  it('fails when the rate is out of range, naming the value', async () => {
    await expect(startFaultProxy({ target: upstreamUrl, failureRate: 1.5 })).rejects.toThrow(
      'failure rate: received 1.5, expected a number from 0 to 1',
    );
  });
});
