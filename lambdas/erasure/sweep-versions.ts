/**
 * One lake zone swept for a device, every object version of it (RELIABILITY.md, item 14):
 *
 * - the current version of an object holding the device is rewritten without it (a new version),
 *   or, when nothing else is left, hidden behind a delete marker so that an older version cannot
 *   become current again; then the version that held the device is deleted by its id;
 * - a noncurrent version holding the device is deleted by its id: it cannot be rewritten, and it
 *   is a recovery copy, not the data of record (the current version keeps the other devices' data);
 * - an object whose key names the device goes with all its versions and delete markers.
 *
 * Deleting by version id removes the bytes for good, and is what needs `s3:DeleteObjectVersion`.
 * S3 answers 204 to a delete whatever happened, so nothing here is trusted: the `verify` mode reads
 * every version again, and the workflow fails when any still names the device.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  type ObjectVersion,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { deviceMention, eraseFromObject } from '../shared/erasure.ts';
import type { SweepCounts, SweepEvent, SweepResult } from './erasure-event.ts';

/** Keys worked on at once within a page: S3 takes far more, the function's memory holds a few objects. */
export const SWEEP_CONCURRENCY = 8;

export interface SweepDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Epoch ms after which no further page is started. */
  readonly deadlineMs: number;
  readonly now: () => number;
  /** Told about each version that still names the device in `verify` mode, or cannot be erased. */
  readonly onLeftover?: (key: string, versionId: string, why: string) => void;
}

/** Sweeps pages of the zone's versions until the zone is done or the deadline nears. */
export async function sweepVersions(event: SweepEvent, deps: SweepDeps): Promise<SweepResult> {
  const mentions = deviceMention(event.deviceId);
  const counts: SweepCounts = { ...event.counts };
  let keyMarker = event.keyMarker;
  let versionIdMarker = event.versionIdMarker;
  do {
    const page = await deps.s3.send(
      new ListObjectVersionsCommand({
        Bucket: deps.bucket,
        ...(keyMarker !== null && { KeyMarker: keyMarker }),
        ...(versionIdMarker !== null && { VersionIdMarker: versionIdMarker }),
      }),
    );
    const byKey = new Map<string, ObjectVersion[]>();
    for (const version of page.Versions ?? []) {
      if (version.Key === undefined || version.VersionId === undefined) continue;
      byKey.set(version.Key, [...(byKey.get(version.Key) ?? []), version]);
    }
    await inPool([...byKey.values()], SWEEP_CONCURRENCY, (versions) =>
      sweepKey(versions, event.mode, mentions, counts, deps),
    );
    // A delete marker holds no data, but its key may name the device.
    for (const marker of page.DeleteMarkers ?? []) {
      if (marker.Key === undefined || marker.VersionId === undefined || !mentions(marker.Key)) continue;
      if (event.mode === 'verify') {
        counts.remaining++;
        deps.onLeftover?.(marker.Key, marker.VersionId, 'a delete marker whose key names the device');
      } else {
        await deleteVersion(deps, marker.Key, marker.VersionId);
        counts.versionsDeleted++;
      }
    }
    const truncated = page.IsTruncated === true;
    keyMarker = truncated ? (page.NextKeyMarker ?? null) : null;
    versionIdMarker = truncated ? (page.NextVersionIdMarker ?? null) : null;
    if (!truncated) return { zone: event.zone, done: true, keyMarker: null, versionIdMarker: null, counts };
  } while (deps.now() < deps.deadlineMs);
  return { zone: event.zone, done: false, keyMarker, versionIdMarker, counts };
}

/** The versions of one key, newest first as S3 lists them. */
async function sweepKey(
  versions: readonly ObjectVersion[],
  mode: SweepEvent['mode'],
  mentions: (text: string) => boolean,
  counts: SweepCounts,
  deps: SweepDeps,
): Promise<void> {
  for (const version of versions) {
    const key = version.Key as string;
    const versionId = version.VersionId as string;
    counts.versionsExamined++;
    const body = await getVersion(deps, key, versionId);
    if (body === undefined) continue;
    const outcome = await eraseFromObject(key, body, mentions);
    if (outcome.action === 'untouched') continue;
    if (mode === 'verify') {
      counts.remaining++;
      deps.onLeftover?.(key, versionId, `still holds the device (${outcome.action})`);
      continue;
    }
    if (outcome.action === 'unreadable') {
      counts.unreadable++;
      deps.onLeftover?.(key, versionId, outcome.reason);
      continue;
    }
    if (version.IsLatest) {
      counts.recordsRemoved += outcome.recordsRemoved;
      if (outcome.action === 'rewrite') {
        await deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: outcome.body }));
        counts.objectsRewritten++;
      } else {
        // A delete marker first: deleting only the current version would make the previous one
        // current. Not where the key names the device: every version of it goes, and a marker
        // would keep the name.
        if (!mentions(key)) await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: key }));
        counts.objectsDeleted++;
      }
    }
    await deleteVersion(deps, key, versionId);
    counts.versionsDeleted++;
  }
}

async function getVersion(deps: SweepDeps, key: string, versionId: string): Promise<Uint8Array | undefined> {
  try {
    const out = await deps.s3.send(
      new GetObjectCommand({ Bucket: deps.bucket, Key: key, VersionId: versionId }),
    );
    return (await out.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (error) {
    // Deleted since the listing (a rerun of this page, or the ETL replacing a partition): nothing to erase.
    const name = (error as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NoSuchVersion') return undefined;
    throw error;
  }
}

async function deleteVersion(deps: SweepDeps, key: string, versionId: string): Promise<void> {
  await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: key, VersionId: versionId }));
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function inPool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}
