/**
 * The validator's work for one Kinesis batch: classify every record, write valid readings to the
 * raw zone, rejected ones to quarantine, alerts to EventBridge (critical ones also to SNS) and to the
 * raw bucket's `alerts/` (archived for the batch ETL), and report exactly the records whose writes
 * failed so that Lambda retries them.
 *
 * Invalid data is a success (quarantined, reported processed); only transient failures of S3,
 * EventBridge or SNS make a record fail. Nothing here throws for a record's content.
 *
 * With an anomaly endpoint configured (`ValidatorDeps.scoring`), the valid readings are scored after
 * validation and the model's alerts join the rules' (see anomaly-scoring.ts); scoring never fails a
 * record: when the endpoint cannot score, the batch completes with the rules' alerts only.
 */
import { PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand } from '@aws-sdk/client-sns';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { evaluateAlerts, type TelemetryAlert } from '../shared/anomaly-rules.ts';
import type { ValidatorClients } from '../shared/aws-clients.ts';
import { type ClassifiedMessage, classifyRecord } from '../shared/classify.ts';
import type { Reading, RejectionCode } from '../shared/contract.ts';
import {
  alertObjectKey,
  alertPartitionPath,
  alertRecord,
  encodeRawObject,
  quarantineObjectKey,
  rawObjectKey,
  rawPartitionPath,
} from '../shared/lake-objects.ts';
import { ALERT_DETAIL_TYPE, ALERT_EVENT_SOURCE } from '../shared/pipeline-names.ts';
import type { IngestFields } from '../shared/raw-record.ts';
import {
  type AnomalyScoring,
  type BatchReading,
  type ScoringSummary,
  scoreReadings,
} from './anomaly-scoring.ts';

/** Where the validator writes. Resolved from the environment in Lambda, from the twin locally. */
export interface ValidatorTargets {
  readonly rawBucket: string;
  readonly quarantineBucket: string;
  readonly alertBusName: string;
  readonly criticalAlertTopicArn: string;
}

export interface ValidatorDeps extends ValidatorTargets {
  readonly clients: ValidatorClients;
  /** The anomaly model's scoring; without it the validator raises the rules' alerts only. */
  readonly scoring?: AnomalyScoring;
}

/** What one batch did, for metrics, logs and the twin's summary. */
export interface BatchOutcome {
  readonly response: KinesisStreamBatchResponse;
  readonly records: number;
  readonly readings: number;
  readonly valid: number;
  readonly quarantined: number;
  readonly quarantinedByCode: Partial<Record<RejectionCode, number>>;
  /** Readings whose eventId an earlier record of the same batch already carried (redelivery). */
  readonly duplicatesDropped: number;
  readonly alerts: readonly TelemetryAlert[];
  /** Records reported in `batchItemFailures`, with the first error that failed each. */
  readonly failed: ReadonlyArray<{ sequenceNumber: string; error: string }>;
  /** How the valid readings were scored (only with an anomaly endpoint configured). */
  readonly scoring?: ScoringSummary;
}

/** PutEvents accepts at most 10 entries a call. */
const PUT_EVENTS_MAX_ENTRIES = 10;

export interface DecodedRecord {
  readonly record: KinesisStreamRecord;
  readonly arrivalMs: number;
  readonly shardId: string;
  readonly classified: ClassifiedMessage;
}

/** An object the batch will write, and the stream records whose readings (or alerts) it holds. */
export interface PlannedObject {
  readonly bucket: string;
  readonly key: string;
  readonly body: Buffer;
  readonly contentType: string;
  readonly recordIndices: readonly number[];
}

/**
 * Everything a batch will write, computed without I/O: the validator's whole CPU path (decode,
 * validate, enrich, evaluate alerts, serialise, compress). `executePlan` then does the writes.
 */
export interface BatchPlan {
  readonly records: readonly DecodedRecord[];
  /** The valid readings, without in-batch duplicates, in the order of their records. */
  readonly readings: readonly BatchReading[];
  readonly objects: readonly PlannedObject[];
  readonly alerts: ReadonlyArray<{ alert: TelemetryAlert; recordIndex: number }>;
  readonly duplicatesDropped: number;
}

