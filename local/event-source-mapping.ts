/**
 * The twin's Lambda event source mapping for a Kinesis data stream: one poller per shard reading
 * with GetShardIterator/GetRecords (shared-throughput consumer), invoking the function synchronously
 * with the exact `KinesisStreamEvent`, and applying Lambda's documented error handling.
 *
 * AWS documentation this follows (Lambda developer guide):
 * - "Using AWS Lambda with Amazon Kinesis": polling each shard about once a second, and straight
 *   away again while records are available; one batch in flight per shard; in-order processing; a
 *   batch is invoked when it is full, the batching window expires, or the event would exceed the
 *   6 MB synchronous payload limit; the `IteratorAge` metric (age of the last record of a batch
 *   when processing finished).
 * - "Lambda parameters for Amazon Kinesis Data Streams event source mappings": the settings, their
 *   defaults and ranges.
 * - "Configuring partial batch response with Kinesis Data Streams and Lambda": checkpoint at the
 *   lowest reported sequence number and retry from there; the success and complete-failure
 *   conditions of the response; bisecting.
 * - "Retaining discarded batch records for a Kinesis Data Streams event source in Lambda" (error
 *   handling): retries until the records expire, exceed the maximum age or reach the retry quota;
 *   splitting a batch does not consume the retry quota; discarded batches go to the on-failure
 *   destination, whose S3 variant also receives the whole invocation event (`payload`).
 *
 * Choices where the documentation is silent are marked "Not documented" below.
 * Not modelled: parallelization factor above 1, AT_TIMESTAMP, resharding (parent/child shards),
 * tumbling windows, filtering, enhanced fan-out, function timeouts and Lambda throttling.
 */
import { randomUUID } from 'node:crypto';
import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { buildKinesisEvent, type StreamIdentity, type StreamRecordInput } from './kinesis-event.ts';

/** The function the mapping invokes. A rejection (or throw) is a function error. */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing (Promise<void>) is a success and must type-check.
export type StreamFunction = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | void>;

export type StartingPosition = 'TRIM_HORIZON' | 'LATEST';

/** Why records were sent to the on-failure destination. */
export type OnFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/**
 * The invocation record Lambda sends to an S3 on-failure destination for a Kinesis stream: the
 * metadata SQS and SNS destinations receive, plus `payload`, the invocation event as a JSON string.
 */
export interface OnFailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: OnFailureCondition;
    readonly approximateInvokeCount: number;
  };
  /** Absent when the records were discarded before any invocation (record age on first read). */
  readonly responseContext?: {
    readonly statusCode: number;
    readonly executedVersion: string;
    /** `Unhandled` when the last invocation threw; absent when it returned a failure response. */
    readonly functionError?: string;
  };
  readonly version: '1.0';
  /** ISO 8601, when the records were discarded. */
  readonly timestamp: string;
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    /** ISO 8601 */
    readonly approximateArrivalOfFirstRecord: string;
    /** ISO 8601 */
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
  /** The `KinesisStreamEvent` holding the discarded records, as JSON (S3 destinations only). */
  readonly payload: string;
}

/** Keeps an on-failure record (the twin writes it to the failures bucket). A rejection is a delivery failure. */
export type OnFailureDestination = (failure: OnFailureRecord) => Promise<void>;

