/**
 * Reading the quarantine back for a requeue: the objects of an arrival window, optionally only those
 * with given reason codes, and the stream record each one came from, rebuilt byte for byte as the
 * topic rule (or a direct producer) put it.
 *
 * A quarantine object is what the validator wrote for one stream record
 * (lambdas/validator/process-batch.ts): the device's original bytes, the rule's topic, device id and
 * receive time, the record's partition key, and every rejection with its reasons.
 */
import { createHash } from 'node:crypto';
import type { PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RejectionCode } from '../lambdas/shared/contract.ts';
import { quarantinePartitionPath } from '../lambdas/shared/lake-objects.ts';
import { listKeys } from '../lambdas/shared/s3-listing.ts';
import { getObject, mapLimit, S3_CONCURRENCY } from '../local/etl/lake-io.ts';
import { applyTelemetryRule } from '../local/iot-rule.ts';

const HOUR_MS = 3_600_000;

/** A quarantine object's body, as the validator writes it. */
export interface QuarantineDocument {
  /** ISO 8601 UTC: the Kinesis approximate arrival time of the record. */
  readonly arrivedAt: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  /** The rule's topic; null for a record a producer put on the stream directly. */
  readonly topic: string | null;
  readonly topicDeviceId: string | null;
  /** ISO 8601 UTC: when IoT Core received the message; null without the rule. */
  readonly brokerReceivedAt: string | null;
  readonly readingCount: number;
  readonly validCount: number;
  readonly rejections: ReadonlyArray<{
    readonly index: number | null;
    readonly eventId?: string;
    readonly reasons: ReadonlyArray<{ readonly code: RejectionCode }>;
  }>;
  readonly payloadBytes: number;
  readonly payloadBase64: string;
}

/** A quarantine object selected for a requeue. */
export interface QuarantinedOriginal {
  readonly key: string;
  readonly document: QuarantineDocument;
}

/** What to select: arrival instants `[fromMs, toMs)` and, when given, only objects with one of `reasons`. */
export interface QuarantineSelection {
  readonly fromMs: number;
  readonly toMs: number;
  /** @default every reason */
  readonly reasons?: readonly RejectionCode[];
}

/** The start of every UTC hour that overlaps `[fromMs, toMs)`, in order. */
export function hoursOverlapping(fromMs: number, toMs: number): number[] {
  const hours: number[] = [];
  for (let hourMs = Math.floor(fromMs / HOUR_MS) * HOUR_MS; hourMs < toMs; hourMs += HOUR_MS) {
    hours.push(hourMs);
  }
  return hours;
}

/** The quarantine partitions (one per arrival hour) that can hold objects arrived in `[fromMs, toMs)`. */
export function quarantinePrefixes(fromMs: number, toMs: number): string[] {
  return hoursOverlapping(fromMs, toMs).map((hourMs) => `${quarantinePartitionPath(hourMs)}/`);
}

/** Whether an object is in the selection: arrived in the window, and carrying one of the reasons. */
export function isSelected(document: QuarantineDocument, selection: QuarantineSelection): boolean {
  const arrivedMs = Date.parse(document.arrivedAt);
  if (!(arrivedMs >= selection.fromMs && arrivedMs < selection.toMs)) return false;
  const wanted = selection.reasons;
  if (wanted === undefined || wanted.length === 0) return true;
  return document.rejections.some((rejection) => rejection.reasons.some((r) => wanted.includes(r.code)));
}

/**
 * The selected quarantine objects of one arrival hour after another, in key order. Reads one hour
 * at a time, so a long window never holds more than an hour of payloads.
 */
export async function* readQuarantineByHour(
  s3: S3Client,
  bucket: string,
  selection: QuarantineSelection,
): AsyncGenerator<QuarantinedOriginal[]> {
  for (const prefix of quarantinePrefixes(selection.fromMs, selection.toMs)) {
    const keys = (await listKeys(s3, bucket, prefix)).filter((key) => key.endsWith('.json'));
    const read = await mapLimit(keys, S3_CONCURRENCY, async (key) => {
      const body = await getObject(s3, bucket, key);
      // Listed a moment ago and gone now: nothing to requeue.
      if (body === undefined) return undefined;
      return { key, document: JSON.parse(body.toString('utf8')) as QuarantineDocument };
    });
    yield read.filter(
      (item): item is QuarantinedOriginal => item !== undefined && isSelected(item.document, selection),
    );
  }
}

/**
 * The identity of the original message behind a quarantine object: who sent which bytes, on which
 * topic, received when. A requeued record that is still invalid is quarantined again under a new
 * key (its new sequence number); both objects share this identity, so one requeue puts it once.
 */
export function originalIdentity(document: QuarantineDocument): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        document.topic,
        document.topicDeviceId,
        document.brokerReceivedAt,
        document.partitionKey,
        document.payloadBase64,
      ]),
    )
    .digest('hex');
}

/**
 * The stream record the quarantined one was: for a message that came through the topic rule, the
 * rule's envelope (local/iot-rule.ts, the same SQL semantics) with the broker's original receive
 * time and partition key = the device id; for a record a producer put directly, its bytes and
 * partition key as they were. Undefined when the topic is not one the rule reads (such a record
 * cannot have come from the rule, and guessing its shape would not be a requeue).
 */
export function rebuildStreamRecord(document: QuarantineDocument): PutRecordsRequestEntry | undefined {
  const payload = Buffer.from(document.payloadBase64, 'base64');
  if (document.topic === null) return { Data: payload, PartitionKey: document.partitionKey };
  const receivedAtMs =
    document.brokerReceivedAt === null ? Number.NaN : Date.parse(document.brokerReceivedAt);
  const rule = applyTelemetryRule(document.topic, payload, receivedAtMs);
  return rule && { Data: rule.data, PartitionKey: rule.partitionKey };
}

/**
 * Adds an object's rejected readings to `counts`, by each rejection's first reason code, as the
 * twin's and the validator's summaries count them.
 */
export function countRejectedReadings(
  counts: Partial<Record<RejectionCode, number>>,
  document: QuarantineDocument,
): void {
  for (const rejection of document.rejections) {
    const code = rejection.reasons[0]?.code ?? 'validator_error';
    counts[code] = (counts[code] ?? 0) + 1;
  }
}
