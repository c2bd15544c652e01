/**
 * The fault matrix (RELIABILITY.md, "Proofs we want"): the twin, streaming path and batch stage
 * (ETL and warehouse), run under each injected fault on each seed, and checked for nothing lost and
 * nothing doubled:
 *
 * - conservation: every published reading ends valid, quarantined or dead-lettered (missing 0), and
 *   the lake holds nothing never published (unexpected 0);
 * - curated telemetry holds each valid reading exactly once: no duplicate `event_id`, none of the
 *   raw zone's readings missing from it, none that the raw zone lacks;
 * - the warehouse's fact tables hold each business key once, and `fact_telemetry_hourly` counts
 *   every curated reading exactly once.
 *
 * test/local/twin-faults.test.ts runs one seed per fault; `npm run bench` runs ten (`--fault-seeds`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { createS3Client } from '../lambdas/shared/aws-clients.ts';
import { downloadObject, listKeys, mapLimit, S3_CONCURRENCY } from '../local/etl/lake-io.ts';
import { readLake } from '../local/lake-audit.ts';
import { startS3StandIn } from '../local/s3-stand-in.ts';
import { runTwin, type TwinSummary } from '../local/twin.ts';
import { WAREHOUSE_FILE } from '../local/twin-output.ts';
import { TWIN_BUCKETS, type TwinFaults } from '../local/twin-pipeline.ts';
import { WAREHOUSE_TABLES } from '../warehouse/tables.ts';

/** One kind of fault, as the matrix injects it. */
export interface FaultCase {
  readonly id: string;
  readonly label: string;
  readonly inject: TwinFaults;
  /** How many faults a run injected, from its summary: a run that injected none proves nothing. */
  readonly injectedOf: (summary: TwinSummary) => number;
}

/** The faults of the proof, each at a rate that makes it happen many times in one run. */
export const FAULT_CASES: readonly FaultCase[] = [
  {
    id: 's3-5pct',
    label: 'S3 PUT 503 SlowDown and alert 500s, 5 %',
    inject: { s3PutErrorRate: 0.05, alertErrorRate: 0.05 },
    injectedOf: (s) => s.injected.s3PutErrors + s.injected.alertCallErrors,
  },
  {
    id: 's3-20pct',
    label: 'S3 PUT 503 SlowDown and alert 500s, 20 %',
    inject: { s3PutErrorRate: 0.2, alertErrorRate: 0.2 },
    injectedOf: (s) => s.injected.s3PutErrors + s.injected.alertCallErrors,
  },
  {
    // Every third invocation: drawn crashes could spare a short run's dozen invocations entirely.
    id: 'handler-crash',
    label: 'validator killed after its 2nd S3 write, every 3rd invocation',
    inject: { handlerCrash: { afterWrites: 2, everyNth: 3 } },
    injectedOf: (s) => s.injected.handlerCrashes,
  },
  {
    id: 'kinesis-throttle',
    label: 'Kinesis throttling: 20 % of PutRecords entries and GetRecords calls',
    inject: { kinesisThrottleRate: 0.2 },
    injectedOf: (s) => s.injected.kinesisPutRecordsThrottled + s.injected.kinesisGetRecordsThrottled,
  },
  {
    id: 'endpoint-outage',
    label: 'anomaly endpoint 503: calls 2-10 (an outage) and 10 % of the others',
    inject: { endpointOutage: { fromCall: 2, calls: 9, rate: 0.1 } },
    injectedOf: (s) => s.injected.endpointCallErrors,
  },
];

/** The fleet of every run: small enough for a test, large enough for many batches and faults. */
export const FAULT_FLEET = {
  devices: 30,
  durationHours: 1,
  readingsPerMessage: 2,
  injections: { smoke: 30, water_leak: 30 },
} as const;

/** What the lake's curated zone and the warehouse hold, checked against the raw zone. */
export interface DownstreamAudit {
  readonly curated: {
    readonly rows: number;
    readonly distinctEventIds: number;
    /** Rows beyond the first of each event id. Must be 0. */
    readonly duplicates: number;
    /** Valid readings of the raw zone missing from curated telemetry. Must be 0. */
    readonly rawNotCurated: number;
    /** Curated readings the raw zone does not hold. Must be 0. */
    readonly curatedNotRaw: number;
  };
  readonly warehouse: {
    /** Per fact table, rows beyond the first of each business key. Each must be 0. */
    readonly duplicateKeys: Readonly<Record<string, number>>;
    /** `SUM(readings)` of fact_telemetry_hourly: must equal the curated readings. */
    readonly readingsCounted: number;
  };
}