export interface EventSourceMappingOptions {
  readonly kinesis: KinesisClient;
  /** The stream read, and the identity each event record carries. */
  readonly stream: StreamIdentity;
  /** The function's ARN, reported in on-failure records. */
  readonly functionArn: string;
  readonly handler: StreamFunction;
  readonly startingPosition: StartingPosition;
  /** Records per batch, 1 to 10,000. @default 100 */
  readonly batchSize?: number;
  /** How long to gather records before invoking, 0 to 300,000 ms. @default 0 */
  readonly maximumBatchingWindowMs?: number;
  /** Honour `batchItemFailures` in the function's response (FunctionResponseTypes). @default false */
  readonly reportBatchItemFailures?: boolean;
  /** @default false */
  readonly bisectBatchOnFunctionError?: boolean;
  /** -1 (retry until the records expire) or 0 to 10,000. @default -1 */
  readonly maximumRetryAttempts?: number;
  /** -1 (no limit) or 60 to 604,800 seconds. @default -1 */
  readonly maximumRecordAgeSeconds?: number;
  /** Only 1 is modelled: one batch in flight per shard. @default 1 */
  readonly parallelizationFactor?: 1;
  /** Where discarded batches go. Without one, discarded records are only counted. */
  readonly onFailure?: OnFailureDestination;
  /** Identifies the mapping in on-failure object keys. @default a random UUID */
  readonly uuid?: string;
  /** Pause after a read that found nothing (Lambda polls each shard about once a second). @default 1000 */
  readonly pollIntervalMs?: number;
  /** Pause before re-invoking a failed batch. Not documented by AWS. @default 100 */
  readonly retryDelayMs?: number;
  /** First backoff after a throttled or failed read or destination delivery; doubles up to the max. @default 100 */
  readonly backoffBaseMs?: number;
  /** @default 5000 */
  readonly backoffMaxMs?: number;
  /** Attempts to deliver one on-failure record before counting a delivery failure. @default 3 */
  readonly destinationMaxAttempts?: number;
  /**
   * The clock for record age, iterator age and on-failure timestamps, in epoch milliseconds (records
   * carry the stream's arrival time). Scheduling (polls, windows, backoff) uses real timers.
   * @default Date.now
   */
  readonly now?: () => number;
}

export interface EventSourceMappingStats {
  /** Function invocations, retries and bisected halves included. */
  invocations: number;
  /** Records passed to the function, counted once per invocation they were in. */
  recordsInvoked: number;
  /** Records read from the stream (read again after a restart: counted again). */
  recordsRead: number;
  /** Records the function processed (checkpointed as successful). */
  recordsProcessed: number;
  /** Records given up on after the retry quota. */
  recordsRetriesExhausted: number;
  /** Records given up on because they were older than the maximum record age. */
  recordsAgeExceeded: number;
  /** Given-up records the destination kept. */
  recordsToDestination: number;
  /** Given-up records nobody kept: no destination configured, or its delivery failed. */
  recordsDiscarded: number;
  /** Re-invocations of a failed batch (what `maximumRetryAttempts` bounds). */
  retries: number;
  /** Batches split in two after a function error. */
  bisects: number;
  functionErrors: number;
  /** Invocations that returned a valid, non-empty `batchItemFailures`. */
  partialFailures: number;
  /** Invocations whose `batchItemFailures` was malformed (a complete failure). */
  invalidResponses: number;
  /** On-failure records the destination refused after all attempts (Lambda's DestinationDeliveryFailures). */
  destinationDeliveryFailures: number;
  /** GetRecords calls answered with a throttling error. */
  readThrottles: number;
  /** Other failed GetRecords/GetShardIterator calls. */
  readErrors: number;
  /** Iterators renewed after ExpiredIteratorException. */
  expiredIterators: number;
  /** Highest, over the shards, of the age of the last record of each shard's latest batch when it finished. */
  iteratorAgeMs: number;
  /** Highest iterator age seen since the start. */
  maxIteratorAgeMs: number;
  /** Message of the latest function error. */
  lastFunctionError?: string;
  /** Message of the latest read or destination error. */
  lastError?: string;
}

export interface EventSourceMapping {
  readonly uuid: string;
  /** Finds the shards and positions an iterator on each; resolves when every shard is being polled. */
  start(): Promise<void>;
  /**
   * Stops polling. Waits for the invocation in flight (and its bookkeeping) but retries nothing more;
   * a later `start()` resumes after the last checkpoint, as a re-enabled mapping does.
   */
  stop(): Promise<void>;
  /**
   * Resolves once every shard has read the stream up to its end as of this call and resolved every
   * record read (processed or given up). Rejects after `timeoutMs`, or if the mapping stops.
   */
  drain(options?: { timeoutMs?: number }): Promise<void>;
  stats(): EventSourceMappingStats;
  /** Per shard: the last sequence number resolved (processed or given up) and the latest iterator age. */
  shards(): Array<{ shardId: string; checkpoint?: string; iteratorAgeMs: number }>;
}