export function planBatch(event: KinesisStreamEvent, targets: ValidatorTargets): BatchPlan {
  const records = event.Records.map(decodeRecord);
  const { groups, readings, duplicatesDropped } = groupValidReadings(records);
  const objects: PlannedObject[] = [];
  const alerts: Array<{ alert: TelemetryAlert; recordIndex: number }> = [];
  for (const [partitionPath, group] of groups) {
    group.readings.forEach((reading, i) => {
      for (const alert of evaluateAlerts(reading))
        alerts.push({ alert, recordIndex: group.recordIndices[i] ?? -1 });
    });
    objects.push({
      bucket: targets.rawBucket,
      key: rawObjectKey(
        partitionPath,
        group.readings.map((r) => r.eventId),
      ),
      body: encodeRawObject(group.lines),
      contentType: 'application/gzip',
      recordIndices: [...new Set(group.recordIndices)],
    });
  }
  objects.push(...alertObjects(alerts, records, targets.rawBucket));
  records.forEach((item, index) => {
    if (item.classified.rejected.length === 0) return;
    objects.push({
      bucket: targets.quarantineBucket,
      key: quarantineObjectKey(item.arrivalMs, item.shardId, item.record.kinesis.sequenceNumber),
      body: Buffer.from(JSON.stringify(quarantineDocument(item))),
      contentType: 'application/json',
      recordIndices: [index],
    });
  });
  return { records, readings, objects, alerts, duplicatesDropped };
}

/**
 * The alerts objects of a batch: one per `alerts/` partition (the arrival hour of the records that
 * raised them), each holding its alerts in the order they were raised.
 */
function alertObjects(
  alerts: ReadonlyArray<{ alert: TelemetryAlert; recordIndex: number }>,
  records: readonly DecodedRecord[],
  bucket: string,
): PlannedObject[] {
  const partitions = new Map<string, { ids: string[]; lines: string[]; recordIndices: Set<number> }>();
  for (const { alert, recordIndex } of alerts) {
    const arrivalMs = records[recordIndex]?.arrivalMs;
    if (arrivalMs === undefined) continue;
    const path = alertPartitionPath(arrivalMs);
    let partition = partitions.get(path);
    if (!partition) {
      partition = { ids: [], lines: [], recordIndices: new Set() };
      partitions.set(path, partition);
    }
    partition.ids.push(alert.alertId);
    partition.lines.push(`${JSON.stringify(alertRecord(alert, arrivalMs))}\n`);
    partition.recordIndices.add(recordIndex);
  }
  return [...partitions].map(([path, partition]) => ({
    bucket,
    key: alertObjectKey(path, partition.ids),
    body: encodeRawObject(partition.lines),
    contentType: 'application/gzip',
    recordIndices: [...partition.recordIndices],
  }));
}

/** Writes a plan; a record fails when any write holding its readings, rejections or alerts fails. */
export async function executePlan(
  plan: BatchPlan,
  deps: ValidatorDeps,
  scoring?: ScoringSummary,
): Promise<BatchOutcome> {
  return summarise(plan, await writePlan(plan.objects, plan.alerts, deps), scoring);
}

