import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { FAILURE_SCORING_ERRORS } from '../../lambdas/failure-scoring/names.ts';
import { METRICS_NAMESPACE } from '../../lambdas/shared/pipeline-names.ts';
import { WAREHOUSE_LOAD_ERRORS } from '../../lambdas/shared/warehouse-names.ts';
import {
  DEFAULT_ETL_BACKFILL_EXECUTION_CLASS,
  DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY,
  DEFAULT_ETL_DQ_SCORE_THRESHOLD,
  DEFAULT_ETL_SCHEDULE_EXPRESSION,
  type EtlExecutionClass,
  schedulePeriodHours,
} from '../config.ts';
import type { TelemetryLake } from '../lake/telemetry-lake.ts';
import { acknowledge, nagReference } from '../nag.ts';
import type { WarehouseLoader } from '../warehouse/warehouse-loader.ts';
import {
  ETL_JOB_ARGUMENTS,
  ETL_RUNS_PREFIX,
  type EtlJob,
  RUN_SUMMARY_DQ_SCORE_FIELD,
  RUN_SUMMARY_DQ_SCORE_SCALE,
} from './etl-job.ts';
import type { FailureScoring } from './failure-scoring.ts';
import { scheduleStartRole, stateMachineEncryption } from './state-machine-encryption.ts';

// The workflow's defaults are the stage defaults; re-exported as this construct's own.
export {
  DEFAULT_ETL_BACKFILL_EXECUTION_CLASS,
  DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY,
  DEFAULT_ETL_DQ_SCORE_THRESHOLD,
  DEFAULT_ETL_SCHEDULE_EXPRESSION,
};

/** The most hours one execution backfills: 31 days, as the ops CLI allows; longer is several executions. */
export const MAX_BACKFILL_HOURS = 744;
/**
 * Hours one backfill run rebuilds. Runs rebuild event hours in order because each reads the curated
 * hours before it as context (rolling windows, 7-day baselines, daily tables): a day per run keeps a
 * month to 31 runs, and a day of a small fleet's data is minutes of Spark.
 */
export const BACKFILL_CHUNK_HOURS = 24;
/** Glue's timeout for a backfill run (a day of data), including Flex's wait for spare capacity. */
export const BACKFILL_RUN_TIMEOUT_MINUTES = 180;
/**
 * How the job reads a run's window: `ingest` hours that arrived (the job plans which event hours
 * their readings touch and rebuilds those, late data included), or the `event` hours to rebuild.
 */
export const WINDOW_KINDS = ['ingest', 'event'] as const;
/**
 * Minutes a Glue task waits beyond the job's own timeout: Glue stops a run at its timeout, so the
 * state's timeout only catches a run that never reports back (start-up queueing, a lost poll).
 */
export const GLUE_TASK_TIMEOUT_MARGIN_MINUTES = 15;
/** An S3 read, a metric put or a publish answers in well under a second; a minute means it hangs. */
export const SDK_TASK_TIMEOUT_SECONDS = 60;
/** Metrics the workflow puts (namespace `Sdap`, dimension `workflow` = the state machine's name). */
export const ETL_METRICS = {
  /** The data-quality score of one window's run, 0 to 1 (unit None). */
  dqScore: 'EtlDataQualityScore',
  /** Milliseconds from an execution's start to its end, with dimension `trigger`. */
  runDuration: 'EtlRunDuration',
  /** Windows of an execution whose warehouse load failed (unit Count; put only with a warehouse). */
  warehouseLoadFailures: 'EtlWarehouseLoadFailures',
  /** Windows of an execution left without predictions (unit Count; put only with failure scoring). */
  predictionFailures: 'EtlPredictionFailures',
} as const;
/** How each execution was started, the `trigger` of its metrics and notifications. */
export const ETL_TRIGGERS = ['schedule', 'hour', 'backfill'] as const;
export type EtlTrigger = (typeof ETL_TRIGGERS)[number];

/**
 * Errors of the Glue API worth another try: throttling, a full run queue (another window is still
 * running), Glue's own hiccups. A failed job run (`States.TaskFailed`) is not retried: Spark
 * failures repeat, and the notification lets a human rerun the window.
 */