/** Lambda's synchronous invocation payload limit (6 MB). */
export const MAX_INVOCATION_PAYLOAD_BYTES = 6 * 1024 * 1024;
const MAX_BATCH_SIZE = 10_000;
const MAX_BATCHING_WINDOW_MS = 300_000;
const MAX_RETRY_ATTEMPTS = 10_000;
const MIN_RECORD_AGE_SECONDS = 60;
const MAX_RECORD_AGE_SECONDS = 604_800;
const DEFAULT_DRAIN_TIMEOUT_MS = 60_000;
/** GetRecords errors that mean "read less often" (Kinesis API reference, GetRecords errors). */
const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
]);
/** Bytes of `{"Records":[]}` around the records of an event. */
const EVENT_ENVELOPE_BYTES = Buffer.byteLength(JSON.stringify({ Records: [] }));

interface StreamRecord {
  readonly input: StreamRecordInput;
}

/** A contiguous run of a batch still to be resolved, with the invocations and retries it has had. */
interface PendingRun {
  records: StreamRecord[];
  retries: number;
  invokeCount: number;
  lastResponse?: OnFailureRecord['responseContext'];
}

type Outcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'partial'; readonly firstFailedIndex: number }
  | { readonly kind: 'invalid-response' }
  | { readonly kind: 'function-error' };

interface ShardState {
  readonly shardId: string;
  iterator?: string;
  /** Read but not yet invoked (left over when the payload limit cut a batch short). */
  carry: StreamRecord[];
  checkpoint?: string;
  /** Last record read, to renew an expired iterator after it. */
  lastRead?: string;
  iteratorAgeMs: number;
  /** Drain generation current when this shard's latest empty read began with nothing pending. */
  caughtUpGeneration: number;
}

