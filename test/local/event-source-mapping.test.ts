/**
 * The twin's event source mapping against a real Kinesis API (kinesalite): one test per documented
 * case of Lambda's Kinesis event source mapping. Each test gets its own stream, puts records with
 * PutRecords and asserts which sequence numbers each invocation saw, in order. Records carry their
 * label as data; `calls` holds, per invocation, the labels found by sequence number.
 */
import {
  ExpiredIteratorException,
  type KinesisClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventSourceMapping,
  type EventSourceMapping,
  type EventSourceMappingOptions,
  MAX_INVOCATION_PAYLOAD_BYTES,
  type OnFailureRecord,
  onFailureObjectKey,
} from '../../local/event-source-mapping.ts';
import {
  type KinesisStandIn,
  type StandInStream,
  startKinesisStandIn,
} from '../../local/kinesis-stand-in.ts';
import { gate, hashKeyOfShard, putRecords, readShard, sleep, until } from './kinesis-test-kit.ts';

const EXECUTION_ROLE_ARN = 'arn:aws:iam::000000000000:role/sdap-twin-validator';
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:sdap-twin-validator';
const MINUTE_MS = 60_000;

let kinesis: KinesisStandIn;
let client: KinesisClient;
let streamCount = 0;
const running: EventSourceMapping[] = [];

beforeAll(async () => {
  kinesis = await startKinesisStandIn({ streamName: 'esm-main', shardCount: 1 });
  client = kinesis.createClient();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((mapping) => mapping.stop()));
});
afterAll(async () => {
  await kinesis?.close();
});

/** A fresh stream with `count` records labelled r0, r1, ... (one shard unless told). */
async function streamWith(count: number, shardCount = 1) {
  const stream = await kinesis.createStream({ streamName: `esm-${++streamCount}`, shardCount });
  const labels = new Map<string, string>();
  const sequenceOf = new Map<string, string>();
  const put = async (from: number, to: number) => {
    const inputs = Array.from({ length: to - from }, (_, i) => ({ data: `r${from + i}` }));
    const results = await putRecords(client, stream.streamName, inputs);
    results.forEach((result, i) => {
      labels.set(result.sequenceNumber, `r${from + i}`);
      sequenceOf.set(`r${from + i}`, result.sequenceNumber);
    });
  };
  if (count > 0) await put(0, count);
  return { stream, labels, sequenceOf, put };
}

interface Harness {
  readonly mapping: EventSourceMapping;
  /** Labels each invocation saw, in invocation order. */
  readonly calls: string[][];
  readonly failures: OnFailureRecord[];
}

/**
 * Starts a mapping over `stream` whose function records each event and then runs `behaviour`.
 * Fast timings: the tests exercise semantics, not Lambda's pace.
 */
async function startMapping(
  stream: StandInStream,
  labels: ReadonlyMap<string, string>,
  behaviour: (event: KinesisStreamEvent, call: number) => Promise<unknown> | unknown = () => undefined,
  overrides: Partial<EventSourceMappingOptions> = {},
): Promise<Harness> {
  const calls: string[][] = [];
  const failures: OnFailureRecord[] = [];
  const mapping = createEventSourceMapping({
    kinesis: client,
    stream: { streamArn: stream.streamArn, region: kinesis.region, executionRoleArn: EXECUTION_ROLE_ARN },
    functionArn: FUNCTION_ARN,
    startingPosition: 'TRIM_HORIZON',
    pollIntervalMs: 10,
    retryDelayMs: 0,
    backoffBaseMs: 1,
    backoffMaxMs: 5,
    onFailure: async (failure) => {
      failures.push(failure);
    },
    handler: async (event) => {
      calls.push(
        event.Records.map((r) => labels.get(r.kinesis.sequenceNumber) ?? `?${r.kinesis.sequenceNumber}`),
      );
      return (await behaviour(event, calls.length)) as KinesisStreamBatchResponse | undefined;
    },
    ...overrides,
  });
  running.push(mapping);
  await mapping.start();
  return { mapping, calls, failures };
}

const labelsOf = (event: KinesisStreamEvent) =>
  event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());
const failureOf = (sequenceNumber: string | undefined) => ({ itemIdentifier: sequenceNumber as string });
const throwError = () => {
  throw new Error('transient');
};

