/**
 * The batch stage against a real S3 API (s3rver): planning, publishing, reruns, backfills and
 * failures part-way. Each test writes to its own curated bucket, so the order of tests does not
 * matter.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorClients } from '../../../lambdas/shared/aws-clients.ts';
import { runBatchStage, STAGING_PREFIX } from '../../../local/etl/batch-stage.ts';
import { backfillLake } from '../../../local/etl/lake-backfill.ts';
import { getObject, listKeys } from '../../../local/etl/lake-io.ts';
import { loadPipeline, type Pipeline } from '../../../local/etl/manifest.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import { FIXTURE_WINDOW, fixtureObjects, type LakeObject, putLake } from './fixture-lake.ts';

const CURATED = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((suffix) => `etl-curated-${suffix}`);
const BUCKETS = ['etl-raw', 'etl-raw-more', 'etl-raw-broken', 'etl-quarantine', ...CURATED];

let s3Stand: S3StandIn;
let s3: S3Client;
let pipeline: Pipeline;
let objects: LakeObject[];
let scratch: string;

const buckets = (curated: string, raw = 'etl-raw') => ({ raw, quarantine: 'etl-quarantine', curated });

/** key -> sha256 of every object in a bucket. */
async function snapshot(bucket: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const key of await listKeys(s3, bucket, '')) {
    const body = (await getObject(s3, bucket, key)) ?? Buffer.alloc(0);
    result[key] = createHash('sha256').update(body).digest('hex');
  }
  return result;
}

/** A client whose commands named `command` fail once `allowed` of them have gone through. */
function failingClient(command: string, allowed: number, keyPrefix = ''): S3Client {
  const client = createValidatorClients(s3Stand.clientOverrides).s3;
  let seen = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key ?? '';
      if (context.commandName === command && key.startsWith(keyPrefix) && ++seen > allowed) {
        throw Object.assign(new Error(`injected ${command} failure`), { name: 'InternalError' });
      }
      return next(args);
    },
    { step: 'initialize', name: 'injectFailure' },
  );
  return client;
}

/** A reading for thermo-1 at 11:55 that arrives in ingest hour 11: changes hour 11's outputs. */
function extraReading(): LakeObject {
  const line = {
    schemaVersion: 1,
    eventId: '5042916e-0000-4000-8000-0000000000ff',
    deviceId: 'thermo-1',
    deviceType: 'thermostat',
    timestamp: '2026-11-27T11:55:00.000Z',
    seq: 13,
    firmwareVersion: '2.4.1',
    rssiDbm: -60,
    ambientTemperatureC: 26,
    targetTemperatureC: 21,
    humidityPct: 45,
    hvacMode: 'heat',
    hvacPowerW: 1400,
    energyWh: 12,
    ingestArrivedAt: '2026-11-27T11:55:02.000Z',
    ingestBrokerReceivedAt: '2026-11-27T11:55:02.000Z',
    ingestShardId: 'shardId-000000000000',
    ingestSequenceNumber: '49650000000000000000000000000000000000000000000000999000',
  };
  return {
    bucket: 'raw',
    key: 'telemetry/device_type=thermostat/ingest_date=2026-11-27/ingest_hour=11/part-extra.ndjson.gz',
    body: gzipSync(`${JSON.stringify(line)}\n`),
  };
}

beforeAll(async () => {
  s3Stand = await startS3StandIn({ buckets: BUCKETS });
  s3 = createValidatorClients(s3Stand.clientOverrides).s3;
  pipeline = await loadPipeline();
  objects = await fixtureObjects();
  scratch = await mkdtemp(join(tmpdir(), 'sdap-batch-stage-'));
  await putLake(s3, buckets('etl-curated-a'), objects);
  await putLake(
    s3,
    buckets('etl-curated-a', 'etl-raw-more'),
    objects.filter((o) => o.bucket === 'raw'),
  );
  await putLake(s3, buckets('etl-curated-a', 'etl-raw-broken'), [
    ...objects.filter((o) => o.bucket === 'raw'),
    {
      bucket: 'raw',
      key: 'telemetry/device_type=camera/ingest_date=2026-11-27/ingest_hour=10/part-broken.ndjson.gz',
      body: Buffer.from('this is not gzip'),
    },
  ]);
});

