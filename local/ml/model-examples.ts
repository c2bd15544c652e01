/**
 * The models' labelled examples from a twin's lake: the curated tables the training SQL reads
 * (`ml/sql/<model>_examples.sql`, the same files the cloud's training-data job runs in Spark),
 * the simulator's ground truth as the `labels` view, and a training window with its split time.
 *
 * The curated partitions are downloaded through the S3 API, as the twin's warehouse stage does,
 * and the SQL runs in DuckDB with the ETL's prelude.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DuckDBConnection } from '@duckdb/node-api';
import { featureNames, type ModelName, type ModelSpec } from '../../ml/model-spec.ts';
import { createEtlSession } from '../etl/duckdb-runner.ts';
import { downloadObject, listKeys, mapLimit, S3_CONCURRENCY } from '../etl/lake-io.ts';
import { loadPipeline } from '../etl/manifest.ts';

export const MODEL_SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ml', 'sql');

/** The file of a model's examples query. */
export function examplesSqlPath(model: ModelName): string {
  return join(MODEL_SQL_DIR, `${model}_examples.sql`);
}

/** The curated tables the example queries read, by view name (= the curated prefix). */
export const EXAMPLE_SOURCE_TABLES = [
  'curated_telemetry',
  'device_baselines',
  'ml_features',
  'anomaly_alerts',
] as const;

/** The period examples come from; `splitAt` divides training rows from hold-out rows. */
export interface TrainingWindow {
  readonly start: Date;
  readonly splitAt: Date;
  readonly end: Date;
}

/** One labelled example: its identity, its label and the model's feature values in order. */
export interface ModelExample {
  readonly split: 'train' | 'holdout';
  readonly deviceId: string;
  /** ISO time of the reading (anomaly) or of the hour's start (failure, energy). */
  readonly exampleTime: string;
  readonly label: number;
  /** In the order of `featureNames(model)`; null is a missing value. */
  readonly features: ReadonlyArray<number | null>;
}

export interface ExampleSet {
  readonly model: ModelName;
  readonly featureNames: readonly string[];
  readonly examples: readonly ModelExample[];
}

/**
 * The rules-only baseline of the anomaly model: the readings (device and time) for which the
 * validator raised a rule's alert in real time.
 */
export type RuleAlertIndex = ReadonlySet<string>;

/** The rule id of the alerts the anomaly model raises: not part of the rules-only baseline. */
export const MODEL_ALERT_RULE = 'model_anomaly';

/** The key of a reading in a {@link RuleAlertIndex}. */
export const readingKey = (deviceId: string, isoTime: string) => `${deviceId}@${isoTime}`;

export interface ModelExamplesOptions {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  /** The simulator's `ground-truth.ndjson`. */
  readonly groundTruthPath: string;
  readonly window: TrainingWindow;
  readonly spec: ModelSpec;
  readonly models: readonly ModelName[];
}

export interface ModelExamples {
  readonly sets: Readonly<Partial<Record<ModelName, ExampleSet>>>;
  /** Readings (`readingKey(device, time)`) that raised a rule's alert. */
  readonly ruleAlerts: RuleAlertIndex;
  /** Device-hours (`readingKey(device, hour start)`) in which a rule raised an alert. */
  readonly ruleAlertHours: RuleAlertIndex;
  /** The site of every device with features. */
  readonly sites: ReadonlyMap<string, string>;
}

const sqlText = (value: string) => `'${value.replaceAll("'", "''")}'`;
const timestampLiteral = (at: Date) =>
  `TIMESTAMP ${sqlText(at.toISOString().replace('T', ' ').replace('Z', ''))}`;

async function registerTable(connection: DuckDBConnection, view: string, files: readonly string[]) {
  if (files.length === 0) {
    throw new Error(
      `${view}: the twin's curated bucket holds no ${view}/ partitions; run the batch stage first`,
    );
  }
  const list = files.map(sqlText).join(', ');
  await connection.run(
    `CREATE OR REPLACE VIEW ${view} AS SELECT * FROM read_parquet([${list}], hive_partitioning = true, union_by_name = true)`,
  );
}

/**
 * Builds the examples of `models` over the window, and the index of readings that raised a rule's
 * alert. Throws when a curated table the queries need is absent (the batch stage has not run).
 */