describe('batching and order', () => {
  it('delivers a shard in sequence order, in batches of at most batchSize, as the exact Kinesis event', async () => {
    const { stream, labels, sequenceOf } = await streamWith(5);
    const events: KinesisStreamEvent[] = [];
    const { mapping, calls } = await startMapping(stream, labels, (event) => void events.push(event), {
      batchSize: 2,
    });
    await mapping.drain();

    expect(calls).toEqual([['r0', 'r1'], ['r2', 'r3'], ['r4']]);
    expect(events.map(labelsOf)).toEqual(calls);
    const [first] = events[0]?.Records ?? [];
    expect(first).toMatchObject({
      eventSource: 'aws:kinesis',
      eventID: `${stream.shardIds[0]}:${sequenceOf.get('r0')}`,
      eventSourceARN: stream.streamArn,
      awsRegion: kinesis.region,
      invokeIdentityArn: EXECUTION_ROLE_ARN,
      kinesis: { partitionKey: 'device-1', sequenceNumber: sequenceOf.get('r0') },
    });
    expect(mapping.stats()).toMatchObject({ invocations: 3, recordsProcessed: 5, retries: 0 });
  });

  it('starts at the oldest record with TRIM_HORIZON', async () => {
    const { stream, labels } = await streamWith(3);
    const { mapping, calls } = await startMapping(stream, labels);
    await mapping.drain();
    expect(calls).toEqual([['r0', 'r1', 'r2']]);
  });

  it('starts after the records already in the stream with LATEST', async () => {
    const { stream, labels, put } = await streamWith(3);
    const { mapping, calls } = await startMapping(stream, labels, undefined, { startingPosition: 'LATEST' });
    await put(3, 5);
    await mapping.drain();
    expect(calls).toEqual([['r3', 'r4']]);
  });

  it('gathers records until the batching window expires', async () => {
    const { stream, labels, put } = await streamWith(0);
    const { mapping, calls } = await startMapping(stream, labels, undefined, {
      maximumBatchingWindowMs: 600,
    });
    await put(0, 2);
    await sleep(50);
    await put(2, 4);
    await mapping.drain();
    expect(calls).toEqual([['r0', 'r1', 'r2', 'r3']]);
  });

  it('invokes as soon as the batch is full, without waiting for the batching window', async () => {
    const { stream, labels } = await streamWith(3);
    const { mapping, calls } = await startMapping(stream, labels, undefined, {
      batchSize: 3,
      maximumBatchingWindowMs: 60_000,
    });
    // Waiting for the window would outlast this timeout.
    await mapping.drain({ timeoutMs: 5_000 });
    expect(calls).toEqual([['r0', 'r1', 'r2']]);
  });

  it('cuts a batch where the event would exceed the 6 MB invocation payload limit', async () => {
    const stream = await kinesis.createStream({ streamName: `esm-${++streamCount}`, shardCount: 1 });
    // Five records just under the 1 MiB record limit: four fit one event (base64 makes each ~1.4 MB).
    const big = (i: number) => ({ data: Buffer.alloc(1_040_000, i) });
    // Kinesalite takes at most 7 MB a request.
    await putRecords(client, stream.streamName, [0, 1, 2].map(big));
    await putRecords(client, stream.streamName, [3, 4].map(big));
    const sizes: number[] = [];
    const { mapping, calls } = await startMapping(stream, new Map(), (event) => {
      sizes.push(Buffer.byteLength(JSON.stringify(event)));
    });
    await mapping.drain();
    expect(calls.map((call) => call.length)).toEqual([4, 1]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_INVOCATION_PAYLOAD_BYTES);
  });
});

