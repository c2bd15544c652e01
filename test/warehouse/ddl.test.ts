/**
 * The DDL each dialect gets from the one spec, and the spec's own promises: every table, view and
 * column described, keys and layout that exist, migration 1 frozen.
 */
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_STATEMENTS } from '../../lambdas/shared/redshift-data.ts';
import { DEVICE_HOURLY, DEVICE_REGISTRY } from '../../warehouse/curated-tables.ts';
import { createTableSql, DIALECTS, sqlType } from '../../warehouse/ddl.ts';
import { mergeStatements, partitionPrefix, partitionUnit } from '../../warehouse/load.ts';
import { checksum } from '../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../warehouse/migrations.ts';
import {
  DIM_DEVICE,
  FACT_ANOMALY,
  FACT_PREDICTION,
  FACT_TELEMETRY_HOURLY,
  WAREHOUSE_TABLES,
} from '../../warehouse/tables.ts';
import { WAREHOUSE_VIEWS } from '../../warehouse/views.ts';

describe('the spec', () => {
  it('describes every table, view and column', () => {
    for (const object of [...WAREHOUSE_TABLES, ...WAREHOUSE_VIEWS]) {
      expect(object.description.length, object.name).toBeGreaterThan(20);
      for (const column of object.columns)
        expect(column.description.length, `${object.name}.${column.name}`).toBeGreaterThan(3);
    }
  });

  it('keys, sorts and distributes tables on columns they have, and names each column once', () => {
    for (const table of WAREHOUSE_TABLES) {
      const names = table.columns.map((column) => column.name);
      expect(new Set(names).size, table.name).toBe(names.length);
      const layout = [...table.key, ...table.sortKey];
      if (table.distribution.style === 'key') layout.push(table.distribution.column);
      for (const column of layout) expect(names, `${table.name} layout column ${column}`).toContain(column);
    }
  });

  it('loads every column of every loaded table from a curated column or an expression', () => {
    for (const table of WAREHOUSE_TABLES)
      for (const [index, load] of table.loads.entries()) {
        const unit =
          load.from.scope === 'hour' ? partitionUnit('2026-11-27', '10') : partitionUnit('2026-11-27');
        expect(() => mergeStatements(table, index, unit), `${table.name} load ${index}`).not.toThrow();
      }
  });
});

describe('Redshift DDL', () => {
  const telemetry = createTableSql('redshift', FACT_TELEMETRY_HOURLY);

  it('co-locates a fact with its device, sorts it by hour and keeps the first sort column uncompressed', () => {
    expect(telemetry).toContain('DISTSTYLE KEY DISTKEY (device_id)');
    expect(telemetry).toContain('COMPOUND SORTKEY (hour_start, device_id)');
    expect(telemetry).toMatch(/hour_start TIMESTAMP NOT NULL ENCODE RAW/);
    expect(telemetry).toMatch(/device_id VARCHAR\(64\) NOT NULL ENCODE ZSTD/);
    expect(telemetry).toMatch(/readings BIGINT ENCODE AZ64/);
    expect(telemetry).toMatch(/metric_mean DOUBLE PRECISION ENCODE ZSTD/);
    expect(telemetry).toContain('PRIMARY KEY (device_id, hour_start)');
  });

  it('copies small dimensions to every node', () => {
    expect(createTableSql('redshift', DIM_DEVICE)).toContain('DISTSTYLE ALL');
  });

  it('leaves Redshift-only clauses out of the PostgreSQL and DuckDB DDL', () => {
    for (const dialect of ['postgres', 'duckdb'] as const) {
      const sql = createTableSql(dialect, FACT_TELEMETRY_HOURLY);
      expect(sql).not.toMatch(/ENCODE|DISTSTYLE|SORTKEY/);
      expect(sql).toContain('PRIMARY KEY (device_id, hour_start)');
    }
    expect(sqlType('duckdb', { type: 'string', maxLength: 64 })).toBe('VARCHAR');
    expect(sqlType('postgres', { type: 'string' })).toBe('VARCHAR(256)');
  });
});

describe('migrations', () => {
  it('creates every table in every dialect', () => {
    for (const dialect of DIALECTS) {
      const sql = migrationPlan(dialect)
        .versioned.flatMap((m) => m.steps.flat())
        .join('\n');
      for (const table of WAREHOUSE_TABLES)
        expect(sql, dialect).toContain(`CREATE TABLE IF NOT EXISTS analytics.${table.name} (`);
    }
  });

  it('fits every transaction into one Redshift BatchExecuteStatement, version rows included', () => {
    const plan = migrationPlan('redshift');
    expect(plan.bootstrap.length).toBeLessThanOrEqual(MAX_BATCH_STATEMENTS);
    for (const migration of [...plan.versioned, plan.repeatable])
      for (const step of migration.steps) expect(step.length + 2).toBeLessThanOrEqual(MAX_BATCH_STATEMENTS);
  });

  it('keeps migration 1 as it was applied (a change to a table is a new migration)', () => {
    // When this fails, do not update the checksum: add migration 2 with the ALTER statements.
    const first = migrationPlan('redshift').versioned[0];
    expect(first?.version).toBe(1);
    expect(checksum(first as never)).toBe('1fc4985c6998f7ce4a3bbb7c43fbf496921013baac17aae21a1669bc8fbaeeed');
  });
});

describe('loads', () => {
  it('reads the partition prefix the ETL writes', () => {
    expect(partitionPrefix(DEVICE_HOURLY, partitionUnit('2026-11-27', '07'))).toBe(
      'device_hourly/event_date=2026-11-27/event_hour=07/',
    );
    expect(partitionPrefix(DEVICE_REGISTRY, partitionUnit('2026-11-27'))).toBe(
      'device_registry/event_date=2026-11-27/',
    );
  });

  it('fails when a partition names an impossible date or hour, naming the field', () => {
    expect(() => partitionUnit("2026-11-27'; DROP TABLE x; --")).toThrow(
      /partition event_date: expected YYYY-MM-DD/,
    );
    expect(() => partitionUnit('2026-11-27', '24')).toThrow(
      /partition event_hour: expected 00-23, received "24"/,
    );
  });

  it("owns a model's rows of the hour when the key has more columns than the hour and the row's own", () => {
    const prediction = mergeStatements(FACT_PREDICTION, 0, partitionUnit('2026-11-27', '10')).join('\n');
    expect(prediction).toContain(
      "DELETE FROM analytics.fact_prediction WHERE hour_start = TIMESTAMP '2026-11-27 10:00:00' AND model_name = 'failure' AND device_id NOT IN",
    );
  });

  it('owns only its own source rows when two loads share a table', () => {
    const realtime = mergeStatements(FACT_ANOMALY, 0, partitionUnit('2026-11-27', '10')).join('\n');
    expect(realtime).toContain(
      "DELETE FROM analytics.fact_anomaly WHERE hour_start = TIMESTAMP '2026-11-27 10:00:00' AND source = 'realtime' AND anomaly_id NOT IN",
    );
  });
});
