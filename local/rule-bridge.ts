/**
 * The twin's topic rule: takes every message the broker accepted, applies the telemetry rule
 * (local/iot-rule.ts) and puts the result on the stream with the device id as partition key, as
 * the rule's Kinesis action does. When the action keeps failing, the rule's error action writes the
 * original payload (base64) and the failure to the failures bucket, in the shape IoT Core's error
 * action message has (ruleName, topic, clientId, base64OriginalPayload, failures[]).
 *
 * Messages are sent with PutRecords in small batches for throughput; each record keeps its own
 * partition key, so per-device ordering on a shard is the same as one PutRecord per message.
 */
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { utcDateHour } from '../lambdas/shared/lake-objects.ts';
import { applyTelemetryRule } from './iot-rule.ts';

export interface RuleBridgeOptions {
  readonly ruleName: string;
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly s3: S3Client;
  readonly failuresBucket: string;
  /** Attempts per record before the error action takes it. @default 4 */
  readonly maxAttempts?: number;
  /** Records per PutRecords call (the API allows 500). @default 200 */
  readonly maxBatch?: number;
}

export interface RuleBridgeStats {
  messagesIn: number;
  recordsPut: number;
  putRetries: number;
  /** Messages the rule's FROM clause did not match (not evaluated). */
  notMatched: number;
  /** Messages handed to the error action. */
  errorActions: number;
}

export interface RuleBridge {
  readonly stats: RuleBridgeStats;
  /** Takes one accepted MQTT message. */
  accept(message: { topic: string; payload: Buffer; receivedAtMs: number; clientId: string }): void;
  /** Resolves when every accepted message is on the stream or in the error sink. */
  drain(): Promise<void>;
}

/** Key prefix of the rule's error action in the failures bucket. */
export const RULE_ERROR_PREFIX = 'iot-rule-errors';
const BACKOFF_BASE_MS = 50;

interface Pending {
  readonly entry: PutRecordsRequestEntry;
  readonly message: { topic: string; payload: Buffer; receivedAtMs: number; clientId: string };
  attempts: number;
  lastError?: string;
}

export function createRuleBridge(options: RuleBridgeOptions): RuleBridge {
  const maxAttempts = options.maxAttempts ?? 4;
  const maxBatch = options.maxBatch ?? 200;
  const stats: RuleBridgeStats = {
    messagesIn: 0,
    recordsPut: 0,
    putRetries: 0,
    notMatched: 0,
    errorActions: 0,
  };
  const queue: Pending[] = [];
  let flushing: Promise<void> | undefined;
  let errorSeq = 0;

  const flushAll = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      await putBatch(batch);
    }
  };

  const putBatch = async (batch: Pending[]): Promise<void> => {
    let pending = batch;
    while (pending.length > 0) {
      for (const item of pending) item.attempts++;
      let retry: Pending[] = [];
      try {
        const result = await options.kinesis.send(
          new PutRecordsCommand({ StreamName: options.streamName, Records: pending.map((p) => p.entry) }),
        );
        result.Records?.forEach((record, i) => {
          const item = pending[i];
          if (!item) return;
          if (record.ErrorCode) {
            item.lastError = `${record.ErrorCode}: ${record.ErrorMessage ?? ''}`;
            retry.push(item);
          } else {
            stats.recordsPut++;
          }
        });
      } catch (error) {
        for (const item of pending) item.lastError = String(error);
        retry = pending;
      }
      const exhausted = retry.filter((item) => item.attempts >= maxAttempts);
      await Promise.all(exhausted.map(errorAction));
      pending = retry.filter((item) => item.attempts < maxAttempts);
      if (pending.length > 0) {
        stats.putRetries += pending.length;
        await sleep(BACKOFF_BASE_MS * 2 ** ((pending[0]?.attempts ?? 1) - 1));
      }
    }
  };

  const errorAction = async (item: Pending): Promise<void> => {
    stats.errorActions++;
    const { date, hour } = utcDateHour(item.message.receivedAtMs);
    const body = {
      ruleName: options.ruleName,
      topic: item.message.topic,
      clientId: item.message.clientId,
      base64OriginalPayload: item.message.payload.toString('base64'),
      failures: [
        {
          failedAction: 'KinesisAction',
          failedResource: options.streamName,
          errorMessage: item.lastError ?? 'unknown error',
        },
      ],
    };
    await options.s3.send(
      new PutObjectCommand({
        Bucket: options.failuresBucket,
        Key: `${RULE_ERROR_PREFIX}/${date}/${hour}/${item.message.receivedAtMs}-${item.message.clientId}-${errorSeq++}.json`,
        Body: JSON.stringify(body),
        ContentType: 'application/json',
      }),
    );
  };

  const schedule = () => {
    flushing ??= (async () => {
      // Yield once so messages arriving in the same tick share a PutRecords call.
      await sleep(0);
      await flushAll();
    })().finally(() => {
      flushing = undefined;
      if (queue.length > 0) schedule();
    });
  };

  return {
    stats,
    accept(message) {
      stats.messagesIn++;
      const out = applyTelemetryRule(message.topic, message.payload, message.receivedAtMs);
      if (!out) {
        stats.notMatched++;
        return;
      }
      queue.push({ entry: { Data: out.data, PartitionKey: out.partitionKey }, message, attempts: 0 });
      schedule();
    },
    async drain() {
      while (flushing || queue.length > 0) {
        if (!flushing) schedule();
        await flushing;
      }
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
