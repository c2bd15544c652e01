/**
 * The baseline cache against Parquet that DuckDB writes (the twin's ETL engine; Spark writes the
 * same snappy Parquet), served by the S3 stand-in: the day before a reading's date, the bounded age,
 * and "no baselines" (never an exception) for a missing partition or an unreadable file.
 */
import { readFileSync } from 'node:fs';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../../lambdas/shared/aws-clients.ts';
import type { Reading } from '../../../lambdas/shared/contract.ts';
import {
  BaselineFormatError,
  type BaselineObservability,
  baselineEventDate,
  DeviceBaselineCache,
  parseBaselineRows,
} from '../../../lambdas/shared/device-baselines.ts';
import { BASELINE_METRICS, DEVICE_BASELINES_PREFIX } from '../../../lambdas/shared/pipeline-names.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import { baselineParquet } from '../../support/baseline-parquet.ts';
import { makeReading } from '../../support/readings.ts';

const CURATED = 'curated';
const DAY = '2026-11-26';

let s3StandIn: S3StandIn;
let s3: S3Client;

async function put(key: string, body: Buffer | string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: CURATED, Key: key, Body: body }));
}

/** A fake logger and counter that keep what the cache reported. */
function recorder() {
  const warnings: Array<{ message: string; reason: unknown }> = [];
  const counts: Array<{ name: string; value: number }> = [];
  const observability: BaselineObservability = {
    logger: {
      warn: (message: string, extra?: { reason?: unknown }) =>
        warnings.push({ message, reason: extra?.reason }),
    },
    metrics: { addMetric: (name: string, _unit: unknown, value: number) => counts.push({ name, value }) },
  } as unknown as BaselineObservability;
  return { warnings, counts, observability };
}

/** A reading of `deviceId` at `timestamp`. */
const readingOf = (deviceId: string, timestamp: string): Reading =>
  makeReading('thermostat', 1, timestamp, deviceId);

beforeAll(async () => {
  s3StandIn = await startS3StandIn({ buckets: [CURATED] });
  s3 = createS3Client(s3StandIn.clientOverrides, 1);
  await put(
    `${DEVICE_BASELINES_PREFIX}/event_date=${DAY}/part-00000.parquet`,
    await baselineParquet(DAY, [
      { deviceId: 'thermo-1', hours: 150, mean: 20.123456, stddev: 0.5, rssi: -61.25 },
      { deviceId: 'thermo-2', hours: 1, mean: 19, stddev: null, rssi: null },
    ]),
  );
  await put(
    `${DEVICE_BASELINES_PREFIX}/event_date=${DAY}/part-00001.parquet`,
    await baselineParquet(DAY, [{ deviceId: 'thermo-3', hours: 168, mean: 22, stddev: 0, rssi: -70 }]),
  );
  // Spark's marker beside its part files: not Parquet, and not read.
  await put(`${DEVICE_BASELINES_PREFIX}/event_date=${DAY}/_SUCCESS`, Buffer.alloc(0));
});
afterAll(async () => {
  s3?.destroy();
  await s3StandIn?.close();
});

describe('baselineEventDate', () => {
  it('is the UTC day before the time: the rows of day D are valid from D+1 00:00 to D+2 00:00', () => {
    expect(baselineEventDate(Date.parse('2026-11-27T00:00:00.000Z'))).toBe('2026-11-26');
    expect(baselineEventDate(Date.parse('2026-11-27T23:59:59.999Z'))).toBe('2026-11-26');
    expect(baselineEventDate(Date.parse('2026-11-28T00:00:00.000Z'))).toBe('2026-11-27');
    expect(baselineEventDate(Date.parse('2026-03-01T01:00:00+02:00'))).toBe('2026-02-27');
  });

  it("uses the ETL's prefix for the baselines (glue-scripts/sql/pipeline.json)", () => {
    const pipeline = JSON.parse(
      readFileSync(new URL('../../../glue-scripts/sql/pipeline.json', import.meta.url), 'utf8'),
    ) as {
      steps: Array<{ view: string; output?: { bucket: string; prefix: string; partitionBy: string[] } }>;
    };
    const step = pipeline.steps.find((candidate) => candidate.view === 'device_baselines');
    expect(step?.output).toMatchObject({
      bucket: 'curated',
      prefix: `${DEVICE_BASELINES_PREFIX}/`,
      partitionBy: ['event_date'],
    });
  });
});