export function createEventSourceMapping(options: EventSourceMappingOptions): EventSourceMapping {
  const settings = validate(options);
  const now = options.now ?? Date.now;
  const streamName = streamNameOf(options.stream.streamArn);
  const uuid = options.uuid ?? randomUUID();
  const stats: EventSourceMappingStats = {
    invocations: 0,
    recordsInvoked: 0,
    recordsRead: 0,
    recordsProcessed: 0,
    recordsRetriesExhausted: 0,
    recordsAgeExceeded: 0,
    recordsToDestination: 0,
    recordsDiscarded: 0,
    retries: 0,
    bisects: 0,
    functionErrors: 0,
    partialFailures: 0,
    invalidResponses: 0,
    destinationDeliveryFailures: 0,
    readThrottles: 0,
    readErrors: 0,
    expiredIterators: 0,
    iteratorAgeMs: 0,
    maxIteratorAgeMs: 0,
  };
  const shardStates = new Map<string, ShardState>();
  let running = false;
  let loops: Promise<void>[] = [];
  const sleepers = new Set<() => void>();
  let drainGeneration = 0;
  const drainWaiters = new Set<{ generation: number; resolve: () => void; reject: (e: Error) => void }>();

  /** Sleeps `ms`, or less when woken by `stop()` or `drain()`. */
  function pause(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });
  }
  function wakeAll(): void {
    for (const wake of [...sleepers]) wake();
  }
  function backoff(attempt: number): number {
    const ceiling = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
  function noteError(error: unknown): string {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    stats.lastError = message;
    return message;
  }

  function checkDrains(): void {
    for (const waiter of [...drainWaiters]) {
      if ([...shardStates.values()].every((shard) => shard.caughtUpGeneration >= waiter.generation)) {
        drainWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  async function iteratorFor(shard: ShardState): Promise<string | undefined> {
    const position: { ShardIteratorType: ShardIteratorType; StartingSequenceNumber?: string } = shard.lastRead
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: shard.lastRead }
      : shard.checkpoint
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: shard.checkpoint }
        : { ShardIteratorType: options.startingPosition };
    for (let attempt = 0; ; attempt++) {
      try {
        const { ShardIterator } = await options.kinesis.send(
          new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.shardId, ...position }),
        );
        return ShardIterator;
      } catch (error) {
        if (!running) return undefined;
        if (THROTTLING_ERRORS.has((error as Error).name)) stats.readThrottles++;
        else stats.readErrors++;
        noteError(error);
        await pause(backoff(attempt));
        if (!running) return undefined;
      }
    }
  }

  /** One GetRecords call, retried after throttling and errors. `undefined` when stopped. */
  async function read(shard: ShardState, limit: number): Promise<StreamRecord[] | undefined> {
    for (let attempt = 0; running; attempt++) {
      shard.iterator ??= await iteratorFor(shard);
      if (!shard.iterator) return undefined;
      let output: GetRecordsCommandOutput;
      try {
        output = await options.kinesis.send(
          new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: limit }),
        );
      } catch (error) {
        const name = (error as Error).name;
        if (name === 'ExpiredIteratorException') {
          // Iterators live five minutes; a long retry loop outlives them. Renew after the last read.
          stats.expiredIterators++;
          shard.iterator = undefined;
          continue;
        }
        if (THROTTLING_ERRORS.has(name)) stats.readThrottles++;
        else stats.readErrors++;
        noteError(error);
        await pause(backoff(attempt));
        continue;
      }
      // A closed shard has no next iterator; resharding is not modelled, so keep polling its end.
      shard.iterator = output.NextShardIterator ?? shard.iterator;
      const records = (output.Records ?? []).map((record) => toStreamRecord(record, shard.shardId, now));
      const last = records.at(-1);
      if (last) shard.lastRead = last.input.sequenceNumber;
      stats.recordsRead += records.length;
      return records;
    }
    return undefined;
  }

  /**
   * Gathers the next batch: up to `batchSize` records, invoked as soon as any are there unless a
   * batching window is set, in which case reading continues until the batch is full or the window
   * (counted from the first record) expires. `undefined` when stopped.
   */
  async function collect(shard: ShardState): Promise<StreamRecord[] | undefined> {
    const batch = shard.carry.splice(0, settings.batchSize);
    let windowStartedAt = batch.length > 0 ? performance.now() : undefined;
    while (running) {
      if (batch.length >= settings.batchSize) break;
      if (windowStartedAt !== undefined && performance.now() - windowStartedAt >= settings.windowMs) break;
      const generation = drainGeneration;
      const records = await read(shard, settings.batchSize - batch.length);
      if (records === undefined) return undefined;
      batch.push(...records);
      if (batch.length > 0) windowStartedAt ??= performance.now();
      if (records.length === 0 && batch.length === 0) {
        shard.caughtUpGeneration = generation;
        checkDrains();
      }
      if (batch.length >= settings.batchSize) break;
      if (windowStartedAt === undefined) {
        await pause(settings.pollIntervalMs);
      } else {
        const remaining = settings.windowMs - (performance.now() - windowStartedAt);
        if (remaining > 0) await pause(Math.min(settings.pollIntervalMs, remaining));
      }
    }
    if (!running) return undefined;
    // Cut the batch where the event would exceed the synchronous payload limit.
    const fitting = fitPayload(batch, options.stream);
    shard.carry.unshift(...batch.slice(fitting));
    return batch.slice(0, fitting);
  }

  async function invoke(records: StreamRecord[]): Promise<Outcome> {
    const event = buildKinesisEvent(
      records.map((record) => record.input),
      options.stream,
    );
    stats.invocations++;
    stats.recordsInvoked += records.length;
    let response: unknown;
    try {
      response = await options.handler(event);
    } catch (error) {
      stats.functionErrors++;
      stats.lastFunctionError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { kind: 'function-error' };
    }
    if (!settings.reportBatchItemFailures) return { kind: 'success' };
    const outcome = interpretResponse(response, records);
    if (outcome.kind === 'partial') stats.partialFailures++;
    if (outcome.kind === 'invalid-response') stats.invalidResponses++;
    return outcome;
  }

  async function giveUp(
    shard: ShardState,
    run: PendingRun,
    records: StreamRecord[],
    condition: OnFailureCondition,
  ): Promise<void> {
    if (condition === 'RecordAgeExceeded') stats.recordsAgeExceeded += records.length;
    else stats.recordsRetriesExhausted += records.length;
    const destination = options.onFailure;
    if (!destination) {
      stats.recordsDiscarded += records.length;
      return;
    }
    const failure = onFailureRecord({
      records,
      shardId: shard.shardId,
      condition,
      run,
      functionArn: options.functionArn,
      stream: options.stream,
      at: now(),
    });
    for (let attempt = 0; attempt < settings.destinationMaxAttempts; attempt++) {
      try {
        await destination(failure);
        stats.recordsToDestination += records.length;
        return;
      } catch (error) {
        noteError(error);
        if (attempt + 1 < settings.destinationMaxAttempts) {
          await new Promise((resolve) => setTimeout(resolve, backoff(attempt)));
        }
      }
    }
    stats.destinationDeliveryFailures++;
    stats.recordsDiscarded += records.length;
  }

  /** Removes, from the front of the run, records older than the maximum age and gives them up. */
  async function expireOldRecords(shard: ShardState, run: PendingRun): Promise<void> {
    if (settings.maxRecordAgeMs < 0) return;
    const at = now();
    // Arrival times only grow along a shard, so the expired records are a prefix of the run.
    let expired = 0;
    while (expired < run.records.length) {
      const record = run.records[expired] as StreamRecord;
      if (at - record.input.approximateArrivalMs <= settings.maxRecordAgeMs) break;
      expired++;
    }
    if (expired === 0) return;
    const records = run.records.splice(0, expired);
    await giveUp(shard, run, records, 'RecordAgeExceeded');
    shard.checkpoint = records.at(-1)?.input.sequenceNumber;
  }

  /**
   * Takes one batch to its end: every record processed or given up, in order. Nothing after the
   * batch is read meanwhile, so a failing batch blocks its shard. Returns early only on `stop()`.
   */
  async function processBatch(shard: ShardState, batch: StreamRecord[]): Promise<void> {
    const queue: PendingRun[] = [{ records: batch, retries: 0, invokeCount: 0 }];
    while (queue.length > 0 && running) {
      const run = queue[0] as PendingRun;
      await expireOldRecords(shard, run);
      if (run.records.length === 0) {
        queue.shift();
        continue;
      }
      const outcome = await invoke(run.records);
      run.invokeCount++;
      const last = run.records.at(-1) as StreamRecord;
      shard.iteratorAgeMs = Math.max(0, now() - last.input.approximateArrivalMs);
      updateIteratorAge();

      if (outcome.kind === 'success') {
        stats.recordsProcessed += run.records.length;
        shard.checkpoint = last.input.sequenceNumber;
        queue.shift();
        continue;
      }
      if (outcome.kind === 'function-error') {
        run.lastResponse = { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' };
        if (settings.bisect && run.records.length > 1) {
          // Splitting does not consume the retry quota: both halves keep the run's count.
          const middle = Math.ceil(run.records.length / 2);
          const halves = [run.records.slice(0, middle), run.records.slice(middle)].map(
            (records): PendingRun => ({ ...run, records }),
          );
          queue.splice(0, 1, ...halves);
          stats.bisects++;
          continue;
        }
      } else {
        run.lastResponse = { statusCode: 200, executedVersion: '$LATEST' };
        if (outcome.kind === 'partial') {
          // Checkpoint at the lowest failed record: everything before it is done.
          const done = run.records.splice(0, outcome.firstFailedIndex);
          stats.recordsProcessed += done.length;
          const lastDone = done.at(-1);
          if (lastDone) shard.checkpoint = lastDone.input.sequenceNumber;
        }
      }
      // A failed invocation (error, complete failure, or partial failure) retries the remaining run.
      if (settings.maxRetryAttempts < 0 || run.retries < settings.maxRetryAttempts) {
        run.retries++;
        stats.retries++;
        await pause(settings.retryDelayMs);
        continue;
      }
      await giveUp(shard, run, run.records, 'RetryAttemptsExhausted');
      shard.checkpoint = last.input.sequenceNumber;
      queue.shift();
    }
  }

  function updateIteratorAge(): void {
    stats.iteratorAgeMs = Math.max(0, ...[...shardStates.values()].map((shard) => shard.iteratorAgeMs));
    stats.maxIteratorAgeMs = Math.max(stats.maxIteratorAgeMs, stats.iteratorAgeMs);
  }

  async function runShard(shard: ShardState): Promise<void> {
    for (let failures = 0; running; ) {
      try {
        const batch = await collect(shard);
        if (!batch) break;
        if (batch.length > 0) await processBatch(shard, batch);
        failures = 0;
      } catch (error) {
        // Unexpected (a bug, not an AWS error): keep the shard alive, resume from the checkpoint.
        noteError(error);
        shard.iterator = undefined;
        shard.carry = [];
        shard.lastRead = undefined;
        await pause(backoff(failures++));
      }
    }
    // Whatever was read and not resolved is read again from the checkpoint on the next start.
    shard.iterator = undefined;
    shard.carry = [];
    shard.lastRead = undefined;
  }

  async function listShards(): Promise<string[]> {
    const ids: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await options.kinesis.send(
        nextToken
          ? new ListShardsCommand({ NextToken: nextToken })
          : new ListShardsCommand({ StreamName: streamName }),
      );
      for (const shard of page.Shards ?? []) if (shard.ShardId) ids.push(shard.ShardId);
      nextToken = page.NextToken;
    } while (nextToken);
    return ids;
  }

  return {
    uuid,
    async start() {
      if (running) throw new Error(`Event source mapping ${uuid} is already running`);
      for (const shardId of await listShards()) {
        if (!shardStates.has(shardId)) {
          shardStates.set(shardId, { shardId, carry: [], iteratorAgeMs: 0, caughtUpGeneration: 0 });
        }
      }
      running = true;
      // Position every iterator before returning, so records put after start() are seen from LATEST.
      await Promise.all(
        [...shardStates.values()].map(async (shard) => {
          shard.iterator = await iteratorFor(shard);
        }),
      );
      loops = [...shardStates.values()].map((shard) => runShard(shard));
    },
    async stop() {
      running = false;
      wakeAll();
      await Promise.all(loops);
      loops = [];
      for (const waiter of [...drainWaiters]) {
        drainWaiters.delete(waiter);
        waiter.reject(new Error(`Event source mapping ${uuid} stopped before the stream was drained`));
      }
    },
    drain({ timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS } = {}) {
      if (!running) return Promise.reject(new Error(`Event source mapping ${uuid} is not running`));
      const generation = ++drainGeneration;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          drainWaiters.delete(waiter);
          const behind = [...shardStates.values()]
            .filter((shard) => shard.caughtUpGeneration < generation)
            .map((shard) => `${shard.shardId} (checkpoint ${shard.checkpoint ?? 'none'})`);
          reject(
            new Error(`Event source mapping ${uuid} not drained after ${timeoutMs} ms: ${behind.join(', ')}`),
          );
        }, timeoutMs);
        const waiter = {
          generation,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        drainWaiters.add(waiter);
        checkDrains();
        // Idle shards poll once a second: have them read now.
        wakeAll();
      });
    },
    stats: () => ({ ...stats }),
    shards: () =>
      [...shardStates.values()].map(({ shardId, checkpoint, iteratorAgeMs }) => ({
        shardId,
        ...(checkpoint !== undefined && { checkpoint }),
        iteratorAgeMs,
      })),
  };
}

