/**
 * `sdap etl --stage <name> --from <hour> [--to <hour>]`: starts the deployed stage's ETL workflow
 * (Step Functions) over whole UTC hours, e.g. to backfill, and optionally waits for it to finish.
 *
 * The workflow's input is `{"from": "2026-11-27T10:00:00Z", "to": "2026-11-27T13:00:00Z"}`: whole
 * UTC hours, `to` exclusive (one hour H is from=H, to=H+1h). The ETL overwrites exactly the
 * partitions of those hours, so running a range twice is harmless.
 */
import { parseArgs } from 'node:util';
import { DescribeExecutionCommand, type ExecutionStatus, StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  describeAwsError,
  ETL_OUTPUTS,
  formatDuration,
  formatTime,
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
/** The longest range one execution covers (31 days); longer backfills are split. */
export const MAX_ETL_RANGE_HOURS = 31 * 24;
/** Seconds between two polls of `--wait`. */
export const DEFAULT_POLL_SECONDS = 10;

const FLAGS = {
  stage: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  wait: { type: 'boolean' },
  'poll-seconds': { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const ETL_USAGE = `usage: sdap etl --stage <name> --from <hour> [--to <hour>] [options]

Starts the stage's ETL workflow over whole UTC hours [from, to): a backfill, or a rerun (idempotent).

  --stage NAME        the deployed stage (stack Sdap-<name>)
  --from HOUR         first hour, e.g. 2026-11-27T10:00:00Z (UTC, whole hour)
  --to HOUR           end hour, exclusive (default: --from + 1 hour); at most ${MAX_ETL_RANGE_HOURS} hours after --from
  --wait              wait until the execution finishes; exit 1 unless it succeeds
  --poll-seconds N    seconds between checks while waiting, 1..300 (default ${DEFAULT_POLL_SECONDS})
  --region NAME       AWS region of the stage (default: the SDK's, e.g. AWS_REGION)
  --json              print the result as JSON`;

/** The workflow's input. */
export interface EtlWorkflowInput {
  readonly from: string;
  readonly to: string;
}

const WHOLE_UTC_HOUR = /^(\d{4}-\d{2}-\d{2}T\d{2})(:00(:00(\.0+)?)?)?Z$/;

/** `2026-11-27T10:00:00Z` for a whole UTC hour given with or without minutes and seconds. */
function parseHour(flag: string, value: string): number {
  const match = WHOLE_UTC_HOUR.exec(value);
  const ms = match ? Date.parse(`${match[1]}:00:00Z`) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `--${flag}: received '${value}', expected a whole UTC hour such as 2026-11-27T10:00:00Z`,
    );
  }
  return ms;
}

const isoHour = (ms: number) => `${new Date(ms).toISOString().slice(0, 13)}:00:00Z`;

/**
 * Validates an hour range for the workflow: whole UTC hours, `from` before `to`, at most
 * {@link MAX_ETL_RANGE_HOURS} hours, and not beyond the current hour (its data is still arriving; the
 * current hour itself may be rerun).
 */
export function parseHourRange(
  from: string | undefined,
  to: string | undefined,
  nowMs: number,
): EtlWorkflowInput {
  if (from === undefined)
    throw new UsageError('--from: missing, expected a whole UTC hour such as 2026-11-27T10:00:00Z');
  const fromMs = parseHour('from', from);
  const toMs = to === undefined ? fromMs + HOUR_MS : parseHour('to', to);
  if (toMs <= fromMs) {
    throw new UsageError(`--to: received '${to}', expected a later hour than --from (${isoHour(fromMs)})`);
  }
  if (toMs - fromMs > MAX_ETL_RANGE_HOURS * HOUR_MS) {
    throw new UsageError(
      `--to: received '${to}', expected at most ${MAX_ETL_RANGE_HOURS} hours (31 days) after --from (${isoHour(fromMs)}); split longer backfills`,
    );
  }
  const latestMs = Math.floor(nowMs / HOUR_MS) * HOUR_MS + HOUR_MS;
  if (toMs > latestMs) {
    throw new UsageError(
      `--${to === undefined ? 'from' : 'to'}: received '${to ?? from}', expected a range ending by ${isoHour(latestMs)} (the end of the current hour)`,
    );
  }
  return { from: isoHour(fromMs), to: isoHour(toMs) };
}

export interface ParsedEtlArgs {
  readonly help: false;
  readonly stage: string;
  readonly region?: string;
  readonly input: EtlWorkflowInput;
  readonly wait: boolean;
  readonly pollSeconds: number;
  readonly json: boolean;
}

/** Parses and validates the flags; throws {@link UsageError} naming the flag, the value and what is expected. */
export function parseEtlArgs(args: string[], nowMs: number): ParsedEtlArgs | { readonly help: true } {
  let values: ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { help: true };
  const poll = values['poll-seconds'];
  const pollSeconds = poll === undefined ? DEFAULT_POLL_SECONDS : Number(poll);
  if (!Number.isInteger(pollSeconds) || pollSeconds < 1 || pollSeconds > 300) {
    throw new UsageError(
      `--poll-seconds: received '${poll}', expected a whole number of seconds from 1 to 300`,
    );
  }
  const region = parseRegion(values.region);
  return {
    help: false,
    stage: parseStage(values.stage),
    ...(region !== undefined && { region }),
    input: parseHourRange(values.from, values.to, nowMs),
    wait: values.wait ?? false,
    pollSeconds,
    json: values.json ?? false,
  };
}

/**
 * A readable, unique execution name: `cli-<from>-<to>-<started>`, e.g.
 * `cli-2026112710-2026112713-20261127T141502Z`. Unique per start, so a range can be run again (the
 * ETL is idempotent) while the name still says what it covered.
 */
export function executionName(input: EtlWorkflowInput, nowMs: number): string {
  const compactHour = (iso: string) => iso.slice(0, 13).replace(/[-T]/g, '');
  const started = new Date(nowMs).toISOString().slice(0, 19).replace(/[-:]/g, '');
  return `cli-${compactHour(input.from)}-${compactHour(input.to)}-${started}Z`;
}

const FINISHED = new Set<ExecutionStatus | undefined>(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

/** Runs `sdap etl`; returns the exit code (0 started or succeeded, 1 failed, 2 usage). */
export async function etlCommand(args: string[], deps: OpsDeps = {}): Promise<number> {
  const now = deps.now ?? Date.now;
  const print = deps.print ?? console.log;
  const printError = deps.printError ?? console.error;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let parsed: ReturnType<typeof parseEtlArgs>;
  try {
    parsed = parseEtlArgs(args, now());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`sdap etl: ${error.message}\n\n${ETL_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    print(ETL_USAGE);
    return 0;
  }
  const { stage, input } = parsed;
  const clients = opsClients(parsed.region, deps.clients);
  try {
    const outputs = await stackOutputs(clients.cloudFormation, stage, [ETL_OUTPUTS.stateMachineArn]);
    const stateMachineArn = outputs[ETL_OUTPUTS.stateMachineArn];
    const name = executionName(input, now());
    const started = await clients.sfn.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    const executionArn = started.executionArn ?? '';
    const startDate = started.startDate ?? new Date(now());
    const hours = (Date.parse(input.to) - Date.parse(input.from)) / HOUR_MS;
    const result: Record<string, unknown> = {
      stage,
      stackName: stageStackName(stage),
      stateMachineArn,
      executionArn,
      name,
      input,
      startDate: formatTime(startDate),
    };
    if (!parsed.json) {
      print(`started ETL execution ${name} on ${stageStackName(stage)}`);
      print(
        `  range      ${input.from} .. ${input.to} (${hours} hour${hours === 1 ? '' : 's'}, to exclusive)`,
      );
      print(`  execution  ${executionArn}`);
    }
    if (!parsed.wait) {
      if (parsed.json) print(JSON.stringify(result, null, 2));
      return 0;
    }
    let described = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    while (!FINISHED.has(described.status)) {
      await sleep(parsed.pollSeconds * 1000);
      described = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    }
    const durationMs = (described.stopDate?.getTime() ?? now()) - startDate.getTime();
    const failure =
      described.status === 'SUCCEEDED'
        ? ''
        : `: ${[described.error, described.cause].filter(Boolean).join(': ') || 'no error reported'}`;
    if (parsed.json) {
      print(
        JSON.stringify(
          {
            ...result,
            status: described.status,
            stopDate: formatTime(described.stopDate),
            durationMs,
            ...(described.error && { error: described.error }),
            ...(described.cause && { cause: described.cause }),
          },
          null,
          2,
        ),
      );
    } else {
      print(`  finished   ${described.status} after ${formatDuration(durationMs)}${failure}`);
    }
    return described.status === 'SUCCEEDED' ? 0 : 1;
  } catch (error) {
    printError(`sdap etl: ${error instanceof OpsError ? error.message : describeAwsError(error)}`);
    return 1;
  }
}