/** One run of the matrix. */
export interface FaultRun {
  readonly caseId: string;
  readonly seed: number;
  readonly injected: number;
  readonly published: number;
  readonly conservation: TwinSummary['conservation'];
  readonly outcome: Pick<
    TwinSummary['outcome'],
    'valid' | 'quarantined' | 'deadLettered' | 'duplicateCopiesInRaw'
  >;
  readonly validator: Pick<
    TwinSummary['validator'],
    'invocations' | 'retries' | 'bisects' | 'functionErrors'
  >;
  readonly ruleErrorActions: number;
  readonly rowsRulesOnly: number;
  readonly batchDuplicatesRemoved: number;
  readonly downstream: DownstreamAudit;
  readonly wallSeconds: number;
  /** What broke the proof in this run; empty when it held. */
  readonly problems: readonly string[];
}

/** Runs the twin with the batch stage under one fault on one seed, and audits what it left. */
export async function runFaultCase(faultCase: FaultCase, seed: number, outDir: string): Promise<FaultRun> {
  const started = performance.now();
  const summary = await runTwin({
    outDir,
    shards: 2,
    speed: 0,
    simulation: { ...FAULT_FLEET, seed },
    inject: faultCase.inject,
    // The models' quality on the run's labels is not what this proof is about.
    models: false,
    // In this process: a child that cannot start within its time on a loaded machine would end the
    // run before it proved anything, and the proof does not depend on where the stand-ins run.
    emulatorsInChildProcesses: false,
  });
  const downstream = await auditDownstream(outDir);
  const run: Omit<FaultRun, 'problems'> = {
    caseId: faultCase.id,
    seed,
    injected: faultCase.injectedOf(summary),
    published: summary.published.readings,
    conservation: summary.conservation,
    outcome: {
      valid: summary.outcome.valid,
      quarantined: summary.outcome.quarantined,
      deadLettered: summary.outcome.deadLettered,
      duplicateCopiesInRaw: summary.outcome.duplicateCopiesInRaw,
    },
    validator: {
      invocations: summary.validator.invocations,
      retries: summary.validator.retries,
      bisects: summary.validator.bisects,
      functionErrors: summary.validator.functionErrors,
    },
    ruleErrorActions: summary.stream.ruleErrorActions,
    rowsRulesOnly: summary.scoring.rowsRulesOnly,
    batchDuplicatesRemoved: summary.batch?.duplicatesRemoved ?? 0,
    downstream,
    wallSeconds: Math.round((performance.now() - started) / 100) / 10,
  };
  return { ...run, problems: faultRunProblems(run) };
}

/** Everything that breaks the proof in a run, in words. */
export function faultRunProblems(run: Omit<FaultRun, 'problems'>): string[] {
  const problems: string[] = [];
  const { conservation: c, downstream: d } = run;
  if (run.injected === 0) problems.push('no fault was injected');
  if (!c.holds || c.missing !== 0 || c.unexpected !== 0) {
    problems.push(
      `conservation: ${c.missing} missing, ${c.unexpected} unexpected (e.g. ${c.missingExamples.join(', ')})`,
    );
  }
  if (d.curated.duplicates !== 0)
    problems.push(`${d.curated.duplicates} duplicate event ids in curated telemetry`);
  if (d.curated.rawNotCurated !== 0)
    problems.push(`${d.curated.rawNotCurated} valid readings not in curated telemetry`);
  if (d.curated.curatedNotRaw !== 0)
    problems.push(`${d.curated.curatedNotRaw} curated readings not in the raw zone`);
  if (d.curated.distinctEventIds !== run.outcome.valid) {
    problems.push(`curated holds ${d.curated.distinctEventIds} readings, the raw zone ${run.outcome.valid}`);
  }
  for (const [table, n] of Object.entries(d.warehouse.duplicateKeys)) {
    if (n !== 0) problems.push(`${n} duplicate business keys in ${table}`);
  }
  if (d.warehouse.readingsCounted !== d.curated.distinctEventIds) {
    problems.push(
      `fact_telemetry_hourly counts ${d.warehouse.readingsCounted} readings, curated telemetry holds ${d.curated.distinctEventIds}`,
    );
  }
  return problems;
}

/** The prefix of curated telemetry in the curated bucket (glue-scripts/sql/pipeline.json). */
const CURATED_TELEMETRY_PREFIX = 'curated_telemetry/';

/**
 * Reads a finished run's lake back through the S3 API (its S3 stand-in served again over the lake's
 * directory) and its warehouse file, and counts what the proof forbids.
 */