describe('partial batch response (ReportBatchItemFailures)', () => {
  it('checkpoints at the lowest failed sequence number and retries from that record on', async () => {
    const { stream, labels, sequenceOf } = await streamWith(6);
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      (_event, call) =>
        call === 1
          ? { batchItemFailures: [failureOf(sequenceOf.get('r4')), failureOf(sequenceOf.get('r2'))] }
          : {},
      { reportBatchItemFailures: true },
    );
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'],
      ['r2', 'r3', 'r4', 'r5'],
    ]);
    expect(mapping.shards()[0]?.checkpoint).toBe(sequenceOf.get('r5'));
    expect(mapping.stats()).toMatchObject({ partialFailures: 1, retries: 1, recordsProcessed: 6 });
  });

  it('retries the whole batch when the first record failed', async () => {
    const { stream, labels, sequenceOf } = await streamWith(3);
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      (_event, call) => (call === 1 ? { batchItemFailures: [failureOf(sequenceOf.get('r0'))] } : undefined),
      { reportBatchItemFailures: true },
    );
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1', 'r2'],
      ['r0', 'r1', 'r2'],
    ]);
  });

  it.each([
    ['an empty string', () => [{ itemIdentifier: '' }]],
    ['null', () => [{ itemIdentifier: null }]],
    ['under a wrong key name', (sequenceOf: Map<string, string>) => [{ itemId: sequenceOf.get('r1') }]],
    [
      'not a sequence number of the batch',
      (sequenceOf: Map<string, string>) => [failureOf(sequenceOf.get('r2'))],
    ],
  ])('fails the whole batch when an itemIdentifier is %s', async (_case, failures) => {
    // Three records in batches of two: r2 exists, but is not in the first batch.
    const { stream, labels, sequenceOf } = await streamWith(3);
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      (_event, call) => (call === 1 ? { batchItemFailures: failures(sequenceOf) } : undefined),
      { reportBatchItemFailures: true, batchSize: 2 },
    );
    await mapping.drain();
    expect(calls).toEqual([['r0', 'r1'], ['r0', 'r1'], ['r2']]);
    expect(mapping.stats()).toMatchObject({ invalidResponses: 1, retries: 1, recordsProcessed: 3 });
  });

  it.each([
    ['nothing (void)', undefined],
    ['null', null],
    ['an empty object', {}],
    ['an empty batchItemFailures list', { batchItemFailures: [] }],
    ['a null batchItemFailures list', { batchItemFailures: null }],
  ])(
    'treats a response of %s as complete success and checkpoints after the batch',
    async (_case, response) => {
      const { stream, labels, sequenceOf } = await streamWith(3);
      const { mapping, calls } = await startMapping(stream, labels, () => response, {
        reportBatchItemFailures: true,
        batchSize: 2,
      });
      await mapping.drain();
      expect(calls).toEqual([['r0', 'r1'], ['r2']]);
      expect(mapping.shards()[0]?.checkpoint).toBe(sequenceOf.get('r2'));
      expect(mapping.stats()).toMatchObject({ retries: 0, recordsProcessed: 3 });
    },
  );

  it('ignores batchItemFailures when ReportBatchItemFailures is off', async () => {
    const { stream, labels, sequenceOf } = await streamWith(3);
    const { mapping, calls } = await startMapping(stream, labels, () => ({
      batchItemFailures: [failureOf(sequenceOf.get('r1'))],
    }));
    await mapping.drain();
    expect(calls).toEqual([['r0', 'r1', 'r2']]);
  });

  it('with bisect on, a partial failure retries from the failed record without splitting the batch', async () => {
    const { stream, labels, sequenceOf } = await streamWith(6);
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      (_event, call) => (call === 1 ? { batchItemFailures: [failureOf(sequenceOf.get('r1'))] } : undefined),
      { reportBatchItemFailures: true, bisectBatchOnFunctionError: true },
    );
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'],
      ['r1', 'r2', 'r3', 'r4', 'r5'],
    ]);
    expect(mapping.stats().bisects).toBe(0);
  });
});

