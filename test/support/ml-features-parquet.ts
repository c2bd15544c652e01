/**
 * `ml_features` partitions as the batch ETL writes them, for tests of the failure scoring: Parquet
 * written by DuckDB with its defaults (snappy), the key columns and every column the failure model's
 * features read (the partition's `event_date` and `event_hour` are in the key, not the file). Counts
 * are BIGINT, as the ETL writes them; the other features DOUBLE.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { failureModelDefinition } from '../../lambdas/failure-scoring/score-window.ts';
import { featureColumns } from '../../lambdas/shared/table-features.ts';
import { Random } from '../../simulator/random.ts';

/** Columns the ETL writes as BIGINT (counts). */
const BIGINT_COLUMNS = new Set(['readings', 'error_readings', 'reboots', 'failed_attempts', 'seq_gaps']);
const DEVICE_TYPES = ['thermostat', 'camera', 'smart_lock', 'sensor'] as const;

export interface FeatureRowSpec {
  readonly deviceId: string;
  readonly deviceType: string;
  readonly siteId: string | null;
  /** Feature columns to set; the others take values drawn from the seed (about one in ten NULL). */
  readonly values?: Readonly<Record<string, number | null>>;
}

/** The feature columns of the failure model other than the key columns, in the spec's order. */
export function failureFeatureColumns(): string[] {
  return featureColumns(failureModelDefinition()).filter((column) => column !== 'device_type');
}

/** `count` rows of devices `d-000`, `d-001`, ... of every type, two sites, varied values. */
export function fleetRows(count: number): FeatureRowSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    deviceId: `d-${String(i).padStart(3, '0')}`,
    deviceType: DEVICE_TYPES[i % DEVICE_TYPES.length] as string,
    siteId: i % 5 === 0 ? null : `site-${i % 2}`,
  }));
}

const literal = (value: number | string | null, type: string) =>
  value === null
    ? `CAST(NULL AS ${type})`
    : typeof value === 'string'
      ? `'${value.replaceAll("'", "''")}'`
      : `CAST(${value} AS ${type})`;

/** The bytes of one `part-00000.parquet` of the `ml_features` hour starting at `hourStart`. */
export async function mlFeaturesParquet(
  hourStart: string,
  rows: readonly FeatureRowSpec[],
  seed = 1,
): Promise<Buffer> {
  const columns = failureFeatureColumns();
  const random = Random.fromSeed(seed).derive(`ml-features-${hourStart}`);
  const selects = rows.map((row) => {
    const cells = [
      `TIMESTAMP '${hourStart.replace('T', ' ').replace(/(\.000)?Z$/, '')}' AS hour_start`,
      `${literal(row.deviceId, 'VARCHAR')} AS device_id`,
      `${literal(row.deviceType, 'VARCHAR')} AS device_type`,
      `${literal(row.siteId, 'VARCHAR')} AS site_id`,
      ...columns.map((column) => {
        const type = BIGINT_COLUMNS.has(column) ? 'BIGINT' : 'DOUBLE';
        const given =
          row.values && Object.hasOwn(row.values, column) ? (row.values[column] ?? null) : undefined;
        const drawn = random.chance(0.1)
          ? null
          : type === 'BIGINT'
            ? random.int(0, 12)
            : Math.round(random.uniform(-12, 12) * 1000) / 1000;
        return `${literal(given === undefined ? drawn : given, type)} AS ${column}`;
      }),
    ];
    return `SELECT ${cells.join(', ')}`;
  });
  const dir = await mkdtemp(join(tmpdir(), 'sdap-ml-features-'));
  const path = join(dir, 'part-00000.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(
      `COPY (${selects.join(' UNION ALL ')} ORDER BY device_id) TO '${path}' (FORMAT parquet)`,
    );
    return await readFile(path);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}
