import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SparkSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../lambdas/shared/anomaly-rules.ts';
import { READING_SCHEMAS } from '../../lambdas/shared/contract.ts';
import { alertPartitionPath, alertRecord } from '../../lambdas/shared/lake-objects.ts';
import { ALERTS_PREFIX, IOT_REGISTRY_THING_GROUPS_KEY } from '../../lambdas/shared/pipeline-names.ts';
import { rawPartitionColumns, rawTableColumns, toSnakeCase } from '../../lib/lake/raw-table-columns.ts';
import { createEtlSession, type EtlSession, runPipeline } from '../../local/etl/duckdb-runner.ts';
import {
  type ColumnType,
  loadPipeline,
  MANIFEST_FILE,
  PIPELINE_DIR,
  type Pipeline,
  parseManifest,
} from '../../local/etl/manifest.ts';
import { etlWindow, hivePartitions } from '../../local/etl/window.ts';
import { makeReading } from '../support/readings.ts';
import { codeOf, constructViolations } from './sql-constructs.ts';

/** DuckDB's names for the manifest's column types. */
const DUCKDB_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  int: 'INTEGER',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

let pipeline: Pipeline;
let session: EtlSession;
let workDir: string;
let transformFiles: string[];

/** `DESCRIBE` of a view of the session: column name -> DuckDB type. */
async function describeView(view: string): Promise<Map<string, string>> {
  const rows = (await session.connection.runAndReadAll(`DESCRIBE ${view}`)).getRowObjectsJson();
  return new Map(rows.map((row) => [String(row.column_name), String(row.column_type)]));
}

beforeAll(async () => {
  pipeline = await loadPipeline();
  session = await createEtlSession(pipeline);
  workDir = await mkdtemp(join(tmpdir(), 'sdap-sql-files-'));
  transformFiles = (await readdir(PIPELINE_DIR)).filter(
    (f) => f.endsWith('.sql') && f !== pipeline.manifest.prelude.duckdb,
  );
  // Every step on an empty lake: each file executes in DuckDB and every view gets its columns.
  await runPipeline(session, pipeline, {
    window: etlWindow('2026-11-27T10:00:00Z', '2026-11-27T11:00:00Z'),
    files: {},
    outDir: join(workDir, 'out'),
  });
});

