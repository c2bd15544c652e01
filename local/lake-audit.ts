/**
 * Reads back what a twin run left in its buckets, through the S3 API, and checks conservation:
 * every published reading ends in exactly one of valid (raw zone), quarantined, or dead-lettered
 * (the event source mapping's on-failure destination, or the topic rule's error action), and the
 * lake holds nothing that was never published.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamEvent } from 'aws-lambda';
import type { RuleEnvelope } from '../lambdas/shared/contract.ts';
import { RAW_PREFIX } from '../lambdas/shared/pipeline-names.ts';
import { listObjects } from '../lambdas/shared/s3-listing.ts';
import type { OnFailureRecord } from './event-source-mapping.ts';
import { RULE_ERROR_PREFIX } from './rule-bridge.ts';

/** A message the twin published: who sent which bytes, carrying which readings. */
export interface PublishedMessage {
  readonly deviceId: string;
  readonly payload: Buffer;
  readonly eventIds: readonly string[];
}

export interface LakeContents {
  /** Raw-zone lines by event id: how many times each appears, and when its object was written. */
  readonly raw: Map<string, { copies: number; writtenAtMs: number }>;
  readonly rawObjects: number;
  readonly quarantineObjects: QuarantineDocument[];
  /** Device payloads in the failures bucket, from both dead-letter paths. */
  readonly deadLettered: Array<{
    deviceId: string;
    payload: Buffer;
    source: 'event-source-mapping' | 'iot-rule';
  }>;
}

interface QuarantineDocument {
  readonly topicDeviceId: string | null;
  readonly payloadBase64: string;
  readonly readingCount: number;
  readonly rejections: Array<{ index: number | null; eventId?: string; reasons: Array<{ code: string }> }>;
}

export interface ConservationReport {
  readonly published: number;
  readonly valid: number;
  readonly quarantined: number;
  readonly deadLettered: number;
  /** Published readings found nowhere. Must be 0. */
  readonly missing: number;
  /** Readings in the lake that were never published. Must be 0. */
  readonly unexpected: number;
  /** Readings valid in the raw zone more than once (redelivery across batches; the ETL de-duplicates). */
  readonly rawDuplicateCopies: number;
  /** Readings quarantined by reason code (the first reason of each). */
  readonly quarantinedByReason: Record<string, number>;
  readonly holds: boolean;
  readonly missingExamples: string[];
}

async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix?: string,
): Promise<Array<{ key: string; lastModifiedMs: number }>> {
  return (await listObjects(s3, bucket, prefix)).flatMap((object) =>
    object.Key ? [{ key: object.Key, lastModifiedMs: object.LastModified?.getTime() ?? 0 }] : [],
  );
}

async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
}

/** Reads the buckets with bounded concurrency. `putTimes` (key -> wall ms) refines write times. */
export async function readLake(
  s3: S3Client,
  buckets: { raw: string; quarantine: string; failures: string },
  putTimes: ReadonlyMap<string, number> = new Map(),
): Promise<LakeContents> {
  const raw = new Map<string, { copies: number; writtenAtMs: number }>();
  // Readings only: the raw bucket also holds the registry export, weather and archived alerts
  // (`alerts/`), none of which is a published reading.
  const rawKeys = await listKeys(s3, buckets.raw, `${RAW_PREFIX}/`);
  await mapLimit(rawKeys, 16, async ({ key, lastModifiedMs }) => {
    const writtenAtMs = putTimes.get(key) ?? lastModifiedMs;
    const lines = gunzipSync(await getObject(s3, buckets.raw, key))
      .toString('utf8')
      .split('\n');
    for (const line of lines) {
      if (!line) continue;
      const { eventId } = JSON.parse(line) as { eventId: string };
      const seen = raw.get(eventId);
      if (seen) {
        seen.copies++;
        seen.writtenAtMs = Math.min(seen.writtenAtMs, writtenAtMs);
      } else {
        raw.set(eventId, { copies: 1, writtenAtMs });
      }
    }
  });
  const quarantineObjects: QuarantineDocument[] = [];
  await mapLimit(await listKeys(s3, buckets.quarantine), 16, async ({ key }) => {
    quarantineObjects.push(JSON.parse((await getObject(s3, buckets.quarantine, key)).toString('utf8')));
  });
  const deadLettered: LakeContents['deadLettered'] = [];
  await mapLimit(await listKeys(s3, buckets.failures), 16, async ({ key }) => {
    const body = JSON.parse((await getObject(s3, buckets.failures, key)).toString('utf8'));
    if (key.startsWith(`${RULE_ERROR_PREFIX}/`)) {
      deadLettered.push({
        deviceId: body.clientId,
        payload: Buffer.from(body.base64OriginalPayload, 'base64'),
        source: 'iot-rule',
      });
      return;
    }
    const failure = body as OnFailureRecord;
    const event = JSON.parse(failure.payload ?? '{"Records":[]}') as KinesisStreamEvent;
    for (const record of event.Records) {
      const data = Buffer.from(record.kinesis.data, 'base64');
      const envelope = ruleEnvelopeOf(data);
      // A record a producer put on the stream directly is the device payload itself.
      deadLettered.push({
        deviceId: envelope?.deviceId ?? '',
        payload: envelope ? Buffer.from(envelope.payload, 'base64') : data,
        source: 'event-source-mapping',
      });
    }
  });
  return { raw, rawObjects: rawKeys.length, quarantineObjects, deadLettered };
}

