import { DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { etlCommand, executionName, MAX_ETL_RANGE_HOURS, parseHourRange } from '../../ops/etl-command.ts';
import { ETL_OUTPUTS } from '../../ops/stack-outputs.ts';
import { resetMocks, STATE_MACHINE_ARN, sfn, stackWithOutputs, testDeps } from './support.ts';

const NOW = Date.parse('2026-11-27T14:20:05Z');
const EXECUTION_ARN = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:cli-x`;

afterEach(resetMocks);

describe('parseHourRange', () => {
  it('normalises whole UTC hours and makes --to one hour after --from by default', () => {
    expect(parseHourRange('2026-11-27T10Z', undefined, NOW)).toEqual({
      from: '2026-11-27T10:00:00Z',
      to: '2026-11-27T11:00:00Z',
    });
    expect(parseHourRange('2026-11-27T10:00Z', '2026-11-27T13:00:00.000Z', NOW)).toEqual({
      from: '2026-11-27T10:00:00Z',
      to: '2026-11-27T13:00:00Z',
    });
  });

  it('accepts the current hour, and a range of exactly the maximum', () => {
    expect(parseHourRange('2026-11-27T14:00:00Z', undefined, NOW).to).toBe('2026-11-27T15:00:00Z');
    expect(() => parseHourRange('2026-10-27T14:00:00Z', '2026-11-27T14:00:00Z', NOW)).not.toThrow();
    expect(MAX_ETL_RANGE_HOURS).toBe(744);
  });

  it.each([
    [undefined, undefined, '--from: missing, expected a whole UTC hour such as 2026-11-27T10:00:00Z'],
    ['2026-11-27T10:30:00Z', undefined, "--from: received '2026-11-27T10:30:00Z', expected a whole UTC hour"],
    [
      '2026-11-27T10:00:00+01:00',
      undefined,
      "--from: received '2026-11-27T10:00:00+01:00', expected a whole UTC hour",
    ],
    ['2026-11-27T10:00:00Z', 'tomorrow', "--to: received 'tomorrow', expected a whole UTC hour"],
    [
      '2026-11-27T10:00:00Z',
      '2026-11-27T10:00:00Z',
      "--to: received '2026-11-27T10:00:00Z', expected a later hour than --from (2026-11-27T10:00:00Z)",
    ],
    [
      '2026-10-01T00:00:00Z',
      '2026-11-27T00:00:00Z',
      "--to: received '2026-11-27T00:00:00Z', expected at most 744 hours (31 days) after --from (2026-10-01T00:00:00Z); split longer backfills",
    ],
    [
      '2026-11-27T12:00:00Z',
      '2026-11-27T16:00:00Z',
      "--to: received '2026-11-27T16:00:00Z', expected a range ending by 2026-11-27T15:00:00Z (the end of the current hour)",
    ],
    [
      '2026-11-27T15:00:00Z',
      undefined,
      "--from: received '2026-11-27T15:00:00Z', expected a range ending by 2026-11-27T15:00:00Z",
    ],
  ])('fails on --from %s --to %s, naming the flag, the value and what is expected', (from, to, message) => {
    expect(() => parseHourRange(from, to, NOW)).toThrow(message);
  });
});

describe('sdap etl', () => {
  it('starts the workflow with the agreed input and a readable unique name', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date(NOW) });
    const t = testDeps(NOW);

    // Act
    const code = await etlCommand(
      ['--stage', 'dev', '--from', '2026-11-27T10:00:00Z', '--to', '2026-11-27T13:00:00Z'],
      t.deps,
    );

    // Assess
    expect(code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      {
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'cli-2026112710-2026112713-20261127T142005Z',
        input: '{"from":"2026-11-27T10:00:00Z","to":"2026-11-27T13:00:00Z"}',
      },
    ]);
    expect(t.out()).toBe(
      [
        'started ETL execution cli-2026112710-2026112713-20261127T142005Z on Sdap-dev',
        '  range      2026-11-27T10:00:00Z .. 2026-11-27T13:00:00Z (3 hours, to exclusive)',
        `  execution  ${EXECUTION_ARN}`,
      ].join('\n'),
    );
    expect(t.errors).toEqual([]);
  });

  it('makes execution names Step Functions accepts (80 characters of letters, digits, - and _)', () => {
    expect(executionName({ from: '2026-11-27T10:00:00Z', to: '2026-11-27T11:00:00Z' }, NOW)).toMatch(
      /^[A-Za-z0-9_-]{1,80}$/,
    );
  });

  it('waits with --wait, polling at the given interval, and exits 0 when the execution succeeds', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date(NOW) });
    sfn
      .on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN })
      .resolvesOnce({ status: 'RUNNING' } as never)
      .resolvesOnce({ status: 'RUNNING' } as never)
      .resolves({ status: 'SUCCEEDED', stopDate: new Date(NOW + 252_000) } as never);
    const t = testDeps(NOW);

    // Act
    const code = await etlCommand(
      ['--stage', 'dev', '--from', '2026-11-27T10:00:00Z', '--wait', '--poll-seconds', '5'],
      t.deps,
    );

    // Assess
    expect(code).toBe(0);
    expect(t.sleeps).toEqual([5_000, 5_000]);
    expect(t.lines.at(-1)).toBe('  finished   SUCCEEDED after 4m 12s');
  });

  it('exits 1 with the error and cause when the awaited execution fails, and reports them in --json', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date(NOW) });
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      stopDate: new Date(NOW + 63_000),
      error: 'Glue.ConcurrentRunsExceededException',
      cause: 'Concurrent runs exceeded for sdap-dev-etl',
    } as never);
    const t = testDeps(NOW);

    // Act
    const code = await etlCommand(
      ['--stage', 'dev', '--from', '2026-11-27T10:00:00Z', '--wait', '--json'],
      t.deps,
    );

    // Assess
    expect(code).toBe(1);
    expect(JSON.parse(t.out())).toMatchObject({
      stage: 'dev',
      stackName: 'Sdap-dev',
      executionArn: EXECUTION_ARN,
      input: { from: '2026-11-27T10:00:00Z', to: '2026-11-27T11:00:00Z' },
      status: 'FAILED',
      durationMs: 63_000,
      error: 'Glue.ConcurrentRunsExceededException',
      cause: 'Concurrent runs exceeded for sdap-dev-etl',
    });
  });

  it('exits 1 naming the stack and the output when the stage has no ETL workflow', async () => {
    // Prepare
    stackWithOutputs({ RawBucketName: 'raw' });
    const t = testDeps(NOW);

    // Act
    const code = await etlCommand(['--stage', 'dev', '--from', '2026-11-27T10:00:00Z'], t.deps);

    // Assess
    expect(code).toBe(1);
    expect(t.err()).toContain('sdap etl: stack Sdap-dev (UPDATE_COMPLETE) has no output EtlStateMachineArn');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('exits 1 saying what to do when Step Functions refuses the start', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN });
    sfn.on(StartExecutionCommand).rejects(
      Object.assign(
        new Error(
          'User: arn:aws:iam::111122223333:user/ops is not authorized to perform: states:StartExecution',
        ),
        {
          name: 'AccessDeniedException',
        },
      ),
    );
    const t = testDeps(NOW);

    // Act
    const code = await etlCommand(['--stage', 'dev', '--from', '2026-11-27T10:00:00Z'], t.deps);

    // Assess
    expect(code).toBe(1);
    expect(t.err()).toMatch(
      /^sdap etl: User: .* states:StartExecution: the credentials in use lack this permission$/,
    );
  });

  it.each([
    [['--from', '2026-11-27T10:00:00Z'], '--stage: missing, expected one of dev, prod'],
    [
      ['--stage', 'qa', '--from', '2026-11-27T10:00:00Z'],
      "--stage: received 'qa', expected one of dev, prod",
    ],
    [
      ['--stage', 'dev', '--from', '2026-11-27T10:00:00Z', '--poll-seconds', '0'],
      "--poll-seconds: received '0', expected a whole number of seconds from 1 to 300",
    ],
    [
      ['--stage', 'dev', '--from', '2026-11-27T10:00:00Z', '--region', 'Europe'],
      "--region: received 'Europe', expected an AWS region name",
    ],
    [['--stage', 'dev', '--form', '2026-11-27T10:00:00Z'], "Unknown option '--form'"],
  ])('exits 2 on %j with a message naming the flag, and the usage', async (args, message) => {
    // Prepare
    const t = testDeps(NOW);

    // Act
    const code = await etlCommand(args, t.deps);

    // Assess
    expect(code).toBe(2);
    expect(t.err()).toContain(`sdap etl: ${message}`);
    expect(t.err()).toContain('usage: sdap etl --stage <name> --from <hour>');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('prints the usage with --help', async () => {
    const t = testDeps(NOW);
    expect(await etlCommand(['--help'], t.deps)).toBe(0);
    expect(t.out()).toContain('--wait');
  });
});
