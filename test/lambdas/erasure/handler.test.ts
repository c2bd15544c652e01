/**
 * The erasure function against an in-memory versioned bucket (aws-sdk-client-mock serving the S3
 * calls it makes): every version holding the device is rewritten or deleted, other devices' data
 * stays, paging resumes from the markers, the verification catches a delete that S3 answered but
 * did not do, and the audit record is written either way. The warehouse step with a recording
 * executor: one DELETE transaction, VACUUM DELETE ONLY to 100 percent, a count that must be 0.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DeleteObjectCommand,
  type DeleteObjectCommandInput,
  GetObjectCommand,
  type GetObjectCommandInput,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandInput,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { auditRecordOf } from '../../../lambdas/erasure/audit-record.ts';
import { NO_COUNTS, type SweepResult } from '../../../lambdas/erasure/erasure-event.ts';
import { createHandler, transientOrAsIs } from '../../../lambdas/erasure/handler.ts';
import { ERASURE_ERRORS, ERASURE_ZONES } from '../../../lambdas/erasure/names.ts';
import { eraseFromWarehouse, tablesWithDevices } from '../../../lambdas/erasure/warehouse-erasure.ts';
import type { ErasureAuditRecord } from '../../../lambdas/shared/erasure.ts';

const DEVICE = 'lock-s01-b1-r01-0001';
const OTHER = 'lock-s01-b1-r01-0002';
const BUCKETS = { raw: 'raw', quarantine: 'quarantine', failures: 'failures', curated: 'curated' } as const;
const AUDIT_BUCKET = 'audit';
const PAGE_SIZE = 3;

interface Version {
  readonly versionId: string;
  readonly body?: Buffer;
}

/** A versioned bucket: each key's versions, oldest first; a version without a body is a delete marker. */
class VersionedBucket {
  readonly keys = new Map<string, Version[]>();
  private next = 0;
  /** Answers deletes by version id without doing them, as S3 may when a permission is missing. */
  ignoreVersionDeletes = false;

  put(key: string, body: Buffer | undefined): string {
    const versionId = `v${++this.next}`;
    this.keys.set(key, [...(this.keys.get(key) ?? []), { versionId, ...(body && { body }) }]);
    return versionId;
  }

  current(key: string): Version | undefined {
    return this.keys.get(key)?.at(-1);
  }

  /** Every (key, version) as ListObjectVersions orders them: by key, newest version first. */
  entries() {
    return [...this.keys.keys()]
      .sort()
      .flatMap((key) =>
        [...(this.keys.get(key) ?? [])]
          .reverse()
          .map((version, index) => ({ key, version, isLatest: index === 0 })),
      );
  }

  list(input: ListObjectVersionsCommandInput) {
    const all = this.entries();
    let start = 0;
    if (input.KeyMarker !== undefined) {
      const at = all.findIndex(
        (e) => e.key === input.KeyMarker && e.version.versionId === input.VersionIdMarker,
      );
      start = at >= 0 ? at + 1 : all.filter((e) => e.key <= (input.KeyMarker as string)).length;
    }
    const page = all.slice(start, start + PAGE_SIZE);
    const truncated = start + PAGE_SIZE < all.length;
    const last = page.at(-1);
    const entry = (e: (typeof all)[number]) => ({
      Key: e.key,
      VersionId: e.version.versionId,
      IsLatest: e.isLatest,
    });
    return {
      Versions: page.filter((e) => e.version.body).map(entry),
      DeleteMarkers: page.filter((e) => !e.version.body).map(entry),
      IsTruncated: truncated,
      ...(truncated && last && { NextKeyMarker: last.key, NextVersionIdMarker: last.version.versionId }),
    };
  }

  delete(input: DeleteObjectCommandInput): void {
    const key = input.Key as string;
    if (input.VersionId === undefined) {
      this.put(key, undefined);
      return;
    }
    if (this.ignoreVersionDeletes) return;
    const left = (this.keys.get(key) ?? []).filter((v) => v.versionId !== input.VersionId);
    if (left.length === 0) this.keys.delete(key);
    else this.keys.set(key, left);
  }
}

const s3 = mockClient(S3Client);
let buckets: Record<string, VersionedBucket>;