describe('function errors', () => {
  it('retries the whole batch after a function error when bisect is off', async () => {
    const { stream, labels } = await streamWith(4);
    const { mapping, calls } = await startMapping(stream, labels, (_event, call) => {
      if (call <= 2) throwError();
    });
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1', 'r2', 'r3'],
      ['r0', 'r1', 'r2', 'r3'],
      ['r0', 'r1', 'r2', 'r3'],
    ]);
    expect(mapping.stats()).toMatchObject({ functionErrors: 2, retries: 2, bisects: 0, recordsProcessed: 4 });
  });

  it('splits a failing batch in two and retries each half separately when bisect is on', async () => {
    const { stream, labels, sequenceOf } = await streamWith(4);
    const poisoned = (event: KinesisStreamEvent) => labelsOf(event).includes('r2');
    const { mapping, calls, failures } = await startMapping(
      stream,
      labels,
      (event) => {
        if (poisoned(event)) throwError();
      },
      { bisectBatchOnFunctionError: true, maximumRetryAttempts: 1 },
    );
    await mapping.drain();
    expect(calls).toEqual([['r0', 'r1', 'r2', 'r3'], ['r0', 'r1'], ['r2', 'r3'], ['r2'], ['r2'], ['r3']]);
    expect(mapping.stats()).toMatchObject({
      bisects: 2,
      retries: 1,
      recordsProcessed: 3,
      recordsToDestination: 1,
    });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.requestContext).toMatchObject({
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 4,
    });
    expect(failures[0]?.KinesisBatchInfo).toMatchObject({
      startSequenceNumber: sequenceOf.get('r2'),
      endSequenceNumber: sequenceOf.get('r2'),
      batchSize: 1,
    });
  });

  it('does not count splitting a batch against the retry quota', async () => {
    const { stream, labels } = await streamWith(4);
    const { mapping, calls, failures } = await startMapping(
      stream,
      labels,
      (event) => {
        if (labelsOf(event).includes('r2')) throwError();
      },
      { bisectBatchOnFunctionError: true, maximumRetryAttempts: 0 },
    );
    await mapping.drain();
    // With no retries allowed, the splits still happen: only the single bad record is given up.
    expect(calls).toEqual([['r0', 'r1', 'r2', 'r3'], ['r0', 'r1'], ['r2', 'r3'], ['r2'], ['r3']]);
    expect(failures.map((f) => f.KinesisBatchInfo.batchSize)).toEqual([1]);
    expect(mapping.stats()).toMatchObject({ retries: 0, bisects: 2 });
  });
});

