/**
 * The training-example queries (ml/sql/*_examples.sql): Spark SQL's grammar and the ETL's allowed
 * constructs (the cloud's training-data job runs them in Spark), their columns against
 * ml/models.json, and their labels, splits and derived features on hand-made rows in DuckDB.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SparkSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtlSession, type EtlSession, runPipeline } from '../../local/etl/duckdb-runner.ts';
import { loadPipeline } from '../../local/etl/manifest.ts';
import { etlWindow } from '../../local/etl/window.ts';
import { examplesSqlPath } from '../../local/ml/model-examples.ts';
import { featureNames, loadModelSpec, MODEL_NAMES, type ModelName } from '../../ml/model-spec.ts';
import { codeOf, constructViolations } from '../glue-scripts/sql-constructs.ts';

const spec = loadModelSpec();
let session: EtlSession;
let workDir: string;

/** Replaces a view of the empty pipeline run with a table of the same columns holding `rows`. */
async function fill(view: string, rows: ReadonlyArray<Record<string, string>>): Promise<void> {
  const { connection } = session;
  await connection.run(`CREATE OR REPLACE TABLE ${view}_shape AS SELECT * FROM ${view} WHERE false`);
  const kind = (
    await connection.runAndReadAll(
      `SELECT table_type FROM information_schema.tables WHERE table_name = '${view}'`,
    )
  ).getRows()[0]?.[0];
  await connection.run(`DROP ${kind === 'VIEW' ? 'VIEW' : 'TABLE'} ${view}`);
  await connection.run(`CREATE TABLE ${view} AS SELECT * FROM ${view}_shape`);
  for (const row of rows) {
    const names = Object.keys(row);
    await connection.run(
      `INSERT INTO ${view} BY NAME SELECT ${names.map((name) => `${row[name]} AS ${name}`).join(', ')}`,
    );
  }
}

async function examples(model: ModelName): Promise<Array<Record<string, unknown>>> {
  const sql = await readFile(examplesSqlPath(model), 'utf8');
  const numbers = ['label', ...featureNames(spec.models[model])].map(
    (name) => `CAST(${name} AS DOUBLE) AS ${name}`,
  );
  const reader = await session.connection.runAndReadAll(
    `SELECT split, device_id, strftime(example_time, '%Y-%m-%dT%H:%M:%S') AS example_time, ${numbers.join(', ')} FROM (${sql}) ORDER BY device_id, example_time`,
  );
  return reader.getRowObjectsJson() as Array<Record<string, unknown>>;
}

const ts = (iso: string) => `TIMESTAMP '${iso.replace('T', ' ')}'`;

beforeAll(async () => {
  const pipeline = await loadPipeline();
  session = await createEtlSession(pipeline);
  workDir = await mkdtemp(join(tmpdir(), 'sdap-example-sql-'));
  // The ETL on an empty lake: every curated view exists with its real columns and types.
  await runPipeline(session, pipeline, {
    window: etlWindow('2026-01-05T10:00:00Z', '2026-01-05T11:00:00Z'),
    files: {},
    outDir: join(workDir, 'out'),
  });
  await session.connection.run(
    'CREATE TABLE labels (kind VARCHAR, device_id VARCHAR, device_type VARCHAR, start_time TIMESTAMP, end_time TIMESTAMP, failure_at TIMESTAMP)',
  );
});

afterAll(async () => {
  session?.close();
  await rm(workDir, { recursive: true, force: true });
});

