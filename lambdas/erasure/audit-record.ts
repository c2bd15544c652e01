/**
 * The audit record of a cloud erasure, built from the workflow's results (the same shape as the
 * twin's: lambdas/shared/erasure.ts) and written to the audit bucket.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type ErasureAuditRecord, erasureAuditKey, type ZoneErasureCounts } from '../shared/erasure.ts';
import { type AuditEvent, ErasureIncompleteError } from './erasure-event.ts';

/**
 * Why every version of every zone is swept. The lake is partitioned by device type and hour, never
 * by device, and the Glue catalog's partitions say no more than the layout does.
 */
export const CLOUD_SEARCH_SCOPE =
  'every object version of the raw, quarantine, failures and curated buckets: no zone is partitioned ' +
  'by device (the catalog partitions raw by device type and ingest hour), and noncurrent versions of ' +
  'any object may hold the device';

/** The record of one erasure. */
export function auditRecordOf(event: AuditEvent, finishedAt: string): ErasureAuditRecord {
  const lake: Record<string, ZoneErasureCounts> = {};
  for (const { zone, counts } of event.erased) {
    lake[zone] = {
      objectsExamined: counts.versionsExamined,
      objectsRewritten: counts.objectsRewritten,
      objectsDeleted: counts.objectsDeleted,
      recordsRemoved: counts.recordsRemoved,
    };
  }
  const remainingMentions =
    event.verified.reduce((sum, { counts }) => sum + counts.remaining, 0) +
    event.erased.reduce((sum, { counts }) => sum + counts.unreadable, 0);
  return {
    kind: 'device-erasure',
    version: 1,
    erasureId: event.erasureId,
    deviceId: event.deviceId,
    requestedBy: event.requestedBy,
    startedAt: event.startedAt,
    finishedAt,
    command: event.command,
    lake,
    warehouse: event.warehouse.rowsDeleted,
    other: {},
    objectVersionsDeleted: event.erased.reduce((sum, { counts }) => sum + counts.versionsDeleted, 0),
    verification: {
      remainingMentions,
      checked: [
        'every object version of every zone read back and searched (gzip, Parquet and base64 payloads decoded)',
        'the warehouse tables counted after DELETE and VACUUM',
      ],
    },
    searchScope: CLOUD_SEARCH_SCOPE,
  };
}

/**
 * Writes the record; then fails when the verification found anything left, so that on-call hears
 * of it (the record says what was left, by count).
 */
export async function writeAuditRecord(
  s3: S3Client,
  bucket: string,
  event: AuditEvent,
  finishedAt: string,
): Promise<{ bucket: string; key: string; remainingMentions: number }> {
  const record = auditRecordOf(event, finishedAt);
  const key = erasureAuditKey(record);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(record, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
  const { remainingMentions } = record.verification;
  if (remainingMentions > 0)
    throw new ErasureIncompleteError(
      `${remainingMentions} object versions still name the device after the erasure; audit record s3://${bucket}/${key}`,
    );
  return { bucket, key, remainingMentions };
}