describe('retries exhausted and record age', () => {
  it('sends the failed batch to the on-failure destination when retries are exhausted, then moves on', async () => {
    const { stream, labels, sequenceOf } = await streamWith(4);
    const { mapping, calls, failures } = await startMapping(
      stream,
      labels,
      (event) => {
        if (labelsOf(event).includes('r0')) throwError();
      },
      { batchSize: 2, maximumRetryAttempts: 2 },
    );
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1'],
      ['r0', 'r1'],
      ['r0', 'r1'],
      ['r2', 'r3'],
    ]);
    const [failure] = failures;
    const [first] = await readShard(client, stream.streamName, stream.shardIds[0] as string);
    expect(failure).toMatchObject({
      requestContext: {
        functionArn: FUNCTION_ARN,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      KinesisBatchInfo: {
        shardId: stream.shardIds[0],
        startSequenceNumber: sequenceOf.get('r0'),
        endSequenceNumber: sequenceOf.get('r1'),
        approximateArrivalOfFirstRecord: first?.ApproximateArrivalTimestamp?.toISOString(),
        batchSize: 2,
        streamArn: stream.streamArn,
      },
    });
    expect(failure?.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
    // The S3 destination's payload is the whole invocation event of the given-up records.
    expect(labelsOf(JSON.parse(failure?.payload ?? '{}'))).toEqual(['r0', 'r1']);
    expect(mapping.stats()).toMatchObject({
      retries: 2,
      recordsRetriesExhausted: 2,
      recordsToDestination: 2,
      recordsProcessed: 2,
    });
  });

  it('after a partial failure, gives up only the records from the lowest failed one on', async () => {
    const { stream, labels, sequenceOf } = await streamWith(4);
    const { mapping, calls, failures } = await startMapping(
      stream,
      labels,
      () => ({ batchItemFailures: [failureOf(sequenceOf.get('r2'))] }),
      { reportBatchItemFailures: true, maximumRetryAttempts: 1 },
    );
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1', 'r2', 'r3'],
      ['r2', 'r3'],
    ]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST' },
      KinesisBatchInfo: {
        startSequenceNumber: sequenceOf.get('r2'),
        endSequenceNumber: sequenceOf.get('r3'),
      },
    });
    expect(failures[0]?.responseContext).not.toHaveProperty('functionError');
    expect(mapping.stats()).toMatchObject({ recordsProcessed: 2, recordsRetriesExhausted: 2 });
  });

  it('sends records older than the maximum record age to the destination instead of invoking the function', async () => {
    const { stream, labels, sequenceOf } = await streamWith(3);
    const { mapping, calls, failures } = await startMapping(stream, labels, undefined, {
      maximumRecordAgeSeconds: 60,
      now: () => Date.now() + 2 * MINUTE_MS,
    });
    await mapping.drain();
    expect(calls).toEqual([]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      requestContext: { condition: 'RecordAgeExceeded', approximateInvokeCount: 0 },
      KinesisBatchInfo: {
        startSequenceNumber: sequenceOf.get('r0'),
        endSequenceNumber: sequenceOf.get('r2'),
      },
    });
    expect(failures[0]).not.toHaveProperty('responseContext');
    expect(mapping.stats()).toMatchObject({ recordsAgeExceeded: 3, recordsToDestination: 3, invocations: 0 });
  });

  it('gives up only the records older than the maximum age and invokes the function with the rest', async () => {
    const { stream, labels, put } = await streamWith(2);
    await sleep(20);
    await put(2, 4);
    const records = await readShard(client, stream.streamName, stream.shardIds[0] as string);
    const r2ArrivalMs = records[2]?.ApproximateArrivalTimestamp?.getTime() as number;
    // r2 is exactly 60 s old (not older than the limit); r0 and r1 arrived at least 20 ms before it.
    const { mapping, calls, failures } = await startMapping(stream, labels, undefined, {
      maximumRecordAgeSeconds: 60,
      now: () => r2ArrivalMs + MINUTE_MS,
    });
    await mapping.drain();
    expect(failures.map((f) => labelsOf(JSON.parse(f.payload)))).toEqual([['r0', 'r1']]);
    expect(calls).toEqual([['r2', 'r3']]);
  });

  it('gives up a batch that grows too old while being retried, with its invocation count', async () => {
    const { stream, labels } = await streamWith(2);
    let clock = Date.now();
    const { mapping, calls, failures } = await startMapping(
      stream,
      labels,
      (_event, call) => {
        if (call === 2) clock += 2 * MINUTE_MS;
        throwError();
      },
      { maximumRecordAgeSeconds: 60, now: () => clock },
    );
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1'],
      ['r0', 'r1'],
    ]);
    expect(failures[0]).toMatchObject({
      requestContext: { condition: 'RecordAgeExceeded', approximateInvokeCount: 2 },
      responseContext: { functionError: 'Unhandled' },
      KinesisBatchInfo: { batchSize: 2 },
    });
  });

  it('discards and counts given-up records when no destination is configured', async () => {
    const { stream, labels } = await streamWith(3);
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      (event) => {
        if (labelsOf(event).includes('r0')) throwError();
      },
      { batchSize: 2, maximumRetryAttempts: 0, onFailure: undefined },
    );
    await mapping.drain();
    expect(calls).toEqual([['r0', 'r1'], ['r2']]);
    expect(mapping.stats()).toMatchObject({
      recordsRetriesExhausted: 2,
      recordsDiscarded: 2,
      recordsToDestination: 0,
    });
  });

  it('counts a destination delivery failure and moves on when the destination keeps refusing', async () => {
    const { stream, labels } = await streamWith(3);
    let deliveries = 0;
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      (event) => {
        if (labelsOf(event).includes('r0')) throwError();
      },
      {
        batchSize: 2,
        maximumRetryAttempts: 0,
        destinationMaxAttempts: 2,
        onFailure: async () => {
          deliveries++;
          throw new Error('SlowDown');
        },
      },
    );
    await mapping.drain();
    expect(deliveries).toBe(2);
    expect(calls).toEqual([['r0', 'r1'], ['r2']]);
    expect(mapping.stats()).toMatchObject({ destinationDeliveryFailures: 1, recordsDiscarded: 2 });
  });
});