export const GLUE_TRANSIENT_ERRORS = [
  'Glue.ConcurrentRunsExceededException',
  'Glue.ThrottlingException',
  'Glue.InternalServiceException',
  'Glue.OperationTimeoutException',
];
/** Transient errors of the quick SDK calls (S3, CloudWatch, SNS), and a call that hangs. */
export const SDK_TRANSIENT_ERRORS = [
  'S3.S3Exception',
  'S3.SdkClientException',
  'CloudWatch.CloudWatchException',
  'CloudWatch.SdkClientException',
  'SNS.SnsException',
  'SNS.SdkClientException',
  'SNS.ThrottledException',
  'SNS.KmsThrottlingException',
  'States.Timeout',
];
/** Errors of the Lambda service itself (RELIABILITY.md), and its throttling: the function never ran. */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
];
/** How long the load state waits beyond the function's own timeout, which always ends it first. */
export const LOAD_TASK_TIMEOUT_MARGIN_SECONDS = 60;
/** The `stage` of a window's result when its warehouse load failed. */
export const WAREHOUSE_STAGE = 'warehouse';
/** The `stage` of a window's result when its scoring failed (its curated output and load stand). */
export const PREDICTIONS_STAGE = 'predictions';
/** How long the scoring state waits beyond the function's own timeout, which always ends it first. */
export const SCORING_TASK_TIMEOUT_MARGIN_SECONDS = 60;
/**
 * A failure endpoint still unavailable after the function's own retries (throttled, being updated
 * or scaled out: minutes) gets two more tries, within about a minute and two (full jitter); a
 * refusal (ModelError, no such endpoint, bad features) is not retried.
 */
export const SCORING_ENDPOINT_RETRY_INTERVAL_SECONDS = 60;

export interface EtlWorkflowProps {
  readonly job: EtlJob;
  readonly lake: TelemetryLake;
  /** Where a failed run or a data-quality failure is reported. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of the state machine, schedule and log group names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /** @default {@link DEFAULT_ETL_SCHEDULE_EXPRESSION} = "cron(15 * * * ? *)" */
  readonly scheduleExpression?: string;
  /** @default {@link DEFAULT_ETL_DQ_SCORE_THRESHOLD} = 0.95 */
  readonly dqScoreThreshold?: number;
  /** @default {@link DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY} = 1 */
  readonly backfillMaxConcurrency?: number;
  /** @default {@link DEFAULT_ETL_BACKFILL_EXECUTION_CLASS} = "FLEX" */
  readonly backfillExecutionClass?: EtlExecutionClass;
  /** @default {@link DEFAULT_ETL_WORKFLOW_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Loads each window's curated partitions into the warehouse after its Glue run.
   * @default - no load: the stage has no warehouse
   */
  readonly warehouseLoader?: WarehouseLoader;
  /**
   * Scores each window's device-hours with the failure model after its Glue run, before the
   * warehouse load (which then loads the predictions too). A window whose scoring fails is reported
   * as FAILED at the `predictions` stage, after its load and data-quality gate have run.
   * @default - no scoring: the stage has no failure endpoint
   */
  readonly failureScoring?: FailureScoring;
}
export const DEFAULT_ETL_WORKFLOW_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;

/** How a window's start and end are written: whole UTC hours. */
const HOUR_PICTURE = "'[Y0001]-[M01]-[D01]T[H01]:00:00Z'";
const HOUR_MS = 3_600_000;
/** True when `$v` is a whole UTC hour written as `YYYY-MM-DDTHH:00:00Z` that exists in the calendar. */
const IS_HOUR = `function($v) { $type($v) = 'string' and $contains($v, /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00Z$/) and $fromMillis($toMillis($v), ${HOUR_PICTURE}) = $v }`;
const CHUNK_MS = BACKFILL_CHUNK_HOURS * HOUR_MS;
/** One window `[$from, $to)` (ms) of `kind`, as a one-element array. */
const ONE_WINDOW = (kind: (typeof WINDOW_KINDS)[number]) =>
  `[{ 'start': $fromMillis($from, ${HOUR_PICTURE}), 'end': $fromMillis($to, ${HOUR_PICTURE}), 'kind': '${kind}', 'backfill': false }]`;
/** `[$from, $to)` (ms) cut into consecutive event windows of at most a chunk, in order. */
const BACKFILL_CHUNKS = `[$map([0..$ceil(($to - $from) / ${CHUNK_MS}) - 1], function($i) { { 'start': $fromMillis($from + $i * ${CHUNK_MS}, ${HOUR_PICTURE}), 'end': $fromMillis($min([$from + ($i + 1) * ${CHUNK_MS}, $to]), ${HOUR_PICTURE}), 'kind': 'event', 'backfill': true } })]`;

/**
 * The ETL's orchestration: a Standard Step Functions workflow, started hourly by EventBridge
 * Scheduler, that runs the Glue job once per window (a Map with bounded concurrency), reads each
 * run's summary, scores the window's device-hours with the failure model (when the stage has its
 * endpoint), loads the partitions the run rewrote into the warehouse (when the stage has one),
 * puts its data-quality score as a metric and gates on it, then notifies on-call and fails when any
 * window failed. Every task has a timeout, retries transient errors with backoff and jitter, and
 * catches everything else; the workflow logs all events and is traced.
 *
 * Input (any one of):
 * - `{"trigger":"schedule","scheduledTime":"2026-11-27T16:15:00Z"}`: the scheduler's; one run over
 *   the ingest hours of the schedule period ending at the last full hour (the job rebuilds every
 *   event hour their readings touch);
 * - `{"hour":"2026-11-27T15:00:00Z"}`: rebuild one event hour (STANDARD);
 * - `{"from":"2026-11-01T00:00:00Z","to":"2026-11-08T00:00:00Z"}`: rebuild every event hour from
 *   `from` (included) to `to` (excluded), at most {@link MAX_BACKFILL_HOURS} hours, in runs of
 *   {@link BACKFILL_CHUNK_HOURS} hours in the backfill execution class (a range of one hour is a
 *   rerun, like `hour`).
 */
