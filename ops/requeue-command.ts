/**
 * `sdap requeue --from <time> [--to <time>] [--reason CODE] [--stage NAME | --out DIR]`: after a
 * contract or firmware fix, puts the quarantined originals that arrived in `[from, to)` back on the
 * stream, so the validator judges them again.
 *
 * Each original is rebuilt as the topic rule put it (the device's bytes, topic, device id and broker
 * receive time; partition key = the device id) and put once. Readings keep their `eventId`: one
 * that is valid now lands in the raw zone, and any copy of it there is dropped by the ETL's
 * de-duplication. A reading still invalid is quarantined again, as a new object under the requeue's
 * arrival hour (the quarantine key is the new stream record's sequence number); the original object
 * stays, as the record of what was received.
 *
 * Targets: a deployed stage (its stack's `QuarantineBucketName` and `TelemetryStreamName`, with the
 * usual AWS credentials), or a twin's output directory (local/requeue-twin.ts), where the command
 * also waits for the validator and counts what came back valid.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { MAX_READING_AGE_MS, REJECTION_CODES, type RejectionCode } from '../lambdas/shared/contract.ts';
import { quarantinePartitionPath } from '../lambdas/shared/lake-objects.ts';
import type { TwinRequeueOptions, TwinRequeueResult } from '../local/requeue-twin.ts';
import { DEFAULT_OUT_DIR } from '../local/twin-output.ts';
import type { QuarantineSelection } from './quarantine-reader.ts';
import { DEFAULT_PUT_ATTEMPTS, type RequeueRun, requeueQuarantined } from './requeue-records.ts';
import {
  describeAwsError,
  type OpsDeps,
  OpsError,
  opsClients,
  parseRegion,
  parseStage,
  stackOutputs,
  stageStackName,
  UsageError,
} from './stack-outputs.ts';

const HOUR_MS = 3_600_000;
/** The stack outputs a requeue reads. */
export const REQUEUE_OUTPUTS = {
  quarantineBucket: 'QuarantineBucketName',
  stream: 'TelemetryStreamName',
} as const;

