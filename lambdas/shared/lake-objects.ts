/**
 * How valid and rejected records become lake objects: partition paths, deterministic keys and bodies.
 *
 * Keys are derived from content, never from a clock or a random id, so that a retried batch writes
 * the same keys and overwrites instead of duplicating (RELIABILITY.md, idempotent writes).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { DeviceType } from './contract.ts';
import { QUARANTINE_PREFIX, RAW_PREFIX } from './pipeline-names.ts';
import type { RawRecord } from './raw-record.ts';

/**
 * gzip level for raw objects. Level 1 compresses this NDJSON ~6-7x (repetitive keys) at a
 * fraction of level 6's CPU; the bench (`npm run bench`) shows the trade-off.
 */
export const RAW_GZIP_LEVEL = 1;

/** `2026-11-27` and `07` of an epoch-ms instant, in UTC. */
export function utcDateHour(epochMs: number): { date: string; hour: string } {
  const iso = new Date(epochMs).toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** Hive-style partition path of the raw zone: device type, then the hour the stream accepted it. */
export function rawPartitionPath(deviceType: DeviceType, arrivalMs: number): string {
  const { date, hour } = utcDateHour(arrivalMs);
  return `${RAW_PREFIX}/device_type=${deviceType}/ingest_date=${date}/ingest_hour=${hour}`;
}

/**
 * Key of a raw object holding the given readings of one partition. The name is a hash of the
 * sorted event ids: the same readings always land under the same key, whichever batch carried them.
 */
export function rawObjectKey(partitionPath: string, eventIds: readonly string[]): string {
  const hash = createHash('sha256');
  for (const id of [...eventIds].sort()) hash.update(id).update('\n');
  return `${partitionPath}/part-${hash.digest('hex').slice(0, 32)}.ndjson.gz`;
}

/** gzip NDJSON: one JSON line per record. */
export function encodeRawObject(records: readonly RawRecord[]): Buffer {
  let text = '';
  for (const record of records) text += `${JSON.stringify(record)}\n`;
  return gzipSync(text, { level: RAW_GZIP_LEVEL });
}

/**
 * Key of the quarantine object for one stream record. A stream record has one sequence number for
 * as long as it is retried, so a retry overwrites.
 */
export function quarantineObjectKey(arrivalMs: number, shardId: string, sequenceNumber: string): string {
  const { date, hour } = utcDateHour(arrivalMs);
  return `${QUARANTINE_PREFIX}/ingest_date=${date}/ingest_hour=${hour}/${shardId}-${sequenceNumber}.json`;
}
