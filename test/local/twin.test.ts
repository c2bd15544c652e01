/**
 * The twin end to end on a small fleet: real MQTT, the rule, kinesalite, the event source mapping,
 * the unchanged validator handler, s3rver and the alert sink.
 */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTwin, type TwinSummary } from '../../local/twin.ts';
import type { SimulationOptions } from '../../simulator/options.ts';
import { simulateFleet } from '../../simulator/simulate.ts';
import { makeReading } from '../support/readings.ts';

describe('local twin, fleet run', () => {
  let summary: TwinSummary;
  let outDir: string;
  const simulation: SimulationOptions = {
    devices: 40,
    durationHours: 1,
    seed: 11,
    readingsPerMessage: 3,
    // Sensors only smoke/leak-heavy so every run has critical events to alert on.
    injections: { smoke: 40, water_leak: 40 },
    faults: { duplicate: 0.05, not_json: 0.01, out_of_range: 0.01 },
  };

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'sdap-twin-'));
    summary = await runTwin({ outDir, shards: 2, speed: 0, simulation });
  }, 180_000);

  it('publishes, from the fleet worker, exactly what the seed simulates on one thread', () => {
    const sim = simulateFleet({ ...simulation, start: summary.run.fleetStart });
    for (const _ of sim);
    const expected = sim.summary();
    expect(summary.published.messages).toBe(expected.messages);
    expect(summary.published.readings).toBe(expected.readings);
    expect(summary.published.faults).toEqual(
      Object.fromEntries(Object.entries(expected.faults).filter(([, n]) => n > 0)),
    );
  });

  it('accounts for every published reading: valid, quarantined or dead-lettered', () => {
    expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
    expect(summary.outcome.valid + summary.outcome.quarantined + summary.outcome.deadLettered).toBe(
      summary.published.readings,
    );
    expect(summary.published.readings).toBeGreaterThan(1000);
  });

  it('quarantines the malformed messages the simulator injected, with their reasons', () => {
    expect(summary.published.faults.not_json ?? 0).toBeGreaterThan(0);
    expect(summary.outcome.quarantinedByReason.not_json ?? 0).toBeGreaterThan(0);
    expect(summary.outcome.quarantinedByReason.out_of_range ?? 0).toBeGreaterThan(0);
  });

  it('does not double readings the simulator delivered twice', () => {
    const duplicates = summary.published.faults.duplicate ?? 0;
    expect(duplicates).toBeGreaterThan(0);
    // Messages counted include both copies; readings are counted once each.
    expect(summary.published.messages).toBeGreaterThan(summary.published.readings / 3);
    // Copies that reached the raw zone twice (different batches) are bounded by the duplicates sent.
    expect(summary.outcome.duplicateCopiesInRaw).toBeLessThanOrEqual(duplicates * 3);
  });

  it('raises a critical alert for every injected smoke and water-leak event', () => {
    expect(summary.alerts.injectedCriticalEvents).toBeGreaterThan(0);
    expect(summary.alerts.injectedCriticalEventsAlerted).toBe(summary.alerts.injectedCriticalEvents);
    expect(summary.alerts.criticalNotifications).toBeGreaterThan(0);
  });

  it('measures publish-to-lake latency and writes the summary, alerts, ground truth and registry', async () => {
    expect(summary.latencyMs.samples).toBe(summary.outcome.valid);
    expect(summary.latencyMs.p50).toBeGreaterThan(0);
    expect(summary.latencyMs.p99).toBeGreaterThanOrEqual(summary.latencyMs.p50);
    const written = JSON.parse(await readFile(join(outDir, 'summary.json'), 'utf8'));
    expect(written.conservation.holds).toBe(true);
    const truth = (await readFile(join(outDir, 'ground-truth.ndjson'), 'utf8')).trim().split('\n');
    expect(truth.length).toBeGreaterThan(0);
    const things = (await readFile(join(outDir, 'registry', 'things.ndjson'), 'utf8')).trim().split('\n');
    expect(things).toHaveLength(40);
    // The registry export also lands in the lake (s3rver keeps each object as a file).
    const exported = await readFile(
      join(outDir, 'lake', 'sdap-twin-raw', 'iot-registry', 'things.ndjson._S3rver_object'),
      'utf8',
    );
    expect(exported.trim().split('\n')).toEqual(things);
  });

  it('lands the fleet weather and curates every valid reading once in the batch stage', () => {
    expect(summary.weather).toMatchObject({ sites: 1, hoursMissing: 0 });
    expect(summary.weather?.hoursFetched).toBeGreaterThanOrEqual(1);
    const batch = summary.batch;
    expect(batch?.window).not.toBeNull();
    // Copies the stream delivered twice are one curated row: exactly the distinct valid readings.
    expect(batch?.curatedRows).toBe(summary.outcome.valid);
    expect(batch?.duplicatesRemoved).toBe(summary.outcome.duplicateCopiesInRaw);
    expect(batch?.malformedLines).toBe(0);
    expect(batch?.dqScore.deviceHoursScored).toBeGreaterThan(0);
    expect(batch?.objectsWritten).toBeGreaterThan(0);
  });

  it('archives every alert it raised in the raw zone, and curates each one once', async () => {
    const raised = new Set(
      (await readFile(join(outDir, 'alerts.ndjson'), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).detail.alertId as string),
    );
    const alertsDir = join(outDir, 'lake', 'sdap-twin-raw', 'alerts');
    const objects = (await readdir(alertsDir, { recursive: true })).filter((f) =>
      f.endsWith('.ndjson.gz._S3rver_object'),
    );
    const archived = new Set<string>();
    for (const object of objects) {
      expect(object).toMatch(/^ingest_date=\d{4}-\d\d-\d\d\/ingest_hour=\d\d\//);
      for (const line of gunzipSync(await readFile(join(alertsDir, object)))
        .toString('utf8')
        .split('\n')) {
        if (line) archived.add(JSON.parse(line).alertId);
      }
    }
    expect(raised.size).toBeGreaterThan(0);
    expect(archived).toEqual(raised);
    expect(summary.batch?.tables.anomaly_alerts?.rows).toBe(raised.size);
  });

  it('ends with the warehouse loaded from the curated lake and its report written', async () => {
    const warehouse = summary.warehouse;
    expect(warehouse?.path).toBe(join(outDir, 'warehouse.duckdb'));
    // Every registered device is a dimension row, every alert raised is an anomaly.
    expect(warehouse?.rows.dim_device).toBe(summary.run.devices);
    expect(warehouse?.rows.fact_anomaly).toBe(summary.alerts.total);
    expect(warehouse?.rows.fact_telemetry_hourly).toBe(summary.batch?.tables.device_hourly?.rows);
    const { openWarehouse } = await import('../../local/warehouse/twin-warehouse.ts');
    const opened = await openWarehouse(warehouse?.path as string);
    try {
      const [fleet] = await opened.executor.query(
        'SELECT COUNT(*) AS devices FROM analytics.v_fleet_health_now',
      );
      expect(Number(fleet?.devices)).toBe(summary.run.devices);
    } finally {
      opened.close();
    }
    const html = await readFile(join(outDir, 'report.html'), 'utf8');
    expect(html).toContain('data-chart=');
    expect(warehouse?.report.charts.length).toBeGreaterThan(0);
  });
});

