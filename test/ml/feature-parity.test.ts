/**
 * The anomaly model's features are computed twice: by the stream for scoring
 * (lambdas/shared/anomaly-features.ts, from the reading, the cached baseline and the device's
 * previous reading) and by the training SQL (ml/sql/anomaly_examples.sql, from the curated lake).
 * A model trained on one and served on the other is only as good as their agreement: on a twin
 * run long enough for baselines, both must give every reading the same values.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anomalyFeatureRow, deviceTimeMs } from '../../lambdas/shared/anomaly-features.ts';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import type { Reading } from '../../lambdas/shared/contract.ts';
import { DeviceBaselineCache } from '../../lambdas/shared/device-baselines.ts';
import { DeviceSignalHistory } from '../../lambdas/shared/device-signal-history.ts';
import { listKeys } from '../../local/etl/lake-io.ts';
import { buildModelExamples, type ExampleSet } from '../../local/ml/model-examples.ts';
import { type S3StandIn, startS3StandIn } from '../../local/s3-stand-in.ts';
import { runTwin } from '../../local/twin.ts';
import { TWIN_BUCKETS } from '../../local/twin-pipeline.ts';
import { loadModelSpec } from '../../ml/model-spec.ts';

let outDir: string;
let s3Stand: S3StandIn;
let sqlExamples: ExampleSet;
let streamRows: Map<string, Array<number | null>>;

const hourFloor = (iso: string) => new Date(Math.floor(Date.parse(iso) / 3_600_000) * 3_600_000);
const hourCeil = (iso: string) => new Date(Math.ceil(Date.parse(iso) / 3_600_000) * 3_600_000);

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'sdap-feature-parity-'));
  // 30 fleet hours span two UTC days: readings of the second day have their device's baseline.
  const summary = await runTwin({
    outDir,
    simulation: { devices: 24, durationHours: 30, seed: 11, readingsPerMessage: 5 },
    shards: 2,
    speed: 0,
    warehouse: false,
    models: false,
    anomalyModelPath: null,
  });
  s3Stand = await startS3StandIn({ buckets: Object.values(TWIN_BUCKETS), directory: join(outDir, 'lake') });
  const s3 = createValidatorClients(s3Stand.clientOverrides).s3;
  const { fleetStart, fleetEnd } = summary.run as { fleetStart: string; fleetEnd: string };
  const start = hourFloor(fleetStart);
  const built = await buildModelExamples({
    s3,
    curatedBucket: TWIN_BUCKETS.curated,
    groundTruthPath: join(outDir, 'ground-truth.ndjson'),
    window: { start, splitAt: start, end: hourCeil(fleetEnd) },
    spec: loadModelSpec(),
    models: ['anomaly'],
  });
  sqlExamples = built.sets.anomaly as ExampleSet;

  // The stream's view: every valid reading the raw zone holds (one copy of each), in device time.
  const readings = new Map<string, Reading>();
  for (const key of await listKeys(s3, TWIN_BUCKETS.raw, 'telemetry/')) {
    const object = await s3.send(new GetObjectCommand({ Bucket: TWIN_BUCKETS.raw, Key: key }));
    const text = gunzipSync(
      await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    ).toString('utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const reading = JSON.parse(line) as Reading;
      if (!readings.has(reading.eventId)) readings.set(reading.eventId, reading);
    }
  }
  const ordered = [...readings.values()].sort(
    (a, b) =>
      deviceTimeMs(a) - deviceTimeMs(b) || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0),
  );
  const baselines = await new DeviceBaselineCache({ s3, bucket: TWIN_BUCKETS.curated }).lookup(ordered);
  const history = new DeviceSignalHistory();
  streamRows = new Map();
  ordered.forEach((reading, i) => {
    const previous = history.observe(reading);
    const key = `${reading.deviceId}@${new Date(deviceTimeMs(reading)).toISOString()}`;
    streamRows.set(key, anomalyFeatureRow(reading, baselines[i], previous));
  });
}, 600_000);

afterAll(async () => {
  await s3Stand?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('anomaly features: the stream and the training SQL', () => {
  it('cover readings with and without a baseline and a previous reading', () => {
    // Assess: the run exercises every branch of the features.
    const names = sqlExamples.featureNames;
    const column = (name: string) => sqlExamples.examples.map((e) => e.features[names.indexOf(name)]);
    expect(sqlExamples.examples.length).toBeGreaterThan(10_000);
    expect(column('baseline_hours').filter((v) => v !== null).length).toBeGreaterThan(1_000);
    expect(column('baseline_hours').filter((v) => v === null).length).toBeGreaterThan(1_000);
    expect(column('signal_repeats').filter((v) => (v ?? 0) > 0).length).toBeGreaterThan(100);
    expect(column('signal_delta_prev').filter((v) => v === null).length).toBeGreaterThan(100);
  });

  it('give every reading the same feature values', () => {
    // Act
    const mismatches: string[] = [];
    let compared = 0;
    for (const example of sqlExamples.examples) {
      const key = `${example.deviceId}@${example.exampleTime}`;
      const stream = streamRows.get(key);
      if (stream === undefined) {
        mismatches.push(`${key}: not among the raw zone's readings`);
        continue;
      }
      compared++;
      example.features.forEach((sql, i) => {
        const ts = stream[i] ?? null;
        const same =
          sql === null || ts === null ? sql === ts : Math.abs(sql - ts) <= 1e-9 * Math.max(1, Math.abs(sql));
        if (!same) mismatches.push(`${key} ${sqlExamples.featureNames[i]}: SQL ${sql}, stream ${ts}`);
      });
    }

    // Assess
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(compared).toBe(sqlExamples.examples.length);
  });
});
