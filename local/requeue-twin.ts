/**
 * `sdap requeue` on a twin's output directory: the lake a `sdap twin` run (or a serving session) left
 * in `<out>/lake` is served again, the twin's streaming path is started on it (kinesalite, the event
 * source mapping and the validator handler as they are in the working tree, so a contract fix made
 * since the run applies), the quarantined originals are put on its stream, and once the stream is
 * drained the lake is read back to tell, record by record, what came back valid and what was
 * quarantined again.
 *
 * A serving twin is not a target: it wipes its lake when it starts, so a fix could never be loaded
 * between the quarantine and the requeue. Stop it first (its lake stays), then requeue its output.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { createValidatorClients } from '../lambdas/shared/aws-clients.ts';
import type { RejectionCode } from '../lambdas/shared/contract.ts';
import { utcDateHour } from '../lambdas/shared/lake-objects.ts';
import { RAW_PREFIX } from '../lambdas/shared/pipeline-names.ts';
import type { RawRecord } from '../lambdas/shared/raw-record.ts';
import { listKeys } from '../lambdas/shared/s3-listing.ts';
import {
  countRejectedReadings,
  hoursOverlapping,
  type QuarantineDocument,
  type QuarantineSelection,
  quarantinePrefixes,
} from '../ops/quarantine-reader.ts';
import {
  type PutRecordsOptions,
  type RequeuedRecord,
  type RequeueRun,
  requeueQuarantined,
} from '../ops/requeue-records.ts';
import { getObject, mapLimit, S3_CONCURRENCY } from './etl/lake-io.ts';
import { DEFAULT_TWIN_SHARD_COUNT } from './kinesis-stand-in.ts';
import { startS3StandIn } from './s3-stand-in.ts';
import { startTwinPipeline, TWIN_BUCKETS } from './twin-pipeline.ts';

/** How long the requeue waits for the twin's validator to process what was put. */
const DRAIN_TIMEOUT_MS = 120_000;

/** The lake of a twin output is missing: the message names the directory and what to do. */
export class TwinLakeMissingError extends Error {
  override readonly name = 'TwinLakeMissingError';
}

export interface TwinRequeueOptions {
  /** The twin's output directory (absolute or relative to the working directory). */
  readonly outDir: string;
  readonly selection: QuarantineSelection;
  /** Count what would be requeued, put nothing. */
  readonly dryRun: boolean;
  /** Retries of PutRecords (attempts, sleep); the stream is the twin's. */
  readonly put?: Omit<PutRecordsOptions, 'kinesis' | 'streamName'>;
  /**
   * The anomaly model the twin's validator scores with, as in `startTwinPipeline`; null runs the
   * rules only. @default the committed model when it exists
   */
  readonly anomalyModelPath?: string | null;
}

/** What the twin's validator made of the requeued records, read back from the lake after the drain. */
export interface TwinRequeueOutcome {
  /** Requeued records the validator wrote something for (raw lines or a quarantine object). */
  readonly recordsProcessed: number;
  /** Records with neither: sent to the failure destination, or dropped as a redelivery in their batch. */
  readonly recordsUnaccounted: number;
  /** Readings that were rejected before and are valid now. */
  readonly cameBackValid: number;
  /** Readings that were valid before too, written to the raw zone again (the ETL keeps one copy). */
  readonly validAgain: number;
  /** Readings rejected again, by first reason code. */
  readonly quarantinedAgain: number;
  readonly quarantinedAgainByReason: Partial<Record<RejectionCode, number>>;
  /** The new quarantine objects (one per requeued record that is still partly or wholly invalid). */
  readonly newQuarantineObjects: readonly string[];
  /** Event ids of the requeued records' readings now in the raw zone. */
  readonly validEventIds: readonly string[];
}

export interface TwinRequeueResult {
  readonly outDir: string;
  readonly run: RequeueRun;
  /** Absent on a dry run. */
  readonly outcome?: TwinRequeueOutcome;
}

