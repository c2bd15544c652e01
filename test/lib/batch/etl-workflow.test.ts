import { createRequire } from 'node:module';
import aslValidator from 'asl-validator';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseScoringEvent } from '../../../lambdas/failure-scoring/scoring-event.ts';
import { parseLoadEvent } from '../../../lambdas/warehouse-load/load-event.ts';
import { EtlJob, RUN_SUMMARY_DQ_SCORE_FIELD } from '../../../lib/batch/etl-job.ts';
import {
  BACKFILL_RUN_TIMEOUT_MINUTES,
  ETL_METRICS,
  EtlWorkflow,
  type EtlWorkflowProps,
  GLUE_TASK_TIMEOUT_MARGIN_MINUTES,
  LOAD_TASK_TIMEOUT_MARGIN_SECONDS,
  MAX_BACKFILL_HOURS,
  SCORING_TASK_TIMEOUT_MARGIN_SECONDS,
} from '../../../lib/batch/etl-workflow.ts';
import { FAILURE_SCORING_TIMEOUT_SECONDS, FailureScoring } from '../../../lib/batch/failure-scoring.ts';
import { STATE_MACHINE_DATA_KEY_REUSE_SECONDS } from '../../../lib/batch/state-machine-encryption.ts';
import { buildStageConfig } from '../../../lib/config.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { AnalyticsWarehouse } from '../../../lib/warehouse/analytics-warehouse.ts';
import {
  WAREHOUSE_LOADER_TIMEOUT_SECONDS,
  WarehouseLoader,
} from '../../../lib/warehouse/warehouse-loader.ts';
import { WarehouseSchema } from '../../../lib/warehouse/warehouse-schema.ts';
import {
  definitionOf,
  grantsOf,
  nagFindings,
  resourceOf,
  statementsOfRole,
  testStack,
} from '../support/cdk.ts';

/** The JSONata engine asl-validator checks expressions with; here it evaluates them. */
const jsonata = createRequire(createRequire(import.meta.url).resolve('asl-validator'))('jsonata') as (
  expression: string,
) => { evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown> };

interface StateJson {
  readonly Type: string;
  readonly Resource?: string;
  readonly TimeoutSeconds?: number;
  readonly Retry?: {
    ErrorEquals: string[];
    IntervalSeconds: number;
    MaxAttempts: number;
    BackoffRate: number;
    MaxDelaySeconds?: number;
    JitterStrategy?: string;
  }[];
  readonly Catch?: { ErrorEquals: string[]; Next: string }[];
  readonly Next?: string;
  readonly Default?: string;
  readonly Choices?: { Condition: string; Next: string }[];
  readonly Arguments?: Record<string, unknown>;
  readonly Assign?: Record<string, unknown>;
  readonly Output?: unknown;
  readonly Items?: string;
  readonly ItemSelector?: Record<string, string>;
  readonly MaxConcurrency?: number;
  readonly ItemProcessor?: { StartAt: string; States: Record<string, StateJson> };
  readonly Cause?: string;
}

interface Definition {
  readonly StartAt: string;
  readonly QueryLanguage: string;
  readonly States: Record<string, StateJson>;
}

const CONTEXT = {
  Execution: { Id: 'arn:aws:states:eu-west-1:123456789012:execution:sdap-test-etl:run-1', Name: 'run-1' },
  StateMachine: { Name: 'sdap-test-etl' },
};

/** Evaluates a `{% ... %}` field of the definition as Step Functions would. */
async function evaluate(field: unknown, bindings: Record<string, unknown>): Promise<unknown> {
  const text = String(field);
  expect(text.startsWith('{% ') && text.endsWith(' %}'), `not a JSONata field: ${text}`).toBe(true);
  return jsonata(text.slice(3, -3)).evaluate(
    {},
    {
      parse: (body: string) => JSON.parse(body),
      ...bindings,
      states: { context: CONTEXT, ...(bindings.states as object) },
    },
  );
}

/** Evaluates every `{% ... %}` field of an object (nested objects too), as Step Functions does. */
async function evaluateObject(fields: unknown, bindings: Record<string, unknown>): Promise<unknown> {
  if (typeof fields === 'string') return fields.startsWith('{% ') ? evaluate(fields, bindings) : fields;
  if (fields === null || typeof fields !== 'object') return fields;
  const entries = await Promise.all(
    Object.entries(fields).map(async ([key, value]) => [key, await evaluateObject(value, bindings)] as const),
  );
  return Object.fromEntries(entries);
}

/** Every state of the definition, the Map's iteration included, by name. */
function allStates(definition: Definition): Record<string, StateJson> {
  const states: Record<string, StateJson> = {};
  const visit = (map: Record<string, StateJson>) => {
    for (const [name, state] of Object.entries(map)) {
      states[name] = state;
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
    }
  };
  visit(definition.States);
  return states;
}

/**
 * The workflow in a test stack; with `withWarehouse`, it loads a warehouse after each window; with
 * `withScoring`, it scores each window with the failure model first.
 */
function build(overrides: Partial<EtlWorkflowProps> = {}, withWarehouse = false, withScoring = false) {
  const stack = testStack();
  const config = buildStageConfig('dev').etl;
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const job = new EtlJob(stack, 'EtlJob', {
    lake,
    namePrefix: 'sdap-test',
    timeoutMinutes: config.timeoutMinutes,
  });
  const onCallKey = new kms.Key(stack, 'OnCallKey', { enableKeyRotation: true });
  const onCallTopic = new sns.Topic(stack, 'OnCallTopic', { masterKey: onCallKey, enforceSSL: true });
  let warehouseLoader: WarehouseLoader | undefined;
  if (withWarehouse) {
    const warehouse = new AnalyticsWarehouse(stack, 'Warehouse', { lake, namePrefix: 'sdap-test' });
    const schema = new WarehouseSchema(stack, 'WarehouseSchema', { warehouse });
    warehouseLoader = new WarehouseLoader(stack, 'WarehouseLoader', { warehouse, schema, lake });
  }
  const failureScoring = withScoring
    ? new FailureScoring(stack, 'FailureScoring', {
        lake,
        endpointName: 'sdap-test-failure',
        modelVersion: '0123456789abcdef',
      })
    : undefined;
  const workflow = new EtlWorkflow(stack, 'EtlWorkflow', {
    job,
    lake,
    onCallTopic,
    warehouseLoader,
    failureScoring,
    namePrefix: 'sdap-test',
    scheduleExpression: config.scheduleExpression,
    dqScoreThreshold: config.dqScoreThreshold,
    backfillMaxConcurrency: config.backfillMaxConcurrency,
    backfillExecutionClass: config.backfillExecutionClass,
    ...overrides,
  });
  const template = Template.fromStack(stack);
  return { stack, workflow, template, definition: definitionOf(template) as unknown as Definition, config };
}

