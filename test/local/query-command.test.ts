/**
 * `sdap query` against a real DuckDB warehouse file (the report tests' fixture): each output
 * format, DuckDB's own error messages, a missing file, bad flags, and a warehouse that a query
 * cannot change.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueryArgs, QUERY_USAGE, queryCommand } from '../../local/query-command.ts';
import { DEFAULT_OUT_DIR } from '../../local/twin-cli.ts';
import { WAREHOUSE_FILE } from '../../local/twin-output.ts';
import { fixtureWarehouse, MARKUP_SITE_NAME } from './report/warehouse-fixture.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
let directory: string;
let warehouse: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sdap-query-'));
  warehouse = join(directory, WAREHOUSE_FILE);
  (await fixtureWarehouse(warehouse)).close();
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** Runs the command with its output captured. */
async function query(...args: string[]) {
  const out: string[] = [];
  const errors: string[] = [];
  const code = await queryCommand(args, {
    out: (text) => out.push(text),
    error: (text) => errors.push(text),
  });
  return { code, out: out.join(''), err: errors.join('\n') };
}

const TELEMETRY_SQL = `
SELECT device_id, readings, metric_last, battery_last_pct, hour_start, event_date
FROM analytics.fact_telemetry_hourly
WHERE device_id IN ('sen-1', 'th-1') AND hour_start = TIMESTAMP '2026-11-27 13:00:00'
ORDER BY device_id`;