/** Requeues the selection on a twin output; see the module's comment. */
export async function requeueOnTwin(options: TwinRequeueOptions): Promise<TwinRequeueResult> {
  const outDir = options.outDir;
  const lakeDir = join(outDir, 'lake');
  const hasLake = await stat(join(lakeDir, TWIN_BUCKETS.quarantine)).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!hasLake) {
    throw new TwinLakeMissingError(
      `--out ${outDir}: no twin lake there (expected ${join(lakeDir, TWIN_BUCKETS.quarantine)}); run sdap twin first, or pass --stage for a deployed stage`,
    );
  }
  if (options.dryRun) {
    const s3Stand = await startS3StandIn({ buckets: Object.values(TWIN_BUCKETS), directory: lakeDir });
    try {
      const s3 = createValidatorClients(s3Stand.clientOverrides).s3;
      const run = await requeueQuarantined({
        s3,
        quarantineBucket: TWIN_BUCKETS.quarantine,
        selection: options.selection,
      });
      return { outDir, run };
    } finally {
      await s3Stand.close();
    }
  }

  const pipeline = await startTwinPipeline({
    outDir,
    shards: DEFAULT_TWIN_SHARD_COUNT,
    seed: 1,
    // Nothing publishes over MQTT here: the records go straight onto the stream, as the rule put them.
    isRegisteredThing: () => false,
    ...(options.anomalyModelPath !== undefined && { anomalyModelPath: options.anomalyModelPath }),
  });
  try {
    const startedMs = Date.now();
    const run = await requeueQuarantined({
      s3: pipeline.directS3,
      quarantineBucket: TWIN_BUCKETS.quarantine,
      selection: options.selection,
      put: {
        ...options.put,
        kinesis: pipeline.kinesis.createClient(),
        streamName: pipeline.kinesis.streamName,
      },
    });
    await pipeline.drain({ timeoutMs: DRAIN_TIMEOUT_MS });
    await pipeline.stopMapping();
    const outcome = await readOutcomes(pipeline.directS3, run.records, startedMs, Date.now());
    return { outDir, run, outcome };
  } finally {
    await pipeline.stopMapping();
    await pipeline.close();
  }
}

/**
 * What the validator wrote for each requeued record, found by the record's shard and sequence number:
 * its quarantine object's key ends in `<shardId>-<sequenceNumber>.json`, and its raw lines carry
 * `ingestShardId` and `ingestSequenceNumber`. Only the arrival hours of the requeue are read.
 */
async function readOutcomes(
  s3: S3Client,
  records: readonly RequeuedRecord[],
  sinceMs: number,
  untilMs: number,
): Promise<TwinRequeueOutcome> {
  const recordKey = (shardId: string, sequenceNumber: string) => `${shardId}-${sequenceNumber}`;
  const requeued = new Map(records.map((r) => [recordKey(r.shardId, r.sequenceNumber), r]));

  const quarantined = new Map<string, { key: string; document: QuarantineDocument }>();
  const quarantineKeys = (
    await Promise.all(
      quarantinePrefixes(sinceMs, untilMs + 1).map((prefix) => listKeys(s3, TWIN_BUCKETS.quarantine, prefix)),
    )
  ).flat();
  await mapLimit(quarantineKeys, S3_CONCURRENCY, async (key) => {
    const name = key.slice(key.lastIndexOf('/') + 1).replace(/\.json$/, '');
    if (!requeued.has(name)) return;
    const body = await getObject(s3, TWIN_BUCKETS.quarantine, key);
    if (body) quarantined.set(name, { key, document: JSON.parse(body.toString('utf8')) });
  });

  // Raw partitions are per device type too: match the arrival hours inside any of them.
  const hourPartitions = hoursOverlapping(sinceMs, untilMs + 1).map((hourMs) => {
    const { date, hour } = utcDateHour(hourMs);
    return `/ingest_date=${date}/ingest_hour=${hour}/`;
  });
  const rawKeys = (await listKeys(s3, TWIN_BUCKETS.raw, `${RAW_PREFIX}/`)).filter((key) =>
    hourPartitions.some((partition) => key.includes(partition)),
  );
  const validByRecord = new Map<string, string[]>();
  await mapLimit(rawKeys, S3_CONCURRENCY, async (key) => {
    const body = await getObject(s3, TWIN_BUCKETS.raw, key);
    if (!body) return;
    for (const line of gunzipSync(body).toString('utf8').split('\n')) {
      if (!line) continue;
      const raw = JSON.parse(line) as RawRecord;
      const name = recordKey(raw.ingestShardId, raw.ingestSequenceNumber);
      if (!requeued.has(name)) continue;
      const ids = validByRecord.get(name) ?? [];
      ids.push(raw.eventId);
      validByRecord.set(name, ids);
    }
  });

  let recordsProcessed = 0;
  let cameBackValid = 0;
  let validAgain = 0;
  let quarantinedAgain = 0;
  const quarantinedAgainByReason: Partial<Record<RejectionCode, number>> = {};
  const validEventIds: string[] = [];
  for (const [name, record] of requeued) {
    const validNow = validByRecord.get(name) ?? [];
    const again = quarantined.get(name);
    if (validNow.length === 0 && again === undefined) continue;
    recordsProcessed++;
    validEventIds.push(...validNow);
    // Readings valid before stay valid (the same bytes, a contract that only grew); the rest of
    // what is valid now was rejected before.
    validAgain += Math.min(record.validBefore, validNow.length);
    cameBackValid += Math.max(0, validNow.length - record.validBefore);
    if (again) {
      quarantinedAgain += again.document.rejections.length;
      countRejectedReadings(quarantinedAgainByReason, again.document);
    }
  }
  return {
    recordsProcessed,
    recordsUnaccounted: records.length - recordsProcessed,
    cameBackValid,
    validAgain,
    quarantinedAgain,
    quarantinedAgainByReason,
    newQuarantineObjects: [...quarantined.values()].map((q) => q.key).sort(),
    validEventIds: validEventIds.sort(),
  };
}
