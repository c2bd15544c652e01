/**
 * `sdap etl` without `--stage`: the batch stage rerun over an existing twin output, as the deployed
 * workflow reruns or backfills hours. The twin's lake is s3rver's directory under `<out>/lake`; it
 * is served again for the run, and the batch stage reads and writes it through the S3 API.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseHourRange } from '../ops/etl-command.ts';
import type { BatchSummary } from './etl/batch-stage.ts';
import { withCommittedFailureEndpoint } from './etl/failure-scoring.ts';
import { backfillLake } from './etl/lake-backfill.ts';
import { formatBatch } from './twin-cli.ts';
import { DEFAULT_OUT_DIR } from './twin-output.ts';
import { TWIN_BUCKETS } from './twin-pipeline.ts';
import {
  formatWarehouse,
  runWarehouseStage,
  type WarehouseStageSummary,
} from './warehouse/warehouse-stage.ts';

export const TWIN_ETL_USAGE = `usage: sdap etl [--out DIR] [--from HOUR [--to HOUR]] [--json]
       sdap etl --stage NAME --from HOUR ...   (a deployed stage: see sdap etl --stage dev --help)

Reruns the batch stage (the ETL's SQL in DuckDB) over a twin's lake: the event hours [from, to),
or, without --from, every hour the raw zone holds. A rerun replaces the hours' curated output,
scores them with the committed failure model (predictions/), then MERGEs it all into
<out>/warehouse.duckdb and rewrites <out>/report.html.

  --out DIR     the twin's output directory (default ${DEFAULT_OUT_DIR})
  --from HOUR   first event hour, a whole UTC hour such as 2026-11-27T10:00:00Z
  --to HOUR     end hour, exclusive (default: --from + 1 hour)
  --json        print the batch summary as JSON`;

/**
 * The hours `[from, to)` of `--from`/`--to`, or every hour (undefined) without them.
 *
 * @throws Error naming the flag when `--to` comes without `--from` or an hour is not a whole UTC hour.
 */
export function parseTwinRange(
  from: string | undefined,
  to: string | undefined,
): { from: string; to: string } | undefined {
  if (to !== undefined && from === undefined) {
    throw new Error(`--to: received '${to}' without --from; give both, or neither to rebuild every hour`);
  }
  return from === undefined ? undefined : parseHourRange(from, to, Date.now());
}

/**
 * The twin's lake directory under `outDir`.
 *
 * @throws Error naming the directory and what to do when no twin run left a lake there.
 */
export async function twinLakeDirectory(outDir: string): Promise<string> {
  const lakeDirectory = join(outDir, 'lake');
  const isDirectory = await stat(join(lakeDirectory, TWIN_BUCKETS.raw)).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) {
    throw new Error(`--out ${outDir}: no twin lake there (expected ${lakeDirectory}); run sdap twin first`);
  }
  return lakeDirectory;
}

/** What a rebuild of a twin's hours did: the batch stage's summary and the warehouse's. */
export interface TwinRebuild {
  readonly batch: BatchSummary;
  readonly warehouse: WarehouseStageSummary;
}

/** Hooks on the served lake around a rebuild (a replay's checksums). */
export interface TwinRebuildHooks {
  /** Before the batch stage touches anything. */
  readonly before?: (s3: S3Client) => Promise<void>;
  /** After the batch stage, the scoring and the warehouse load. */
  readonly after?: (s3: S3Client) => Promise<void>;
}

/**
 * Rebuilds the curated data, the predictions and the warehouse of a twin output for `[from, to)`
 * (or every hour), in the deployed workflow's order: ETL, failure scoring, warehouse MERGE.
 */
export async function rebuildTwinHours(
  outDir: string,
  range: { from: string; to: string } | undefined,
  hooks: TwinRebuildHooks = {},
): Promise<TwinRebuild> {
  const lakeDirectory = await twinLakeDirectory(outDir);
  let warehouse: WarehouseStageSummary | undefined;
  const batch = await withCommittedFailureEndpoint((scoring) =>
    backfillLake({
      lakeDir: lakeDirectory,
      buckets: { raw: TWIN_BUCKETS.raw, quarantine: TWIN_BUCKETS.quarantine, curated: TWIN_BUCKETS.curated },
      ...(range && { from: range.from, to: range.to }),
      ...(scoring && { scoring }),
      ...(hooks.before && { beforeBatch: hooks.before }),
      afterBatch: async (s3) => {
        warehouse = await runWarehouseStage({ s3, curatedBucket: TWIN_BUCKETS.curated, outDir });
        await hooks.after?.(s3);
      },
    }),
  );
  if (warehouse === undefined) throw new Error('the batch stage ran but the warehouse was not loaded');
  return { batch, warehouse };
}

/** The flags of a command over a twin output's hours: `--out`, `--from`, `--to`, `--json`, `--help`. */
export interface TwinHoursFlags {
  /** The twin's output directory, resolved; it holds a twin lake. */
  readonly outDir: string;
  /** The hours `[from, to)`, or every hour the raw zone holds. */
  readonly range: { from: string; to: string } | undefined;
  readonly json: boolean;
  /** The command's extra boolean flags that were set (e.g. `--check`). */
  readonly switches: ReadonlySet<string>;
}

/**
 * Parses a twin-hours command's flags (`sdap etl`, `sdap replay`) and checks its output holds a
 * twin lake. Prints the usage for `--help`, and the error with what to do for a bad flag or a
 * missing lake, then returns the exit code instead of the flags.
 */
export async function parseTwinHoursFlags(
  command: string,
  usage: string,
  args: string[],
  log: (line: string) => void,
  switches: readonly string[] = [],
): Promise<TwinHoursFlags | { readonly exitCode: number }> {
  let values: Record<string, string | boolean | undefined>;
  let range: { from: string; to: string } | undefined;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        out: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(switches.map((name) => [name, { type: 'boolean' as const }])),
      },
      strict: true,
      allowPositionals: false,
    }));
    range = parseTwinRange(values.from as string | undefined, values.to as string | undefined);
  } catch (error) {
    console.error(`sdap ${command}: ${(error as Error).message}\n\n${usage}`);
    return { exitCode: 2 };
  }
  if (values.help) {
    log(usage);
    return { exitCode: 0 };
  }
  const outDir = resolve((values.out as string | undefined) ?? DEFAULT_OUT_DIR);
  try {
    await twinLakeDirectory(outDir);
  } catch (error) {
    console.error(`sdap ${command}: ${(error as Error).message}`);
    return { exitCode: 2 };
  }
  return {
    outDir,
    range,
    json: values.json === true,
    switches: new Set(switches.filter((name) => values[name] === true)),
  };
}

/** Runs the command; returns the exit code. */
export async function twinEtlCommand(
  args: string[],
  log: (line: string) => void = console.log,
): Promise<number> {
  const flags = await parseTwinHoursFlags('etl', TWIN_ETL_USAGE, args, log);
  if ('exitCode' in flags) return flags.exitCode;
  // As the deployed workflow scores the window and loads the warehouse after the ETL, a rerun does too.
  const rebuild = await rebuildTwinHours(flags.outDir, flags.range);
  log(
    flags.json
      ? JSON.stringify({ ...rebuild.batch, warehouse: rebuild.warehouse }, null, 2)
      : [...formatBatch(rebuild.batch), ...formatWarehouse(rebuild.warehouse)].join('\n'),
  );
  return 0;
}