/** The writes of objects and alerts: the first error of each record that a failed write holds. */
async function writePlan(
  objects: readonly PlannedObject[],
  alerts: BatchPlan['alerts'],
  deps: ValidatorDeps,
): Promise<Map<number, string>> {
  const failures = new Map<number, string>();
  const fail = (index: number, error: unknown) => {
    if (!failures.has(index))
      failures.set(index, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  };
  await Promise.all([
    ...objects.map((object) =>
      deps.clients.s3
        .send(
          new PutObjectCommand({
            Bucket: object.bucket,
            Key: object.key,
            Body: object.body,
            ContentType: object.contentType,
          }),
        )
        .catch((error) => {
          for (const index of object.recordIndices) fail(index, error);
        }),
    ),
    publishAlerts(deps, alerts, fail),
  ]);
  return failures;
}

export async function processKinesisBatch(
  event: KinesisStreamEvent,
  deps: ValidatorDeps,
): Promise<BatchOutcome> {
  const plan = planBatch(event, deps);
  if (!deps.scoring) return executePlan(plan, deps);
  // Ingestion does not wait for the model: the readings, rejections and rules' alerts are written
  // while the batch is scored; the model's alerts (in their own objects) follow.
  const [failures, scored] = await Promise.all([
    writePlan(plan.objects, plan.alerts, deps),
    scoreReadings(plan.readings, plan.alerts, deps.scoring),
  ]);
  const modelObjects = alertObjects(scored.alerts, plan.records, deps.rawBucket);
  for (const [index, error] of await writePlan(modelObjects, scored.alerts, deps)) {
    if (!failures.has(index)) failures.set(index, error);
  }
  const scoredPlan: BatchPlan = {
    ...plan,
    objects: [...plan.objects, ...modelObjects],
    alerts: [...plan.alerts, ...scored.alerts],
  };
  return summarise(scoredPlan, failures, scored.summary);
}

function summarise(
  plan: BatchPlan,
  failures: ReadonlyMap<number, string>,
  scoring: ScoringSummary | undefined,
): BatchOutcome {
  const quarantinedByCode: Partial<Record<RejectionCode, number>> = {};
  let readings = 0;
  let valid = 0;
  let quarantined = 0;
  for (const { classified } of plan.records) {
    readings += classified.readingCount;
    valid += classified.valid.length;
    quarantined += classified.rejected.length;
    for (const rejection of classified.rejected) {
      const code = rejection.reasons[0]?.code ?? 'validator_error';
      quarantinedByCode[code] = (quarantinedByCode[code] ?? 0) + 1;
    }
  }
  const failed = [...failures.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, error]) => ({
      sequenceNumber: plan.records[index]?.record.kinesis.sequenceNumber ?? '',
      error,
    }));
  return {
    response: { batchItemFailures: failed.map(({ sequenceNumber }) => ({ itemIdentifier: sequenceNumber })) },
    records: plan.records.length,
    readings,
    valid: valid - plan.duplicatesDropped,
    quarantined,
    quarantinedByCode,
    duplicatesDropped: plan.duplicatesDropped,
    alerts: plan.alerts.map(({ alert }) => alert),
    failed,
    ...(scoring && { scoring }),
  };
}

function decodeRecord(record: KinesisStreamRecord): DecodedRecord {
  const arrivalMs = Math.round(record.kinesis.approximateArrivalTimestamp * 1000);
  // eventID is `shardId-000000000000:<sequence number>`.
  const shardId = record.eventID.split(':')[0] ?? 'unknown-shard';
  const data = Buffer.from(record.kinesis.data, 'base64');
  let classified: ClassifiedMessage;
  try {
    classified = classifyRecord(data, { arrivalMs });
  } catch (error) {
    // classifyRecord is total; this guards against a bug becoming a blocked shard.
    classified = {
      valid: [],
      readingCount: 1,
      payload: data,
      rejected: [
        {
          index: null,
          reasons: [
            {
              code: 'validator_error',
              path: '',
              received: String(error),
              expected: 'a record the validator can process',
            },
          ],
        },
      ],
    };
  }
  return { record, arrivalMs, shardId, classified };
}

interface RawGroup {
  readonly readings: Reading[];
  /** The NDJSON line of each reading: a `RawRecord`. */
  readonly lines: string[];
  /** For each reading, the index of the stream record it came from. */
  readonly recordIndices: number[];
}

/** Valid readings by raw partition, dropping readings whose eventId the batch already carried. */
function groupValidReadings(decoded: readonly DecodedRecord[]): {
  groups: Map<string, RawGroup>;
  readings: BatchReading[];
  duplicatesDropped: number;
} {
  const groups = new Map<string, RawGroup>();
  const readings: BatchReading[] = [];
  const seen = new Set<string>();
  let duplicatesDropped = 0;
  decoded.forEach(({ record, arrivalMs, shardId, classified }, index) => {
    if (classified.valid.length === 0) return;
    const receivedAtMs = classified.rule?.receivedAtMs;
    const suffix = ingestSuffix({
      ingestArrivedAt: new Date(arrivalMs).toISOString(),
      ingestBrokerReceivedAt:
        receivedAtMs !== undefined && Number.isFinite(receivedAtMs)
          ? new Date(receivedAtMs).toISOString()
          : null,
      ingestShardId: shardId,
      ingestSequenceNumber: record.kinesis.sequenceNumber,
    });
    for (const reading of classified.valid) {
      if (seen.has(reading.eventId)) {
        duplicatesDropped++;
        continue;
      }
      seen.add(reading.eventId);
      readings.push({ reading, recordIndex: index });
      const partitionPath = rawPartitionPath(reading.deviceType, arrivalMs);
      let group = groups.get(partitionPath);
      if (!group) {
        group = { readings: [], lines: [], recordIndices: [] };
        groups.set(partitionPath, group);
      }
      group.readings.push(reading);
      // The reading's JSON minus its closing brace, then the ingest fields: the same bytes as
      // JSON.stringify({...reading, ...ingest}) without building an object per reading, which
      // the bench measured as the validator's largest cost.
      group.lines.push(`${JSON.stringify(reading).slice(0, -1)}${suffix}`);
      group.recordIndices.push(index);
    }
  });
  return { groups, readings, duplicatesDropped };
}