/**
 * Reads the function's response as Lambda does with ReportBatchItemFailures: no failures listed
 * means success; failures checkpoint at the lowest listed sequence number; an identifier that is
 * empty, null, missing (a wrong key name) or not a sequence number of the batch fails the whole batch.
 */
function interpretResponse(response: unknown, records: readonly StreamRecord[]): Outcome {
  // Not documented: a response that is not an object carries no failures and counts as success.
  if (response === null || typeof response !== 'object') return { kind: 'success' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  // Not documented: a `batchItemFailures` that is not a list is malformed, hence a complete failure.
  if (!Array.isArray(failures)) return { kind: 'invalid-response' };
  if (failures.length === 0) return { kind: 'success' };
  const indexBySequence = new Map(records.map((record, index) => [record.input.sequenceNumber, index]));
  let lowest: number | undefined;
  for (const failure of failures) {
    const identifier = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    const index = typeof identifier === 'string' ? indexBySequence.get(identifier) : undefined;
    if (index === undefined) return { kind: 'invalid-response' };
    lowest = lowest === undefined ? index : Math.min(lowest, index);
  }
  // The batch is in sequence order, so the lowest index holds the lowest sequence number.
  return { kind: 'partial', firstFailedIndex: lowest ?? 0 };
}

function onFailureRecord(input: {
  records: readonly StreamRecord[];
  shardId: string;
  condition: OnFailureCondition;
  run: PendingRun;
  functionArn: string;
  stream: StreamIdentity;
  at: number;
}): OnFailureRecord {
  const first = input.records[0] as StreamRecord;
  const last = input.records.at(-1) as StreamRecord;
  return {
    requestContext: {
      requestId: randomUUID(),
      functionArn: input.functionArn,
      condition: input.condition,
      approximateInvokeCount: input.run.invokeCount,
    },
    ...(input.run.lastResponse && { responseContext: input.run.lastResponse }),
    version: '1.0',
    timestamp: new Date(input.at).toISOString(),
    KinesisBatchInfo: {
      shardId: input.shardId,
      startSequenceNumber: first.input.sequenceNumber,
      endSequenceNumber: last.input.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(first.input.approximateArrivalMs).toISOString(),
      approximateArrivalOfLastRecord: new Date(last.input.approximateArrivalMs).toISOString(),
      batchSize: input.records.length,
      streamArn: input.stream.streamArn,
    },
    payload: JSON.stringify(
      buildKinesisEvent(
        input.records.map((record) => record.input),
        input.stream,
      ),
    ),
  };
}

/**
 * The S3 object key Lambda uses for an on-failure record:
 * `aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>`, here with the
 * record's timestamp and its request id as the UUID, so the key follows from the record.
 */
export function onFailureObjectKey(mappingUuid: string, failure: OnFailureRecord): string {
  const iso = failure.timestamp; // YYYY-MM-DDTHH:MM:SS.sssZ
  const [year, month, day] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10)];
  const time = iso.slice(0, 19).replaceAll(':', '.');
  return `aws/lambda/${mappingUuid}/${failure.KinesisBatchInfo.shardId}/${year}/${month}/${day}/${time}-${failure.requestContext.requestId}`;
}

