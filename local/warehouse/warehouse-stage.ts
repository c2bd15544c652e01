/**
 * The twin's warehouse stage, after each batch stage: bring `<out>/warehouse.duckdb` up to date from
 * the curated lake and write `<out>/report.html` from its views. The deployed workflow's load step
 * does the first half in Redshift; QuickSight does the second.
 */
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { writeWarehouseReport } from '../report/warehouse-report.ts';
import { REPORT_FILE, WAREHOUSE_FILE } from '../twin-output.ts';
import { buildTwinWarehouse, type WarehouseSummary } from './twin-warehouse.ts';

export interface WarehouseStageSummary extends WarehouseSummary {
  readonly report: { readonly path: string; readonly charts: readonly string[] };
}

export async function runWarehouseStage(options: {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  readonly outDir: string;
}): Promise<WarehouseStageSummary> {
  let report: WarehouseStageSummary['report'] | undefined;
  const warehouse = await buildTwinWarehouse({
    s3: options.s3,
    curatedBucket: options.curatedBucket,
    path: join(options.outDir, WAREHOUSE_FILE),
    afterLoad: async ({ connection }) => {
      report = await writeWarehouseReport(connection, join(options.outDir, REPORT_FILE));
    },
  });
  if (report === undefined) throw new Error('the warehouse was built but its report was not written');
  return { ...warehouse, report };
}

/** The warehouse stage's lines of a twin summary. */
export function formatWarehouse(w: WarehouseStageSummary): string[] {
  const facts = Object.entries(w.rows)
    .filter(([name, rows]) => name.startsWith('fact_') && rows > 0)
    .map(([name, rows]) => `${name.slice('fact_'.length)} ${rows}`)
    .join(', ');
  return [
    `  warehouse      ${w.partitionsLoaded} curated partitions merged in ${w.seconds.toFixed(1)} s into ${w.path}: ${facts}`,
    `  report         ${w.report.path} (${w.report.charts.length} charts); ask it: sdap query "SELECT * FROM analytics.v_fleet_health_now LIMIT 5"`,
  ];
}