describe.each(MODEL_NAMES)('ml/sql/%s_examples.sql', (model) => {
  it('is one SELECT in the Spark SQL grammar, with only the constructs the ETL allows', async () => {
    // Prepare
    const sql = await readFile(examplesSqlPath(model), 'utf8');
    const parser = new SparkSQL();

    // Act
    const errors = parser.validate(sql).map((error) => error.message);

    // Assess
    expect(errors).toEqual([]);
    expect(parser.splitSQLByStatement(sql)?.length).toBe(1);
    expect(/^\s*(with|select)\b/.test(codeOf(sql))).toBe(true);
    expect(constructViolations(sql)).toEqual([]);
  });

  it("returns the split, the example's identity, the label and the model's features in models.json order", async () => {
    // Prepare
    await session.connection.run(
      `CREATE OR REPLACE TABLE training_window AS SELECT ${ts('2026-01-05T00:00:00')} AS window_start, ${ts('2026-01-06T00:00:00')} AS split_at, ${ts('2026-01-07T00:00:00')} AS window_end`,
    );
    const sql = await readFile(examplesSqlPath(model), 'utf8');

    // Act
    const described = (await session.connection.runAndReadAll(`DESCRIBE (${sql})`)).getRowObjectsJson();

    // Assess
    expect(described.map((column) => column.column_name)).toEqual([
      'split',
      'device_id',
      'example_time',
      'label',
      ...featureNames(spec.models[model]),
    ]);
  });
});

describe('anomaly examples', () => {
  beforeAll(async () => {
    await session.connection.run(
      `CREATE OR REPLACE TABLE training_window AS SELECT ${ts('2026-01-05T10:00:00')} AS window_start, ${ts('2026-01-05T10:02:00')} AS split_at, ${ts('2026-01-06T00:00:00')} AS window_end`,
    );
    const reading = (id: string, device: string, at: string, value: string) => ({
      event_id: `'${id}'`,
      device_id: `'${device}'`,
      device_type: "'sensor'",
      sensor_kind: "'temperature'",
      value,
      rssi_dbm: '-60',
      battery_pct: '80',
      timestamp: ts(at),
    });
    await fill('curated_telemetry', [
      // Before the window: the previous reading of the first one inside it.
      reading('e0', 's1', '2026-01-05T09:59:00', '20.0'),
      reading('e1', 's1', '2026-01-05T10:00:00', '20.0'),
      reading('e2', 's1', '2026-01-05T10:01:00', '20.0'),
      reading('e3', 's1', '2026-01-05T10:02:00', '21.5'),
      // More than an hour after the one before: no previous reading.
      reading('e4', 's1', '2026-01-05T11:30:00', '21.5'),
      // Inside a degradation label: left out.
      reading('e5', 's2', '2026-01-05T10:00:00', '19.0'),
    ]);
    await fill('device_baselines', [
      {
        device_id: "'s1'",
        metric_mean: '20.5',
        metric_stddev: '0.5',
        baseline_hours: '48',
        rssi_mean_dbm: '-58',
        valid_from: ts('2026-01-05T00:00:00'),
        valid_until: ts('2026-01-06T00:00:00'),
      },
    ]);
    await session.connection.run('DELETE FROM labels');
    await session.connection.run(
      `INSERT INTO labels VALUES ('stuck', 's1', 'sensor', ${ts('2026-01-05T10:01:00')}, ${ts('2026-01-05T10:01:00')}, NULL), ('battery_degradation', 's2', 'sensor', ${ts('2026-01-05T09:00:00')}, ${ts('2026-01-05T12:00:00')}, ${ts('2026-01-05T12:00:00')})`,
    );
  });

  it('labels readings inside a label, leaves degradations out and splits at split_at', async () => {
    // Act
    const rows = await examples('anomaly');

    // Assess
    expect(rows.map((r) => [r.device_id, r.example_time, r.split, r.label])).toEqual([
      ['s1', '2026-01-05T10:00:00', 'train', 0],
      ['s1', '2026-01-05T10:01:00', 'train', 1],
      ['s1', '2026-01-05T10:02:00', 'holdout', 0],
      ['s1', '2026-01-05T11:30:00', 'holdout', 0],
    ]);
  });

  it("derives the deviation from the baseline and the signal's change and repeats since the previous reading", async () => {
    // Act
    const rows = await examples('anomaly');

    // Assess
    expect(rows.map((r) => [r.metric_value, r.metric_deviation, r.metric_zscore, r.baseline_hours])).toEqual([
      [20, -0.5, -1, 48],
      [20, -0.5, -1, 48],
      [21.5, 1, 2, 48],
      [21.5, 1, 2, 48],
    ]);
    expect(rows.map((r) => [r.signal_delta_prev, r.signal_repeats])).toEqual([
      [0, 1],
      [0, 2],
      [1.5, 0],
      [null, null],
    ]);
    expect(rows.map((r) => r.rssi_deviation_dbm)).toEqual([-2, -2, -2, -2]);
  });
});