function serve(): void {
  const bucketOf = (name: string | undefined) => buckets[name as string] as VersionedBucket;
  s3.on(ListObjectVersionsCommand).callsFake((input: ListObjectVersionsCommandInput) =>
    bucketOf(input.Bucket).list(input),
  );
  s3.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const version = bucketOf(input.Bucket)
      .keys.get(input.Key as string)
      ?.find((v) => v.versionId === input.VersionId);
    if (!version?.body) throw Object.assign(new Error('no such version'), { name: 'NoSuchVersion' });
    const body = version.body;
    return { Body: { transformToByteArray: async () => new Uint8Array(body) } };
  });
  s3.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
    bucketOf(input.Bucket).put(input.Key as string, Buffer.from(input.Body as Uint8Array | string));
    return {};
  });
  s3.on(DeleteObjectCommand).callsFake((input: DeleteObjectCommandInput) => {
    bucketOf(input.Bucket).delete(input);
    return {};
  });
}

const line = (deviceId: string, n: number) =>
  `${JSON.stringify({ eventId: `${deviceId}-${n}`, deviceId })}\n`;
const gz = (...lines: string[]) => gzipSync(lines.join(''));
const text = (body: Buffer | undefined) => gunzipSync(body ?? Buffer.alloc(0)).toString('utf8');

