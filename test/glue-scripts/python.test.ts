/**
 * The Glue job's Python, checked with Debian's tools: every file compiles (py_compile) and is clean
 * for pyflakes; the job's pure modules agree with the twin's runner on the window arithmetic; the
 * job reads and validates exactly the arguments the infrastructure passes. Spark itself does not run
 * here: the transforms are tested through the SQL in DuckDB.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ETL_JOB_ARGUMENTS } from '../../lib/batch/etl-job.ts';
import { etlOutputs, loadEtlManifest } from '../../lib/batch/etl-manifest.ts';
import { WINDOW_KINDS } from '../../lib/batch/etl-workflow.ts';
import { etlWindow, plannedWindow, selectsKey, windowInstants } from '../../local/etl/window.ts';

/** Debian's interpreter: the `python3` on PATH may be another one, without Debian's packages. */
const PYTHON = '/usr/bin/python3';
const GLUE_SCRIPTS = fileURLToPath(new URL('../../glue-scripts/', import.meta.url));
const SCRIPTS = readdirSync(GLUE_SCRIPTS)
  .filter((name) => name.endsWith('.py'))
  .sort();
const present = existsSync(PYTHON);
if (!present && process.env.CI) throw new Error(`${PYTHON} is missing: CI must check the Glue job's Python`);
if (!present) console.warn(`skipping the Glue job's Python checks: ${PYTHON} is not installed`);