describe('local twin, interrupted', () => {
  it('stops the fleet worker on abort, drains what was sent and still writes a summary that holds', async () => {
    // Prepare: paced, 2 fleet hours at 240x take 30 s; the abort lands a few seconds in.
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-twin-abort-'));
    const abort = new AbortController();
    let progressTicks = 0;

    // Act
    const summary = await runTwin({
      outDir,
      shards: 1,
      speed: 240,
      batch: false,
      simulation: { devices: 20, durationHours: 2, seed: 3, readingsPerMessage: 2 },
      signal: abort.signal,
      onProgress: ({ published }) => {
        if (published > 0 && ++progressTicks === 4) abort.abort();
      },
    });

    // Assess
    expect(summary.run.interrupted).toBe(true);
    expect(summary.published.messages).toBeGreaterThan(0);
    expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
    expect(summary.latencyMs.samples).toBe(summary.outcome.valid);
    const written = JSON.parse(await readFile(join(outDir, 'summary.json'), 'utf8'));
    expect(written.run.interrupted).toBe(true);
    expect(written.published.messages).toBe(summary.published.messages);
    // A third of the fleet or less: it stopped well before the end.
    const all = simulateFleet({ devices: 20, durationHours: 2, seed: 3, readingsPerMessage: 2 });
    expect(summary.published.messages).toBeLessThan([...all].length / 3);
  }, 90_000);
});

describe('local twin, --payloads', () => {
  it('publishes each line verbatim and classifies each one', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-twin-payloads-'));
    const now = new Date().toISOString();
    const file = join(outDir, 'payloads.ndjson');
    await writeFile(
      file,
      [
        JSON.stringify(makeReading('thermostat', 1, now, 'bench-dev-1')),
        'this is not json',
        JSON.stringify(makeReading('camera', 2, now, 'someone-else')),
      ].join('\n'),
    );

    const summary = await runTwin({
      outDir,
      shards: 1,
      speed: 0,
      simulation: {},
      payloadsFile: file,
      payloadsDevice: 'bench-dev-1',
    });

    expect(summary.published).toMatchObject({ messages: 3, readings: 3 });
    expect(summary.outcome).toMatchObject({ valid: 1, quarantined: 2 });
    expect(summary.outcome.quarantinedByReason).toEqual({ not_json: 1, device_mismatch: 1 });
    expect(summary.conservation.holds).toBe(true);
  }, 60_000);
});
