/**
 * `sdap replay` on a twin output: rebuilds the curated data, the predictions and the warehouse facts
 * of a time range from the raw zone, and proves what the rebuild changed by checksums taken before
 * and after. Run over unchanged raw data, every checksum must be equal (the pipeline is idempotent);
 * after a fix (requeued readings, a corrected transform) the changed outputs are the ones listed.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { WAREHOUSE_TABLES } from '../warehouse/tables.ts';
import { STAGING_PREFIX } from './etl/batch-stage.ts';
import { getObject, listKeys, mapLimit, S3_CONCURRENCY } from './etl/lake-io.ts';
import { formatBatch } from './twin-cli.ts';
import { parseTwinHoursFlags, rebuildTwinHours, type TwinRebuild } from './twin-etl.ts';
import { DEFAULT_OUT_DIR, WAREHOUSE_FILE } from './twin-output.ts';
import { TWIN_BUCKETS } from './twin-pipeline.ts';
import { formatWarehouse } from './warehouse/warehouse-stage.ts';

export const TWIN_REPLAY_USAGE = `usage: sdap replay [--out DIR] [--from HOUR [--to HOUR]] [--check] [--json]
       sdap replay --stage NAME --from HOUR [--to HOUR] [--wait] ...   (a deployed stage)

Rebuilds curated data, predictions and warehouse facts for the event hours [from, to) from the
raw zone (without --from: every hour the raw zone holds), and compares each output's checksum
before and after: every curated table in the lake (sha256 over its objects' keys and bytes) and
every warehouse table (its rows). Over unchanged raw data nothing may change; after a fix, the
outputs that changed are listed.

With --stage, starts the deployed stage's ETL workflow over the hours instead (its backfill: the
same ETL, scoring and warehouse MERGE); see sdap etl --stage NAME --help for its options.

  --out DIR     the twin's output directory (default ${DEFAULT_OUT_DIR})
  --from HOUR   first event hour, a whole UTC hour such as 2026-11-27T10:00:00Z
  --to HOUR     end hour, exclusive (default: --from + 1 hour)
  --check       exit 1 when any output changed (the idempotency proof over unchanged raw data)
  --json        print the comparison and the rebuild's summaries as JSON`;

/** One output's fingerprint: what it holds and a checksum of exactly that. */
export interface OutputFingerprint {
  /** Objects (a lake table) or rows (a warehouse table). */
  readonly count: number;
  readonly sha256: string;
}

/** Fingerprints of every output a replay rebuilds, by `lake/<table>` and `warehouse/<table>`. */
export type OutputFingerprints = Readonly<Record<string, OutputFingerprint>>;

/** One output in a before/after comparison. */
export interface OutputComparison {
  readonly output: string;
  readonly before: OutputFingerprint | null;
  readonly after: OutputFingerprint | null;
  readonly changed: boolean;
}

/**
 * Fingerprints of the curated bucket, one per top-level prefix (a curated table: telemetry,
 * aggregates, features, predictions...). The batch stage's scratch prefix is not an output.
 */
export async function lakeFingerprints(s3: S3Client, bucket: string): Promise<OutputFingerprints> {
  const keys = (await listKeys(s3, bucket, '')).filter((key) => !key.startsWith(STAGING_PREFIX)).sort();
  const digests = await mapLimit(keys, S3_CONCURRENCY, async (key) => {
    const body = await getObject(s3, bucket, key);
    return body === undefined ? 'gone' : createHash('sha256').update(body).digest('hex');
  });
  const tables = new Map<string, { count: number; hash: ReturnType<typeof createHash> }>();
  keys.forEach((key, index) => {
    const table = key.split('/')[0] ?? key;
    const entry = tables.get(table) ?? { count: 0, hash: createHash('sha256') };
    entry.count += 1;
    entry.hash.update(`${key}\t${digests[index]}\n`);
    tables.set(table, entry);
  });
  return Object.fromEntries(
    [...tables].map(([table, { count, hash }]) => [`lake/${table}`, { count, sha256: hash.digest('hex') }]),
  );
}

/**
 * Fingerprints of the warehouse's tables: the row count and a sha256 over the rows' text in sorted
 * order, so the same rows give the same checksum whatever order the MERGE left them in.
 */