/** Runs `code` in Debian's Python in glue-scripts/ (without writing bytecode there), `input` as JSON on stdin. */
function python(code: string, input: unknown = null): unknown {
  const out = execFileSync(PYTHON, ['-B', '-c', code], {
    cwd: GLUE_SCRIPTS,
    input: JSON.stringify(input),
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

const scratch = mkdtempSync(join(tmpdir(), 'sdap-py-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const VALID_ARGS: Record<string, string> = {
  '--JOB_NAME': 'sdap-dev-etl',
  [ETL_JOB_ARGUMENTS.fixed.rawBucket]: 'sdap-dev-lakerawbucket-abc123',
  [ETL_JOB_ARGUMENTS.fixed.quarantineBucket]: 'sdap-dev-lakequarantinebucket-abc123',
  [ETL_JOB_ARGUMENTS.fixed.curatedBucket]: 'sdap-dev-lakecuratedbucket-abc123',
  [ETL_JOB_ARGUMENTS.fixed.sqlLocation]: 's3://cdk-hnb659fds-assets-123456789012-eu-west-1/0123abcd.zip',
  [ETL_JOB_ARGUMENTS.fixed.databaseName]: 'sdap_dev',
  [ETL_JOB_ARGUMENTS.perRun.windowStart]: '2026-11-27T10:00:00Z',
  [ETL_JOB_ARGUMENTS.perRun.windowEnd]: '2026-11-27T11:00:00Z',
  [ETL_JOB_ARGUMENTS.perRun.windowKind]: 'ingest',
  [ETL_JOB_ARGUMENTS.perRun.summaryKey]: 'etl-runs/2026-11-27T10/run-1.json',
};

/** What the job's argument parser makes of `args` (a command line as Glue builds it). */
function parsed(args: Record<string, string>): { ok: Record<string, unknown> } | { error: string } {
  return python(
    `
import json, sys
from dataclasses import asdict
from etl_args import ArgumentError, parse_args
try:
    print(json.dumps({"ok": asdict(parse_args(json.load(sys.stdin)))}))
except ArgumentError as error:
    print(json.dumps({"error": str(error)}))
`,
    // Glue's own arguments come along; the parser ignores what it does not know.
    ['--JOB_RUN_ID', 'jr_1', '--enable-metrics', 'true', ...Object.entries(args).flat()],
  ) as { ok: Record<string, unknown> } | { error: string };
}

describe.skipIf(!present)("the Glue job's Python", () => {
  it('has an entry point and its modules', () => {
    expect(SCRIPTS).toEqual(expect.arrayContaining(['etl_job.py', 'etl_args.py', 'etl_window.py']));
  });

  it('compiles (py_compile)', () => {
    const code = `
import os, py_compile, sys
for name in sys.argv[2:]:
    py_compile.compile(name, cfile=os.path.join(sys.argv[1], name + "c"), doraise=True)
`;
    expect(() =>
      execFileSync(PYTHON, ['-B', '-c', code, scratch, ...SCRIPTS], { cwd: GLUE_SCRIPTS, encoding: 'utf8' }),
    ).not.toThrow();
  });

  it('is clean for pyflakes', () => {
    // Act
    let report = '';
    try {
      execFileSync(PYTHON, ['-B', '-m', 'pyflakes', ...SCRIPTS], { cwd: GLUE_SCRIPTS, encoding: 'utf8' });
    } catch (error) {
      const failure = error as { stdout?: string; stderr?: string };
      report = `${failure.stdout ?? ''}${failure.stderr ?? ''}` || String(error);
    }

    // Assess
    expect(report, 'pyflakes (Debian: apt-get install python3-pyflakes)').toBe('');
  });

  it('sets dynamic partition overwrite and the UTC session zone the SQL assumes', () => {
    const source = execFileSync(PYTHON, ['-B', '-c', 'print(open("etl_job.py").read())'], {
      cwd: GLUE_SCRIPTS,
      encoding: 'utf8',
    });
    expect(source).toContain('spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")');
    expect(source).toContain('spark.conf.set("spark.sql.session.timeZone", "UTC")');
  });

  describe('its arguments', () => {
    it('accepts the arguments the stack and the workflow pass', () => {
      expect(parsed(VALID_ARGS)).toEqual({
        ok: {
          job_name: 'sdap-dev-etl',
          raw_bucket: 'sdap-dev-lakerawbucket-abc123',
          quarantine_bucket: 'sdap-dev-lakequarantinebucket-abc123',
          curated_bucket: 'sdap-dev-lakecuratedbucket-abc123',
          sql_bucket: 'cdk-hnb659fds-assets-123456789012-eu-west-1',
          sql_key: '0123abcd.zip',
          database_name: 'sdap_dev',
          window: {
            start_ms: Date.parse('2026-11-27T10:00:00Z'),
            end_ms: Date.parse('2026-11-27T11:00:00Z'),
          },
          window_kind: 'ingest',
          summary_key: 'etl-runs/2026-11-27T10/run-1.json',
        },
      });
    });

    it('knows the window kinds the workflow sends', () => {
      for (const kind of WINDOW_KINDS) {
        expect(parsed({ ...VALID_ARGS, '--window_kind': kind })).toHaveProperty('ok');
      }
    });

    it.each(Object.values({ ...ETL_JOB_ARGUMENTS.fixed, ...ETL_JOB_ARGUMENTS.perRun }))(
      'fails naming %s when it is missing',
      (name) => {
        // Prepare
        const { [name]: _missing, ...rest } = VALID_ARGS;

        // Act & Assess
        expect(parsed(rest)).toEqual({
          error: expect.stringMatching(new RegExp(`^${name}: received nothing, expected `)),
        });
      },
    );

    it.each([
      ['--window_start', '2026-11-27T10:30:00Z', 'a whole UTC hour such as 2026-11-27T10:00:00Z'],
      [
        '--window_start',
        '2026-02-30T10:00:00Z',
        'a whole UTC hour such as 2026-11-27T10:00:00Z (a date in the calendar)',
      ],
      ['--window_end', '2026-11-27T09:00:00Z', 'a later hour than --window_start (2026-11-27T10:00:00Z)'],
      ['--window_kind', 'planned', 'one of ingest, event'],
      [
        '--raw_bucket',
        'Raw_Bucket',
        'an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)',
      ],
      ['--sql_location', 's3://bucket/sql.tar.gz', 'the S3 URL of the SQL archive, s3://<bucket>/<key>.zip'],
      ['--database_name', 'sdap-dev', 'a Glue database name (lowercase letters, digits, _)'],
      [
        '--summary_key',
        'curated_telemetry/x.json',
        'a key under etl-runs/ ending in .json, e.g. etl-runs/2026-11-27T10/run.json',
      ],
      ['--summary_key', 'etl-runs/../curated_telemetry/x.json', "a key without '..' segments"],
    ])('fails on %s %s, naming what is expected', (name, value, expected) => {
      expect(parsed({ ...VALID_ARGS, [name]: value })).toEqual({
        error: `${name}: received '${value}', expected ${expected}`,
      });
    });
  });

  describe('its window arithmetic, against the twin runner', () => {
    const manifest = loadEtlManifest() as unknown as {
      parameters: { baselineDays: number };
      planner: { sources: Record<string, { select: Parameters<typeof selectsKey>[0] }> };
      sources: Record<string, { select?: Parameters<typeof selectsKey>[0] }>;
    };
    const window = etlWindow('2026-11-27T22:00:00Z', '2026-11-28T02:00:00Z');
    const baselineDays = manifest.parameters.baselineDays;

    it('derives the same context instants', () => {
      expect(
        python(
          `
import json, sys
from etl_window import EtlWindow, window_instants
w = json.load(sys.stdin)
print(json.dumps(window_instants(EtlWindow(w["startMs"], w["endMs"]), w["baselineDays"])))
`,
          { ...window, baselineDays },
        ),
      ).toEqual(windowInstants(window, baselineDays));
    });

    it('selects the same partitions of every source and of the planner', () => {
      // Prepare
      const selections = [
        ...Object.values(manifest.sources).flatMap((source) => (source.select ? [source.select] : [])),
        ...Object.values(manifest.planner.sources).map((source) => source.select),
      ];
      const keys: string[] = [];
      for (let hour = -9 * 24; hour < 10 * 24; hour += 5) {
        const ms = window.startMs + hour * 3_600_000;
        const iso = new Date(ms).toISOString();
        const [date, hh] = [iso.slice(0, 10), iso.slice(11, 13)];
        keys.push(
          `telemetry/device_type=camera/ingest_date=${date}/ingest_hour=${hh}/part-1.ndjson.gz`,
          `rejected/ingest_date=${date}/ingest_hour=${hh}/x.json`,
          `weather/weather_date=${date}/site-1.ndjson`,
          `device_hour_stats/event_date=${date}/event_hour=${hh}/part-00000.parquet`,
        );
      }
      keys.push(
        'telemetry/device_type=camera/ingest_date=2026-13-01/ingest_hour=00/x',
        'telemetry/no-partition',
      );
      const instants = windowInstants(window, baselineDays);

      // Act
      const fromPython = python(
        `
import json, sys
from etl_window import selects_key
c = json.load(sys.stdin)
print(json.dumps([[selects_key(s, c["instants"], k) for k in c["keys"]] for s in c["selections"]]))
`,
        { selections, instants, keys },
      );

      // Assess
      const fromTwin = selections.map((selection) => keys.map((key) => selectsKey(selection, instants, key)));
      expect(fromPython).toEqual(fromTwin);
      expect(fromTwin.flat().filter(Boolean).length).toBeGreaterThan(10);
    });

    it('plans the same event hours from the touched hours', () => {
      // Prepare
      const ingest = etlWindow('2026-11-27T10:00:00Z', '2026-11-27T11:00:00Z');
      const touched = ['2026-11-26T03:00:00Z', '2026-11-27T10:00:00Z', '2026-11-27T12:00:00Z'].map(
        Date.parse,
      );

      // Act
      const fromPython = python(
        `
import json, sys
from etl_window import EtlWindow, planned_window
c = json.load(sys.stdin)
w = planned_window(EtlWindow(c["startMs"], c["endMs"]), c["touched"])
print(json.dumps({"startMs": w.start_ms, "endMs": w.end_ms}))
`,
        { ...ingest, touched },
      );

      // Assess
      expect(fromPython).toEqual(plannedWindow(ingest, touched));
    });

    it('owns the partitions of every hour (or day) of its window', () => {
      // Act
      const owned = python(
        `
import json, sys
from etl_window import EtlWindow, owned_paths
c = json.load(sys.stdin)
w = EtlWindow(c["startMs"], c["endMs"])
print(json.dumps({o["view"]: owned_paths(o, w) for o in c["outputs"]}))
`,
        { ...window, outputs: etlOutputs(loadEtlManifest()) },
      ) as Record<string, string[]>;

      // Assess
      expect(owned.device_hourly).toEqual([
        'event_date=2026-11-27/event_hour=22/',
        'event_date=2026-11-27/event_hour=23/',
        'event_date=2026-11-28/event_hour=00/',
        'event_date=2026-11-28/event_hour=01/',
      ]);
      expect(owned.device_daily_health).toEqual(['event_date=2026-11-27/', 'event_date=2026-11-28/']);
    });
  });
});