const context = {
  functionName: 'erasure',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;
const handler = createHandler(() => ({
  s3: new S3Client({}),
  zoneBuckets: BUCKETS,
  auditBucket: AUDIT_BUCKET,
}));

/** Invokes the sweep until the zone is done, as the workflow's loop does; returns the last result and the invocations. */
async function sweep(zone: keyof typeof BUCKETS, mode: 'erase' | 'verify', deviceId = DEVICE) {
  let result: SweepResult = { zone, done: false, keyMarker: null, versionIdMarker: null, counts: NO_COUNTS };
  let invocations = 0;
  do {
    result = (await handler(
      {
        action: 'sweep',
        mode,
        zone,
        deviceId,
        keyMarker: result.keyMarker,
        versionIdMarker: result.versionIdMarker,
        counts: result.counts,
      },
      context,
    )) as SweepResult;
    invocations++;
  } while (!result.done && invocations < 100);
  return { result, invocations };
}

describe('the erasure function', () => {
  let raw: VersionedBucket;
  const keys = {
    /** Both devices, in two versions (the ETL or a retry wrote it twice). */
    mixed: 'telemetry/device_type=smart_lock/ingest_date=2026-11-28/ingest_hour=10/part-a.ndjson.gz',
    /** The other device now, the device in an older version. */
    otherNow: 'telemetry/device_type=smart_lock/ingest_date=2026-11-28/ingest_hour=11/part-b.ndjson.gz',
    /** The device only. */
    deviceOnly: 'telemetry/device_type=smart_lock/ingest_date=2026-11-28/ingest_hour=12/part-c.ndjson.gz',
    /** Never held the device. */
    untouched: 'telemetry/device_type=smart_lock/ingest_date=2026-11-28/ingest_hour=13/part-d.ndjson.gz',
  };
  let untouchedVersion: string;

  beforeEach(() => {
    s3.reset();
    buckets = Object.fromEntries(
      [...Object.values(BUCKETS), AUDIT_BUCKET].map((name) => [name, new VersionedBucket()]),
    );
    raw = buckets.raw as VersionedBucket;
    raw.put(keys.mixed, gz(line(OTHER, 1), line(DEVICE, 1)));
    raw.put(keys.mixed, gz(line(OTHER, 1), line(DEVICE, 1), line(DEVICE, 2)));
    raw.put(keys.otherNow, gz(line(DEVICE, 3)));
    raw.put(keys.otherNow, gz(line(OTHER, 2)));
    raw.put(keys.deviceOnly, gz(line(DEVICE, 4)));
    untouchedVersion = raw.put(keys.untouched, gz(line(OTHER, 3)));
    (buckets.failures as VersionedBucket).put(
      `iot-rule-errors/2026-11-28/10/1764324000000-x/${DEVICE}/0.json`,
      Buffer.from(JSON.stringify({ clientId: DEVICE })),
    );
    serve();
  });

  it('leaves no version naming the device, across pages, and keeps the other device byte for byte', async () => {
    const { result, invocations } = await sweep('raw', 'erase');
    const verified = await sweep('raw', 'verify');

    expect(invocations).toBe(1);
    expect(result.counts).toMatchObject({
      objectsRewritten: 1,
      objectsDeleted: 1,
      recordsRemoved: 3,
      versionsDeleted: 4,
    });
    expect(verified.result.counts.remaining).toBe(0);
    for (const [key, versions] of raw.keys)
      for (const version of versions) if (version.body) expect(text(version.body), key).not.toContain(DEVICE);
    expect(raw.keys.get(keys.mixed)?.map((v) => text(v.body))).toEqual([line(OTHER, 1)]);
    expect(raw.keys.get(keys.otherNow)?.map((v) => text(v.body))).toEqual([line(OTHER, 2)]);
    // The device-only object ends behind a delete marker, with no version left to become current.
    expect(raw.keys.get(keys.deviceOnly)?.map((v) => v.body)).toEqual([undefined]);
    expect(raw.keys.get(keys.untouched)).toEqual([{ versionId: untouchedVersion, body: gz(line(OTHER, 3)) }]);
  });

  it('resumes from the markers when an invocation runs out of time, with the same outcome', async () => {
    const shortOfTime = { ...context, getRemainingTimeInMillis: () => 60_000 } as Context;
    const paged = createHandler(() => ({
      s3: new S3Client({}),
      zoneBuckets: BUCKETS,
      auditBucket: AUDIT_BUCKET,
    }));
    let result: SweepResult = {
      zone: 'raw',
      done: false,
      keyMarker: null,
      versionIdMarker: null,
      counts: NO_COUNTS,
    };
    let invocations = 0;
    while (!result.done && invocations < 100) {
      const { keyMarker, versionIdMarker, counts } = result;
      result = (await paged(
        { action: 'sweep', mode: 'erase', zone: 'raw', deviceId: DEVICE, keyMarker, versionIdMarker, counts },
        shortOfTime,
      )) as SweepResult;
      invocations++;
    }

    expect(invocations).toBeGreaterThan(1);
    expect(result.counts).toMatchObject({ objectsRewritten: 1, objectsDeleted: 1, recordsRemoved: 3 });
    expect((await sweep('raw', 'verify')).result.counts.remaining).toBe(0);
  });

  it('removes every version of an object whose key names the device, without leaving a marker', async () => {
    await sweep('failures', 'erase');

    expect([...(buckets.failures as VersionedBucket).keys.keys()]).toEqual([]);
    expect((await sweep('failures', 'verify')).result.counts.remaining).toBe(0);
  });

  it('verification finds what a delete S3 answered but did not do, and the audit record fails the erasure', async () => {
    raw.ignoreVersionDeletes = true;
    const erased = await sweep('raw', 'erase');
    const verified = await sweep('raw', 'verify');

    expect(verified.result.counts.remaining).toBeGreaterThan(0);
    const audit = handler(
      {
        action: 'audit',
        deviceId: DEVICE,
        requestedBy: 'ticket DPO-1',
        erasureId: 'run-1',
        startedAt: '2026-11-28T15:00:00.000Z',
        command: 'arn:aws:states:eu-west-1:123456789012:execution:sdap-test-erasure:run-1',
        erased: [{ zone: 'raw', counts: erased.result.counts }],
        verified: [{ zone: 'raw', counts: verified.result.counts }],
        warehouse: { rowsDeleted: {} },
      },
      context,
    );
    await expect(audit).rejects.toMatchObject({ name: ERASURE_ERRORS.incomplete });
    const [record] = [...(buckets[AUDIT_BUCKET] as VersionedBucket).keys];
    expect(record?.[0]).toBe('erasure/2026-11-28/run-1.json');
    const written = JSON.parse(record?.[1][0]?.body?.toString('utf8') ?? '{}') as ErasureAuditRecord;
    expect(written.verification.remainingMentions).toBe(verified.result.counts.remaining);
  });

  it('fails with InvalidErasureRequestError, without touching S3, on a device id the contract refuses', async () => {
    await expect(
      handler({ action: 'sweep', mode: 'erase', zone: 'raw', deviceId: 'a b' }, context),
    ).rejects.toMatchObject({
      name: ERASURE_ERRORS.invalidRequest,
      message: expect.stringContaining(
        'deviceId: received "a b", expected a device id as the contract allows it',
      ),
    });
    expect(s3.calls()).toHaveLength(0);
  });

  it("names S3's server faults transient (the workflow retries them) and leaves access denied as it is", () => {
    const fault = Object.assign(new Error('We encountered an internal error'), {
      name: 'InternalError',
      $fault: 'server',
    });
    const denied = Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client' });

    expect(transientOrAsIs(fault)).toMatchObject({ name: ERASURE_ERRORS.transient });
    expect(transientOrAsIs(denied)).toBe(denied);
  });
});

describe('the audit record', () => {
  it('holds counts per zone and table, the id and the request, and no object key', () => {
    const counts = {
      ...NO_COUNTS,
      versionsExamined: 10,
      objectsRewritten: 2,
      recordsRemoved: 7,
      versionsDeleted: 3,
    };
    const record = auditRecordOf(
      {
        action: 'audit',
        deviceId: DEVICE,
        requestedBy: 'ticket DPO-1',
        erasureId: 'run-1',
        startedAt: '2026-11-28T15:00:00.000Z',
        command: 'arn:aws:states:eu-west-1:123456789012:execution:sdap-test-erasure:run-1',
        erased: ERASURE_ZONES.map((zone) => ({ zone, counts })),
        verified: ERASURE_ZONES.map((zone) => ({ zone, counts: NO_COUNTS })),
        warehouse: { rowsDeleted: { 'analytics.dim_device': 1 } },
      },
      '2026-11-28T15:10:00.000Z',
    );

    expect(record).toMatchObject({
      deviceId: DEVICE,
      requestedBy: 'ticket DPO-1',
      objectVersionsDeleted: 12,
      warehouse: { 'analytics.dim_device': 1 },
      verification: { remainingMentions: 0 },
      lake: { raw: { objectsExamined: 10, objectsRewritten: 2, objectsDeleted: 0, recordsRemoved: 7 } },
    });
    expect(JSON.stringify(record)).not.toMatch(/telemetry\/|\.parquet|\.ndjson/);
  });
});

describe('eraseFromWarehouse', () => {
  /** Records statements; counts the device's rows per table from `rows`, which the DELETE empties. */
  function recorder(rows: Record<string, number>, deleteWorks = true) {
    const statements: string[][] = [];
    return {
      statements,
      executor: {
        async query(sql: string) {
          statements.push([sql]);
          if (!sql.startsWith('SELECT')) return [];
          return Object.entries(rows).map(([table_name, n]) => ({ table_name, n }));
        },
        async transaction(batch: readonly string[]) {
          statements.push([...batch]);
          if (deleteWorks) for (const table of Object.keys(rows)) rows[table] = 0;
        },
      },
    };
  }

  it("deletes the device's rows in one transaction, vacuums each table that had any to 100 percent, and checks", async () => {
    const tables = tablesWithDevices();
    const rows = Object.fromEntries(tables.map((table) => [table, table.endsWith('dim_device') ? 1 : 0]));
    rows['analytics.fact_telemetry_hourly'] = 4;
    const { executor, statements } = recorder(rows);

    const result = await eraseFromWarehouse(executor, DEVICE);

    expect(tables).toEqual(
      expect.arrayContaining(['analytics.dim_device', 'analytics.fact_telemetry_hourly']),
    );
    expect(result.rowsDeleted).toEqual({ 'analytics.dim_device': 1, 'analytics.fact_telemetry_hourly': 4 });
    expect(statements[1]).toEqual([
      `DELETE FROM analytics.dim_device WHERE device_id = '${DEVICE}'`,
      `DELETE FROM analytics.fact_telemetry_hourly WHERE device_id = '${DEVICE}'`,
    ]);
    expect(statements.slice(2, 4)).toEqual([
      ['VACUUM DELETE ONLY analytics.dim_device TO 100 PERCENT'],
      ['VACUUM DELETE ONLY analytics.fact_telemetry_hourly TO 100 PERCENT'],
    ]);
    expect(statements[4]?.[0]).toMatch(/^SELECT /);
  });

  it('fails as incomplete when rows are left after the DELETE', async () => {
    const { executor } = recorder({ 'analytics.dim_device': 1 }, false);

    await expect(eraseFromWarehouse(executor, DEVICE)).rejects.toMatchObject({
      name: ERASURE_ERRORS.incomplete,
      message: expect.stringContaining('analytics.dim_device 1'),
    });
  });

  it('changes nothing when the warehouse holds no row of the device', async () => {
    const { executor, statements } = recorder({ 'analytics.dim_device': 0 });

    expect(await eraseFromWarehouse(executor, DEVICE)).toEqual({ rowsDeleted: {} });
    expect(statements).toHaveLength(1);
  });
});