export async function auditDownstream(outDir: string): Promise<DownstreamAudit> {
  const s3Server = await startS3StandIn({
    buckets: Object.values(TWIN_BUCKETS),
    directory: join(outDir, 'lake'),
  });
  const s3 = createS3Client(s3Server.clientOverrides, 3);
  const work = await mkdtemp(join(tmpdir(), 'sdap-fault-audit-'));
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const rows = async (sql: string) =>
    (await connection.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>>;
  try {
    const lake = await readLake(s3, TWIN_BUCKETS);
    const paths = await downloadCurated(s3, work);
    const curatedIds = new Map<string, number>();
    if (paths.length > 0) {
      const list = paths.map((path) => `'${path.replaceAll("'", "''")}'`).join(', ');
      for (const row of await rows(
        `SELECT event_id, COUNT(*) AS n FROM read_parquet([${list}], hive_partitioning = false) GROUP BY event_id`,
      )) {
        curatedIds.set(String(row.event_id), Number(row.n));
      }
    }
    const curatedRows = [...curatedIds.values()].reduce((sum, n) => sum + n, 0);
    const curated = {
      rows: curatedRows,
      distinctEventIds: curatedIds.size,
      duplicates: curatedRows - curatedIds.size,
      rawNotCurated: [...lake.raw.keys()].filter((id) => !curatedIds.has(id)).length,
      curatedNotRaw: [...curatedIds.keys()].filter((id) => !lake.raw.has(id)).length,
    };
    const warehousePath = join(outDir, WAREHOUSE_FILE).replaceAll("'", "''");
    await connection.run(`ATTACH '${warehousePath}' AS wh (READ_ONLY)`);
    const duplicateKeys: Record<string, number> = {};
    for (const table of WAREHOUSE_TABLES.filter((t) => t.kind === 'fact')) {
      const key = table.key.join(', ');
      const [row] = await rows(
        `SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT ${key} FROM wh.analytics.${table.name})) AS n FROM wh.analytics.${table.name}`,
      );
      duplicateKeys[table.name] = Number(row?.n ?? 0);
    }
    const [counted] = await rows(
      'SELECT COALESCE(SUM(readings), 0) AS n FROM wh.analytics.fact_telemetry_hourly',
    );
    return { curated, warehouse: { duplicateKeys, readingsCounted: Number(counted?.n ?? 0) } };
  } finally {
    connection.closeSync();
    instance.closeSync();
    s3.destroy();
    await s3Server.close();
    await rm(work, { recursive: true, force: true });
  }
}

async function downloadCurated(s3: S3Client, dir: string): Promise<string[]> {
  const keys = (await listKeys(s3, TWIN_BUCKETS.curated, CURATED_TELEMETRY_PREFIX)).filter((key) =>
    key.endsWith('.parquet'),
  );
  const files = await mapLimit(keys, S3_CONCURRENCY, (key) =>
    downloadObject(s3, TWIN_BUCKETS.curated, key, dir),
  );
  return files.flatMap((file) => (file ? [file.path] : []));
}

// The bench section.

export interface FaultBenchConfig {
  /** Seeds 1..seeds, each run under every fault. */
  readonly seeds: number;
  /** Runs' output directories go here, removed when every run held. */
  readonly outDir: string;
}

/** Ten seeds (the proof's figure); quick: two. */
export function faultBenchConfig(quick: boolean, seeds?: number): FaultBenchConfig {
  return { seeds: seeds ?? (quick ? 2 : 10), outDir: `out/bench/faults-${process.pid}` };
}

/** Per fault, over the seeds. */
export interface FaultCaseReport {
  readonly id: string;
  readonly label: string;
  readonly runs: readonly FaultRun[];
  readonly held: number;
  readonly injected: number;
  readonly published: number;
  readonly missing: number;
  readonly unexpected: number;
  readonly deadLettered: number;
  readonly rawDuplicateCopies: number;
  readonly curatedDuplicates: number;
  readonly warehouseDuplicateKeys: number;
}

export interface FaultBenchReport {
  readonly seeds: number;
  readonly cases: readonly FaultCaseReport[];
  readonly seconds: number;
  readonly ok: boolean;
}

/** Runs every fault on every seed, one run at a time (each run uses both cores). */
export async function runFaultBench(
  config: FaultBenchConfig,
  log: (line: string) => void,
): Promise<FaultBenchReport> {
  const started = performance.now();
  const root = join(process.cwd(), config.outDir);
  const cases: FaultCaseReport[] = [];
  for (const faultCase of FAULT_CASES) {
    const runs: FaultRun[] = [];
    for (let seed = 1; seed <= config.seeds; seed++) {
      const run = await runFaultCase(faultCase, seed, join(root, `${faultCase.id}-${seed}`)).catch(
        (error: unknown) => failedRun(faultCase, seed, error),
      );
      log(
        `  ${faultCase.id} seed ${seed}: ${run.injected} injected, ${run.problems.length === 0 ? 'held' : `FAILED: ${run.problems.join('; ')}`} (${run.wallSeconds} s)`,
      );
      runs.push(run);
    }
    const sum = (of: (run: FaultRun) => number) => runs.reduce((total, run) => total + of(run), 0);
    cases.push({
      id: faultCase.id,
      label: faultCase.label,
      runs,
      held: runs.filter((run) => run.problems.length === 0).length,
      injected: sum((run) => run.injected),
      published: sum((run) => run.published),
      missing: sum((run) => run.conservation.missing),
      unexpected: sum((run) => run.conservation.unexpected),
      deadLettered: sum((run) => run.outcome.deadLettered),
      rawDuplicateCopies: sum((run) => run.outcome.duplicateCopiesInRaw),
      curatedDuplicates: sum((run) => run.downstream.curated.duplicates),
      warehouseDuplicateKeys: sum((run) =>
        Object.values(run.downstream.warehouse.duplicateKeys).reduce((total, n) => total + n, 0),
      ),
    });
  }
  const ok = cases.every((c) => c.held === c.runs.length);
  if (ok) await rm(root, { recursive: true, force: true });
  return { seeds: config.seeds, cases, seconds: (performance.now() - started) / 1000, ok };
}

/**
 * A run that did not complete (a stand-in that did not start on an overloaded machine, say): it
 * proves nothing, so it counts as not held, and the matrix goes on with the next run.
 */
function failedRun(faultCase: FaultCase, seed: number, error: unknown): FaultRun {
  const none = { holds: false, published: 0, missing: 0, unexpected: 0, missingExamples: [] };
  return {
    caseId: faultCase.id,
    seed,
    injected: 0,
    published: 0,
    conservation: none,
    outcome: { valid: 0, quarantined: 0, deadLettered: 0, duplicateCopiesInRaw: 0 },
    validator: { invocations: 0, retries: 0, bisects: 0, functionErrors: 0 },
    ruleErrorActions: 0,
    rowsRulesOnly: 0,
    batchDuplicatesRemoved: 0,
    downstream: {
      curated: { rows: 0, distinctEventIds: 0, duplicates: 0, rawNotCurated: 0, curatedNotRaw: 0 },
      warehouse: { duplicateKeys: {}, readingsCounted: 0 },
    },
    wallSeconds: 0,
    problems: [`the run did not complete: ${error instanceof Error ? error.message : String(error)}`],
  };
}

/** The fault section of the bench's text report. */
export function renderFaultTable(report: FaultBenchReport): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const width = Math.max(...report.cases.map((c) => c.label.length)) + 2;
  const out = [
    '',
    `sdap fault matrix: the twin with its batch stage (ETL + warehouse), ${FAULT_FLEET.devices} devices x ${FAULT_FLEET.durationHours} h x ${FAULT_FLEET.readingsPerMessage} readings/message, seeds 1-${report.seeds} per fault`,
    `  ${'fault'.padEnd(width)}   held   injected    readings  missing  unexpected  dead-lettered  raw dup copies  curated dups  warehouse dup keys`,
  ];
  for (const c of report.cases) {
    out.push(
      `  ${c.label.padEnd(width)}${`${c.held}/${c.runs.length}`.padStart(7)}${fmt(c.injected).padStart(11)}${fmt(c.published).padStart(12)}${fmt(c.missing).padStart(9)}${fmt(c.unexpected).padStart(12)}${fmt(c.deadLettered).padStart(15)}${fmt(c.rawDuplicateCopies).padStart(16)}${fmt(c.curatedDuplicates).padStart(14)}${fmt(c.warehouseDuplicateKeys).padStart(20)}`,
    );
    for (const run of c.runs.filter((r) => r.problems.length > 0)) {
      out.push(`    seed ${run.seed}: ${run.problems.join('; ')}`);
    }
  }
  out.push(
    '  (raw dup copies: readings written to the raw zone more than once by retries; the ETL removes them, so curated and warehouse hold none)',
    `  => ${report.ok ? 'OK' : 'FAILED'}: conservation, no duplicates downstream and no loss on every run (${report.seconds.toFixed(0)} s)`,
    '',
  );
  return out.join('\n');
}
