/**
 * PutRecords for a requeue: batches within the API's limits, and a partial failure retried for
 * exactly the refused entries (faults injected with aws-sdk-client-mock: kinesalite never throttles).
 */
import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  MAX_BYTES_PER_PUT,
  MAX_RECORDS_PER_PUT,
  putBatches,
  putRecordsWithRetry,
} from '../../ops/requeue-records.ts';

const kinesisMock = mockClient(KinesisClient);
const kinesis = new KinesisClient({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});

function entries(count: number, bytes = 10): PutRecordsRequestEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    Data: Buffer.alloc(bytes, i % 256),
    PartitionKey: `device-${i}`,
  }));
}

/** What each PutRecords call sent: the partition keys, in order. */
function sentKeys(): string[][] {
  return kinesisMock
    .commandCalls(PutRecordsCommand)
    .map((call) => (call.args[0].input.Records ?? []).map((r) => r.PartitionKey ?? ''));
}

/**
 * A PutRecords answer that refuses, at the n-th call (from 1), the entries whose partition keys
 * `refusedAt(n)` names, and accepts the others with sequence numbers unique across calls.
 */
function answerRefusing(refusedAt: (call: number) => ReadonlySet<string>) {
  let call = 0;
  let sequence = 0;
  return (input: { Records?: PutRecordsRequestEntry[] }) => {
    const refuse = refusedAt(++call);
    const records = (input.Records ?? []).map((entry) =>
      refuse.has(entry.PartitionKey ?? '')
        ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' }
        : { ShardId: 'shardId-000000000000', SequenceNumber: String(++sequence) },
    );
    return { FailedRecordCount: records.filter((r) => 'ErrorCode' in r).length, Records: records };
  };
}

describe('putBatches', () => {
  it('splits at 500 records a call', () => {
    const batches = putBatches(entries(1_201));

    expect(batches.map((b) => b.length)).toEqual([MAX_RECORDS_PER_PUT, MAX_RECORDS_PER_PUT, 201]);
  });

  it('splits before a call would exceed 5 MiB of data and partition keys', () => {
    // 6 records of 1,000,000 bytes: five fit in 5 MiB (5,242,880 bytes), the sixth does not.
    const batches = putBatches(entries(6, 1_000_000));

    expect(batches.map((b) => b.length)).toEqual([5, 1]);
    for (const batch of batches) {
      const bytes = batch.reduce(
        (sum, e) => sum + (e.Data?.byteLength ?? 0) + (e.PartitionKey?.length ?? 0),
        0,
      );
      expect(bytes).toBeLessThanOrEqual(MAX_BYTES_PER_PUT);
    }
  });

  it('keeps the entries in order, each once', () => {
    const input = entries(1_001);

    expect(putBatches(input).flat()).toEqual(input);
  });
});

describe('putRecordsWithRetry', () => {
  beforeEach(() => kinesisMock.reset());

  it('retries only the refused entries of a partial failure, after a backoff, and never resends an accepted one', async () => {
    const refusedOnce = new Set(['device-1', 'device-3']);
    kinesisMock
      .on(PutRecordsCommand)
      .callsFake(answerRefusing((call) => (call === 1 ? refusedOnce : new Set())));
    const sleeps: number[] = [];

    const { results } = await putRecordsWithRetry(entries(5), {
      kinesis,
      streamName: 'sdap-dev-telemetry',
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
    });

    expect(sentKeys()).toEqual([
      ['device-0', 'device-1', 'device-2', 'device-3', 'device-4'],
      ['device-1', 'device-3'],
    ]);
    expect(results.every((r) => 'sequenceNumber' in r)).toBe(true);
    const sequenceNumbers = results.map((r) => ('sequenceNumber' in r ? r.sequenceNumber : ''));
    expect(new Set(sequenceNumbers).size).toBe(5);
    expect(sleeps).toEqual([75]);
  });

  it('backs off longer at each attempt and reports an entry still refused after the last one', async () => {
    kinesisMock.on(PutRecordsCommand).callsFake(answerRefusing(() => new Set(['device-2'])));
    const sleeps: number[] = [];

    const { results } = await putRecordsWithRetry(entries(3), {
      kinesis,
      streamName: 'sdap-dev-telemetry',
      maxAttempts: 4,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 1,
    });

    expect(sentKeys()).toEqual([
      ['device-0', 'device-1', 'device-2'],
      ['device-2'],
      ['device-2'],
      ['device-2'],
    ]);
    expect(sleeps).toEqual([100, 200, 400]);
    expect(results[2]).toEqual({
      error: 'ProvisionedThroughputExceededException: Rate exceeded for shard',
    });
    expect(results.slice(0, 2).every((r) => 'sequenceNumber' in r)).toBe(true);
  });

  it('stops at a whole call that fails: its entries are unknown, none is sent again, later ones are not sent', async () => {
    kinesisMock
      .on(PutRecordsCommand)
      .rejects(Object.assign(new Error('KMS key disabled'), { name: 'KMSDisabledException' }));

    const { results, stoppedBy } = await putRecordsWithRetry(entries(MAX_RECORDS_PER_PUT + 2), {
      kinesis,
      streamName: 'sdap-dev-telemetry',
      sleep: async () => undefined,
    });

    expect(stoppedBy).toBe('KMSDisabledException: KMS key disabled');
    expect(kinesisMock.commandCalls(PutRecordsCommand)).toHaveLength(1);
    expect(results[0]).toEqual({
      error: 'unknown (the call failed: KMSDisabledException: KMS key disabled)',
    });
    expect(results[MAX_RECORDS_PER_PUT]).toEqual({
      error: 'not sent (an earlier call failed: KMSDisabledException: KMS key disabled)',
    });
    expect(results).toHaveLength(MAX_RECORDS_PER_PUT + 2);
  });
});