describe('DeviceBaselineCache', () => {
  it("reads every part of the day before each reading's date, by device, from DuckDB's Parquet", async () => {
    // Prepare
    const { warnings, observability } = recorder();
    const cache = new DeviceBaselineCache({ s3, bucket: CURATED, observability });

    // Act
    const found = await cache.lookup([
      readingOf('thermo-1', '2026-11-27T10:00:00Z'),
      readingOf('thermo-2', '2026-11-27T23:59:59Z'),
      readingOf('thermo-3', '2026-11-27T00:00:00Z'),
      readingOf('thermo-9', '2026-11-27T10:00:00Z'),
    ]);

    // Assess
    expect(found).toEqual([
      {
        deviceId: 'thermo-1',
        baselineHours: 150,
        metricMean: 20.123456,
        metricStddev: 0.5,
        rssiMeanDbm: -61.25,
      },
      { deviceId: 'thermo-2', baselineHours: 1, metricMean: 19, metricStddev: null, rssiMeanDbm: null },
      { deviceId: 'thermo-3', baselineHours: 168, metricMean: 22, metricStddev: 0, rssiMeanDbm: -70 },
      undefined,
    ]);
    expect(cache.reads).toBe(1);
    expect(warnings).toEqual([]);
  });

  it('reads a day once for concurrent batches, and again only after its maximum age', async () => {
    // Prepare
    let now = Date.parse('2026-11-27T10:00:00Z');
    const cache = new DeviceBaselineCache({ s3, bucket: CURATED, maxAgeMs: 60_000, now: () => now });

    // Act
    await Promise.all([cache.baselinesOf(DAY), cache.baselinesOf(DAY), cache.baselinesOf(DAY)]);
    now += 59_999;
    const fresh = await cache.baselinesOf(DAY);
    const readsBeforeExpiry = cache.reads;
    now += 1;
    const refreshed = await cache.baselinesOf(DAY);

    // Assess
    expect(readsBeforeExpiry).toBe(1);
    expect(cache.reads).toBe(2);
    expect(refreshed.get('thermo-1')).toEqual(fresh.get('thermo-1'));
  });

  it('picks up a rewritten partition after the maximum age', async () => {
    // Prepare
    const day = '2026-11-20';
    const key = `${DEVICE_BASELINES_PREFIX}/event_date=${day}/part-00000.parquet`;
    await put(key, await baselineParquet(day, [{ deviceId: 'x', hours: 10, mean: 1, stddev: 1, rssi: -50 }]));
    let now = 0;
    const cache = new DeviceBaselineCache({ s3, bucket: CURATED, maxAgeMs: 1000, now: () => now });
    const before = (await cache.baselinesOf(day)).get('x')?.metricMean;
    await put(key, await baselineParquet(day, [{ deviceId: 'x', hours: 11, mean: 2, stddev: 1, rssi: -50 }]));

    // Act
    const cached = (await cache.baselinesOf(day)).get('x')?.metricMean;
    now = 1000;
    const after = (await cache.baselinesOf(day)).get('x')?.metricMean;

    // Assess
    expect([before, cached, after]).toEqual([1, 1, 2]);
  });

  it('has no baselines for a day without a partition (the first day), with a warning and a count', async () => {
    // Prepare
    let now = 0;
    const { warnings, counts, observability } = recorder();
    const cache = new DeviceBaselineCache({
      s3,
      bucket: CURATED,
      retryAfterMs: 5000,
      now: () => now,
      observability,
    });

    // Act
    const found = await cache.lookup([readingOf('thermo-1', '2026-12-01T10:00:00Z')]);
    await cache.baselinesOf('2026-11-30');
    now = 5000;
    await cache.baselinesOf('2026-11-30');

    // Assess: asked again after the retry interval, not before.
    expect(found).toEqual([undefined]);
    expect(cache.reads).toBe(2);
    expect(warnings.map((w) => w.reason)).toEqual(['missing', 'missing']);
    expect(warnings[0]?.message).toContain(
      `s3://${CURATED}/${DEVICE_BASELINES_PREFIX}/event_date=2026-11-30/`,
    );
    expect(counts).toEqual([
      { name: BASELINE_METRICS.unavailable, value: 1 },
      { name: BASELINE_METRICS.unavailable, value: 1 },
    ]);
  });

  it('has no baselines for a day whose file cannot be read, with a warning and a count, and never throws', async () => {
    // Prepare
    const day = '2026-11-10';
    const key = `${DEVICE_BASELINES_PREFIX}/event_date=${day}/part-00000.parquet`;
    await put(key, Buffer.from('not parquet at all'));
    const { warnings, counts, observability } = recorder();
    const cache = new DeviceBaselineCache({ s3, bucket: CURATED, observability });

    // Act
    const found = await cache.baselinesOf(day);

    // Assess
    expect(found.size).toBe(0);
    expect(warnings.map((w) => w.reason)).toEqual(['error']);
    expect(counts).toHaveLength(1);
    await s3.send(new DeleteObjectCommand({ Bucket: CURATED, Key: key }));
  });

  it('has no baselines when the bucket cannot be reached', async () => {
    // Prepare
    const { warnings, observability } = recorder();
    const cache = new DeviceBaselineCache({ s3, bucket: 'no-such-bucket', observability });

    // Act
    const found = await cache.lookup([readingOf('thermo-1', '2026-11-27T10:00:00Z')]);

    // Assess
    expect(found).toEqual([undefined]);
    expect(warnings.map((w) => w.reason)).toEqual(['error']);
  });
});

describe('parseBaselineRows', () => {
  it('fails when a row has no device id or a value that is not a number, naming the file and row', () => {
    expect(() => parseBaselineRows([{ device_id: null }], 'f.parquet')).toThrow(
      new BaselineFormatError('f.parquet, row 1: device_id: received null, expected a device id'),
    );
    expect(() => parseBaselineRows([{ device_id: 'd', metric_mean: 'high' }], 'f.parquet')).toThrow(
      'f.parquet, row 1: metric_mean: received high, expected a number or null',
    );
  });
});