describe('failure and energy examples', () => {
  beforeAll(async () => {
    await session.connection.run(
      `CREATE OR REPLACE TABLE training_window AS SELECT ${ts('2026-01-05T00:00:00')} AS window_start, ${ts('2026-01-06T02:00:00')} AS split_at, ${ts('2026-01-08T00:00:00')} AS window_end`,
    );
    const hour = (device: string, type: string, at: string, energy: string) => ({
      device_id: `'${device}'`,
      device_type: `'${type}'`,
      hour_start: ts(at),
      readings: '60',
      energy_wh: energy,
    });
    await fill('ml_features', [
      hour('t1', 'thermostat', '2026-01-05T00:00:00', '100'),
      hour('t1', 'thermostat', '2026-01-05T01:00:00', '110'),
      hour('t1', 'thermostat', '2026-01-05T03:00:00', '80'),
      hour('t1', 'thermostat', '2026-01-06T00:00:00', '120'),
      hour('t1', 'thermostat', '2026-01-06T03:00:00', '90'),
      hour('t1', 'thermostat', '2026-01-07T03:00:00', '95'),
      hour('c1', 'camera', '2026-01-05T00:00:00', 'NULL'),
      hour('c1', 'camera', '2026-01-06T05:00:00', 'NULL'),
      hour('c1', 'camera', '2026-01-06T10:00:00', 'NULL'),
      hour('c1', 'camera', '2026-01-06T11:00:00', 'NULL'),
    ]);
    await session.connection.run('DELETE FROM labels');
    await session.connection.run(
      `INSERT INTO labels VALUES ('camera_degradation', 'c1', 'camera', ${ts('2026-01-05T20:00:00')}, ${ts('2026-01-06T11:30:00')}, ${ts('2026-01-06T11:30:00')})`,
    );
  });

  it('labels an hour 1 when the failure is within 24 hours of its end, purges horizons crossing split_at and drops hours not before the failure', async () => {
    // Act
    const rows = (await examples('failure')).filter((r) => r.device_id === 'c1');

    // Assess: 00:00 on the 5th ends 35.5 h before the failure (0) and its horizon ends by split_at;
    // 05:00 and 10:00 on the 6th are hold-out, within 24 h (1); 11:00 holds the failure: dropped.
    expect(rows.map((r) => [r.example_time, r.split, r.label])).toEqual([
      ['2026-01-05T00:00:00', 'train', 0],
      ['2026-01-06T05:00:00', 'holdout', 1],
      ['2026-01-06T10:00:00', 'holdout', 1],
    ]);
  });

  it("pairs a thermostat-hour with the same hour of the next day as its label, split by the forecast hour's time", async () => {
    // Act
    const rows = await examples('energy');

    // Assess: 00:00 on the 5th forecasts 00:00 on the 6th, before split_at (train); 01:00 on the
    // 5th has no next-day hour; 03:00 on the 5th forecasts 03:00 on the 6th, after split_at
    // (hold-out, from a training day's features); 00:00 on the 6th has no next-day hour; 03:00 on
    // the 6th forecasts inside the window (hold-out).
    expect(rows.map((r) => [r.example_time, r.split, r.label, r.energy_wh])).toEqual([
      ['2026-01-05T00:00:00', 'train', 120, 100],
      ['2026-01-05T03:00:00', 'holdout', 90, 80],
      ['2026-01-06T03:00:00', 'holdout', 95, 90],
    ]);
  });
});