/** `,"ingestArrivedAt":...}` + newline: the ingest fields closing a raw line. */
function ingestSuffix(fields: IngestFields): string {
  return `,${JSON.stringify(fields).slice(1)}\n`;
}

/** The quarantine object: the original bytes, where they came from, and every reason. */
function quarantineDocument({ record, arrivalMs, shardId, classified }: DecodedRecord) {
  return {
    arrivedAt: new Date(arrivalMs).toISOString(),
    shardId,
    sequenceNumber: record.kinesis.sequenceNumber,
    partitionKey: record.kinesis.partitionKey,
    topic: classified.rule?.topic ?? null,
    topicDeviceId: classified.rule?.deviceId ?? null,
    brokerReceivedAt: Number.isFinite(classified.rule?.receivedAtMs)
      ? new Date(classified.rule?.receivedAtMs as number).toISOString()
      : null,
    readingCount: classified.readingCount,
    validCount: classified.valid.length,
    rejections: classified.rejected,
    payloadBytes: classified.payload.byteLength,
    payloadBase64: Buffer.from(classified.payload).toString('base64'),
  };
}

async function publishAlerts(
  deps: ValidatorDeps,
  alerts: ReadonlyArray<{ alert: TelemetryAlert; recordIndex: number }>,
  fail: (index: number, error: unknown) => void,
): Promise<void> {
  const calls: Promise<unknown>[] = [];
  for (let start = 0; start < alerts.length; start += PUT_EVENTS_MAX_ENTRIES) {
    const chunk = alerts.slice(start, start + PUT_EVENTS_MAX_ENTRIES);
    const entries: PutEventsRequestEntry[] = chunk.map(({ alert }) => ({
      EventBusName: deps.alertBusName,
      Source: ALERT_EVENT_SOURCE,
      DetailType: ALERT_DETAIL_TYPE,
      Time: new Date(alert.timestamp),
      Detail: JSON.stringify(alert),
    }));
    calls.push(putAlertEvents(deps, chunk, entries, fail));
  }
  for (const { alert, recordIndex } of alerts) {
    if (alert.severity !== 'critical') continue;
    calls.push(publishCritical(deps, alert).catch((error) => fail(recordIndex, error)));
  }
  await Promise.all(calls);
}

async function putAlertEvents(
  deps: ValidatorDeps,
  chunk: ReadonlyArray<{ alert: TelemetryAlert; recordIndex: number }>,
  entries: PutEventsRequestEntry[],
  fail: (index: number, error: unknown) => void,
): Promise<void> {
  try {
    const result = await deps.clients.eventBridge.send(new PutEventsCommand({ Entries: entries }));
    // PutEvents succeeds as a call even when some entries fail: each failed entry has an ErrorCode.
    result.Entries?.forEach((entry, i) => {
      const owner = chunk[i];
      if (entry.ErrorCode && owner) {
        fail(owner.recordIndex, new Error(`PutEvents ${entry.ErrorCode}: ${entry.ErrorMessage}`));
      }
    });
  } catch (error) {
    for (const { recordIndex } of chunk) fail(recordIndex, error);
  }
}

async function publishCritical(deps: ValidatorDeps, alert: TelemetryAlert): Promise<void> {
  await deps.clients.sns.send(
    new PublishCommand({
      TopicArn: deps.criticalAlertTopicArn,
      Subject: `[${alert.severity}] ${alert.message}`.slice(0, 100),
      Message: JSON.stringify(alert, null, 2),
    }),
  );
}