const FLAGS = {
  stage: { type: 'string' },
  out: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  reason: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `items` comma-separated on lines of at most `width` characters, each indented by `indent` spaces. */
function wrapList(items: readonly string[], indent: number, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const [i, item] of items.entries()) {
    const word = i < items.length - 1 ? `${item},` : item;
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.map((l) => `${' '.repeat(indent)}${l}`).join('\n');
}

export const REQUEUE_USAGE = `usage: sdap requeue --from <time> [--to <time>] [--reason CODE]... [--stage NAME | --out DIR] [options]

After a contract or firmware fix, puts the quarantined originals that arrived in [from, to) back on
the stream, as the IoT rule put them, so that the validator judges them again. Readings keep their
eventId: nothing is doubled downstream. Readings still invalid are quarantined again (a new object
under the requeue's hour; the original stays).

  --from TIME     first arrival instant: a whole UTC hour (2026-11-27T10:00:00Z) or any ISO 8601
                  instant with a zone (2026-11-27T10:15:00Z, 2026-11-27T11:15:00+01:00); at most
                  ${MAX_READING_AGE_MS / 86_400_000} days ago (older readings are rejected again as timestamp_too_old)
  --to TIME       end, exclusive (default: --from + 1 hour; a time after now means now)
  --reason CODE   only objects with a rejection of this code (repeatable); one of:
${wrapList(REJECTION_CODES, 18, 100)}
  --stage NAME    a deployed stage (stack Sdap-<name>): reads QuarantineBucketName, puts on TelemetryStreamName
  --out DIR       a twin's output directory (default ${DEFAULT_OUT_DIR}): runs the twin's stream and
                  validator on its lake, waits for them, and counts what came back valid
  --dry-run       list what would be requeued (objects, readings, reasons); put nothing
  --region NAME   AWS region of the stage (default: the SDK's, e.g. AWS_REGION)
  --json          print the result as JSON`;

/** The validated flags. */
export interface ParsedRequeueArgs {
  readonly help: false;
  readonly target:
    | { readonly kind: 'stage'; readonly stage: string }
    | { readonly kind: 'twin'; readonly outDir: string };
  readonly region?: string;
  readonly selection: Required<QuarantineSelection>;
  readonly dryRun: boolean;
  readonly json: boolean;
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 instant with a zone, to the hour at least, as epoch ms. */
function parseInstant(flag: string, value: string): number {
  const match = INSTANT.exec(value);
  // `2026-11-27T10Z` is a whole hour too; Date.parse needs the minutes.
  const ms = match
    ? Date.parse(match[1] === undefined ? value.replace(/(Z|[+-]\d{2}:\d{2})$/, ':00$1') : value)
    : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `--${flag}: received '${value}', expected an ISO 8601 instant with a zone, such as 2026-11-27T10:00:00Z or 2026-11-27T10:15:00+01:00`,
    );
  }
  return ms;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Validates the arrival window: `from` before now and no older than the contract's maximum reading
 * age (a reading that old is rejected again as `timestamp_too_old`, whatever was fixed), `to` after
 * `from`; a `to` after now means now (nothing has arrived later, and what the requeue itself
 * quarantines again must not be picked up by it).
 */
export function parseArrivalWindow(
  from: string | undefined,
  to: string | undefined,
  nowMs: number,
): { fromMs: number; toMs: number } {
  if (from === undefined) {
    throw new UsageError(
      '--from: missing, expected the first arrival instant to requeue, such as 2026-11-27T10:00:00Z',
    );
  }
  const fromMs = parseInstant('from', from);
  const toMs = to === undefined ? fromMs + HOUR_MS : parseInstant('to', to);
  if (toMs <= fromMs) {
    throw new UsageError(`--to: received '${to}', expected an instant after --from (${iso(fromMs)})`);
  }
  if (fromMs >= nowMs) {
    throw new UsageError(`--from: received '${from}', expected an instant before now (${iso(nowMs)})`);
  }
  const oldestMs = nowMs - MAX_READING_AGE_MS;
  if (fromMs < oldestMs) {
    throw new UsageError(
      `--from: received '${from}', expected no earlier than ${iso(oldestMs)}: readings that arrived more than ${MAX_READING_AGE_MS / 86_400_000} days ago are rejected again as timestamp_too_old`,
    );
  }
  return { fromMs, toMs: Math.min(toMs, nowMs) };
}

/** Validates `--reason` codes against the contract's list. */
export function parseReasons(values: readonly string[] | undefined): RejectionCode[] {
  const codes: readonly string[] = REJECTION_CODES;
  for (const value of values ?? []) {
    if (!codes.includes(value)) {
      throw new UsageError(`--reason: received '${value}', expected one of ${REJECTION_CODES.join(', ')}`);
    }
  }
  return [...new Set(values ?? [])] as RejectionCode[];
}

/** Parses and validates the flags; throws {@link UsageError} naming the flag, the value and what is expected. */
export function parseRequeueArgs(args: string[], nowMs: number): ParsedRequeueArgs | { readonly help: true } {
  let values: ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { help: true };
  if (values.stage !== undefined && values.out !== undefined) {
    throw new UsageError(
      `--out: received '${values.out}' together with --stage ${values.stage}, expected one target: --stage for a deployed stage, --out for a twin output`,
    );
  }
  if (values.stage === undefined && values.region !== undefined) {
    throw new UsageError(
      `--region: received '${values.region}' without --stage; a twin output has no region`,
    );
  }
  const region = parseRegion(values.region);
  const target =
    values.stage !== undefined
      ? ({ kind: 'stage', stage: parseStage(values.stage) } as const)
      : ({ kind: 'twin', outDir: resolve(values.out ?? DEFAULT_OUT_DIR) } as const);
  return {
    help: false,
    target,
    ...(region !== undefined && { region }),
    selection: { ...parseArrivalWindow(values.from, values.to, nowMs), reasons: parseReasons(values.reason) },
    dryRun: values['dry-run'] ?? false,
    json: values.json ?? false,
  };
}

/** What the command needs from outside, beyond the operator commands' usual: the S3 and Kinesis clients. */
export interface RequeueDeps extends OpsDeps {
  /** @default a client for `--region` or the SDK's default */
  readonly s3?: S3Client;
  /** @default a client for `--region` or the SDK's default */
  readonly kinesis?: KinesisClient;
  /** PutRecords attempts per record. @default {@link DEFAULT_PUT_ATTEMPTS} */
  readonly putAttempts?: number;
  /** Settings of the twin's pipeline (tests run it without the anomaly model). */
  readonly twin?: Pick<TwinRequeueOptions, 'anomalyModelPath'>;
}

/** The command's result, as `--json` prints it. */
export interface RequeueReport {
  readonly target:
    | { readonly kind: 'twin'; readonly outDir: string }
    | {
        readonly kind: 'stage';
        readonly stage: string;
        readonly stackName: string;
        readonly quarantineBucket: string;
        readonly streamName: string;
      };
  readonly window: { readonly from: string; readonly to: string };
  readonly reasons: readonly RejectionCode[];
  readonly dryRun: boolean;
  readonly run: RequeueRun;
  /** The twin only: what the validator made of the requeued records. */
  readonly outcome?: TwinRequeueResult['outcome'];
}

/** Runs `sdap requeue`; returns the exit code (0 done, 1 records not put or not processed, 2 usage). */
export async function requeueCommand(args: string[], deps: RequeueDeps = {}): Promise<number> {
  const now = deps.now ?? Date.now;
  const print = deps.print ?? console.log;
  const printError = deps.printError ?? console.error;
  let parsed: ReturnType<typeof parseRequeueArgs>;
  try {
    parsed = parseRequeueArgs(args, now());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`sdap requeue: ${error.message}\n\n${REQUEUE_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    print(REQUEUE_USAGE);
    return 0;
  }
  const put = {
    maxAttempts: deps.putAttempts ?? DEFAULT_PUT_ATTEMPTS,
    ...(deps.sleep && { sleep: deps.sleep }),
  };
  const window = { from: iso(parsed.selection.fromMs), to: iso(parsed.selection.toMs) };
  let report: RequeueReport;
  try {
    if (parsed.target.kind === 'twin') {
      // Imported when used: the twin's stand-ins are not needed for a stage.
      const { requeueOnTwin } = await import('../local/requeue-twin.ts');
      const result = await requeueOnTwin({
        outDir: parsed.target.outDir,
        selection: parsed.selection,
        dryRun: parsed.dryRun,
        put,
        ...deps.twin,
      });
      report = {
        target: { kind: 'twin', outDir: result.outDir },
        window,
        reasons: parsed.selection.reasons,
        dryRun: parsed.dryRun,
        run: result.run,
        ...(result.outcome && { outcome: result.outcome }),
      };
    } else {
      const { stage } = parsed.target;
      const clients = opsClients(parsed.region, deps.clients);
      const outputs = await stackOutputs(clients.cloudFormation, stage, Object.values(REQUEUE_OUTPUTS));
      const config = parsed.region === undefined ? {} : { region: parsed.region };
      const quarantineBucket = outputs[REQUEUE_OUTPUTS.quarantineBucket];
      const streamName = outputs[REQUEUE_OUTPUTS.stream];
      const run = await requeueQuarantined({
        s3: deps.s3 ?? new S3Client(config),
        quarantineBucket,
        selection: parsed.selection,
        ...(!parsed.dryRun && {
          put: { ...put, kinesis: deps.kinesis ?? new KinesisClient(config), streamName },
        }),
      });
      report = {
        target: { kind: 'stage', stage, stackName: stageStackName(stage), quarantineBucket, streamName },
        window,
        reasons: parsed.selection.reasons,
        dryRun: parsed.dryRun,
        run,
      };
    }
  } catch (error) {
    // A twin output without a lake is a wrong --out, as a usage error is.
    if ((error as Error).name === 'TwinLakeMissingError') {
      printError(`sdap requeue: ${(error as Error).message}`);
      return 2;
    }
    printError(`sdap requeue: ${error instanceof OpsError ? error.message : describeAwsError(error)}`);
    return 1;
  }
  print(parsed.json ? JSON.stringify(report, null, 2) : formatRequeueReport(report, now()).join('\n'));
  const { run, outcome } = report;
  const incomplete =
    run.notPut.length > 0 || run.stoppedBy !== undefined || (outcome?.recordsUnaccounted ?? 0) > 0;
  return incomplete ? 1 : 0;
}

const byReason = (counts: Partial<Record<string, number>>) =>
  Object.entries(counts)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');

/** The report for a terminal. */
export function formatRequeueReport(report: RequeueReport, nowMs: number): string[] {
  const { run, outcome, target } = report;
  const where =
    target.kind === 'twin'
      ? `twin ${target.outDir}`
      : `stage ${target.stage} (${target.stackName}), quarantine s3://${target.quarantineBucket}`;
  const rejected = byReason(run.rejectedByReason);
  const lines = [
    `sdap requeue${report.dryRun ? ' (dry run)' : ''}: ${where}`,
    `  window       arrived ${report.window.from} .. ${report.window.to} (to exclusive); reasons: ${report.reasons.length > 0 ? report.reasons.join(', ') : 'all'}`,
    `  matched      ${run.objectsMatched} quarantine objects, ${run.readings} readings${rejected ? ` (rejected: ${rejected})` : ''}`,
  ];
  if (run.sameOriginalSkipped > 0) {
    lines.push(
      `               ${run.sameOriginalSkipped} held the same original message as another object (an earlier requeue's copy): put once`,
    );
  }
  if (run.notRebuildable > 0) {
    lines.push(
      `               ${run.notRebuildable} with a topic the rule does not read: left in quarantine`,
    );
  }
  const toPut = run.objectsMatched - run.sameOriginalSkipped - run.notRebuildable;
  if (report.dryRun) {
    lines.push(`  would put    ${toPut} records; nothing was written`);
    return lines;
  }
  const stream = target.kind === 'stage' ? target.streamName : "the twin's stream";
  lines.push(
    `  put          ${run.recordsPut} records on ${stream}${run.notPut.length > 0 ? `; ${run.notPut.length} not put (e.g. ${run.notPut[0]?.error})` : ''}`,
  );
  if (run.stoppedBy !== undefined) {
    lines.push(
      `  stopped      a PutRecords call failed (${run.stoppedBy}); ${toPut - run.recordsPut - run.notPut.length} more records not sent. Running the same window again is safe: readings keep their eventId`,
    );
  }
  if (outcome) {
    lines.push(
      `  came back    ${outcome.cameBackValid} readings valid; ${outcome.quarantinedAgain} quarantined again${outcome.quarantinedAgain > 0 ? ` (${byReason(outcome.quarantinedAgainByReason)}) in ${outcome.newQuarantineObjects.length} new quarantine objects` : ''}`,
    );
    if (outcome.validAgain > 0) {
      lines.push(
        `               ${outcome.validAgain} readings that were valid already (batches with some readings rejected) written again: the ETL keeps one copy`,
      );
    }
    if (outcome.recordsUnaccounted > 0) {
      lines.push(
        `  unaccounted  ${outcome.recordsUnaccounted} records neither valid nor quarantined: see the failures bucket (the validator failed on them)`,
      );
    }
    if (target.kind === 'twin' && outcome.cameBackValid > 0) {
      lines.push(
        `  next         rebuild the curated data: sdap etl --out ${target.outDir} (the readings are in the raw zone under the requeue's ingest hour)`,
      );
    }
  } else if (target.kind === 'stage' && run.recordsPut > 0) {
    const partition = quarantinePartitionPath(nowMs);
    lines.push(
      `  check        the validator takes them within a minute or so. Records still invalid are quarantined again as s3://${target.quarantineBucket}/${partition}/<shardId>-<sequenceNumber>.json (--json lists each record's shard and sequence number); the validator's ReadingsValid and ReadingsQuarantined metrics (namespace Sdap) show the split`,
      `  next         the next scheduled ETL run picks the readings up (their ingest hour is now); to rebuild their event hours sooner: sdap etl --stage ${target.stage} --from <hour> --to <hour>`,
    );
  }
  return lines;
}