/** The topic rule's envelope, when a stream record has its shape (as the validator decides it). */
function ruleEnvelopeOf(data: Buffer): RuleEnvelope | undefined {
  try {
    const value = JSON.parse(data.toString('utf8')) as Partial<RuleEnvelope> | null;
    if (typeof value?.payload !== 'string' || typeof value.topic !== 'string') return undefined;
    return value as RuleEnvelope;
  } catch {
    return undefined;
  }
}

const messageKey = (deviceId: string, payload: Buffer) =>
  `${deviceId}\u0000${createHash('sha256').update(payload).digest('hex')}`;

/**
 * Checks conservation of readings. A reading's final place is, in order of precedence: valid,
 * quarantined, dead-lettered (a record retried into the destination after its readings were already
 * written is at-least-once, not loss).
 */
export function checkConservation(
  published: readonly PublishedMessage[],
  lake: LakeContents,
): ConservationReport {
  const publishedIds = new Set<string>();
  const byMessage = new Map<string, readonly string[]>();
  for (const message of published) {
    for (const id of message.eventIds) publishedIds.add(id);
    byMessage.set(messageKey(message.deviceId, message.payload), message.eventIds);
  }
  const valid = new Set<string>();
  let unexpected = 0;
  let rawDuplicateCopies = 0;
  for (const [eventId, { copies }] of lake.raw) {
    if (!publishedIds.has(eventId)) unexpected++;
    valid.add(eventId);
    rawDuplicateCopies += copies - 1;
  }
  const quarantined = new Set<string>();
  const quarantinedByReason: Record<string, number> = {};
  const unknownMessages = new Set<string>();
  for (const doc of lake.quarantineObjects) {
    const messageIds = byMessage.get(
      messageKey(doc.topicDeviceId ?? '', Buffer.from(doc.payloadBase64, 'base64')),
    );
    for (const rejection of doc.rejections) {
      const ids =
        rejection.index === null
          ? (messageIds ?? [])
          : [rejection.eventId ?? messageIds?.[rejection.index]].filter(
              (id): id is string => id !== undefined,
            );
      if (ids.length === 0) unknownMessages.add(doc.payloadBase64);
      for (const id of ids) {
        if (valid.has(id) || quarantined.has(id)) continue;
        quarantined.add(id);
        const code = rejection.reasons[0]?.code ?? 'unknown';
        quarantinedByReason[code] = (quarantinedByReason[code] ?? 0) + 1;
      }
    }
  }
  const deadLettered = new Set<string>();
  for (const item of lake.deadLettered) {
    const ids = byMessage.get(messageKey(item.deviceId, item.payload));
    if (!ids) {
      unexpected++;
      continue;
    }
    for (const id of ids) if (!valid.has(id) && !quarantined.has(id)) deadLettered.add(id);
  }
  const missing = [...publishedIds].filter(
    (id) => !valid.has(id) && !quarantined.has(id) && !deadLettered.has(id),
  );
  unexpected += unknownMessages.size;
  return {
    published: publishedIds.size,
    valid: [...valid].filter((id) => publishedIds.has(id)).length,
    quarantined: quarantined.size,
    deadLettered: deadLettered.size,
    missing: missing.length,
    unexpected,
    rawDuplicateCopies,
    quarantinedByReason,
    holds: missing.length === 0 && unexpected === 0,
    missingExamples: missing.slice(0, 5),
  };
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