afterAll(async () => {
  await s3Stand?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('runBatchStage', () => {
  it('plans its window from the ingest hours in the raw zone and publishes every table', async () => {
    // Act
    const summary = await runBatchStage({ s3, buckets: buckets('etl-curated-a'), pipeline });
    const keys = await listKeys(s3, 'etl-curated-a', '');

    // Assess: ingest hours 10-12 touch event hours 10 and 11; the window runs to the ingest end.
    expect(summary).toMatchObject({
      window: { from: '2026-11-27T10:00:00.000Z', to: '2026-11-27T13:00:00.000Z' },
      planned: true,
      hoursProcessed: 3,
      rawObjectsRead: 9,
      unreadableObjects: 0,
      rawLinesRead: 34,
      malformedLines: 2,
      curatedRows: 31,
      duplicatesRemoved: 1,
      lateReadings: 1,
      devicesReporting: 4,
    });
    expect(summary.dqScore.deviceHoursScored).toBe(12);
    expect(summary.tables.curated_telemetry).toEqual({ partitions: 6, rows: 31 });
    // The registry snapshots of the one day, and the de-duplicated alerts of event hours 10 and 11.
    expect(summary.tables.device_registry).toEqual({ partitions: 1, rows: 4 });
    expect(summary.tables.location_registry).toEqual({ partitions: 1, rows: 7 });
    expect(summary.tables.anomaly_alerts).toEqual({ partitions: 2, rows: 2 });
    expect(new Set(keys.map((key) => key.split('/')[0]))).toEqual(
      new Set(pipeline.manifest.steps.flatMap((s) => (s.output ? [s.output.prefix.slice(0, -1)] : []))),
    );
    expect(keys.filter((key) => key.startsWith(STAGING_PREFIX))).toEqual([]);
  });

  it('plans from the ingest hours it is given: a late reading reopens its event hour', async () => {
    // Act
    const summary = await runBatchStage({
      s3,
      buckets: buckets('etl-curated-b'),
      pipeline,
      ingestFrom: '2026-11-27T12:00:00Z',
      ingestTo: '2026-11-27T13:00:00Z',
    });

    // Assess
    expect(summary.window).toEqual({ from: '2026-11-27T10:00:00.000Z', to: '2026-11-27T13:00:00.000Z' });
  });

  it('writes checksum-identical objects when a window is run again', async () => {
    // Prepare
    const first = await runBatchStage({ s3, buckets: buckets('etl-curated-c'), pipeline, ...FIXTURE_WINDOW });
    const before = await snapshot('etl-curated-c');

    // Act
    const second = await runBatchStage({
      s3,
      buckets: buckets('etl-curated-c'),
      pipeline,
      ...FIXTURE_WINDOW,
    });
    const third = await runBatchStage({ s3, buckets: buckets('etl-curated-c'), pipeline, ...FIXTURE_WINDOW });
    const after = await snapshot('etl-curated-c');

    // Assess
    expect(Object.keys(before).length).toBeGreaterThan(20);
    expect(after).toEqual(before);
    expect(second.outputChecksum).toBe(first.outputChecksum);
    expect(third.outputChecksum).toBe(first.outputChecksum);
    expect(second.objectsDeleted).toBe(0);
  });

  it('leaves the lake as one backfill does after running the same hours one by one', async () => {
    // Prepare
    const hours = ['10', '11', '12'].map((h) => `2026-11-27T${h}:00:00Z`);
    await runBatchStage({
      s3,
      buckets: buckets('etl-curated-d'),
      pipeline,
      from: hours[0],
      to: '2026-11-27T13:00:00Z',
    });

    // Act
    for (const [i, hour] of hours.entries()) {
      const to = hours[i + 1] ?? '2026-11-27T13:00:00Z';
      await runBatchStage({ s3, buckets: buckets('etl-curated-e'), pipeline, from: hour, to });
    }

    // Assess
    expect(await snapshot('etl-curated-e')).toEqual(await snapshot('etl-curated-d'));
  });

  it('skips and counts a raw object that does not decompress', async () => {
    // Act
    const summary = await runBatchStage({
      s3,
      buckets: buckets('etl-curated-f', 'etl-raw-broken'),
      pipeline,
      ...FIXTURE_WINDOW,
    });

    // Assess
    expect(summary).toMatchObject({ unreadableObjects: 1, rawObjectsRead: 9, curatedRows: 31 });
  });

  it('leaves the live lake untouched when it fails while staging, and a rerun completes it', async () => {
    // Prepare
    const bucketsMore = buckets('etl-curated-g', 'etl-raw-more');
    await runBatchStage({ s3, buckets: bucketsMore, pipeline, ...FIXTURE_WINDOW });
    const before = await snapshot('etl-curated-g');
    await putLake(s3, bucketsMore, [extraReading()]);

    // Act
    const failed = runBatchStage({
      s3: failingClient('PutObjectCommand', 5, STAGING_PREFIX),
      buckets: bucketsMore,
      pipeline,
      ...FIXTURE_WINDOW,
    });
    await expect(failed).rejects.toThrow('injected PutObjectCommand failure');
    const live = Object.fromEntries(
      Object.entries(await snapshot('etl-curated-g')).filter(([key]) => !key.startsWith(STAGING_PREFIX)),
    );
    const rerun = await runBatchStage({ s3, buckets: bucketsMore, pipeline, ...FIXTURE_WINDOW });
    const after = await snapshot('etl-curated-g');

    // Assess
    expect(live).toEqual(before);
    expect(rerun.curatedRows).toBe(32);
    expect(Object.keys(after).filter((key) => key.startsWith(STAGING_PREFIX))).toEqual([]);
    expect(after).not.toEqual(before);
  });

  it('leaves every partition whole, old or new, when it fails while swapping', async () => {
    // Prepare: the new outputs, from a clean run on another bucket over the changed raw zone.
    const old = await snapshot('etl-curated-g');
    const bucketsMore = buckets('etl-curated-h', 'etl-raw-more');
    await runBatchStage({ s3, buckets: bucketsMore, pipeline, ...FIXTURE_WINDOW });
    const fresh = await snapshot('etl-curated-h');
    const oldLake = buckets('etl-curated-h', 'etl-raw');
    await runBatchStage({ s3, buckets: oldLake, pipeline, ...FIXTURE_WINDOW });
    const stale = await snapshot('etl-curated-h');

    // Act
    const failed = runBatchStage({
      s3: failingClient('CopyObjectCommand', 10),
      buckets: bucketsMore,
      pipeline,
      ...FIXTURE_WINDOW,
    });
    await expect(failed).rejects.toThrow('injected CopyObjectCommand failure');
    const live = Object.entries(await snapshot('etl-curated-h')).filter(
      ([key]) => !key.startsWith(STAGING_PREFIX),
    );
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const unreadable: string[] = [];
    for (const [key] of live) {
      const path = join(scratch, createHash('sha256').update(key).digest('hex'));
      await writeFile(path, (await getObject(s3, 'etl-curated-h', key)) ?? Buffer.alloc(0));
      await connection.run(`SELECT count(*) FROM read_parquet('${path}')`).catch(() => unreadable.push(key));
    }
    connection.closeSync();
    instance.closeSync();

    // Assess
    const mixed = live.filter(([key, sha]) => sha !== fresh[key] && sha !== stale[key]);
    expect(mixed).toEqual([]);
    expect(live.filter(([key, sha]) => sha === fresh[key] && sha !== stale[key]).length).toBeGreaterThan(0);
    expect(live.filter(([key, sha]) => sha === stale[key] && sha !== fresh[key]).length).toBeGreaterThan(0);
    expect(unreadable).toEqual([]);
    expect(Object.keys(old).length).toBeGreaterThan(0);
  });

  it('backfills an ended twin run: its lake directory served again, the hours rebuilt, nothing else changed', async () => {
    // Prepare: a lake directory left behind by a run (its own S3 stand-in, now stopped). Hour 11
    // holds 13 readings: thermo-1 6, lock-1 3, cam-1 4.
    const lakeDir = join(scratch, 'ended-run-lake');
    const ended = { raw: 'twin-raw', quarantine: 'twin-quarantine', curated: 'twin-curated' };
    const first = await startS3StandIn({ buckets: Object.values(ended), directory: lakeDir });
    const firstS3 = createValidatorClients(first.clientOverrides).s3;
    await putLake(firstS3, ended, objects);
    const planned = await runBatchStage({ s3: firstS3, buckets: ended, pipeline });
    await first.close();

    // Act
    const summary = await backfillLake({
      lakeDir,
      buckets: ended,
      pipeline,
      from: '2026-11-27T11:00:00Z',
      to: '2026-11-27T12:00:00Z',
    });
    const again = await startS3StandIn({ buckets: Object.values(ended), directory: lakeDir });
    const rawKeys = await listKeys(createValidatorClients(again.clientOverrides).s3, ended.raw, '');
    await again.close();

    // Assess
    expect(planned.window).toEqual({ from: '2026-11-27T10:00:00.000Z', to: '2026-11-27T13:00:00.000Z' });
    expect(summary).toMatchObject({ planned: false, hoursProcessed: 1, curatedRows: 13, objectsDeleted: 0 });
    expect(rawKeys).toHaveLength(objects.filter((o) => o.bucket === 'raw').length);
  });
});