afterAll(async () => {
  session?.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('glue-scripts/sql files', () => {
  it('are all named by the manifest, and every file the manifest names exists', () => {
    // Prepare
    const named = new Set([pipeline.manifest.planner.file, ...pipeline.manifest.steps.map((s) => s.file)]);

    // Act
    const unnamed = transformFiles.filter((file) => !named.has(file));
    const missing = [...named].filter((file) => !transformFiles.includes(file));

    // Assess
    expect(unnamed).toEqual([]);
    expect(missing).toEqual([]);
  });

  it('are each one SELECT statement that the Spark SQL grammar accepts', async () => {
    // Prepare
    const parser = new SparkSQL();

    for (const file of transformFiles) {
      const sql = await readFile(join(PIPELINE_DIR, file), 'utf8');

      // Act
      const errors = parser.validate(sql).map((error) => error.message);
      const statements = parser.splitSQLByStatement(sql) ?? [];

      // Assess
      expect({ file, errors }).toEqual({ file, errors: [] });
      expect({ file, statements: statements.length }).toEqual({ file, statements: 1 });
      expect({ file, starts: /^\s*(with|select)\b/.test(codeOf(sql)) }).toEqual({ file, starts: true });
    }
  });

  it('use only the constructs glue-scripts/README.md allows', async () => {
    for (const file of transformFiles) {
      // Act
      const violations = constructViolations(await readFile(join(PIPELINE_DIR, file), 'utf8'));

      // Assess
      expect({ file, violations }).toEqual({ file, violations: [] });
    }
  });

  it('fails the construct check for SQL outside the common ground', () => {
    // Prepare
    const sql = `SELECT count_if(x > 1), a::INT, concat("b", c) FROM t QUALIFY row_number() OVER (ORDER BY a) = 1`;

    // Act
    const violations = constructViolations(sql);

    // Assess
    expect(violations).toEqual(
      expect.arrayContaining([
        "'::' casts are DuckDB/PostgreSQL only",
        'double-quoted identifiers are strings in Spark',
        'QUALIFY is not in Spark 3.5',
        'function count_if() is not in the allowed list (glue-scripts/README.md)',
        'function concat() is not in the allowed list (glue-scripts/README.md)',
      ]),
    );
  });
});

describe('pipeline.json', () => {
  it("declares the raw source's columns exactly as the raw table derives them from the contract", () => {
    // Prepare
    const raw = pipeline.manifest.sources.raw_telemetry;

    // Act
    const declared = raw?.columns.map(({ name, path, type }) => ({ name, path, type }));
    const derived = rawTableColumns().map(({ name, jsonKey, type }) => ({ name, path: jsonKey, type }));

    // Assess
    expect(declared).toEqual(derived);
    expect(raw?.partitions).toEqual(rawPartitionColumns());
  });

  it("declares the alerts source's columns and partitions as the validator writes them", () => {
    // Prepare: an alert as the validator archives it.
    const jammed = {
      ...makeReading('smart_lock', 1, '2026-11-27T10:41:00.000Z', 'lock-1'),
      lockState: 'jammed' as const,
    };
    const [alert] = evaluateAlerts(jammed);
    if (!alert) throw new Error('expected the jammed lock to raise an alert');
    const arrivalMs = Date.parse('2026-11-27T10:41:02.000Z');
    const source = pipeline.manifest.sources.raw_alerts;

    // Act
    const written = Object.keys(alertRecord(alert, arrivalMs));
    const partitions = Object.keys(hivePartitions(`${alertPartitionPath(arrivalMs)}/part-x.ndjson.gz`));

    // Assess: every field is text in the lake (observed and threshold included).
    expect(source?.columns.map((c) => c.path)).toEqual(written);
    expect(source?.columns.every((c) => c.type === 'string')).toBe(true);
    expect(source?.prefix).toBe(`${ALERTS_PREFIX}/`);
    expect(source?.partitions?.map((p) => p.name)).toEqual(partitions);
    expect(source?.select).toEqual(pipeline.manifest.sources.raw_telemetry?.select);
  });

  it('reads the thing groups from where the registry export lands', () => {
    expect(pipeline.manifest.sources.registry_groups?.key).toBe(IOT_REGISTRY_THING_GROUPS_KEY);
  });

  it("declares the context source's columns as the device_hour_stats step produces them", async () => {
    // Prepare
    const declared = pipeline.manifest.sources.prior_device_hour_stats;
    const partitionColumns = new Set(declared?.partitions?.map((p) => p.name));

    // Act
    const produced = [...(await describeView('device_hour_stats'))].filter(
      ([name]) => !partitionColumns.has(name),
    );

    // Assess
    expect(declared?.columns.map((c) => [c.name, DUCKDB_TYPE[c.type]])).toEqual(produced);
  });

  it('fails to parse with a message naming the field at fault', () => {
    // Prepare
    const manifest = JSON.parse(JSON.stringify(pipeline.manifest));
    manifest.steps[0].output = {
      bucket: 'curated',
      prefix: 'no-slash',
      partitionBy: [],
      scope: 'week',
      sortBy: [],
    };

    // Act
    const parse = () => parseManifest(manifest, MANIFEST_FILE);

    // Assess
    expect(parse).toThrow(/steps\.0\.output\.prefix: a table prefix/);
    expect(parse).toThrow(/steps\.0\.output\.scope/);
  });

  it('fails to parse when a step reuses a view name', () => {
    // Prepare
    const manifest = JSON.parse(JSON.stringify(pipeline.manifest));
    manifest.steps[1].view = manifest.steps[0].view;

    // Act
    const parse = () => parseManifest(manifest, MANIFEST_FILE);

    // Assess
    expect(parse).toThrow(`view '${manifest.steps[0].view}' is already defined`);
  });
});

describe('curated telemetry', () => {
  it('has a column of the contract type for every field of every device type', async () => {
    // Prepare
    const columns = await describeView('curated_telemetry');
    const rawTypes = new Map(rawTableColumns().map((c) => [c.name, DUCKDB_TYPE[c.type]]));
    const contractFields = new Set(
      Object.values(READING_SCHEMAS).flatMap((schema) => Object.keys(schema.shape).map(toSnakeCase)),
    );

    // Act
    const missing = [...contractFields].filter((name) => !columns.has(name));
    const mistyped = [...contractFields].filter(
      (name) => rawTypes.has(name) && name !== 'timestamp' && columns.get(name) !== rawTypes.get(name),
    );

    // Assess
    expect(contractFields.size).toBeGreaterThan(20);
    expect(missing).toEqual([]);
    expect(mistyped).toEqual([]);
    expect(columns.get('timestamp')).toBe('TIMESTAMP');
  });
});
