import { GetJobRunsCommand } from '@aws-sdk/client-glue';
import { DescribeExecutionCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { ETL_OUTPUTS } from '../../ops/stack-outputs.ts';
import { DEFAULT_STATUS_LIMIT, type StageStatus, statusCommand } from '../../ops/status-command.ts';
import { glue, JOB_NAME, resetMocks, STATE_MACHINE_ARN, sfn, stackWithOutputs, testDeps } from './support.ts';

const NOW = Date.parse('2026-11-27T14:20:00Z');
const at = (iso: string) => new Date(iso);
const execution = (name: string) => `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;

function deployedStage(): void {
  stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN, [ETL_OUTPUTS.jobName]: JOB_NAME });
  sfn.on(ListExecutionsCommand).resolves({
    executions: [
      {
        executionArn: execution('run-14'),
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'run-14',
        status: 'RUNNING',
        startDate: at('2026-11-27T14:15:01Z'),
      },
      {
        executionArn: execution('run-13'),
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'run-13',
        status: 'FAILED',
        startDate: at('2026-11-27T13:15:01Z'),
        stopDate: at('2026-11-27T13:16:04Z'),
      },
      {
        executionArn: execution('run-12'),
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'run-12',
        status: 'SUCCEEDED',
        startDate: at('2026-11-27T12:15:00Z'),
        stopDate: at('2026-11-27T12:19:12Z'),
      },
    ],
  });
  sfn.on(DescribeExecutionCommand, { executionArn: execution('run-13') }).resolves({
    status: 'FAILED',
    error: 'DataQualityGateFailed',
    cause: 'score 0.91 below 0.95\n(dq/run-13.json)',
  } as never);
  glue.on(GetJobRunsCommand).resolves({
    JobRuns: [
      {
        Id: 'jr_14',
        JobName: JOB_NAME,
        JobRunState: 'RUNNING',
        Attempt: 0,
        StartedOn: at('2026-11-27T14:15:10Z'),
        WorkerType: 'G.1X',
        NumberOfWorkers: 2,
        MaxCapacity: 2,
      },
      {
        Id: 'jr_13',
        JobName: JOB_NAME,
        JobRunState: 'SUCCEEDED',
        Attempt: 0,
        StartedOn: at('2026-11-27T13:15:10Z'),
        CompletedOn: at('2026-11-27T13:15:55Z'),
        ExecutionTime: 40,
        MaxCapacity: 2,
        WorkerType: 'G.1X',
        NumberOfWorkers: 2,
      },
      {
        Id: 'jr_12',
        JobName: JOB_NAME,
        JobRunState: 'FAILED',
        Attempt: 1,
        StartedOn: at('2026-11-27T12:15:10Z'),
        CompletedOn: at('2026-11-27T12:17:00Z'),
        ExecutionTime: 100,
        DPUSeconds: 150.4,
        MaxCapacity: 2,
        WorkerType: 'G.1X',
        NumberOfWorkers: 2,
        ErrorMessage: 'AnalysisException: Path does not exist: s3://raw/telemetry/device_type=x',
      },
    ],
  });
}

afterEach(resetMocks);

describe('sdap status', () => {
  it('lists the latest executions and job runs with durations, errors and DPU-seconds', async () => {
    // Prepare
    deployedStage();
    const t = testDeps(NOW);

    // Act
    const code = await statusCommand(['--stage', 'dev'], t.deps);

    // Assess
    expect(code).toBe(0);
    expect(t.out()).toBe(
      [
        `Sdap-dev ETL workflow ${STATE_MACHINE_ARN}`,
        '  STATUS     STARTED               DURATION  NAME    ERROR',
        '  RUNNING    2026-11-27T14:15:01Z  4m 59s    run-14',
        '  FAILED     2026-11-27T13:15:01Z  1m 03s    run-13  DataQualityGateFailed: score 0.91 below 0.95 (dq/run-13.json)',
        '  SUCCEEDED  2026-11-27T12:15:00Z  4m 12s    run-12',
        '',
        `Sdap-dev Glue job ${JOB_NAME}`,
        '  STATE      STARTED               DURATION  DPU-S  WORKERS   ERROR',
        '  RUNNING    2026-11-27T14:15:10Z  4m 50s    -      2 x G.1X',
        '  SUCCEEDED  2026-11-27T13:15:10Z  45s       ~80    2 x G.1X',
        '  FAILED     2026-11-27T12:15:10Z  1m 50s    150    2 x G.1X  AnalysisException: Path does not exist: s3://raw/telemetry/device_type=x',
      ].join('\n'),
    );
  });

  it('asks each API for the default number of items, and describes only the failed executions', async () => {
    // Prepare
    deployedStage();

    // Act
    await statusCommand(['--stage', 'dev'], testDeps(NOW).deps);

    // Assess
    expect(DEFAULT_STATUS_LIMIT).toBe(10);
    expect(sfn.commandCalls(ListExecutionsCommand)[0]?.args[0].input).toEqual({
      stateMachineArn: STATE_MACHINE_ARN,
      maxResults: DEFAULT_STATUS_LIMIT,
    });
    expect(glue.commandCalls(GetJobRunsCommand)[0]?.args[0].input).toEqual({
      JobName: JOB_NAME,
      MaxResults: DEFAULT_STATUS_LIMIT,
    });
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input.executionArn)).toEqual(
      [execution('run-13')],
    );
  });

  it('prints the whole status as JSON with --json, errors in full', async () => {
    // Prepare
    deployedStage();
    const t = testDeps(NOW);

    // Act
    const code = await statusCommand(['--stage', 'dev', '--json', '--limit', '3'], t.deps);

    // Assess
    expect(code).toBe(0);
    const status = JSON.parse(t.out()) as StageStatus;
    expect(status.workflow.executions[1]).toEqual({
      name: 'run-13',
      executionArn: execution('run-13'),
      status: 'FAILED',
      startDate: '2026-11-27T13:15:01Z',
      stopDate: '2026-11-27T13:16:04Z',
      durationMs: 63_000,
      error: 'DataQualityGateFailed',
      cause: 'score 0.91 below 0.95\n(dq/run-13.json)',
    });
    expect(status.glueJob.runs.map((run) => [run.id, run.dpuSeconds, run.dpuSecondsEstimated])).toEqual([
      ['jr_14', undefined, undefined],
      ['jr_13', 80, true],
      ['jr_12', 150.4, false],
    ]);
    expect(sfn.commandCalls(ListExecutionsCommand)[0]?.args[0].input.maxResults).toBe(3);
  });

  it('says so when there is nothing to list yet', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN, [ETL_OUTPUTS.jobName]: JOB_NAME });
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    glue.on(GetJobRunsCommand).resolves({ JobRuns: [] });
    const t = testDeps(NOW);

    // Act
    await statusCommand(['--stage', 'dev'], t.deps);

    // Assess
    expect(t.lines.join('\n')).toContain('  no executions yet');
    expect(t.lines.join('\n')).toContain('  no job runs yet');
  });

  it('exits 1 naming the stack and the output when the stage has no Glue job output', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN });
    const t = testDeps(NOW);

    // Act
    const code = await statusCommand(['--stage', 'dev'], t.deps);

    // Assess
    expect(code).toBe(1);
    expect(t.err()).toContain('sdap status: stack Sdap-dev (UPDATE_COMPLETE) has no output EtlJobName');
  });

  it.each([
    [['--stage', 'dev', '--limit', '0'], "--limit: received '0', expected a whole number from 1 to 100"],
    [['--stage', 'dev', '--limit', 'all'], "--limit: received 'all', expected a whole number from 1 to 100"],
    [[], '--stage: missing, expected one of dev, prod'],
    [['--stage', 'dev', 'now'], "Unexpected argument 'now'"],
  ])('exits 2 on %j with a message naming the flag, and the usage', async (args, message) => {
    // Prepare
    const t = testDeps(NOW);

    // Act
    const code = await statusCommand(args, t.deps);

    // Assess
    expect(code).toBe(2);
    expect(t.err()).toContain(`sdap status: ${message}`);
    expect(t.err()).toContain('usage: sdap status --stage <name>');
  });
});