describe('sdap query', () => {
  it('prints an aligned table: numbers right-aligned, NULL blank, times as ISO text', async () => {
    // Act
    const { code, out, err } = await query('--warehouse', warehouse, TELEMETRY_SQL);

    // Assess
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out.split('\n')).toEqual([
      'device_id  readings  metric_last  battery_last_pct  hour_start           event_date',
      '---------  --------  -----------  ----------------  -------------------  ----------',
      'sen-1            60         20.5                15  2026-11-27T13:00:00  2026-11-27',
      'th-1             60         20.5                    2026-11-27T13:00:00  2026-11-27',
      '(2 rows)',
    ]);
  });

  it('prints RFC 4180 CSV: CRLF, a header row, quoted fields, NULL empty', async () => {
    // Act
    const { code, out } = await query(
      '--warehouse',
      warehouse,
      '--format',
      'csv',
      'SELECT site_id, site_name, latitude_deg FROM analytics.dim_site ORDER BY site_id',
    );

    // Assess
    expect(code).toBe(0);
    expect(out).toBe(
      `site_id,site_name,latitude_deg\r\ns1,Lisbon,\r\ns2,"${MARKUP_SITE_NAME.replaceAll('"', '""')}",\r\n`,
    );
  });

  it('prints a JSON array: BIGINT as numbers when exact, NULL as null, times as ISO text', async () => {
    // Act
    const { code, out } = await query(
      '--warehouse',
      warehouse,
      '--format=json',
      `${TELEMETRY_SQL.replace('event_date', 'event_date, 9007199254740993::BIGINT AS beyond_double, SUM(readings) OVER () AS total')}`,
    );

    // Assess
    expect(code).toBe(0);
    const row = {
      readings: 60,
      metric_last: 20.5,
      hour_start: '2026-11-27T13:00:00',
      event_date: '2026-11-27',
    };
    expect(JSON.parse(out)).toEqual([
      { device_id: 'sen-1', ...row, battery_last_pct: 15, beyond_double: '9007199254740993', total: 120 },
      { device_id: 'th-1', ...row, battery_last_pct: null, beyond_double: '9007199254740993', total: 120 },
    ]);
  });

  it("fails with DuckDB's message and no stack trace when the SQL is wrong", async () => {
    // Act
    const { code, out, err } = await query(
      '--warehouse',
      warehouse,
      'SELEC device_id FROM analytics.dim_device',
    );

    // Assess
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(/^sdap query: Parser Error: syntax error at or near "SELEC"/);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('refuses a statement that would change the warehouse, which stays as it was', async () => {
    // Act
    const deleted = await query('--warehouse', warehouse, 'DELETE FROM analytics.dim_device');
    const created = await query('--warehouse', warehouse, 'CREATE TABLE analytics.scratch (a INTEGER)');
    const count = await query(
      '--warehouse',
      warehouse,
      '--format',
      'json',
      'SELECT COUNT(*) AS n FROM analytics.dim_device',
    );

    // Assess
    expect(deleted.code).toBe(1);
    expect(deleted.err).toContain('Cannot execute statement of type "DELETE"');
    expect(deleted.err).toContain('read-only');
    expect(created.code).toBe(1);
    expect(JSON.parse(count.out)).toEqual([{ n: 6 }]);
  });

  it('refuses to read or write other files', async () => {
    // Prepare
    const target = join(directory, 'copy.csv');

    // Act
    const { code, err } = await query('--warehouse', warehouse, `COPY analytics.dim_device TO '${target}'`);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain('file system operations are disabled');
    expect(existsSync(target)).toBe(false);
  });

  it('fails naming the path and how to build a warehouse when the file is missing', async () => {
    // Prepare
    const empty = mkdtempSync(join(directory, 'out-'));

    // Act
    const { code, err } = await query('--out', empty, 'SELECT 1');

    // Assess
    expect(code).toBe(1);
    expect(err).toBe(
      `sdap query: no warehouse at ${join(empty, WAREHOUSE_FILE)}: build one with npm start (or sdap twin --out DIR), or name one with --warehouse FILE`,
    );
  });

  it('reads <out>/warehouse.duckdb, out/twin unless told', () => {
    expect(parseQueryArgs(['SELECT 1'])).toEqual({
      sql: 'SELECT 1',
      format: 'table',
      warehouse: join(DEFAULT_OUT_DIR, WAREHOUSE_FILE),
    });
    expect(parseQueryArgs(['--out', 'elsewhere', 'SELECT 1'])).toMatchObject({
      warehouse: join('elsewhere', WAREHOUSE_FILE),
    });
  });

  it.each([
    [['--format', 'xml', 'SELECT 1'], "--format: received 'xml', expected table, csv or json"],
    [['--warehouse', 'a.duckdb', '--out', 'b', 'SELECT 1'], "--warehouse 'a.duckdb' and --out 'b' both name"],
    [['SELECT', '1'], "received 2 arguments ('SELECT', '1'), expected the SQL as one quoted argument"],
    [[], 'missing the SQL'],
    [['--limit', '3', 'SELECT 1'], "Unknown option '--limit'"],
  ])('fails with exit code 2 and the usage for %j', async (args, message) => {
    // Act
    const { code, out, err } = await query(...args);

    // Assess
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(`sdap query: ${message}`);
    expect(err).toContain(QUERY_USAGE);
  });

  it('fails with exit code 2 unless the SQL holds exactly one statement', async () => {
    // Act
    const two = await query('--warehouse', warehouse, 'SELECT 1; DELETE FROM analytics.dim_device');
    const none = await query('--warehouse', warehouse, '--', '-- only a comment');

    // Assess
    expect(two.code).toBe(2);
    expect(two.err).toContain('sdap query: the SQL holds 2 statements, expected one');
    expect(none.code).toBe(2);
    expect(none.err).toContain('sdap query: the SQL holds no statement, expected one');
  });

  it('says in --help that the warehouse is opened read only', async () => {
    const { code, out } = await query('--help');
    expect(code).toBe(0);
    expect(out).toContain('READ ONLY');
  });

  it('is a command of bin/sdap.ts, with its exit codes', async () => {
    // Act
    const run = promisify(execFile);
    const ok = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/sdap.ts',
        'query',
        '--warehouse',
        warehouse,
        '--format',
        'json',
        'SELECT 42 AS answer',
      ],
      { cwd: REPO_ROOT },
    );
    const bad = await run(
      process.execPath,
      ['--import', 'tsx', 'bin/sdap.ts', 'query', '--format', 'xml', 'SELECT 1'],
      {
        cwd: REPO_ROOT,
      },
    ).catch((error: { code: number; stderr: string }) => error);

    // Assess
    expect(JSON.parse(ok.stdout)).toEqual([{ answer: 42 }]);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain("--format: received 'xml'");
  });
});