describe('ordering and blocking', () => {
  it('blocks the later records of a shard while a batch fails, and skips none', async () => {
    const { stream, labels } = await streamWith(6);
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      (_event, call) => {
        if (call <= 2) throwError();
      },
      { batchSize: 2 },
    );
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1'],
      ['r0', 'r1'],
      ['r0', 'r1'],
      ['r2', 'r3'],
      ['r4', 'r5'],
    ]);
  });

  it('keeps each shard in order and does not let a stuck shard hold up the others', async () => {
    const stream = await kinesis.createStream({ streamName: `esm-${++streamCount}`, shardCount: 3 });
    const labels = new Map<string, string>();
    for (const [shard] of stream.shardIds.entries()) {
      const inputs = Array.from({ length: 6 }, (_, i) => ({
        data: `s${shard}-${i}`,
        explicitHashKey: hashKeyOfShard(shard, stream.shardIds.length),
      }));
      const results = await putRecords(client, stream.streamName, inputs);
      for (const [i, r] of results.entries()) labels.set(r.sequenceNumber, `s${shard}-${i}`);
    }
    const held = gate();
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      async (event) => {
        if (labelsOf(event)[0] === 's0-0') await held.promise;
      },
      { batchSize: 2 },
    );
    // Shard 0 is stuck in its first invocation; shards 1 and 2 finish meanwhile.
    await until(
      () => calls.flat().filter((label) => !label.startsWith('s0')).length === 12,
      'shards 1 and 2',
    );
    expect(calls.flat().filter((label) => label.startsWith('s0'))).toEqual(['s0-0', 's0-1']);
    held.open();
    await mapping.drain();
    for (const shard of [0, 1, 2]) {
      const seen = calls.flat().filter((label) => label.startsWith(`s${shard}-`));
      expect(seen).toEqual(Array.from({ length: 6 }, (_, i) => `s${shard}-${i}`));
    }
  });
});

describe('reading the stream', () => {
  /** A client of the stand-in whose first GetRecords calls fail as `fail` says. */
  function faultyClient(fail: (call: number) => Error | undefined): KinesisClient {
    const faulty = kinesis.createClient();
    let call = 0;
    faulty.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetRecordsCommand') {
          const error = fail(++call);
          if (error) throw error;
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectGetRecordsFaults' },
    );
    return faulty;
  }

  it('backs off and carries on when GetRecords is throttled', async () => {
    const { stream, labels } = await streamWith(3);
    const throttled = faultyClient((call) =>
      call <= 3
        ? new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard', $metadata: {} })
        : undefined,
    );
    const { mapping, calls } = await startMapping(stream, labels, undefined, { kinesis: throttled });
    await mapping.drain();
    expect(calls).toEqual([['r0', 'r1', 'r2']]);
    expect(mapping.stats().readThrottles).toBe(3);
  });

  it('renews an expired shard iterator after the last record read, repeating and losing nothing', async () => {
    const { stream, labels } = await streamWith(4);
    const expiring = faultyClient((call) =>
      call === 2 ? new ExpiredIteratorException({ message: 'Iterator expired', $metadata: {} }) : undefined,
    );
    const { mapping, calls } = await startMapping(stream, labels, undefined, {
      kinesis: expiring,
      batchSize: 2,
    });
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1'],
      ['r2', 'r3'],
    ]);
    expect(mapping.stats().expiredIterators).toBe(1);
  });

  it('reports iterator age as the age of the last record of the batch when it finished', async () => {
    const { stream, labels } = await streamWith(2);
    const records = await readShard(client, stream.streamName, stream.shardIds[0] as string);
    const lastArrivalMs = records[1]?.ApproximateArrivalTimestamp?.getTime() as number;
    const { mapping } = await startMapping(stream, labels, undefined, { now: () => lastArrivalMs + 5_000 });
    await mapping.drain();
    expect(mapping.stats()).toMatchObject({ iteratorAgeMs: 5_000, maxIteratorAgeMs: 5_000 });
    expect(mapping.shards()[0]?.iteratorAgeMs).toBe(5_000);
  });
});