describe('EtlWorkflow', () => {
  let built: ReturnType<typeof build>;
  let states: Record<string, StateJson>;
  let tasks: [string, StateJson][];

  beforeAll(() => {
    built = build();
    states = allStates(built.definition);
    tasks = Object.entries(states).filter(([, state]) => state.Type === 'Task');
  });

  describe('the definition', () => {
    it('is valid Amazon States Language (asl-validator), in JSONata', () => {
      // Act
      const { isValid, errorsText } = aslValidator(structuredClone(built.definition));

      // Assess
      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
      expect(built.definition.QueryLanguage).toBe('JSONata');
    });

    it('gives every task a timeout', () => {
      expect(tasks.length).toBeGreaterThanOrEqual(6);
      for (const [name, task] of tasks) {
        expect(task.TimeoutSeconds, name).toBeGreaterThan(0);
      }
    });

    it('retries every task on named transient errors with exponential backoff, a cap and full jitter', () => {
      for (const [name, task] of tasks) {
        expect(task.Retry?.length, name).toBeGreaterThan(0);
        for (const retrier of task.Retry ?? []) {
          expect(retrier, name).toMatchObject({ JitterStrategy: 'FULL' });
          expect(retrier.BackoffRate, name).toBeGreaterThan(1);
          expect(retrier.MaxDelaySeconds, name).toBeGreaterThan(retrier.IntervalSeconds);
          // Retrying everything would retry bugs and failed Spark runs too.
          expect(retrier.ErrorEquals, name).not.toContain('States.ALL');
          expect(retrier.ErrorEquals, name).not.toContain('States.TaskFailed');
        }
      }
    });

    it('catches every error of every task on a path to the on-call notification and a failed execution', () => {
      // Prepare
      const notify = 'NotifyOnCall';
      const leadsToNotify = (target: string) =>
        target === notify ||
        // An iteration's failure becomes a FAILED result, which sends the execution to the notification.
        (states[target]?.Type === 'Pass' && JSON.stringify(states[target]?.Output).includes('"FAILED"'));

      // Assess
      for (const [name, task] of tasks) {
        const catchAll = task.Catch?.find((catcher) => catcher.ErrorEquals.includes('States.ALL'));
        expect(catchAll, name).toBeDefined();
        if (name === notify) {
          expect(states[catchAll?.Next ?? '']?.Type, name).toBe('Fail');
        } else {
          expect(leadsToNotify(catchAll?.Next ?? ''), `${name} catches into ${catchAll?.Next}`).toBe(true);
        }
      }
      expect(states.AllWindowsPassed?.Default).toBe(notify);
      expect(states[notify]?.Next).toBe('EtlFailed');
      expect(states.EtlFailed?.Type).toBe('Fail');
      expect(states.RunWindows?.Catch?.[0]).toMatchObject({ ErrorEquals: ['States.ALL'], Next: notify });
    });

    it('runs Glue with RUN_JOB (.sync), the standard class by default and Flex for backfills', () => {
      // Act
      const glue = tasks.filter(([, task]) => task.Resource?.includes(':glue:'));

      // Assess
      expect(glue.map(([name]) => name).sort()).toEqual(['RunBackfill', 'RunJob']);
      for (const [, task] of glue) {
        expect(task.Resource).toBe('arn:aws:states:::glue:startJobRun.sync');
        expect(task.Arguments).toMatchObject({
          JobName: 'sdap-test-etl',
          Arguments: {
            '--window_start': '{% $states.input.windowStart %}',
            '--window_end': '{% $states.input.windowEnd %}',
            '--window_kind': '{% $states.input.windowKind %}',
            '--summary_key': '{% $states.input.summaryKey %}',
          },
        });
        expect(task.Retry?.[0]?.ErrorEquals).toContain('Glue.ConcurrentRunsExceededException');
      }
      expect(states.ChooseRun?.Choices?.[0]).toEqual({
        Condition: '{% $states.input.backfill = true %}',
        Next: 'RunBackfill',
      });
      expect(states.RunJob?.Arguments?.ExecutionClass).toBe('STANDARD');
      expect(states.RunBackfill?.Arguments?.ExecutionClass).toBe('FLEX');
    });

    it("keeps Glue's timeout for the job and waits a margin longer in the state", () => {
      // A scheduled run or a rerun: the job's own timeout.
      expect(states.RunJob?.Arguments).not.toHaveProperty('Timeout');
      expect(states.RunJob?.TimeoutSeconds).toBe(
        (built.config.timeoutMinutes + GLUE_TASK_TIMEOUT_MARGIN_MINUTES) * 60,
      );
      // A backfill run: a day of data, and Flex's wait for capacity.
      expect(states.RunBackfill?.Arguments?.Timeout).toBe(BACKFILL_RUN_TIMEOUT_MINUTES);
      expect(states.RunBackfill?.TimeoutSeconds).toBe(
        (BACKFILL_RUN_TIMEOUT_MINUTES + GLUE_TASK_TIMEOUT_MARGIN_MINUTES) * 60,
      );
    });

    it('maps over the windows with the configured concurrency', () => {
      expect(states.RunWindows).toMatchObject({
        Type: 'Map',
        Items: '{% $windows %}',
        MaxConcurrency: built.config.backfillMaxConcurrency,
      });
      expect(build({ backfillMaxConcurrency: 3 }).definition.States.RunWindows?.MaxConcurrency).toBe(3);
    });

    it('backfills in the standard class when the stage says so', () => {
      // Act
      const standardOnly = allStates(build({ backfillExecutionClass: 'STANDARD' }).definition);

      // Assess
      expect(standardOnly.RunBackfill?.Arguments?.ExecutionClass).toBe('STANDARD');
    });
  });

  describe('the input', () => {
    /** The plan the definition makes for `input`: the branch taken and the windows assigned. */
    const plan = async (input: unknown) => {
      for (const choice of states.ReadInput?.Choices ?? []) {
        if ((await evaluate(choice.Condition, { states: { input } })) === true) {
          const assign = states[choice.Next]?.Assign ?? {};
          return {
            state: choice.Next,
            trigger: assign.trigger,
            windows: await evaluate(assign.windows, { states: { input } }),
          };
        }
      }
      return { state: states.ReadInput?.Default };
    };

    it('runs the ingest hours of the schedule period before the last full hour when the scheduler starts it', async () => {
      // Act & Assess
      expect(await plan({ trigger: 'schedule', scheduledTime: '2026-11-27T16:15:00Z' })).toEqual({
        state: 'PlanScheduledRun',
        trigger: 'schedule',
        windows: [
          { start: '2026-11-27T15:00:00Z', end: '2026-11-27T16:00:00Z', kind: 'ingest', backfill: false },
        ],
      });
    });

    it('runs every ingest hour of a longer schedule period in one run', async () => {
      // Prepare
      const everyThreeHours = build({ scheduleExpression: 'cron(15 0/3 * * ? *)' }).definition;
      const assign = everyThreeHours.States.PlanScheduledRun?.Assign;

      // Act
      const windows = await evaluate(assign?.windows, {
        states: { input: { trigger: 'schedule', scheduledTime: '2026-11-28T00:15:00Z' } },
      });

      // Assess
      expect(windows).toEqual([
        { start: '2026-11-27T21:00:00Z', end: '2026-11-28T00:00:00Z', kind: 'ingest', backfill: false },
      ]);
    });

    it('rebuilds one event hour as a rerun, not a backfill', async () => {
      expect(await plan({ hour: '2026-11-27T09:00:00Z' })).toEqual({
        state: 'PlanHour',
        trigger: 'hour',
        windows: [
          { start: '2026-11-27T09:00:00Z', end: '2026-11-27T10:00:00Z', kind: 'event', backfill: false },
        ],
      });
    });

    it('backfills a range in consecutive runs of a day, the last one shorter, in order', async () => {
      // Act
      const backfill = await plan({ from: '2026-11-27T22:00:00Z', to: '2026-11-29T23:00:00Z' });

      // Assess
      expect(backfill).toEqual({
        state: 'PlanBackfill',
        trigger: 'backfill',
        windows: [
          { start: '2026-11-27T22:00:00Z', end: '2026-11-28T22:00:00Z', kind: 'event', backfill: true },
          { start: '2026-11-28T22:00:00Z', end: '2026-11-29T22:00:00Z', kind: 'event', backfill: true },
          { start: '2026-11-29T22:00:00Z', end: '2026-11-29T23:00:00Z', kind: 'event', backfill: true },
        ],
      });
    });

    it('backfills two hours in one run', async () => {
      expect((await plan({ from: '2026-11-27T09:00:00Z', to: '2026-11-27T11:00:00Z' })).windows).toEqual([
        { start: '2026-11-27T09:00:00Z', end: '2026-11-27T11:00:00Z', kind: 'event', backfill: true },
      ]);
    });

    it('reruns a range of one hour like an hour: someone waits for it', async () => {
      expect((await plan({ from: '2026-11-27T09:00:00Z', to: '2026-11-27T10:00:00Z' })).windows).toEqual([
        { start: '2026-11-27T09:00:00Z', end: '2026-11-27T10:00:00Z', kind: 'event', backfill: false },
      ]);
    });

    it(`accepts a backfill of ${MAX_BACKFILL_HOURS} hours and no more`, async () => {
      // Prepare
      const from = Date.parse('2026-10-01T00:00:00Z');
      const to = (hours: number) => new Date(from + hours * 3_600_000).toISOString().replace('.000', '');

      // Act
      const largest = await plan({ from: '2026-10-01T00:00:00Z', to: to(MAX_BACKFILL_HOURS) });
      const tooLarge = await plan({ from: '2026-10-01T00:00:00Z', to: to(MAX_BACKFILL_HOURS + 1) });

      // Assess
      const windows = largest.windows as { start: string; end: string }[];
      expect(windows).toHaveLength(MAX_BACKFILL_HOURS / 24);
      expect(windows.at(-1)?.end).toBe(to(MAX_BACKFILL_HOURS));
      expect(tooLarge.state).toBe('InvalidInput');
    });

    it.each([
      ['an empty input', {}],
      ['an hour with minutes', { hour: '2026-11-27T09:30:00Z' }],
      ['an hour that is not in the calendar', { hour: '2026-02-30T09:00:00Z' }],
      ['an hour with an offset', { hour: '2026-11-27T09:00:00+01:00' }],
      ['an hour given as a number', { hour: 1764234000000 }],
      ['a range that ends before it starts', { from: '2026-11-28T00:00:00Z', to: '2026-11-27T00:00:00Z' }],
      ['an empty range', { from: '2026-11-28T00:00:00Z', to: '2026-11-28T00:00:00Z' }],
      ['a range without its end', { from: '2026-11-28T00:00:00Z' }],
      ['an hour and a range at once', { hour: '2026-11-27T09:00:00Z', from: '2026-11-28T00:00:00Z' }],
      ['a scheduler input without its time', { trigger: 'schedule' }],
    ])('fails on %s with a cause saying what is expected', async (_name, input) => {
      // Act
      const { state } = await plan(input);
      const cause = await evaluate(states.InvalidInput?.Cause, { states: { input } });

      // Assess
      expect(state).toBe('InvalidInput');
      expect(states.InvalidInput?.Type).toBe('Fail');
      expect(cause).toContain(
        `input: received ${JSON.stringify(input)}, expected {"hour":"YYYY-MM-DDTHH:00:00Z"}`,
      );
    });

    it('gives each window a run-summary key under etl-runs/, by window and execution', async () => {
      // Act
      const key = await evaluate(states.RunWindows?.ItemSelector?.summaryKey, {
        states: { context: { ...CONTEXT, Map: { Item: { Value: { start: '2026-11-27T09:00:00Z' } } } } },
      });

      // Assess
      expect(key).toBe('etl-runs/2026-11-27T09/run-1.json');
    });
  });

  describe('the data-quality gate', () => {
    const scoreOf = (summary: Record<string, unknown>) =>
      evaluate((states.ReadRunSummary?.Output as Record<string, string> | undefined)?.dqScore, {
        states: { result: { Body: JSON.stringify(summary) } },
      });
    const gate = async (dqScore: unknown) =>
      (await evaluate(states.DqGate?.Choices?.[0]?.Condition, { states: { input: { dqScore } } }))
        ? states.DqGate?.Choices?.[0]?.Next
        : states.DqGate?.Default;

    it(`reads the run's ${RUN_SUMMARY_DQ_SCORE_FIELD} on the 0-100 scale as a share`, async () => {
      expect(await scoreOf({ [RUN_SUMMARY_DQ_SCORE_FIELD]: 97.5, raw_lines_read: 10 })).toBe(0.975);
      expect(await scoreOf({ [RUN_SUMMARY_DQ_SCORE_FIELD]: null })).toBeNull();
    });

    it('passes a window at the threshold and fails one below it', async () => {
      expect(await gate(built.config.dqScoreThreshold)).toBe('WindowPassed');
      expect(await gate(built.config.dqScoreThreshold - 0.0001)).toBe('WindowBelowDqThreshold');
      expect(JSON.stringify(states.WindowBelowDqThreshold?.Output)).toContain('DQ_BELOW_THRESHOLD');
    });

    it('reports each window by both bounds, so that a failed one can be rerun as it is', () => {
      for (const name of ['WindowPassed', 'WindowBelowDqThreshold', 'WindowFailed']) {
        expect(states[name]?.Output).toMatchObject({
          windowStart: '{% $windowStart %}',
          windowEnd: '{% $windowEnd %}',
        });
      }
    });

    it('passes a window with nothing to score without putting a metric', async () => {
      // Act
      const scored = await evaluate(states.WasScored?.Choices?.[0]?.Condition, {
        states: { input: { dqScore: null } },
      });

      // Assess
      expect(scored).toBe(false);
      expect(states.WasScored?.Default).toBe('WindowPassed');
      expect(states.WasScored?.Choices?.[0]?.Next).toBe('PutDqScore');
    });

    it('puts the score as a metric of the workflow before gating', () => {
      expect(states.PutDqScore).toMatchObject({
        Resource: 'arn:aws:states:::aws-sdk:cloudwatch:putMetricData',
        Next: 'DqGate',
        Arguments: {
          Namespace: 'Sdap',
          MetricData: [
            {
              MetricName: ETL_METRICS.dqScore,
              Dimensions: [{ Name: 'workflow', Value: '{% $states.context.StateMachine.Name %}' }],
            },
          ],
        },
      });
    });

    it('reads the summary from the curated bucket with the SDK integration', () => {
      expect(states.ReadRunSummary).toMatchObject({
        Resource: 'arn:aws:states:::aws-sdk:s3:getObject',
        Arguments: { Key: '{% $summaryKey %}' },
      });
    });
  });

  describe('the verdict', () => {
    const results = [
      {
        windowStart: '2026-11-27T09:00:00Z',
        windowEnd: '2026-11-27T10:00:00Z',
        status: 'SUCCEEDED',
        dqScore: 0.99,
      },
      {
        windowStart: '2026-11-27T10:00:00Z',
        windowEnd: '2026-11-27T11:00:00Z',
        status: 'DQ_BELOW_THRESHOLD',
        dqScore: 0.5,
      },
      {
        windowStart: '2026-11-27T11:00:00Z',
        windowEnd: '2026-11-27T12:00:00Z',
        status: 'FAILED',
        error: 'States.TaskFailed',
        cause: 'OOM',
      },
    ];

    it('succeeds only when every window passed', async () => {
      const condition = states.AllWindowsPassed?.Choices?.[0]?.Condition;
      expect(await evaluate(condition, { results: [results[0]] })).toBe(true);
      expect(await evaluate(condition, { results })).toBe(false);
    });

    it('tells on-call which windows failed and why, with the runbook', async () => {
      // Act
      const message = await evaluate(states.NotifyOnCall?.Arguments?.Message, {
        results,
        failure: null,
        trigger: 'backfill',
      });
      const subject = await evaluate(states.NotifyOnCall?.Arguments?.Subject, { trigger: 'backfill' });

      // Assess
      expect(JSON.parse(String(message))).toEqual({
        execution: CONTEXT.Execution.Id,
        trigger: 'backfill',
        failedWindows: [results[1], results[2]],
        dqScoreThreshold: built.config.dqScoreThreshold,
        error: null,
        runbook: 'docs/runbook.md#etl-failed-executions-count',
      });
      expect(String(subject).length).toBeLessThanOrEqual(100);
    });

    it('fails the execution with a cause listing the failed windows', async () => {
      expect(await evaluate(states.EtlFailed?.Cause, { results, failure: null })).toBe(
        '2 of 3 windows failed: 2026-11-27T10:00:00Z DQ_BELOW_THRESHOLD, 2026-11-27T11:00:00Z FAILED',
      );
      expect(
        await evaluate(states.EtlFailed?.Cause, {
          results: [],
          failure: { Error: 'States.Runtime', Cause: 'x' },
        }),
      ).toBe('{"Error":"States.Runtime","Cause":"x"}');
    });

    it('puts the execution duration with its trigger, on success and failure alike', () => {
      expect(states.RunWindows?.Next).toBe('PutRunDuration');
      expect(states.PutRunDuration?.Next).toBe('AllWindowsPassed');
      expect(JSON.stringify(states.PutRunDuration?.Arguments)).toContain(
        `"MetricName":"${ETL_METRICS.runDuration}","Unit":"Milliseconds"`,
      );
    });
  });

  describe('the resources', () => {
    it('logs every event with execution data to its encrypted group, and traces', () => {
      // Prepare
      const group = resourceOf(built.template, 'AWS::Logs::LogGroup', 'EtlWorkflowLogGroup');

      // Act
      const machine = resourceOf(built.template, 'AWS::StepFunctions::StateMachine').properties;

      // Assess
      expect(machine).toMatchObject({
        StateMachineName: 'sdap-test-etl',
        StateMachineType: 'STANDARD',
        LoggingConfiguration: {
          Level: 'ALL',
          IncludeExecutionData: true,
          Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [group.id, 'Arn'] } } }],
        },
        TracingConfiguration: { Enabled: true },
      });
      expect(group.properties.LogGroupName).toBe('/aws/vendedlogs/states/sdap-test-etl');
      expect(group.properties.KmsKeyId).toEqual({
        'Fn::GetAtt': [resourceOf(built.template, 'AWS::KMS::Key', 'LakeKey').id, 'Arn'],
      });
    });

    it("keeps executions' data under the lake key, and starts them with a role that may use it", () => {
      // Prepare
      const lakeKey = resourceOf(built.template, 'AWS::KMS::Key', 'LakeKey').id;
      const machine = resourceOf(built.template, 'AWS::StepFunctions::StateMachine');
      const schedule = resourceOf(built.template, 'AWS::Scheduler::Schedule').properties;
      const role = resourceOf(built.template, 'AWS::IAM::Role', 'EtlWorkflowScheduleRole');
      const statements = statementsOfRole(built.template, 'EtlWorkflowScheduleRole');

      // Assess
      expect(machine.properties.EncryptionConfiguration).toEqual({
        Type: 'CUSTOMER_MANAGED_KMS_KEY',
        KmsKeyId: { 'Fn::GetAtt': [lakeKey, 'Arn'] },
        KmsDataKeyReusePeriodSeconds: STATE_MACHINE_DATA_KEY_REUSE_SECONDS,
      });
      expect(schedule.Target.RoleArn).toEqual({ 'Fn::GetAtt': [role.id, 'Arn'] });
      expect(role.properties.AssumeRolePolicyDocument.Statement).toEqual([
        expect.objectContaining({
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': expect.anything() } },
        }),
      ]);
      expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([`<${lakeKey}.Arn>`]);
      expect(grantsOf(statements, 'states:StartExecution')).toEqual([`<${machine.id}>`]);
    });

    it('is started on the configured schedule with the scheduler input the definition reads', () => {
      // Act
      const schedule = resourceOf(built.template, 'AWS::Scheduler::Schedule').properties;

      // Assess
      expect(schedule).toMatchObject({
        ScheduleExpression: built.config.scheduleExpression,
        ScheduleExpressionTimezone: 'Etc/UTC',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: { Arn: { Ref: resourceOf(built.template, 'AWS::StepFunctions::StateMachine').id } },
      });
      expect(JSON.parse(schedule.Target.Input)).toEqual({
        trigger: 'schedule',
        scheduledTime: '<aws.scheduler.scheduled-time>',
      });
    });

    it('may start, poll and stop runs of its job only, and publish to the on-call topic with its key', () => {
      // Act
      const statements = statementsOfRole(built.template, 'EtlWorkflowStateMachineRole');

      // Assess
      expect(grantsOf(statements, 'glue:StartJobRun')).toEqual([
        'arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:job/sdap-test-etl',
      ]);
      expect(grantsOf(statements, 'glue:BatchStopJobRun')).toHaveLength(1);
      expect(grantsOf(statements, 'sns:Publish')).toEqual([
        `<${resourceOf(built.template, 'AWS::SNS::Topic').id}>`,
      ]);
      // The on-call topic's key; the lake key twice (added by CDK for the encrypted executions and
      // their logs, each with its encryption context).
      expect(grantsOf(statements, 'kms:GenerateDataKey').sort()).toEqual(
        [
          `<${resourceOf(built.template, 'AWS::KMS::Key', 'LakeKey').id}.Arn>`,
          `<${resourceOf(built.template, 'AWS::KMS::Key', 'LakeKey').id}.Arn>`,
          `<${resourceOf(built.template, 'AWS::KMS::Key', 'OnCallKey').id}.Arn>`,
        ].sort(),
      );
      expect(grantsOf(statements, 's3:getObject')).toEqual([
        `<${resourceOf(built.template, 'AWS::S3::Bucket', 'LakeCuratedBucket').id}.Arn>/etl-runs/*`,
      ]);
    });

    it('exposes its metrics with the workflow dimension', () => {
      // Act
      const score = Stack.of(built.workflow).resolve(
        built.workflow.metricDqScore().toMetricConfig().metricStat,
      );
      const duration = Stack.of(built.workflow).resolve(
        built.workflow.metricRunDuration('schedule').toMetricConfig().metricStat,
      );

      // Assess
      expect(score).toMatchObject({
        namespace: 'Sdap',
        metricName: ETL_METRICS.dqScore,
        statistic: 'Minimum',
        dimensions: [{ name: 'workflow', value: 'sdap-test-etl' }],
      });
      expect(duration).toMatchObject({ metricName: ETL_METRICS.runDuration, statistic: 'Maximum' });
      expect(duration.dimensions).toHaveLength(2);
      expect(duration.dimensions).toEqual(
        expect.arrayContaining([
          { name: 'workflow', value: 'sdap-test-etl' },
          { name: 'trigger', value: 'schedule' },
        ]),
      );
    });

    it('fails on a schedule it cannot derive windows from', () => {
      expect(() => build({ scheduleExpression: 'rate(5 minutes)' })).toThrow(
        "EtlWorkflow scheduleExpression: received 'rate(5 minutes)', expected a rate() or cron() expression firing every N hours or days",
      );
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(built.stack)).toEqual([]);
    });
  });

  describe('with a warehouse', () => {
    let loaded: ReturnType<typeof build>;
    let loadedStates: Record<string, StateJson>;
    const START_TIME = '2026-11-27T16:15:00.481Z';
    const windowVariables = {
      windowStart: '2026-11-27T15:00:00Z',
      windowEnd: '2026-11-27T16:00:00Z',
      windowKind: 'ingest',
      loadResumeAfter: null,
    };

    beforeAll(() => {
      loaded = build({}, true);
      loadedStates = allStates(loaded.definition);
    });

    it('is still valid Amazon States Language', () => {
      // Act
      const { isValid, errorsText } = aslValidator(structuredClone(loaded.definition));

      // Assess
      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
    });

    it('loads each window after its run summary is read, and goes on to the DQ gate when nothing remains', async () => {
      // Act
      const again = await evaluate(loadedStates.MoreToLoad?.Choices?.[0]?.Condition, {
        states: { input: { loadRemaining: 12 } },
      });
      const done = await evaluate(loadedStates.MoreToLoad?.Choices?.[0]?.Condition, {
        states: { input: { loadRemaining: 0 } },
      });

      // Assess
      expect(loadedStates.ReadRunSummary?.Next).toBe('LoadWarehouse');
      expect(loadedStates.LoadWarehouse?.Next).toBe('MoreToLoad');
      expect(loadedStates.MoreToLoad?.Choices?.[0]?.Next).toBe('LoadWarehouse');
      expect(again).toBe(true);
      expect(done).toBe(false);
      expect(loadedStates.MoreToLoad?.Default).toBe('WasScored');
    });

    it('invokes the load function with an event it accepts: the window, its kind and the execution start', async () => {
      // Act
      const payload = await evaluateObject(loadedStates.LoadWarehouse?.Arguments?.Payload, {
        ...windowVariables,
        states: { context: { ...CONTEXT, Execution: { ...CONTEXT.Execution, StartTime: START_TIME } } },
      });

      // Assess
      expect(loadedStates.LoadWarehouse?.Resource).toBe('arn:aws:states:::lambda:invoke');
      expect(parseLoadEvent(payload)).toEqual({
        windowStart: '2026-11-27T15:00:00Z',
        windowEnd: '2026-11-27T16:00:00Z',
        windowKind: 'ingest',
        modifiedSince: START_TIME,
        resumeAfter: null,
      });
    });

    it("remembers the window's kind and a resume point that starts empty, and moves it on after each invocation", async () => {
      // Act
      const resumeAfter = await evaluate(loadedStates.LoadWarehouse?.Assign?.loadResumeAfter, {
        states: { result: { Payload: { remaining: 3, resumeAfter: 'device_hourly/2026-11-27/15' } } },
      });
      const output = await evaluateObject(loadedStates.LoadWarehouse?.Output, {
        states: {
          input: { jobRunId: 'jr_1', dqScore: 0.99 },
          result: { Payload: { remaining: 3, resumeAfter: 'device_hourly/2026-11-27/15' } },
        },
      });

      // Assess
      for (const name of ['RunJob', 'RunBackfill']) {
        expect(loadedStates[name]?.Assign).toMatchObject({
          windowKind: '{% $states.input.windowKind %}',
          loadResumeAfter: null,
        });
      }
      expect(resumeAfter).toBe('device_hourly/2026-11-27/15');
      expect(output).toEqual({ jobRunId: 'jr_1', dqScore: 0.99, loadRemaining: 3 });
    });

    it("times out after the function's own timeout, retries Lambda's errors and transient loads with jitter, catches the rest", () => {
      // Act
      const load = loadedStates.LoadWarehouse;

      // Assess
      expect(load?.TimeoutSeconds).toBe(WAREHOUSE_LOADER_TIMEOUT_SECONDS + LOAD_TASK_TIMEOUT_MARGIN_SECONDS);
      expect(load?.Retry?.[0]?.ErrorEquals).toEqual(
        expect.arrayContaining([
          'Lambda.ServiceException',
          'Lambda.AWSLambdaException',
          'Lambda.SdkClientException',
          'Lambda.ClientExecutionTimeoutException',
        ]),
      );
      expect(load?.Retry?.[1]).toMatchObject({
        ErrorEquals: ['WarehouseLoadTransientError'],
        JitterStrategy: 'FULL',
      });
      for (const retrier of load?.Retry ?? []) {
        expect(retrier).toMatchObject({ JitterStrategy: 'FULL' });
        expect(retrier.BackoffRate).toBeGreaterThan(1);
        expect(retrier.MaxDelaySeconds).toBeGreaterThan(retrier.IntervalSeconds);
        expect(retrier.ErrorEquals).not.toContain('WarehouseLoadError');
        expect(retrier.ErrorEquals).not.toContain('States.ALL');
      }
      expect(load?.Catch).toEqual([
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'WarehouseLoadFailed' }),
      ]);
    });

    it('gives every task a timeout and only jittered retries of named errors', () => {
      for (const [name, task] of Object.entries(loadedStates).filter(([, state]) => state.Type === 'Task')) {
        expect(task.TimeoutSeconds, name).toBeGreaterThan(0);
        expect(
          task.Catch?.some((catcher) => catcher.ErrorEquals.includes('States.ALL')),
          name,
        ).toBe(true);
        for (const retrier of task.Retry ?? []) {
          expect(retrier.JitterStrategy, name).toBe('FULL');
          expect(retrier.ErrorEquals, name).not.toContain('States.ALL');
        }
      }
    });

    it('fails the window at the warehouse stage with the event that resumes its load', async () => {
      // Act
      const output = await evaluateObject(loadedStates.WarehouseLoadFailed?.Output, {
        ...windowVariables,
        loadResumeAfter: 'device_registry/2026-11-27',
        states: {
          input: { Error: 'WarehouseLoadError', Cause: 'warehouse load of device_hourly/… failed' },
          context: { ...CONTEXT, Execution: { ...CONTEXT.Execution, StartTime: START_TIME } },
        },
      });

      // Assess
      expect(loadedStates.WarehouseLoadFailed?.Type).toBe('Pass');
      expect(output).toEqual({
        windowStart: '2026-11-27T15:00:00Z',
        windowEnd: '2026-11-27T16:00:00Z',
        status: 'FAILED',
        stage: 'warehouse',
        error: 'WarehouseLoadError',
        cause: 'warehouse load of device_hourly/… failed',
        loadEvent: {
          windowStart: '2026-11-27T15:00:00Z',
          windowEnd: '2026-11-27T16:00:00Z',
          windowKind: 'ingest',
          modifiedSince: START_TIME,
          resumeAfter: 'device_registry/2026-11-27',
        },
      });
      expect(parseLoadEvent((output as { loadEvent: unknown }).loadEvent).resumeAfter).toBe(
        'device_registry/2026-11-27',
      );
    });

    it("puts each execution's count of failed loads, 0 included, beside its duration", async () => {
      // Prepare
      const metricData = (loadedStates.PutRunDuration?.Arguments?.MetricData ?? []) as {
        MetricName: string;
        Value: string;
      }[];
      const datum = metricData.find(
        (candidate) => candidate.MetricName === ETL_METRICS.warehouseLoadFailures,
      );
      const results = [
        { status: 'SUCCEEDED' },
        { status: 'FAILED', stage: 'warehouse' },
        { status: 'FAILED' },
        { status: 'DQ_BELOW_THRESHOLD' },
      ];

      // Act & Assess
      expect(datum).toMatchObject({
        Unit: 'Count',
        Dimensions: [{ Name: 'workflow', Value: '{% $states.context.StateMachine.Name %}' }],
      });
      expect(await evaluate(datum?.Value, { results })).toBe(1);
      expect(await evaluate(datum?.Value, { results: [{ status: 'SUCCEEDED' }] })).toBe(0);
      expect(
        ((built.definition.States.PutRunDuration?.Arguments?.MetricData ?? []) as unknown[]).length,
        'no warehouse, no datum',
      ).toBe(1);
      expect(Object.keys(states)).not.toContain('LoadWarehouse');
    });

    it('may invoke the load function only', () => {
      // Act
      const statements = statementsOfRole(loaded.template, 'EtlWorkflowStateMachineRole');
      const fn = resourceOf(loaded.template, 'AWS::Lambda::Function', 'WarehouseLoaderFunction').id;

      // Assess
      expect(grantsOf(statements, 'lambda:InvokeFunction').sort()).toEqual([`<${fn}.Arn>`, `<${fn}.Arn>:*`]);
    });

    it('exposes the count of failed loads with the workflow dimension, summed per schedule period', () => {
      expect(
        Stack.of(loaded.workflow).resolve(
          loaded.workflow.metricWarehouseLoadFailures().toMetricConfig().metricStat,
        ),
      ).toMatchObject({
        namespace: 'Sdap',
        metricName: ETL_METRICS.warehouseLoadFailures,
        statistic: 'Sum',
        dimensions: [{ name: 'workflow', value: 'sdap-test-etl' }],
      });
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(loaded.stack)).toEqual([]);
    });
  });
  describe('with failure scoring', () => {
    let scored: ReturnType<typeof build>;
    let scoredStates: Record<string, StateJson>;
    const SUMMARY = {
      dq_score_mean: 97.5,
      window: { from: '2026-11-20T09:00:00Z', to: '2026-11-27T16:00:00Z' },
      window_kind: 'ingest',
    };
    const windowVariables = {
      windowStart: '2026-11-27T15:00:00Z',
      windowEnd: '2026-11-27T16:00:00Z',
      windowKind: 'ingest',
      loadResumeAfter: null,
    };

    beforeAll(() => {
      scored = build({}, true, true);
      scoredStates = allStates(scored.definition);
    });

    it('is still valid Amazon States Language', () => {
      const { isValid, errorsText } = aslValidator(structuredClone(scored.definition));
      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
    });

    it('scores each window after its summary is read and before its warehouse load, failed or not', () => {
      expect(scoredStates.ReadRunSummary?.Next).toBe('ScorePredictions');
      expect(scoredStates.ScorePredictions?.Next).toBe('LoadWarehouse');
      expect(scoredStates.ScorePredictions?.Catch).toEqual([
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'LoadWarehouse' }),
      ]);
      expect(scoredStates.ScorePredictions?.Resource).toBe('arn:aws:states:::lambda:invoke');
    });

    it('invokes the scoring function with the event hours the run rebuilt, from its summary, which the function accepts', async () => {
      // Act: the summary's window (a scheduled run plans a wider window than its ingest hours).
      const output = await evaluateObject(scoredStates.ReadRunSummary?.Output, {
        states: { input: { jobRunId: 'jr_1' }, result: { Body: JSON.stringify(SUMMARY) } },
      });
      const payload = await evaluateObject(scoredStates.ScorePredictions?.Arguments?.Payload, {
        states: { input: output },
      });

      // Assess
      expect(output).toEqual({ jobRunId: 'jr_1', dqScore: 0.975, runWindow: SUMMARY.window });
      expect(payload).toEqual({ windowStart: '2026-11-20T09:00:00Z', windowEnd: '2026-11-27T16:00:00Z' });
      expect(parseScoringEvent(payload)).toEqual({
        startMs: Date.parse(SUMMARY.window.from),
        endMs: Date.parse(SUMMARY.window.to),
      });
      expect(
        built.definition.States.RunWindows?.ItemProcessor?.States.ReadRunSummary?.Output,
      ).not.toHaveProperty('runWindow');
    });

    it("times out after the function's own timeout, retries Lambda's errors and an unavailable endpoint with jitter, never a refusal", () => {
      // Act
      const score = scoredStates.ScorePredictions;

      // Assess
      expect(score?.TimeoutSeconds).toBe(
        FAILURE_SCORING_TIMEOUT_SECONDS + SCORING_TASK_TIMEOUT_MARGIN_SECONDS,
      );
      expect(score?.Retry?.[0]?.ErrorEquals).toEqual(
        expect.arrayContaining([
          'Lambda.ServiceException',
          'Lambda.AWSLambdaException',
          'Lambda.SdkClientException',
          'Lambda.ClientExecutionTimeoutException',
        ]),
      );
      expect(score?.Retry?.[1]).toMatchObject({
        ErrorEquals: ['PredictionEndpointUnavailableError'],
        IntervalSeconds: 60,
        JitterStrategy: 'FULL',
      });
      for (const retrier of score?.Retry ?? []) {
        expect(retrier).toMatchObject({ JitterStrategy: 'FULL' });
        expect(retrier.BackoffRate).toBeGreaterThan(1);
        for (const refused of [
          'PredictionEndpointRefusedError',
          'FeatureTableError',
          'InvalidScoringEventError',
        ]) {
          expect(retrier.ErrorEquals).not.toContain(refused);
        }
        expect(retrier.ErrorEquals).not.toContain('States.ALL');
      }
    });

    it('remembers a failed scoring with the event that scores the window again, and passes the run on to the load', async () => {
      // Prepare
      const catcher = scoredStates.ScorePredictions?.Catch?.[0] as unknown as {
        Assign: Record<string, unknown>;
        Output: unknown;
      };
      const input = { jobRunId: 'jr_1', dqScore: 0.99, runWindow: SUMMARY.window };
      const errorOutput = {
        Error: 'PredictionEndpointUnavailableError',
        Cause: 'sdap-test-failure gave no scores',
      };

      // Act
      const assigned = await evaluateObject(catcher.Assign, { states: { input, errorOutput } });
      const output = await evaluateObject(catcher.Output, { states: { input, errorOutput } });

      // Assess
      expect(assigned).toEqual({
        predictionsError: {
          ...errorOutput,
          scoringEvent: { windowStart: SUMMARY.window.from, windowEnd: SUMMARY.window.to },
        },
      });
      expect(output).toEqual({ jobRunId: 'jr_1', dqScore: 0.99 });
      for (const name of ['RunJob', 'RunBackfill']) {
        expect(scoredStates[name]?.Assign).toMatchObject({ predictionsError: null });
      }
    });

    it('fails a window that passed its gate at the predictions stage when its scoring failed, and passes it otherwise', async () => {
      // Prepare
      const predictionsError = {
        Error: 'PredictionEndpointRefusedError',
        Cause: 'ModelError',
        scoringEvent: { windowStart: '2026-11-27T15:00:00Z', windowEnd: '2026-11-27T16:00:00Z' },
      };
      const check = scoredStates.PredictionsWritten;

      // Act
      const written = await evaluate(check?.Choices?.[0]?.Condition, { predictionsError: null });
      const notWritten = await evaluate(check?.Choices?.[0]?.Condition, { predictionsError });
      const output = await evaluateObject(scoredStates.WindowPredictionsFailed?.Output, {
        ...windowVariables,
        predictionsError,
        states: { input: { jobRunId: 'jr_1', dqScore: 0.99 } },
      });

      // Assess
      expect(scoredStates.DqGate?.Choices?.[0]?.Next).toBe('PredictionsWritten');
      expect(scoredStates.WasScored?.Default).toBe('PredictionsWritten');
      expect(check?.Choices?.[0]?.Next).toBe('WindowPassed');
      expect(check?.Default).toBe('WindowPredictionsFailed');
      expect([written, notWritten]).toEqual([true, false]);
      expect(output).toEqual({
        windowStart: '2026-11-27T15:00:00Z',
        windowEnd: '2026-11-27T16:00:00Z',
        status: 'FAILED',
        stage: 'predictions',
        jobRunId: 'jr_1',
        dqScore: 0.99,
        error: 'PredictionEndpointRefusedError',
        cause: 'ModelError',
        scoringEvent: predictionsError.scoringEvent,
      });
      const below = await evaluateObject(scoredStates.WindowBelowDqThreshold?.Output, {
        ...windowVariables,
        predictionsError,
        states: { input: { jobRunId: 'jr_1', dqScore: 0.5 } },
      });
      expect(below).toMatchObject({ status: 'DQ_BELOW_THRESHOLD', predictionsError });
      const loadFailed = await evaluateObject(scoredStates.WarehouseLoadFailed?.Output, {
        ...windowVariables,
        predictionsError,
        states: { input: { Error: 'WarehouseLoadError', Cause: 'COPY failed' }, context: CONTEXT },
      });
      expect(loadFailed).toMatchObject({ status: 'FAILED', stage: 'warehouse', predictionsError });
    });

    it("puts each execution's count of windows without predictions, 0 included", async () => {
      // Prepare
      const metricData = (scoredStates.PutRunDuration?.Arguments?.MetricData ?? []) as {
        MetricName: string;
        Value: string;
      }[];
      const datum = metricData.find((candidate) => candidate.MetricName === ETL_METRICS.predictionFailures);

      // Act & Assess
      expect(datum).toMatchObject({ Unit: 'Count' });
      expect(
        await evaluate(datum?.Value, {
          results: [
            { status: 'SUCCEEDED' },
            { status: 'FAILED', stage: 'predictions' },
            { status: 'FAILED' },
          ],
        }),
      ).toBe(1);
      expect(await evaluate(datum?.Value, { results: [{ status: 'SUCCEEDED' }] })).toBe(0);
      expect(
        Stack.of(scored.workflow).resolve(
          scored.workflow.metricPredictionFailures().toMetricConfig().metricStat,
        ),
      ).toMatchObject({
        metricName: ETL_METRICS.predictionFailures,
        statistic: 'Sum',
        dimensions: [{ name: 'workflow', value: 'sdap-test-etl' }],
      });
    });

    it('may invoke the scoring and load functions only', () => {
      // Act
      const statements = statementsOfRole(scored.template, 'EtlWorkflowStateMachineRole');
      const scoring = resourceOf(scored.template, 'AWS::Lambda::Function', 'FailureScoringFunction').id;
      const loader = resourceOf(scored.template, 'AWS::Lambda::Function', 'WarehouseLoaderFunction').id;

      // Assess
      expect(grantsOf(statements, 'lambda:InvokeFunction').sort()).toEqual(
        [`<${scoring}.Arn>`, `<${scoring}.Arn>:*`, `<${loader}.Arn>`, `<${loader}.Arn>:*`].sort(),
      );
    });

    it('scores before the DQ gate without a warehouse too', () => {
      const alone = allStates(build({}, false, true).definition);
      expect(alone.ReadRunSummary?.Next).toBe('ScorePredictions');
      expect(alone.ScorePredictions?.Next).toBe('WasScored');
      expect(Object.keys(states)).not.toContain('ScorePredictions');
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(scored.stack)).toEqual([]);
    });
  });
});