export async function buildModelExamples(options: ModelExamplesOptions): Promise<ModelExamples> {
  const work = await mkdtemp(join(tmpdir(), 'sdap-examples-'));
  const session = await createEtlSession(await loadPipeline());
  try {
    const { connection } = session;
    for (const table of EXAMPLE_SOURCE_TABLES) {
      const keys = (await listKeys(options.s3, options.curatedBucket, `${table}/`)).filter((key) =>
        key.endsWith('.parquet'),
      );
      const local = await mapLimit(keys, S3_CONCURRENCY, (key) =>
        downloadObject(options.s3, options.curatedBucket, key, work),
      );
      const paths = local.flatMap((file) => (file === undefined ? [] : [file.path]));
      if (table === 'device_baselines' && paths.length === 0) {
        // A run within one UTC day has no baseline valid yet: every reading scores without one.
        await connection.run(
          'CREATE OR REPLACE VIEW device_baselines AS SELECT CAST(NULL AS VARCHAR) AS device_id, CAST(NULL AS TIMESTAMP) AS valid_from, CAST(NULL AS TIMESTAMP) AS valid_until, CAST(NULL AS DOUBLE) AS metric_mean, CAST(NULL AS DOUBLE) AS metric_stddev, CAST(NULL AS BIGINT) AS baseline_hours, CAST(NULL AS DOUBLE) AS rssi_mean_dbm WHERE false',
        );
      } else if (table === 'anomaly_alerts' && paths.length === 0) {
        await connection.run(
          'CREATE OR REPLACE VIEW anomaly_alerts AS SELECT CAST(NULL AS VARCHAR) AS device_id, CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS TIMESTAMP) AS alert_time WHERE false',
        );
      } else {
        await registerTable(connection, table, paths);
      }
    }
    await connection.run(
      `CREATE OR REPLACE TABLE labels AS SELECT kind, deviceId AS device_id, deviceType AS device_type, try_to_timestamp("start") AS start_time, try_to_timestamp("end") AS end_time, try_to_timestamp(failureAt) AS failure_at FROM read_json(${sqlText(options.groundTruthPath)}, format = 'newline_delimited', columns = {kind: 'VARCHAR', deviceId: 'VARCHAR', deviceType: 'VARCHAR', "start": 'VARCHAR', "end": 'VARCHAR', failureAt: 'VARCHAR'})`,
    );
    const { start, splitAt, end } = options.window;
    await connection.run(
      `CREATE OR REPLACE TABLE training_window AS SELECT ${timestampLiteral(start)} AS window_start, ${timestampLiteral(splitAt)} AS split_at, ${timestampLiteral(end)} AS window_end`,
    );

    const sets: Partial<Record<ModelName, ExampleSet>> = {};
    for (const model of options.models) {
      const names = featureNames(options.spec.models[model]);
      const query = await readFile(examplesSqlPath(model), 'utf8');
      const result = await connection.runAndReadAll(
        `SELECT split, device_id, strftime(example_time, '%Y-%m-%dT%H:%M:%S.%gZ') AS example_time, CAST(label AS DOUBLE) AS label, ${names.map((name) => `CAST(${name} AS DOUBLE) AS ${name}`).join(', ')} FROM (${query.trim().replace(/;$/, '')}) ORDER BY example_time, device_id`,
      );
      const examples = result.getRows().map(
        (row): ModelExample => ({
          split: row[0] as ModelExample['split'],
          deviceId: row[1] as string,
          exampleTime: row[2] as string,
          label: row[3] as number,
          features: row.slice(4).map((value) => (value === null ? null : (value as number))),
        }),
      );
      sets[model] = { model, featureNames: names, examples };
    }

    const alerts = await connection.runAndReadAll(
      `SELECT DISTINCT device_id, strftime(alert_time, '%Y-%m-%dT%H:%M:%S.%gZ') FROM anomaly_alerts WHERE rule <> ${sqlText(MODEL_ALERT_RULE)}`,
    );
    const ruleAlerts = new Set(alerts.getRows().map((row) => readingKey(row[0] as string, row[1] as string)));
    const hours = await connection.runAndReadAll(
      `SELECT DISTINCT device_id, strftime(date_trunc('hour', alert_time), '%Y-%m-%dT%H:%M:%S.%gZ') FROM anomaly_alerts WHERE rule <> ${sqlText(MODEL_ALERT_RULE)}`,
    );
    const ruleAlertHours = new Set(
      hours.getRows().map((row) => readingKey(row[0] as string, row[1] as string)),
    );
    const siteRows = await connection.runAndReadAll(
      'SELECT device_id, max(site_id) FROM ml_features WHERE site_id IS NOT NULL GROUP BY device_id',
    );
    const sites = new Map(siteRows.getRows().map((row) => [row[0] as string, row[1] as string]));
    return { sets, ruleAlerts, ruleAlertHours, sites };
  } finally {
    session.close();
    await rm(work, { recursive: true, force: true });
  }
}
