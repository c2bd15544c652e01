/**
 * Putting quarantined originals back on the stream: the selection read hour by hour, each original
 * once, rebuilt as the rule put it, sent with PutRecords in batches within the API's limits. A partial
 * failure is retried for exactly the entries that failed, with backoff, so no record that was
 * accepted is sent twice.
 */
import {
  type KinesisClient,
  PutRecordsCommand,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RejectionCode } from '../lambdas/shared/contract.ts';
import {
  countRejectedReadings,
  originalIdentity,
  type QuarantinedOriginal,
  type QuarantineSelection,
  readQuarantineByHour,
  rebuildStreamRecord,
} from './quarantine-reader.ts';

/** PutRecords takes at most 500 records a call. */
export const MAX_RECORDS_PER_PUT = 500;
/** ... and at most 5 MiB a call, data and partition keys together. */
export const MAX_BYTES_PER_PUT = 5 * 1024 * 1024;
/** Attempts of one entry (the first put and its retries) before it is reported as not put. */
export const DEFAULT_PUT_ATTEMPTS = 8;
/** First backoff after a partial failure; doubles with each attempt up to {@link MAX_BACKOFF_MS}. */
const BASE_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/** Where a record landed on the stream. */
export interface PutOutcome {
  readonly shardId: string;
  readonly sequenceNumber: string;
}

export interface PutRecordsOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  /** @default {@link DEFAULT_PUT_ATTEMPTS} */
  readonly maxAttempts?: number;
  /** @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Math.random (the backoff's jitter) */
  readonly random?: () => number;
}

/** The result of each entry, in input order: where it landed, or why it is not on the stream. */
export type EntryResult = PutOutcome | { readonly error: string };

/** The results of a put, and the failure of a whole call that stopped it, if one did. */
export interface PutRecordsResult {
  readonly results: readonly EntryResult[];
  readonly stoppedBy?: string;
}

/** The entries in consecutive groups of at most 500 records and 5 MiB (each record ≤ 1 MiB by the API). */
export function putBatches(entries: readonly PutRecordsRequestEntry[]): PutRecordsRequestEntry[][] {
  const batches: PutRecordsRequestEntry[][] = [];
  let batch: PutRecordsRequestEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = (entry.Data?.byteLength ?? 0) + Buffer.byteLength(entry.PartitionKey ?? '');
    if (batch.length > 0 && (batch.length === MAX_RECORDS_PER_PUT || bytes + size > MAX_BYTES_PER_PUT)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * Puts the entries, in batches. After a partial failure (throttling, an internal error on some
 * entries) only the refused entries are sent again, after an exponential backoff with jitter, up to
 * `maxAttempts` each; accepted entries are never resent. A failure of a whole call (after the SDK's
 * own retries) stops the put: whether Kinesis took that call's entries is unknown, so they are not
 * sent again, and neither is anything after them.
 */
export async function putRecordsWithRetry(
  entries: readonly PutRecordsRequestEntry[],
  options: PutRecordsOptions,
): Promise<PutRecordsResult> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_PUT_ATTEMPTS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const results = new Array<EntryResult>(entries.length);
  let offset = 0;
  for (const batch of putBatches(entries)) {
    let pending = batch.map((entry, i) => ({ entry, index: offset + i }));
    offset += batch.length;
    for (let attempt = 1; pending.length > 0; attempt++) {
      let answer: PutRecordsCommandOutput;
      try {
        answer = await options.kinesis.send(
          new PutRecordsCommand({ StreamName: options.streamName, Records: pending.map((p) => p.entry) }),
        );
      } catch (error) {
        const stoppedBy = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        for (const item of pending)
          results[item.index] = { error: `unknown (the call failed: ${stoppedBy})` };
        for (let index = 0; index < entries.length; index++) {
          results[index] ??= { error: `not sent (an earlier call failed: ${stoppedBy})` };
        }
        return { results, stoppedBy };
      }
      const refused: typeof pending = [];
      pending.forEach((item, i) => {
        const entry = answer.Records?.[i];
        if (entry?.SequenceNumber && entry.ShardId && !entry.ErrorCode) {
          results[item.index] = { shardId: entry.ShardId, sequenceNumber: entry.SequenceNumber };
          return;
        }
        const error = entry?.ErrorCode
          ? `${entry.ErrorCode}: ${entry.ErrorMessage ?? ''}`.trim()
          : 'no result for this entry in the PutRecords answer';
        if (attempt >= maxAttempts) results[item.index] = { error };
        else refused.push(item);
      });
      pending = refused;
      if (pending.length > 0) {
        const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 1));
        // Half fixed, half random: retries of several producers spread out instead of colliding.
        await sleep(Math.round(ceiling / 2 + (random() * ceiling) / 2));
      }
    }
  }
  return { results };
}