describe('drain, stop and restart', () => {
  it('drains a multi-shard stream: every record put before drain() is resolved, none lost or doubled', async () => {
    const stream = await kinesis.createStream({ streamName: `esm-${++streamCount}`, shardCount: 4 });
    const labels = new Map<string, string>();
    const inputs = Array.from({ length: 200 }, (_, i) => ({
      data: `m${i}`,
      partitionKey: `device-${i % 17}`,
    }));
    for (let from = 0; from < inputs.length; from += 50) {
      const results = await putRecords(client, stream.streamName, inputs.slice(from, from + 50));
      for (const [i, r] of results.entries()) labels.set(r.sequenceNumber, `m${from + i}`);
    }
    const processed = new Set<string>();
    const poison = new Set(['m13', 'm101']);
    const { mapping, failures } = await startMapping(
      stream,
      labels,
      (event) => {
        const seen = labelsOf(event);
        const bad = seen.findIndex((label) => poison.has(label));
        const failedAt = bad === -1 ? seen.length : bad;
        for (const label of seen.slice(0, failedAt)) processed.add(label);
        if (bad !== -1) return { batchItemFailures: [failureOf(event.Records[bad]?.kinesis.sequenceNumber)] };
        return undefined;
      },
      {
        batchSize: 10,
        reportBatchItemFailures: true,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 2,
      },
    );
    await mapping.drain();

    const givenUp = failures.flatMap((f) => labelsOf(JSON.parse(f.payload)));
    expect(givenUp.filter((label) => poison.has(label)).sort()).toEqual(['m101', 'm13']);
    expect(processed.size + givenUp.length).toBe(200);
    expect(givenUp.some((label) => processed.has(label))).toBe(false);
    const stats = mapping.stats();
    expect(stats.recordsRead).toBe(200);
    expect(stats.recordsProcessed + stats.recordsRetriesExhausted + stats.recordsAgeExceeded).toBe(200);
    expect(stats.recordsToDestination).toBe(givenUp.length);
  });

  it('stop waits for the invocation in flight, and start resumes after the last checkpoint', async () => {
    const { stream, labels, sequenceOf } = await streamWith(3);
    const held = gate();
    const { mapping, calls } = await startMapping(
      stream,
      labels,
      async (_event, call) => {
        if (call === 1) {
          await held.promise;
          return { batchItemFailures: [failureOf(sequenceOf.get('r1'))] };
        }
        return undefined;
      },
      { reportBatchItemFailures: true },
    );
    await until(() => calls.length === 1, 'the first invocation');
    let stopped = false;
    const stopping = mapping.stop().then(() => {
      stopped = true;
    });
    await sleep(50);
    expect(stopped).toBe(false);
    held.open();
    await stopping;
    // The partial failure checkpointed after r0; no retry ran after stop().
    expect(calls).toEqual([['r0', 'r1', 'r2']]);
    expect(mapping.shards()[0]?.checkpoint).toBe(sequenceOf.get('r0'));

    await mapping.start();
    await mapping.drain();
    expect(calls).toEqual([
      ['r0', 'r1', 'r2'],
      ['r1', 'r2'],
    ]);
  });

  it('rejects drain() when the mapping is not running', async () => {
    const { stream, labels } = await streamWith(0);
    const { mapping } = await startMapping(stream, labels);
    await mapping.stop();
    await expect(mapping.drain()).rejects.toThrow('is not running');
  });

  it.each([
    ['batchSize', { batchSize: 0 }, 'batchSize: received 0, expected an integer from 1 to 10000'],
    ['batchSize', { batchSize: 10_001 }, 'batchSize: received 10001'],
    ['maximumBatchingWindowMs', { maximumBatchingWindowMs: 300_001 }, 'expected an integer from 0 to 300000'],
    ['maximumRetryAttempts', { maximumRetryAttempts: -2 }, 'maximumRetryAttempts: received -2'],
    [
      'maximumRecordAgeSeconds',
      { maximumRecordAgeSeconds: 30 },
      'expected -1 or an integer from 60 to 604800',
    ],
    [
      'parallelizationFactor',
      { parallelizationFactor: 2 as 1 },
      'parallelizationFactor: received 2, expected 1',
    ],
  ])('fails when %s is outside the documented range', (_name, overrides, message) => {
    expect(() =>
      createEventSourceMapping({
        kinesis: client,
        stream: {
          streamArn: kinesis.streamArn,
          region: kinesis.region,
          executionRoleArn: EXECUTION_ROLE_ARN,
        },
        functionArn: FUNCTION_ARN,
        startingPosition: 'TRIM_HORIZON',
        handler: async () => undefined,
        ...overrides,
      }),
    ).toThrow(message);
  });

  it('names on-failure objects the way Lambda names them in an S3 destination', async () => {
    const { stream, labels } = await streamWith(1);
    const { mapping, failures } = await startMapping(stream, labels, throwError, {
      maximumRetryAttempts: 0,
      uuid: '2b733gdc-8ac3-cdf5-af3a-1827b3b11284',
      now: () => Date.parse('2026-11-27T17:05:09.123Z'),
    });
    await mapping.drain();
    const failure = failures[0] as OnFailureRecord;
    expect(onFailureObjectKey(mapping.uuid, failure)).toBe(
      `aws/lambda/2b733gdc-8ac3-cdf5-af3a-1827b3b11284/${stream.shardIds[0]}/2026/11/27/2026-11-27T17.05.09-${failure.requestContext.requestId}`,
    );
  });
});