export async function warehouseFingerprints(path: string): Promise<OutputFingerprints> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const fingerprints: Record<string, OutputFingerprint> = {};
    for (const table of WAREHOUSE_TABLES) {
      const reader = await connection.runAndReadAll(
        `SELECT CAST(t AS VARCHAR) AS row_text FROM analytics.${table.name} t ORDER BY row_text`,
      );
      const hash = createHash('sha256');
      const rows = reader.getRowObjectsJson();
      for (const row of rows) hash.update(`${String(row.row_text)}\n`);
      fingerprints[`warehouse/${table.name}`] = { count: rows.length, sha256: hash.digest('hex') };
    }
    return fingerprints;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Compares two sets of fingerprints output by output, in name order. */
export function compareFingerprints(
  before: OutputFingerprints,
  after: OutputFingerprints,
): OutputComparison[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.map((output) => {
    const b = before[output] ?? null;
    const a = after[output] ?? null;
    return { output, before: b, after: a, changed: b?.sha256 !== a?.sha256 || b?.count !== a?.count };
  });
}

/** A replay's result: the comparison and what the rebuild did. */
export interface TwinReplay extends TwinRebuild {
  readonly outputs: readonly OutputComparison[];
  readonly changedOutputs: number;
}

/** Replays `[from, to)` (or every hour) of a twin output, fingerprinting every output around it. */
export async function replayTwin(
  outDir: string,
  range: { from: string; to: string } | undefined,
): Promise<TwinReplay> {
  const warehousePath = join(outDir, WAREHOUSE_FILE);
  // A twin run without the batch stage leaves no warehouse: everything in it is then new.
  const hasWarehouse = () =>
    stat(warehousePath).then(
      () => true,
      () => false,
    );
  let before: OutputFingerprints = {};
  let after: OutputFingerprints = {};
  const rebuild = await rebuildTwinHours(outDir, range, {
    before: async (s3) => {
      before = {
        ...(await lakeFingerprints(s3, TWIN_BUCKETS.curated)),
        ...((await hasWarehouse()) ? await warehouseFingerprints(warehousePath) : {}),
      };
    },
    after: async (s3) => {
      after = {
        ...(await lakeFingerprints(s3, TWIN_BUCKETS.curated)),
        ...(await warehouseFingerprints(warehousePath)),
      };
    },
  });
  const outputs = compareFingerprints(before, after);
  return { ...rebuild, outputs, changedOutputs: outputs.filter((o) => o.changed).length };
}

/** The comparison as lines: one per output, changed ones marked. */
export function formatComparison(outputs: readonly OutputComparison[]): string[] {
  const width = Math.max(...outputs.map((o) => o.output.length), 6);
  const describe = (f: OutputFingerprint | null) =>
    f === null ? 'absent' : `${f.count} ${f.sha256.slice(0, 12)}`;
  const changed = outputs.filter((o) => o.changed).length;
  return [
    `  outputs        ${outputs.length} compared, ${changed === 0 ? 'all unchanged' : `${changed} changed`}`,
    ...outputs.map(
      (o) =>
        `    ${o.output.padEnd(width)}  ${o.changed ? `changed: ${describe(o.before)} -> ${describe(o.after)}` : `unchanged (${describe(o.after)})`}`,
    ),
  ];
}

/** Runs `sdap replay` on a twin output; returns the exit code. */
export async function twinReplayCommand(
  args: string[],
  log: (line: string) => void = console.log,
): Promise<number> {
  const flags = await parseTwinHoursFlags('replay', TWIN_REPLAY_USAGE, args, log, ['check']);
  if ('exitCode' in flags) return flags.exitCode;
  const replay = await replayTwin(flags.outDir, flags.range);
  log(
    flags.json
      ? JSON.stringify(replay, null, 2)
      : [
          ...formatBatch(replay.batch),
          ...formatWarehouse(replay.warehouse),
          ...formatComparison(replay.outputs),
        ].join('\n'),
  );
  if (flags.switches.has('check') && replay.changedOutputs > 0) {
    console.error(
      `sdap replay --check: ${replay.changedOutputs} output(s) changed over the replay: ${replay.outputs
        .filter((o) => o.changed)
        .map((o) => o.output)
        .join(', ')}`,
    );
    return 1;
  }
  return 0;
}
