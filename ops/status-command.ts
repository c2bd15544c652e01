/**
 * `sdap status --stage <name>`: the latest executions of the stage's ETL workflow (Step Functions)
 * and the latest runs of its Glue job, with their durations and errors; a table, or `--json`.
 */
import { parseArgs } from 'node:util';
import { GetJobRunsCommand, type JobRun } from '@aws-sdk/client-glue';
import { DescribeExecutionCommand, type ExecutionListItem, ListExecutionsCommand } from '@aws-sdk/client-sfn';
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
  table,
  UsageError,
} from './stack-outputs.ts';

/** Executions and job runs listed by default: about half a day of an hourly schedule. */
export const DEFAULT_STATUS_LIMIT = 10;
/** The most each list may show (one page of both APIs' results). */
export const MAX_STATUS_LIMIT = 100;
/** Characters of an error shown in the table; `--json` has all of it. */
export const TABLE_ERROR_CHARS = 120;

const FLAGS = {
  stage: { type: 'string' },
  limit: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const STATUS_USAGE = `usage: sdap status --stage <name> [options]

Lists the latest ETL workflow executions and Glue job runs of a deployed stage.

  --stage NAME    the deployed stage (stack Sdap-<name>)
  --limit N       executions and job runs to list, 1..${MAX_STATUS_LIMIT} (default ${DEFAULT_STATUS_LIMIT})
  --region NAME   AWS region of the stage (default: the SDK's, e.g. AWS_REGION)
  --json          print the status as JSON`;

export interface ExecutionStatusRow {
  readonly name: string;
  readonly executionArn: string;
  readonly status: string;
  readonly startDate: string;
  readonly stopDate: string;
  /** Until now for a running execution. */
  readonly durationMs: number;
  readonly error?: string;
  readonly cause?: string;
}

export interface JobRunStatusRow {
  readonly id: string;
  readonly state: string;
  readonly attempt: number;
  readonly startedOn: string;
  readonly completedOn: string;
  /** Until now for a running job run. */
  readonly durationMs: number;
  readonly executionTimeSeconds?: number;
  /**
   * Glue's DPUSeconds (Flex and auto-scaling runs report it), else execution time x capacity,
   * flagged as an estimate.
   */
  readonly dpuSeconds?: number;
  readonly dpuSecondsEstimated?: boolean;
  readonly workerType?: string;
  readonly numberOfWorkers?: number;
  readonly errorMessage?: string;
}

export interface StageStatus {
  readonly stage: string;
  readonly stackName: string;
  readonly workflow: { readonly stateMachineArn: string; readonly executions: readonly ExecutionStatusRow[] };
  readonly glueJob: { readonly jobName: string; readonly runs: readonly JobRunStatusRow[] };
}

interface ParsedStatusArgs {
  readonly help: false;
  readonly stage: string;
  readonly region?: string;
  readonly limit: number;
  readonly json: boolean;
}

/** Parses and validates the flags; throws {@link UsageError} naming the flag, the value and what is expected. */
export function parseStatusArgs(args: string[]): ParsedStatusArgs | { readonly help: true } {
  let values: ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { help: true };
  const limit = values.limit === undefined ? DEFAULT_STATUS_LIMIT : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_STATUS_LIMIT) {
    throw new UsageError(
      `--limit: received '${values.limit}', expected a whole number from 1 to ${MAX_STATUS_LIMIT}`,
    );
  }
  const region = parseRegion(values.region);
  return {
    help: false,
    stage: parseStage(values.stage),
    ...(region !== undefined && { region }),
    limit,
    json: values.json ?? false,
  };
}

const FAILED_STATUSES = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

function jobRunRow(run: JobRun, nowMs: number): JobRunStatusRow {
  const started = run.StartedOn?.getTime();
  const estimate =
    run.DPUSeconds === undefined && run.ExecutionTime !== undefined && run.MaxCapacity !== undefined
      ? run.ExecutionTime * run.MaxCapacity
      : undefined;
  return {
    id: run.Id ?? '',
    state: run.JobRunState ?? 'UNKNOWN',
    attempt: run.Attempt ?? 0,
    startedOn: formatTime(run.StartedOn),
    completedOn: formatTime(run.CompletedOn),
    durationMs: started === undefined ? 0 : (run.CompletedOn?.getTime() ?? nowMs) - started,
    ...(run.ExecutionTime !== undefined && { executionTimeSeconds: run.ExecutionTime }),
    ...(run.DPUSeconds !== undefined && { dpuSeconds: run.DPUSeconds, dpuSecondsEstimated: false }),
    ...(estimate !== undefined && { dpuSeconds: estimate, dpuSecondsEstimated: true }),
    ...(run.WorkerType !== undefined && { workerType: run.WorkerType }),
    ...(run.NumberOfWorkers !== undefined && { numberOfWorkers: run.NumberOfWorkers }),
    ...(run.ErrorMessage && { errorMessage: run.ErrorMessage }),
  };
}