export class EtlWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly stateMachineName: string;
  public readonly logGroup: logs.LogGroup;
  public readonly schedule: scheduler.Schedule;
  /** Hours between scheduled runs, from the schedule expression. */
  public readonly schedulePeriod: Duration;
  public readonly dqScoreThreshold: number;
  public readonly backfillMaxConcurrency: number;

  constructor(scope: Construct, id: string, props: EtlWorkflowProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const scheduleExpression = props.scheduleExpression ?? DEFAULT_ETL_SCHEDULE_EXPRESSION;
    const periodHours = schedulePeriodHours(scheduleExpression);
    if (periodHours === undefined) {
      throw new Error(
        `EtlWorkflow scheduleExpression: received '${scheduleExpression}', expected a rate() or cron() expression firing every N hours or days`,
      );
    }
    this.schedulePeriod = Duration.hours(periodHours);
    this.dqScoreThreshold = props.dqScoreThreshold ?? DEFAULT_ETL_DQ_SCORE_THRESHOLD;
    if (!(this.dqScoreThreshold >= 0 && this.dqScoreThreshold <= 1)) {
      throw new Error(
        `EtlWorkflow dqScoreThreshold: received ${this.dqScoreThreshold}, expected a number from 0 to 1`,
      );
    }
    this.backfillMaxConcurrency = props.backfillMaxConcurrency ?? DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY;
    this.stateMachineName = `${props.namePrefix}-etl`;

    // Vended-log groups under /aws/vendedlogs/ keep CloudWatch Logs' resource policy small.
    const logGroupName = `/aws/vendedlogs/states/${this.stateMachineName}`;
    props.lake.allowLogGroupEncryption(logGroupName);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName,
      encryptionKey: props.lake.key,
      retention: props.logRetentionDays ?? DEFAULT_ETL_WORKFLOW_LOG_RETENTION_DAYS,
      removalPolicy,
    });

    const definition = this.definition(props, periodHours);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      comment: 'Hourly batch ETL: a Glue run per window, data-quality gate, on-call on failure',
      queryLanguage: sfn.QueryLanguage.JSONATA,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      stateMachineType: sfn.StateMachineType.STANDARD,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      encryptionConfiguration: stateMachineEncryption(props.lake.key),
      removalPolicy,
    });
    this.grantStateMachine(props);

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Starts the ETL workflow (${scheduleExpression}, UTC)`,
      schedule: scheduler.ScheduleExpression.expression(scheduleExpression),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        role: scheduleStartRole(this, 'ScheduleRole', props.lake.key, 'ETL workflow'),
        input: scheduler.ScheduleTargetInput.fromObject({
          trigger: 'schedule',
          scheduledTime: scheduler.ContextAttribute.scheduledTime,
        }),
        // Scheduler's default retries (up to 24 h) stay: the input carries the scheduled time, so a
        // late start still processes its own period, and a period never started is never processed.
      }),
      key: props.lake.key,
      timeWindow: scheduler.TimeWindow.off(),
    });
  }

  /** The data-quality score of each window's run (Minimum per period: the worst window counts). */
  public metricDqScore(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: ETL_METRICS.dqScore,
      dimensionsMap: { workflow: this.stateMachineName },
      statistic: cloudwatch.Stats.MINIMUM,
      period: this.schedulePeriod,
      ...props,
    });
  }

  /** Milliseconds the executions of `trigger` took (Maximum per schedule period). */
  public metricRunDuration(trigger: EtlTrigger, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: ETL_METRICS.runDuration,
      dimensionsMap: { workflow: this.stateMachineName, trigger },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: this.schedulePeriod,
      unit: cloudwatch.Unit.MILLISECONDS,
      ...props,
    });
  }

  /**
   * Windows whose warehouse load failed, per execution (Sum per schedule period, at most a day).
   * Put only when the workflow loads a warehouse.
   */
  public metricWarehouseLoadFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: ETL_METRICS.warehouseLoadFailures,
      dimensionsMap: { workflow: this.stateMachineName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.seconds(Math.min(this.schedulePeriod.toSeconds(), 86_400)),
      unit: cloudwatch.Unit.COUNT,
      ...props,
    });
  }

  /**
   * Windows whose scoring failed, per execution (Sum per schedule period, at most a day). Put only
   * when the workflow scores.
   */
  public metricPredictionFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: ETL_METRICS.predictionFailures,
      dimensionsMap: { workflow: this.stateMachineName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.seconds(Math.min(this.schedulePeriod.toSeconds(), 86_400)),
      unit: cloudwatch.Unit.COUNT,
      ...props,
    });
  }

  /** Executions that failed (a window failed or fell below the DQ threshold, or bad input). */
  public metricExecutionsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed({
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  private definition(props: EtlWorkflowProps, periodHours: number): sfn.IChainable {
    const { job } = props;
    const backfillClass = props.backfillExecutionClass ?? DEFAULT_ETL_BACKFILL_EXECUTION_CLASS;
    const initial = { failure: null, results: [] };

    const invalidInput = sfn.Fail.jsonata(this, 'InvalidInput', {
      error: 'InvalidInput',
      cause: `{% 'input: received ' & $string($states.input) & ', expected {"hour":"YYYY-MM-DDTHH:00:00Z"}, {"from":"YYYY-MM-DDTHH:00:00Z","to":"YYYY-MM-DDTHH:00:00Z"} (from before to, at most ${MAX_BACKFILL_HOURS} hours apart) or the schedule input {"trigger":"schedule","scheduledTime":"<ISO time>"}' %}`,
    });

    const planSchedule = sfn.Pass.jsonata(this, 'PlanScheduledRun', {
      comment: `The ${periodHours} ingest hour(s) before the last full hour`,
      assign: {
        ...initial,
        trigger: 'schedule',
        windows: `{% ($to := $floor($toMillis($states.input.scheduledTime) / ${HOUR_MS}) * ${HOUR_MS}; $from := $to - ${periodHours * HOUR_MS}; ${ONE_WINDOW('ingest')}) %}`,
      },
    });
    const planHour = sfn.Pass.jsonata(this, 'PlanHour', {
      assign: {
        ...initial,
        trigger: 'hour',
        windows: `{% ($from := $toMillis($states.input.hour); $to := $from + ${HOUR_MS}; ${ONE_WINDOW('event')}) %}`,
      },
    });
    const planBackfill = sfn.Pass.jsonata(this, 'PlanBackfill', {
      assign: {
        ...initial,
        trigger: 'backfill',
        // A range of one hour is a rerun someone waits for: no Flex start-up delay.
        windows: `{% ($from := $toMillis($states.input.from); $to := $toMillis($states.input.to); $to - $from = ${HOUR_MS} ? ${ONE_WINDOW('event')} : ${BACKFILL_CHUNKS}) %}`,
      },
    });

    const readInput = sfn.Choice.jsonata(this, 'ReadInput', {
      comment: 'Which windows to run: the schedule, one hour, or a backfill range',
    })
      .when(
        sfn.Condition.jsonata(
          "{% $states.input.trigger = 'schedule' and $type($states.input.scheduledTime) = 'string' and $contains($states.input.scheduledTime, /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$/) %}",
        ),
        planSchedule,
      )
      .when(
        sfn.Condition.jsonata(
          `{% ($isHour := ${IS_HOUR}; $keys($states.input) = 'hour' and $isHour($states.input.hour)) %}`,
        ),
        planHour,
      )
      .when(
        sfn.Condition.jsonata(
          `{% ($isHour := ${IS_HOUR}; $count($keys($states.input)) = 2 and $isHour($states.input.from) and $isHour($states.input.to) and $toMillis($states.input.to) > $toMillis($states.input.from) and $toMillis($states.input.to) - $toMillis($states.input.from) <= ${MAX_BACKFILL_HOURS * HOUR_MS}) %}`,
        ),
        planBackfill,
      )
      .otherwise(invalidInput);

    const runWindows = sfn.Map.jsonata(this, 'RunWindows', {
      comment: 'One Glue run per window, in order; each iteration reports its outcome instead of failing',
      items: sfn.ProvideItems.jsonata('{% $windows %}'),
      itemSelector: {
        windowStart: '{% $states.context.Map.Item.Value.start %}',
        windowEnd: '{% $states.context.Map.Item.Value.end %}',
        windowKind: '{% $states.context.Map.Item.Value.kind %}',
        backfill: '{% $states.context.Map.Item.Value.backfill %}',
        summaryKey: `{% '${ETL_RUNS_PREFIX}' & $substring($states.context.Map.Item.Value.start, 0, 13) & '/' & $states.context.Execution.Name & '.json' %}`,
      },
      maxConcurrency: this.backfillMaxConcurrency,
      assign: { results: '{% $states.result %}' },
    });
    runWindows.itemProcessor(
      this.windowChain(job, props.lake, backfillClass, props.warehouseLoader, props.failureScoring),
    );

    const notify = tasks.SnsPublish.jsonata(this, 'NotifyOnCall', {
      comment: 'One message per failed execution, listing every failed window',
      topic: props.onCallTopic,
      subject: `{% 'sdap ETL ${this.stateMachineName} failed (' & $trigger & ')' %}`,
      message: sfn.TaskInput.fromText(
        `{% $string({ 'execution': $states.context.Execution.Id, 'trigger': $trigger, 'failedWindows': [$results[status != 'SUCCEEDED']], 'dqScoreThreshold': ${this.dqScoreThreshold}, 'error': $failure, 'runbook': 'docs/runbook.md#etl-failed-executions-count' }, true) %}`,
      ),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(SDK_TASK_TIMEOUT_SECONDS)),
    });
    const failed = sfn.Fail.jsonata(this, 'EtlFailed', {
      error: 'EtlFailed',
      cause: `{% $failure != null ? $string($failure) : $string($count($results[status != 'SUCCEEDED'])) & ' of ' & $string($count($results)) & ' windows failed: ' & $join($results[status != 'SUCCEEDED'].(windowStart & ' ' & status), ', ') %}`,
    });
    withSdkRetry(notify);
    // Even when the notification cannot be sent, the execution fails (and the failure alarm fires).
    notify.addCatch(failed, { errors: [sfn.Errors.ALL] });
    notify.next(failed);

    const catchInto = (state: sfn.TaskStateBase | sfn.Map) =>
      state.addCatch(notify, { errors: [sfn.Errors.ALL], assign: { failure: '{% $states.errorOutput %}' } });
    catchInto(runWindows);

    const putDuration = this.putMetric('PutRunDuration', [
      {
        MetricName: ETL_METRICS.runDuration,
        Unit: 'Milliseconds',
        Value: '{% $toMillis($now()) - $toMillis($states.context.Execution.StartTime) %}',
        Dimensions: [
          { Name: 'workflow', Value: '{% $states.context.StateMachine.Name %}' },
          { Name: 'trigger', Value: '{% $trigger %}' },
        ],
      },
      // 0 as well: a datum per execution tells a quiet warehouse from one that is never loaded.
      ...(props.warehouseLoader
        ? [
            {
              MetricName: ETL_METRICS.warehouseLoadFailures,
              Unit: 'Count',
              Value: `{% $count($results[stage = '${WAREHOUSE_STAGE}']) %}`,
              Dimensions: [{ Name: 'workflow', Value: '{% $states.context.StateMachine.Name %}' }],
            },
          ]
        : []),
      ...(props.failureScoring
        ? [
            {
              MetricName: ETL_METRICS.predictionFailures,
              Unit: 'Count',
              Value: `{% $count($results[stage = '${PREDICTIONS_STAGE}']) %}`,
              Dimensions: [{ Name: 'workflow', Value: '{% $states.context.StateMachine.Name %}' }],
            },
          ]
        : []),
    ]);
    withSdkRetry(putDuration);
    catchInto(putDuration);

    const done = sfn.Succeed.jsonata(this, 'Done', { outputs: '{% $results %}' });
    const verdict = sfn.Choice.jsonata(this, 'AllWindowsPassed')
      .when(sfn.Condition.jsonata("{% $count($results[status != 'SUCCEEDED']) = 0 %}"), done)
      .otherwise(notify);

    for (const plan of [planSchedule, planHour, planBackfill]) plan.next(runWindows);
    runWindows.next(putDuration).next(verdict);
    return readInput;
  }

  /**
   * One window: run Glue, read its summary, score its device-hours, load the warehouse, put its DQ
   * score, gate on it.
   */
  private windowChain(
    job: EtlJob,
    lake: TelemetryLake,
    backfillClass: EtlExecutionClass,
    loader: WarehouseLoader | undefined,
    scoring: FailureScoring | undefined,
  ): sfn.IChainable {
    const windowFailed = sfn.Pass.jsonata(this, 'WindowFailed', {
      outputs: {
        windowStart: '{% $windowStart %}',
        windowEnd: '{% $windowEnd %}',
        status: 'FAILED',
        error: '{% $states.input.Error %}',
        cause: '{% $states.input.Cause %}',
      },
    });
    const remember = {
      windowStart: '{% $states.input.windowStart %}',
      windowEnd: '{% $states.input.windowEnd %}',
      summaryKey: '{% $states.input.summaryKey %}',
      ...(loader && {
        windowKind: '{% $states.input.windowKind %}',
        // Where the window's warehouse load resumes; null until a first invocation returns.
        loadResumeAfter: null,
      }),
      // The scoring's error (with the event that scores the window again); null while it stands.
      ...(scoring && { predictionsError: null }),
    };

    // A raw state: the typed Glue task turns a task timeout into the job run's own Glue timeout and
    // leaves the state without TimeoutSeconds; here Glue keeps the job's timeout and the state has its own.
    const runJob = (id: string, executionClass: EtlExecutionClass, glueTimeout?: Duration) => {
      const task = new sfn.CustomState(this, id, {
        stateJson: {
          Type: 'Task',
          Comment: `Glue run of one window (${executionClass}); .sync waits for the run to end`,
          Resource: `arn:${Stack.of(this).partition}:states:::glue:startJobRun.sync`,
          Arguments: {
            JobName: job.jobName,
            ExecutionClass: executionClass,
            ...(glueTimeout && { Timeout: glueTimeout.toMinutes() }),
            Arguments: {
              [ETL_JOB_ARGUMENTS.perRun.windowStart]: '{% $states.input.windowStart %}',
              [ETL_JOB_ARGUMENTS.perRun.windowEnd]: '{% $states.input.windowEnd %}',
              [ETL_JOB_ARGUMENTS.perRun.windowKind]: '{% $states.input.windowKind %}',
              [ETL_JOB_ARGUMENTS.perRun.summaryKey]: '{% $states.input.summaryKey %}',
            },
          },
          TimeoutSeconds: (glueTimeout ?? job.timeout)
            .plus(Duration.minutes(GLUE_TASK_TIMEOUT_MARGIN_MINUTES))
            .toSeconds(),
          Assign: remember,
          Output: { jobRunId: '{% $states.result.Id %}' },
        },
      });
      // A full run queue clears when the other window's run ends: wait minutes, not seconds.
      task.addRetry({
        errors: GLUE_TRANSIENT_ERRORS,
        interval: Duration.seconds(30),
        maxAttempts: 6,
        backoffRate: 2,
        maxDelay: Duration.minutes(10),
        jitterStrategy: sfn.JitterType.FULL,
      });
      task.addCatch(windowFailed, {
        errors: [sfn.Errors.ALL],
        assign: remember,
        outputs: '{% $states.errorOutput %}',
      });
      return task;
    };

    const readSummary = tasks.CallAwsService.jsonata(this, 'ReadRunSummary', {
      comment: 'The summary the run wrote (data-quality score and counts)',
      service: 's3',
      action: 'getObject',
      parameters: { Bucket: lake.curatedBucket.bucketName, Key: '{% $summaryKey %}' },
      iamResources: [lake.curatedBucket.arnForObjects(`${ETL_RUNS_PREFIX}*`)],
      taskTimeout: sfn.Timeout.duration(Duration.seconds(SDK_TASK_TIMEOUT_SECONDS)),
      outputs: {
        jobRunId: '{% $states.input.jobRunId %}',
        // null when the run scored no device-hour (no device expected, none reporting).
        dqScore: `{% ($score := $parse($states.result.Body).${RUN_SUMMARY_DQ_SCORE_FIELD}; $type($score) = 'number' ? $score / ${RUN_SUMMARY_DQ_SCORE_SCALE} : null) %}`,
        // The event hours the run rebuilt (a scheduled run plans them: late hours included).
        ...(scoring && { runWindow: '{% $parse($states.result.Body).window %}' }),
      },
    });
    const putScore = this.putMetric(
      'PutDqScore',
      [
        {
          MetricName: ETL_METRICS.dqScore,
          Unit: 'None',
          Value: '{% $states.input.dqScore %}',
          Dimensions: [{ Name: 'workflow', Value: '{% $states.context.StateMachine.Name %}' }],
        },
      ],
      '{% $states.input %}',
    );
    const passed = sfn.Pass.jsonata(this, 'WindowPassed', {
      outputs: {
        windowStart: '{% $windowStart %}',
        windowEnd: '{% $windowEnd %}',
        status: 'SUCCEEDED',
        jobRunId: '{% $states.input.jobRunId %}',
        dqScore: '{% $states.input.dqScore %}',
      },
    });
    const belowThreshold = sfn.Pass.jsonata(this, 'WindowBelowDqThreshold', {
      outputs: {
        windowStart: '{% $windowStart %}',
        windowEnd: '{% $windowEnd %}',
        status: 'DQ_BELOW_THRESHOLD',
        jobRunId: '{% $states.input.jobRunId %}',
        dqScore: '{% $states.input.dqScore %}',
        ...(scoring && { predictionsError: '{% $predictionsError %}' }),
      },
    });
    // With scoring, a window that passed everything else still fails when it has no predictions.
    const complete = scoring ? this.checkPredictions(passed) : passed;
    const gate = sfn.Choice.jsonata(this, 'DqGate', {
      comment: `Pass when the score is at least ${this.dqScoreThreshold}`,
    })
      .when(sfn.Condition.jsonata(`{% $states.input.dqScore >= ${this.dqScoreThreshold} %}`), complete)
      .otherwise(belowThreshold);

    for (const task of [readSummary, putScore]) {
      withSdkRetry(task);
      task.addCatch(windowFailed, { errors: [sfn.Errors.ALL], outputs: '{% $states.errorOutput %}' });
    }
    // Nothing to score is not bad data: a stage without devices must not page anyone hourly.
    const scored = sfn.Choice.jsonata(this, 'WasScored')
      .when(sfn.Condition.jsonata("{% $type($states.input.dqScore) = 'number' %}"), putScore.next(gate))
      .otherwise(complete);
    const toDqGate = loader ? this.loadWarehouse(loader, scored, scoring !== undefined) : scored;
    const afterRun = sfn.Chain.start(readSummary).next(
      scoring ? this.scorePredictions(scoring, toDqGate) : toDqGate,
    );

    // Scheduled runs and reruns: the standard class and the job's timeout. Backfill runs: the
    // backfill class, and a timeout for a day of data.
    const standard = runJob('RunJob', 'STANDARD');
    standard.next(afterRun);
    const backfill = runJob('RunBackfill', backfillClass, Duration.minutes(BACKFILL_RUN_TIMEOUT_MINUTES));
    backfill.next(afterRun);
    return sfn.Choice.jsonata(this, 'ChooseRun')
      .when(sfn.Condition.jsonata('{% $states.input.backfill = true %}'), backfill)
      .otherwise(standard);
  }

  /**
   * The window's scoring: the function scores the event hours the run rebuilt and rewrites their
   * predictions, then the window goes on to `next` (the load), whether it scored or not. A failure
   * after the retries is kept in `$predictionsError` with the event that scores the window again;
   * {@link checkPredictions} fails the window for it once the load and the DQ gate have run, so one
   * endpoint outage never costs the warehouse its telemetry.
   */
  private scorePredictions(scoring: FailureScoring, next: sfn.IChainable): sfn.IChainable {
    const passOn = { jobRunId: '{% $states.input.jobRunId %}', dqScore: '{% $states.input.dqScore %}' };
    const score = tasks.LambdaInvoke.jsonata(this, 'ScorePredictions', {
      comment: "Score the run's device-hours with the failure model into predictions/ (before the load)",
      lambdaFunction: scoring.function,
      payload: sfn.TaskInput.fromObject({
        windowStart: '{% $states.input.runWindow.from %}',
        windowEnd: '{% $states.input.runWindow.to %}',
      }),
      // Retried below, with jitter, on the same errors and on an unavailable endpoint.
      retryOnServiceExceptions: false,
      taskTimeout: sfn.Timeout.duration(
        scoring.timeout.plus(Duration.seconds(SCORING_TASK_TIMEOUT_MARGIN_SECONDS)),
      ),
      outputs: { ...passOn, predictionsWritten: '{% $states.result.Payload.partitionsWritten %}' },
    });
    score.addRetry({
      errors: LAMBDA_TRANSIENT_ERRORS,
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
      maxDelay: Duration.seconds(30),
      jitterStrategy: sfn.JitterType.FULL,
    });
    score.addRetry({
      errors: [FAILURE_SCORING_ERRORS.endpointUnavailable],
      interval: Duration.seconds(SCORING_ENDPOINT_RETRY_INTERVAL_SECONDS),
      maxAttempts: 2,
      backoffRate: 2,
      maxDelay: Duration.minutes(5),
      jitterStrategy: sfn.JitterType.FULL,
    });
    score.addCatch(next, {
      errors: [sfn.Errors.ALL],
      assign: {
        predictionsError: `{% $merge([$states.errorOutput, { 'scoringEvent': { 'windowStart': $states.input.runWindow.from, 'windowEnd': $states.input.runWindow.to } }]) %}`,
      },
      outputs: passOn,
    });
    return score.next(next);
  }

  /** Ends a window that passed its gate as FAILED at the `predictions` stage when its scoring failed. */
  private checkPredictions(passed: sfn.IChainable): sfn.IChainable {
    const failed = sfn.Pass.jsonata(this, 'WindowPredictionsFailed', {
      outputs: {
        windowStart: '{% $windowStart %}',
        windowEnd: '{% $windowEnd %}',
        status: 'FAILED',
        stage: PREDICTIONS_STAGE,
        jobRunId: '{% $states.input.jobRunId %}',
        dqScore: '{% $states.input.dqScore %}',
        error: '{% $predictionsError.Error %}',
        cause: '{% $predictionsError.Cause %}',
        scoringEvent: '{% $predictionsError.scoringEvent %}',
      },
    });
    return sfn.Choice.jsonata(this, 'PredictionsWritten', {
      comment: 'Fail the window when its scoring failed (its curated output and load stand)',
    })
      .when(sfn.Condition.jsonata('{% $predictionsError = null %}'), passed)
      .otherwise(failed);
  }

  /**
   * The window's warehouse load: the function loads what it can in one invocation and says how
   * many partitions remain; the state runs again until none do, then goes on to `next`. A load
   * that still fails after its retries ends the window as FAILED at the `warehouse` stage, with
   * the event that resumes it (`loadEvent`) and, when the window was `scored`, its scoring's error.
   */
  private loadWarehouse(loader: WarehouseLoader, next: sfn.IChainable, scored: boolean): sfn.IChainable {
    const loadEvent = {
      windowStart: '{% $windowStart %}',
      windowEnd: '{% $windowEnd %}',
      windowKind: '{% $windowKind %}',
      // For an ingest window, the partitions the run rewrote are those modified since.
      modifiedSince: '{% $states.context.Execution.StartTime %}',
      resumeAfter: '{% $loadResumeAfter %}',
    };
    const failed = sfn.Pass.jsonata(this, 'WarehouseLoadFailed', {
      outputs: {
        windowStart: '{% $windowStart %}',
        windowEnd: '{% $windowEnd %}',
        status: 'FAILED',
        stage: WAREHOUSE_STAGE,
        error: '{% $states.input.Error %}',
        cause: '{% $states.input.Cause %}',
        loadEvent,
        // A scoring failure of the same window is not lost behind the load's.
        ...(scored && { predictionsError: '{% $predictionsError %}' }),
      },
    });
    const load = tasks.LambdaInvoke.jsonata(this, 'LoadWarehouse', {
      comment: 'COPY and MERGE the partitions the run rewrote into Redshift, one transaction each',
      lambdaFunction: loader.function,
      payload: sfn.TaskInput.fromObject(loadEvent),
      // Retried below, with jitter, on the same errors and on the function's transient ones.
      retryOnServiceExceptions: false,
      taskTimeout: sfn.Timeout.duration(
        loader.timeout.plus(Duration.seconds(LOAD_TASK_TIMEOUT_MARGIN_SECONDS)),
      ),
      assign: { loadResumeAfter: '{% $states.result.Payload.resumeAfter %}' },
      outputs: {
        jobRunId: '{% $states.input.jobRunId %}',
        dqScore: '{% $states.input.dqScore %}',
        loadRemaining: '{% $states.result.Payload.remaining %}',
      },
    });
    load.addRetry({
      errors: LAMBDA_TRANSIENT_ERRORS,
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
      maxDelay: Duration.seconds(30),
      jitterStrategy: sfn.JitterType.FULL,
    });
    // A concurrent load (a backfill beside the schedule) clears in minutes, not seconds.
    load.addRetry({
      errors: [WAREHOUSE_LOAD_ERRORS.transient],
      interval: Duration.seconds(30),
      maxAttempts: 4,
      backoffRate: 2,
      maxDelay: Duration.minutes(5),
      jitterStrategy: sfn.JitterType.FULL,
    });
    load.addCatch(failed, { errors: [sfn.Errors.ALL], outputs: '{% $states.errorOutput %}' });
    const more = sfn.Choice.jsonata(this, 'MoreToLoad', {
      comment: 'Invoke the load again while partitions remain',
    })
      .when(sfn.Condition.jsonata('{% $states.input.loadRemaining > 0 %}'), load)
      .otherwise(next);
    return load.next(more);
  }

  private putMetric(id: string, metricData: object[], outputs?: string): tasks.CallAwsService {
    return tasks.CallAwsService.jsonata(this, id, {
      service: 'cloudwatch',
      action: 'putMetricData',
      parameters: { Namespace: METRICS_NAMESPACE, MetricData: metricData },
      iamResources: ['*'],
      taskTimeout: sfn.Timeout.duration(Duration.seconds(SDK_TASK_TIMEOUT_SECONDS)),
      outputs,
    });
  }

  private grantStateMachine(props: EtlWorkflowProps): void {
    const role = this.stateMachine.role;
    // What the typed Glue task grants for RUN_JOB: start, poll, and stop the run when the state ends.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:StartJobRun', 'glue:GetJobRun', 'glue:GetJobRuns', 'glue:BatchStopJobRun'],
        resources: [props.job.jobArn],
      }),
    );
    // The run summaries are encrypted with the lake key.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [props.lake.key.keyArn] }),
    );
    // Publishing to an encrypted topic needs a data key of the topic's key.
    const topicKey = props.onCallTopic.masterKey;
    if (topicKey) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [topicKey.keyArn],
        }),
      );
    }
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'cloudwatch:PutMetricData, X-Ray tracing and CloudWatch Logs delivery support no resource-level permission.',
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::${nagReference(props.lake.curatedBucket.node.defaultChild as s3.CfnBucket)}/${ETL_RUNS_PREFIX}*]`,
      'Reads run summaries only; their keys name the execution, known only at run time.',
    );
    const scoring = props.failureScoring;
    if (scoring) {
      acknowledge(
        role,
        `AwsSolutions-IAM5[Resource::${nagReference(scoring.function.node.defaultChild as lambda.CfnFunction)}:*]`,
        "The invoke grant also covers the scoring function's versions and aliases: that function only.",
      );
    }
    const loader = props.warehouseLoader;
    if (loader) {
      acknowledge(
        role,
        `AwsSolutions-IAM5[Resource::${nagReference(loader.function.node.defaultChild as lambda.CfnFunction)}:*]`,
        "The invoke grant also covers the load function's versions and aliases: that function only.",
      );
    }
  }
}

/** Retries a quick SDK call on transient errors: 2, 4, 8 s (jittered), at most 30 s apart. */
function withSdkRetry(task: sfn.TaskStateBase): void {
  task.addRetry({
    errors: SDK_TRANSIENT_ERRORS,
    interval: Duration.seconds(2),
    maxAttempts: 4,
    backoffRate: 2,
    maxDelay: Duration.seconds(30),
    jitterStrategy: sfn.JitterType.FULL,
  });
}
