/**
 * What the operator commands share: the stage's stack and its outputs (CloudFormation DescribeStacks),
 * the AWS clients (injectable for tests), and how failures are told: a usage error names the flag,
 * the value and what is expected (exit 2); an AWS failure says what to do (exit 1).
 */
import { CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { GlueClient } from '@aws-sdk/client-glue';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STAGE_NAMES } from '../lib/config.ts';

/** The stack outputs the ETL commands read. */
export const ETL_OUTPUTS = {
  stateMachineArn: 'EtlStateMachineArn',
  jobName: 'EtlJobName',
} as const;
export type EtlOutputName = (typeof ETL_OUTPUTS)[keyof typeof ETL_OUTPUTS];

/**
 * The stack of a stage, as the CDK app names it (`stackNameOf` in lib/telemetry-pipeline-stack.ts; a
 * test keeps the two equal). Repeated here so the command line does not load the CDK constructs.
 */
export function stageStackName(stage: string): string {
  return `Sdap-${stage}`;
}

/** A flag the operator got wrong: the message names the flag, the value received and what is expected. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The deployed stage cannot do what was asked; the message says what to do. */
export class OpsError extends Error {
  override readonly name = 'OpsError';
}

export interface OpsClients {
  readonly cloudFormation: CloudFormationClient;
  readonly sfn: SFNClient;
  readonly glue: GlueClient;
}

/** What the commands need from outside: clients, clock, output. Tests pass their own. */
export interface OpsDeps {
  /** @default clients for `--region` or the SDK's default region and credentials */
  readonly clients?: Partial<OpsClients>;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default console.log */
  readonly print?: (line: string) => void;
  /** @default console.error */
  readonly printError?: (line: string) => void;
}

/** Clients for a region (or the SDK's default), with the injected ones taking precedence. */
export function opsClients(region: string | undefined, given: Partial<OpsClients> = {}): OpsClients {
  const config = region === undefined ? {} : { region };
  return {
    cloudFormation: given.cloudFormation ?? new CloudFormationClient(config),
    sfn: given.sfn ?? new SFNClient(config),
    glue: given.glue ?? new GlueClient(config),
  };
}

/** Validates `--stage`: one of the stages the CDK app knows. */
export function parseStage(value: string | undefined): string {
  if (value === undefined)
    throw new UsageError(`--stage: missing, expected one of ${STAGE_NAMES.join(', ')}`);
  if (!(STAGE_NAMES as readonly string[]).includes(value)) {
    throw new UsageError(`--stage: received '${value}', expected one of ${STAGE_NAMES.join(', ')}`);
  }
  return value;
}

/** Validates `--region` (optional): an AWS region name. */
export function parseRegion(value: string | undefined): string | undefined {
  if (value !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(value)) {
    throw new UsageError(`--region: received '${value}', expected an AWS region name such as eu-west-1`);
  }
  return value;
}

async function regionOf(client: CloudFormationClient): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    return 'the default region';
  }
}

/**
 * The named outputs of a stage's stack. Fails with {@link OpsError} naming the stack and the output,
 * and what to do, when the stack does not exist or lacks an output.
 */
export async function stackOutputs<N extends string>(
  cloudFormation: CloudFormationClient,
  stage: string,
  names: readonly N[],
): Promise<Record<N, string>> {
  const stackName = stageStackName(stage);
  let stack: Stack | undefined;
  try {
    stack = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (error) {
    // CloudFormation answers a missing stack with a ValidationError "Stack with id ... does not exist".
    if (!/does not exist/.test((error as Error).message ?? '')) throw error;
  }
  if (stack === undefined) {
    throw new OpsError(
      `stack ${stackName} not found in ${await regionOf(cloudFormation)}: deploy the stage (npx cdk deploy -c stage=${stage}), or check --stage, --region and the AWS credentials in use`,
    );
  }
  const outputs = new Map((stack.Outputs ?? []).map((output) => [output.OutputKey, output.OutputValue]));
  const found = {} as Record<N, string>;
  for (const name of names) {
    const value = outputs.get(name);
    if (value === undefined || value === '') {
      throw new OpsError(
        `stack ${stackName} (${stack.StackStatus ?? 'status unknown'}) has no output ${name}: deploy a version of the stage with the ETL enabled (npx cdk deploy -c stage=${stage}), then retry`,
      );
    }
    found[name] = value;
  }
  return found;
}

/** A failure of an AWS call, told as what to do where the cause is a common one. */
export function describeAwsError(error: unknown): string {
  const name = (error as { name?: string }).name ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'CredentialsProviderError' || /credential/i.test(message)) {
    return `${message}: configure AWS credentials (AWS_PROFILE, or aws configure / aws sso login)`;
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || /not authorized/i.test(message)) {
    return `${message}: the credentials in use lack this permission`;
  }
  if (/region/i.test(message) && /missing/i.test(message)) {
    return `${message}: pass --region or set AWS_REGION`;
  }
  return name && !message.startsWith(name) ? `${name}: ${message}` : message;
}

/** `4m 05s`, `1h 02m`, `12s`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** `2026-11-27T13:15:02Z` (no milliseconds), or `-`. */
export function formatTime(date: Date | undefined): string {
  return date === undefined ? '-' : `${date.toISOString().slice(0, 19)}Z`;
}

/** Rows as left-aligned columns under their headers, two spaces apart. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}
