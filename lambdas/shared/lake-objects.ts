/**
 * How valid and rejected records, and the alerts they raise, become lake objects: partition paths,
 * deterministic keys and bodies.
 *
 * Keys are derived from content, never from a clock or a random id, so that a retried batch writes
 * the same keys and overwrites instead of duplicating (RELIABILITY.md, idempotent writes).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { TelemetryAlert } from './anomaly-rules.ts';
import type { DeviceType } from './contract.ts';
import { ALERTS_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX } from './pipeline-names.ts';

/**
 * gzip level for raw objects. The bench (`npm run bench`, part 5) measured level 1 at 9.7x on
 * realistic NDJSON against 11.1x for level 6, at about half of level 6's CPU: the validator's CPU is
 * worth more than the 13 % of storage level 6 would save (the ETL rewrites raw into Parquet anyway).
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
  return contentKey(partitionPath, eventIds);
}

/** `<partition path>/part-<hash of the sorted ids>.ndjson.gz`. */
function contentKey(partitionPath: string, ids: readonly string[]): string {
  const hash = createHash('sha256');
  for (const id of [...ids].sort()) hash.update(id).update('\n');
  return `${partitionPath}/part-${hash.digest('hex').slice(0, 32)}.ndjson.gz`;
}

/** Hive-style partition path of the alerts in the raw bucket: the hour the stream accepted the record. */
export function alertPartitionPath(arrivalMs: number): string {
  const { date, hour } = utcDateHour(arrivalMs);
  return `${ALERTS_PREFIX}/ingest_date=${date}/ingest_hour=${hour}`;
}

/**
 * Key of an alerts object holding the given alerts of one partition: a hash of the sorted alert ids,
 * so a retried batch overwrites its object. (A retry that regroups records writes another object
 * with some of the same alerts; the ETL de-duplicates on `alertId`.)
 */
export function alertObjectKey(partitionPath: string, alertIds: readonly string[]): string {
  return contentKey(partitionPath, alertIds);
}

/**
 * An alert as the raw bucket keeps it, one NDJSON line each: the alert's fields, `observed` and
 * `threshold` as text (a rule observes a number or a state, and a lake column has one type), and
 * when the stream accepted the record that raised it.
 */
export interface AlertRecord extends Omit<TelemetryAlert, 'observed' | 'threshold'> {
  readonly observed: string;
  readonly threshold: string;
  /** ISO 8601 UTC: the Kinesis approximate arrival time of the record. */
  readonly arrivedAt: string;
}

/** The lake record of an alert raised by a record that arrived at `arrivalMs`. */
export function alertRecord(alert: TelemetryAlert, arrivalMs: number): AlertRecord {
  return {
    alertId: alert.alertId,
    rule: alert.rule,
    severity: alert.severity,
    deviceId: alert.deviceId,
    deviceType: alert.deviceType,
    eventId: alert.eventId,
    timestamp: alert.timestamp,
    message: alert.message,
    observed: String(alert.observed),
    threshold: String(alert.threshold),
    arrivedAt: new Date(arrivalMs).toISOString(),
  };
}

/** gzip NDJSON from lines that each end in a newline (one `RawRecord` per line). */
export function encodeRawObject(lines: readonly string[]): Buffer {
  return gzipSync(lines.join(''), { level: RAW_GZIP_LEVEL });
}

/** Hive-style partition path of the quarantine: the hour the stream accepted the record. */
export function quarantinePartitionPath(arrivalMs: number): string {
  const { date, hour } = utcDateHour(arrivalMs);
  return `${QUARANTINE_PREFIX}/ingest_date=${date}/ingest_hour=${hour}`;
}

/**
 * Key of the quarantine object for one stream record. A stream record has one sequence number for
 * as long as it is retried, so a retry overwrites.
 */
export function quarantineObjectKey(arrivalMs: number, shardId: string, sequenceNumber: string): string {
  return `${quarantinePartitionPath(arrivalMs)}/${shardId}-${sequenceNumber}.json`;
}
