/**
 * Canary for the Kinesis stand-in: the kinesalite behaviour the event source mapping and the twin
 * rely on. If an upgrade changes any of it, this fails before the mapping's tests do.
 */

import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import { GetRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KinesisStandIn, startKinesisStandIn } from '../../local/kinesis-stand-in.ts';
import { hashKeyOfShard, putRecords, readShard, shardIterator, sleep } from './kinesis-test-kit.ts';

let kinesis: KinesisStandIn;

beforeAll(async () => {
  kinesis = await startKinesisStandIn({ streamName: 'canary', shardCount: 4 });
});
afterAll(async () => {
  await kinesis?.close();
});

const isAscending = (sequenceNumbers: readonly string[]) =>
  sequenceNumbers.every(
    (sequence, i) => i === 0 || BigInt(sequence) > BigInt(sequenceNumbers[i - 1] as string),
  );

describe('Kinesis stand-in (kinesalite canary)', () => {
  it('creates the stream ACTIVE with the requested shards and a Kinesis stream ARN', () => {
    expect(kinesis.streamName).toBe('canary');
    expect(kinesis.streamArn).toMatch(/^arn:aws:kinesis:[a-z0-9-]+:\d{12}:stream\/canary$/);
    expect(kinesis.region).toBe(kinesis.streamArn.split(':')[3]);
    expect(kinesis.shardIds).toEqual([0, 1, 2, 3].map((i) => `shardId-00000000000${i}`));
    expect(kinesis.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('runs in memory without loading the native leveldown module', () => {
    const require = createRequire(import.meta.url);
    const loaded = Object.keys(require.cache);
    expect(loaded.some((path) => path.includes('/memdown/'))).toBe(true);
    expect(loaded.some((path) => path.includes('/leveldown/'))).toBe(false);
  });

  it('assigns increasing sequence numbers per shard, within and across PutRecords calls', async () => {
    const client = kinesis.createClient();
    const stream = await kinesis.createStream({ streamName: 'canary-sequence', shardCount: 2 });
    const results = [];
    for (let call = 0; call < 3; call++) {
      results.push(
        ...(await putRecords(
          client,
          stream.streamName,
          Array.from({ length: 10 }, (_, i) => ({ data: `${call}-${i}`, partitionKey: `device-${i % 4}` })),
        )),
      );
    }
    for (const shardId of stream.shardIds) {
      const put = results.filter((r) => r.shardId === shardId).map((r) => r.sequenceNumber);
      expect(isAscending(put)).toBe(true);
      // What GetRecords returns is exactly what PutRecords reported, in the same order.
      const read = (await readShard(client, stream.streamName, shardId)).map((r) => r.SequenceNumber);
      expect(read).toEqual(put);
    }
  });

  it('keeps a partition key on one shard and places an ExplicitHashKey on the shard owning it', async () => {
    const client = kinesis.createClient();
    const sameKey = await putRecords(
      client,
      kinesis.streamName,
      Array.from({ length: 5 }, (_, i) => ({ data: `k${i}`, partitionKey: 'thermostat-7' })),
    );
    expect(new Set(sameKey.map((r) => r.shardId)).size).toBe(1);
    for (const [index, shardId] of kinesis.shardIds.entries()) {
      const [placed] = await putRecords(client, kinesis.streamName, [
        { data: 'h', explicitHashKey: hashKeyOfShard(index, kinesis.shardIds.length) },
      ]);
      expect(placed?.shardId).toBe(shardId);
    }
  });

  it('serves the iterator types the mapping uses: TRIM_HORIZON, LATEST, AT_ and AFTER_SEQUENCE_NUMBER', async () => {
    const client = kinesis.createClient();
    const stream = await kinesis.createStream({ streamName: 'canary-iterators', shardCount: 1 });
    const shardId = stream.shardIds[0] as string;
    const before = await putRecords(client, stream.streamName, [{ data: 'a' }, { data: 'b' }, { data: 'c' }]);
    const latest = await shardIterator(client, stream.streamName, shardId, 'LATEST');
    const after = await putRecords(client, stream.streamName, [{ data: 'd' }]);
    const sequences = async (iterator: string) =>
      ((await client.send(new GetRecordsCommand({ ShardIterator: iterator }))).Records ?? []).map(
        (r) => r.SequenceNumber,
      );
    const all = [...before, ...after].map((r) => r.sequenceNumber);
    const b = before[1]?.sequenceNumber as string;

    expect(await sequences(await shardIterator(client, stream.streamName, shardId, 'TRIM_HORIZON'))).toEqual(
      all,
    );
    expect(await sequences(latest)).toEqual(all.slice(3));
    expect(
      await sequences(await shardIterator(client, stream.streamName, shardId, 'AT_SEQUENCE_NUMBER', b)),
    ).toEqual(all.slice(1));
    expect(
      await sequences(await shardIterator(client, stream.streamName, shardId, 'AFTER_SEQUENCE_NUMBER', b)),
    ).toEqual(all.slice(2));
  });

  it('honours Limit, continues with NextShardIterator, and answers an empty read with a next iterator', async () => {
    const client = kinesis.createClient();
    const stream = await kinesis.createStream({ streamName: 'canary-paging', shardCount: 1 });
    const shardId = stream.shardIds[0] as string;
    const put = await putRecords(
      client,
      stream.streamName,
      Array.from({ length: 5 }, (_, i) => ({ data: `p${i}` })),
    );
    let iterator = await shardIterator(client, stream.streamName, shardId, 'TRIM_HORIZON');
    const pages: string[][] = [];
    for (let i = 0; i < 4; i++) {
      const output = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 2 }));
      pages.push((output.Records ?? []).map((r) => Buffer.from(r.Data ?? []).toString()));
      expect(output.NextShardIterator).toBeTruthy();
      iterator = output.NextShardIterator as string;
    }
    expect(pages).toEqual([['p0', 'p1'], ['p2', 'p3'], ['p4'], []]);
    // A record put after the empty read is found through the iterator that read returned.
    const [late] = await putRecords(client, stream.streamName, [{ data: 'late' }]);
    const output = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
    expect(output.Records?.map((r) => r.SequenceNumber)).toEqual([late?.sequenceNumber]);
    expect(put).toHaveLength(5);
  });

  it('stamps arrival times in milliseconds, non-decreasing along a shard, and reports MillisBehindLatest 0', async () => {
    const client = kinesis.createClient();
    const stream = await kinesis.createStream({ streamName: 'canary-arrival', shardCount: 1 });
    const startedAt = Date.now();
    await putRecords(client, stream.streamName, [{ data: 'x' }]);
    await sleep(15);
    await putRecords(client, stream.streamName, [{ data: 'y' }]);
    const iterator = await shardIterator(
      client,
      stream.streamName,
      stream.shardIds[0] as string,
      'TRIM_HORIZON',
    );
    const output = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
    const arrivals = (output.Records ?? []).map((r) => r.ApproximateArrivalTimestamp?.getTime() ?? 0);
    expect(arrivals).toHaveLength(2);
    expect(arrivals[0]).toBeGreaterThanOrEqual(startedAt);
    expect(arrivals[1]).toBeGreaterThanOrEqual((arrivals[0] as number) + 10);
    expect(arrivals[1]).toBeLessThanOrEqual(Date.now());
    // The mapping measures iterator age itself because of this.
    expect(output.MillisBehindLatest).toBe(0);
  });

  it('does not throttle rapid GetRecords calls (throttling is injected where it is tested)', async () => {
    const client = kinesis.createClient();
    let iterator = await shardIterator(
      client,
      kinesis.streamName,
      kinesis.shardIds[0] as string,
      'TRIM_HORIZON',
    );
    for (let i = 0; i < 20; i++) {
      const output = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1 }));
      iterator = output.NextShardIterator as string;
    }
    expect(iterator).toBeTruthy();
  });

  it('frees its port on close', async () => {
    const other = await startKinesisStandIn({ streamName: 'short-lived', shardCount: 1 });
    const port = Number(new URL(other.endpoint).port);
    await other.close();
    const refused = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('fails when shardCount is not a positive integer', async () => {
    await expect(startKinesisStandIn({ shardCount: 0 })).rejects.toThrow(
      'Kinesis stand-in shardCount: received 0, expected an integer of at least 1',
    );
  });
});
