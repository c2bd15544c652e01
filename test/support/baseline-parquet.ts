/**
 * Device baselines as the batch ETL writes them: Parquet of 80_device_baselines.sql's columns (all
 * but the partition's `event_date`), written by DuckDB with its defaults (snappy), for tests that
 * read baselines from the S3 stand-in.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export interface BaselineRow {
  readonly deviceId: string;
  readonly deviceType?: string;
  readonly hours: number;
  readonly mean: number | null;
  readonly stddev: number | null;
  readonly rssi: number | null;
}

const sqlNumber = (value: number | null) => (value === null ? 'NULL' : String(value));

/** The bytes of one `part-*.parquet` of the baselines of `eventDate`. */
export async function baselineParquet(eventDate: string, rows: readonly BaselineRow[]): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'sdap-baseline-parquet-'));
  const path = join(dir, 'part-00000.parquet');
  const values = rows
    .map(
      (r) =>
        `('${r.deviceId}', '${r.deviceType ?? 'thermostat'}', 'site-1', 'ambient_temperature_c', ` +
        `CAST(${r.hours} AS BIGINT), CAST(${sqlNumber(r.mean)} AS DOUBLE), CAST(${sqlNumber(r.stddev)} AS DOUBLE), ` +
        `1.0, 2.0, 12.0, 30.5, CAST(${sqlNumber(r.rssi)} AS DOUBLE), ` +
        `TIMESTAMP '${eventDate}' + INTERVAL 1 DAY, TIMESTAMP '${eventDate}' + INTERVAL 2 DAYS)`,
    )
    .join(',\n');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`COPY (SELECT * FROM (VALUES ${values}) AS t(device_id, device_type, site_id, metric_name,
      baseline_hours, metric_mean, metric_stddev, metric_low, metric_high, readings_per_hour_mean,
      energy_wh_per_hour_mean, rssi_mean_dbm, valid_from, valid_until)) TO '${path}' (FORMAT parquet)`);
    return await readFile(path);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}