/** How many records of the batch fit one event under the payload limit (at least one). */
function fitPayload(batch: readonly StreamRecord[], stream: StreamIdentity): number {
  let bytes = EVENT_ENVELOPE_BYTES;
  const event = buildKinesisEvent(
    batch.map((record) => record.input),
    stream,
  );
  for (const [index, record] of event.Records.entries()) {
    bytes += Buffer.byteLength(JSON.stringify(record)) + (index > 0 ? 1 : 0);
    if (bytes > MAX_INVOCATION_PAYLOAD_BYTES) return Math.max(1, index);
  }
  return batch.length;
}

function toStreamRecord(record: KinesisRecord, shardId: string, now: () => number): StreamRecord {
  const sequenceNumber = record.SequenceNumber ?? '';
  return {
    input: {
      data: record.Data ?? new Uint8Array(),
      partitionKey: record.PartitionKey ?? '',
      sequenceNumber,
      approximateArrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? now(),
      shardId,
    },
  };
}

function streamNameOf(streamArn: string): string {
  const match = /^arn:[^:]+:kinesis:[^:]*:[^:]*:stream\/([a-zA-Z0-9_.-]+)$/.exec(streamArn);
  if (!match?.[1]) {
    throw new Error(
      `Event source mapping stream.streamArn: received ${JSON.stringify(streamArn)}, expected arn:aws:kinesis:<region>:<account>:stream/<name>`,
    );
  }
  return match[1];
}