/** One original put back on the stream, and where it landed. */
export interface RequeuedRecord extends PutOutcome {
  /** The quarantine object it came from. */
  readonly originalKey: string;
  readonly readingCount: number;
  /** Readings of the original that were valid then (already in the raw zone). */
  readonly validBefore: number;
  /** Readings of the original that were rejected then. */
  readonly rejectedBefore: number;
}

/** What a requeue selected and put. */
export interface RequeueRun {
  /** Quarantine objects in the window (and with the reasons asked for). */
  readonly objectsMatched: number;
  /** Objects skipped because another object of the selection holds the same original message. */
  readonly sameOriginalSkipped: number;
  /** Objects whose record could not be rebuilt (a topic the rule does not read). */
  readonly notRebuildable: number;
  /** Readings of the selected originals that were rejected, by first reason code. */
  readonly rejectedByReason: Partial<Record<RejectionCode, number>>;
  /** Readings in the selected originals (valid and rejected). */
  readonly readings: number;
  readonly recordsPut: number;
  readonly records: readonly RequeuedRecord[];
  /** Records refused after every attempt, with the last error. */
  readonly notPut: ReadonlyArray<{ readonly originalKey: string; readonly error: string }>;
  /** Set when a whole PutRecords call failed and the requeue stopped there. */
  readonly stoppedBy?: string;
}

export interface RequeueOptions {
  readonly s3: S3Client;
  readonly quarantineBucket: string;
  readonly selection: QuarantineSelection;
  /** Without it nothing is put: the selection is counted only (a dry run). */
  readonly put?: PutRecordsOptions;
}

/**
 * Selects the quarantined originals and, unless it is a dry run, puts each one back on the stream
 * once. Works hour by hour: the records of one hour are put before the next hour is read.
 */
export async function requeueQuarantined(options: RequeueOptions): Promise<RequeueRun> {
  const seen = new Set<string>();
  const rejectedByReason: Partial<Record<RejectionCode, number>> = {};
  let readings = 0;
  const records: RequeuedRecord[] = [];
  const notPut: Array<{ originalKey: string; error: string }> = [];
  let objectsMatched = 0;
  let sameOriginalSkipped = 0;
  let notRebuildable = 0;
  let stoppedBy: string | undefined;
  for await (const hour of readQuarantineByHour(options.s3, options.quarantineBucket, options.selection)) {
    objectsMatched += hour.length;
    const toPut: Array<{ original: QuarantinedOriginal; entry: PutRecordsRequestEntry }> = [];
    for (const original of hour) {
      const identity = originalIdentity(original.document);
      if (seen.has(identity)) {
        sameOriginalSkipped++;
        continue;
      }
      seen.add(identity);
      readings += original.document.readingCount;
      countRejectedReadings(rejectedByReason, original.document);
      const entry = rebuildStreamRecord(original.document);
      if (entry === undefined) notRebuildable++;
      else toPut.push({ original, entry });
    }
    // After a failed call, the rest of the selection is still read, to count it, but not sent.
    if (!options.put || toPut.length === 0 || stoppedBy !== undefined) continue;
    const put = await putRecordsWithRetry(
      toPut.map((item) => item.entry),
      options.put,
    );
    stoppedBy = put.stoppedBy;
    put.results.forEach((result, i) => {
      const { original } = toPut[i] as (typeof toPut)[number];
      const { document } = original;
      if ('error' in result) {
        notPut.push({ originalKey: original.key, error: result.error });
        return;
      }
      records.push({
        ...result,
        originalKey: original.key,
        readingCount: document.readingCount,
        validBefore: document.validCount,
        rejectedBefore: document.rejections.length,
      });
    });
  }
  return {
    objectsMatched,
    sameOriginalSkipped,
    notRebuildable,
    rejectedByReason,
    readings,
    recordsPut: records.length,
    records,
    notPut,
    ...(stoppedBy !== undefined && { stoppedBy }),
  };
}