/** Reads the status of a stage's ETL. Throws {@link OpsError} when the stack or an output is missing. */
export async function readStageStatus(
  stage: string,
  limit: number,
  clients: ReturnType<typeof opsClients>,
  nowMs: number,
): Promise<StageStatus> {
  const outputs = await stackOutputs(clients.cloudFormation, stage, [
    ETL_OUTPUTS.stateMachineArn,
    ETL_OUTPUTS.jobName,
  ]);
  const stateMachineArn = outputs[ETL_OUTPUTS.stateMachineArn];
  const jobName = outputs[ETL_OUTPUTS.jobName];
  const [listed, jobRuns] = await Promise.all([
    clients.sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: limit })),
    clients.glue.send(new GetJobRunsCommand({ JobName: jobName, MaxResults: limit })),
  ]);
  const executions = await Promise.all(
    (listed.executions ?? [])
      .slice(0, limit)
      .map(async (item: ExecutionListItem): Promise<ExecutionStatusRow> => {
        const status = item.status ?? 'UNKNOWN';
        const details = FAILED_STATUSES.has(status)
          ? await clients.sfn.send(new DescribeExecutionCommand({ executionArn: item.executionArn }))
          : undefined;
        const started = item.startDate?.getTime();
        return {
          name: item.name ?? '',
          executionArn: item.executionArn ?? '',
          status,
          startDate: formatTime(item.startDate),
          stopDate: formatTime(item.stopDate),
          durationMs: started === undefined ? 0 : (item.stopDate?.getTime() ?? nowMs) - started,
          ...(details?.error && { error: details.error }),
          ...(details?.cause && { cause: details.cause }),
        };
      }),
  );
  return {
    stage,
    stackName: stageStackName(stage),
    workflow: { stateMachineArn, executions },
    glueJob: { jobName, runs: (jobRuns.JobRuns ?? []).slice(0, limit).map((run) => jobRunRow(run, nowMs)) },
  };
}

function oneLine(text: string | undefined): string {
  if (!text) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > TABLE_ERROR_CHARS ? `${flat.slice(0, TABLE_ERROR_CHARS - 1)}…` : flat;
}

/** The status as the table an operator reads. */
export function formatStageStatus(status: StageStatus): string {
  const executions = status.workflow.executions;
  const runs = status.glueJob.runs;
  return [
    `${status.stackName} ETL workflow ${status.workflow.stateMachineArn}`,
    ...(executions.length === 0
      ? ['  no executions yet']
      : table(
          ['STATUS', 'STARTED', 'DURATION', 'NAME', 'ERROR'],
          executions.map((e) => [
            e.status,
            e.startDate,
            formatDuration(e.durationMs),
            e.name,
            oneLine([e.error, e.cause].filter(Boolean).join(': ')),
          ]),
        ).map((line) => `  ${line}`)),
    '',
    `${status.stackName} Glue job ${status.glueJob.jobName}`,
    ...(runs.length === 0
      ? ['  no job runs yet']
      : table(
          ['STATE', 'STARTED', 'DURATION', 'DPU-S', 'WORKERS', 'ERROR'],
          runs.map((r) => [
            r.state,
            r.startedOn,
            formatDuration(r.durationMs),
            r.dpuSeconds === undefined
              ? '-'
              : `${r.dpuSecondsEstimated ? '~' : ''}${Math.round(r.dpuSeconds)}`,
            r.numberOfWorkers === undefined ? '-' : `${r.numberOfWorkers} x ${r.workerType ?? '?'}`,
            oneLine(r.errorMessage),
          ]),
        ).map((line) => `  ${line}`)),
  ].join('\n');
}

/** Runs `sdap status`; returns the exit code (0 listed, 1 the stage could not be read, 2 usage). */
export async function statusCommand(args: string[], deps: OpsDeps = {}): Promise<number> {
  const print = deps.print ?? console.log;
  const printError = deps.printError ?? console.error;
  let parsed: ReturnType<typeof parseStatusArgs>;
  try {
    parsed = parseStatusArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`sdap status: ${error.message}\n\n${STATUS_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    print(STATUS_USAGE);
    return 0;
  }
  try {
    const status = await readStageStatus(
      parsed.stage,
      parsed.limit,
      opsClients(parsed.region, deps.clients),
      (deps.now ?? Date.now)(),
    );
    print(parsed.json ? JSON.stringify(status, null, 2) : formatStageStatus(status));
    return 0;
  } catch (error) {
    printError(`sdap status: ${error instanceof OpsError ? error.message : describeAwsError(error)}`);
    return 1;
  }
}