interface Settings {
  batchSize: number;
  windowMs: number;
  reportBatchItemFailures: boolean;
  bisect: boolean;
  maxRetryAttempts: number;
  maxRecordAgeMs: number;
  pollIntervalMs: number;
  retryDelayMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  destinationMaxAttempts: number;
}

function validate(options: EventSourceMappingOptions): Settings {
  const integer = (name: string, value: number, ok: (v: number) => boolean, expected: string): number => {
    if (!Number.isInteger(value) || !ok(value)) {
      throw new Error(`Event source mapping ${name}: received ${value}, expected ${expected}`);
    }
    return value;
  };
  if ((options.parallelizationFactor ?? 1) !== 1) {
    throw new Error(
      `Event source mapping parallelizationFactor: received ${options.parallelizationFactor}, expected 1 (the twin runs one batch per shard at a time)`,
    );
  }
  if (options.startingPosition !== 'TRIM_HORIZON' && options.startingPosition !== 'LATEST') {
    throw new Error(
      `Event source mapping startingPosition: received ${JSON.stringify(options.startingPosition)}, expected TRIM_HORIZON or LATEST`,
    );
  }
  const maxRecordAgeSeconds = integer(
    'maximumRecordAgeSeconds',
    options.maximumRecordAgeSeconds ?? -1,
    (v) => v === -1 || (v >= MIN_RECORD_AGE_SECONDS && v <= MAX_RECORD_AGE_SECONDS),
    `-1 or an integer from ${MIN_RECORD_AGE_SECONDS} to ${MAX_RECORD_AGE_SECONDS}`,
  );
  const nonNegative = (v: number) => v >= 0;
  return {
    batchSize: integer(
      'batchSize',
      options.batchSize ?? 100,
      (v) => v >= 1 && v <= MAX_BATCH_SIZE,
      `an integer from 1 to ${MAX_BATCH_SIZE}`,
    ),
    windowMs: integer(
      'maximumBatchingWindowMs',
      options.maximumBatchingWindowMs ?? 0,
      (v) => v >= 0 && v <= MAX_BATCHING_WINDOW_MS,
      `an integer from 0 to ${MAX_BATCHING_WINDOW_MS}`,
    ),
    reportBatchItemFailures: options.reportBatchItemFailures ?? false,
    bisect: options.bisectBatchOnFunctionError ?? false,
    maxRetryAttempts: integer(
      'maximumRetryAttempts',
      options.maximumRetryAttempts ?? -1,
      (v) => v >= -1 && v <= MAX_RETRY_ATTEMPTS,
      `-1 or an integer from 0 to ${MAX_RETRY_ATTEMPTS}`,
    ),
    maxRecordAgeMs: maxRecordAgeSeconds < 0 ? -1 : maxRecordAgeSeconds * 1000,
    pollIntervalMs: integer('pollIntervalMs', options.pollIntervalMs ?? 1000, nonNegative, 'an integer ≥ 0'),
    retryDelayMs: integer('retryDelayMs', options.retryDelayMs ?? 100, nonNegative, 'an integer ≥ 0'),
    backoffBaseMs: integer('backoffBaseMs', options.backoffBaseMs ?? 100, nonNegative, 'an integer ≥ 0'),
    backoffMaxMs: integer('backoffMaxMs', options.backoffMaxMs ?? 5000, nonNegative, 'an integer ≥ 0'),
    destinationMaxAttempts: integer(
      'destinationMaxAttempts',
      options.destinationMaxAttempts ?? 3,
      (v) => v >= 1,
      'an integer ≥ 1',
    ),
  };
}
