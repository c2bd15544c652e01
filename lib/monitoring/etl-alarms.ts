import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { EtlWorkflow } from '../batch/etl-workflow.ts';
import { createOnCallAlarm, type OnCallAlarmOptions, runbookAnchorOf } from './on-call-alarm.ts';

/**
 * The batch ETL's alarms. Each id is part of the alarm's name and the anchor of its runbook entry
 * (`docs/runbook.md#<id>`); the unit of the threshold is in the id.
 */
export const ETL_ALARM_IDS = [
  'etl-failed-executions-count',
  'etl-scheduled-run-duration-ms',
  'etl-dq-score-ratio',
] as const;
export type EtlAlarmId = (typeof ETL_ALARM_IDS)[number];

export function etlRunbookAnchor(alarmId: EtlAlarmId): string {
  return runbookAnchorOf(alarmId);
}

/**
 * Longest span CloudWatch evaluates an alarm over (periods x evaluation periods): one day.
 * Two schedule periods are evaluated when they fit, one otherwise.
 */
export const MAX_ALARM_EVALUATION_SECONDS = 86_400;

export interface EtlAlarmsProps {
  readonly workflow: EtlWorkflow;
  /** The on-call topic of the ingest alarms: one place to subscribe. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of the alarm names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
}

/**
 * Alarms on the ETL: an execution failed, a scheduled run took longer than the schedule period (or
 * none finished), a window's data-quality score fell below the threshold. Each notifies on-call.
 */
export class EtlAlarms extends Construct {
  public readonly alarms: Readonly<Record<EtlAlarmId, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: EtlAlarmsProps) {
    super(scope, id);
    const { workflow } = props;
    const periodMs = workflow.schedulePeriod.toMilliseconds();
    const periodSeconds = workflow.schedulePeriod.toSeconds();
    const alarmPeriod = Duration.seconds(Math.min(periodSeconds, MAX_ALARM_EVALUATION_SECONDS));
    const durationPeriods = periodSeconds * 2 <= MAX_ALARM_EVALUATION_SECONDS ? 2 : 1;
    const threshold = workflow.dqScoreThreshold;

    const alarm = (alarmId: EtlAlarmId, options: Omit<OnCallAlarmOptions, 'namePrefix' | 'onCallTopic'>) =>
      createOnCallAlarm(this, alarmId, {
        ...options,
        namePrefix: props.namePrefix,
        onCallTopic: props.onCallTopic,
      });

    this.alarms = {
      // Step Functions reports ExecutionsFailed only when executions end: no runs, no datum.
      'etl-failed-executions-count': alarm('etl-failed-executions-count', {
        metric: workflow.metricExecutionsFailed(),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: "An ETL execution failed: a window's Glue run failed, its data quality fell below the threshold, or the input was invalid. The on-call notification lists the windows.",
        todo: 'read the notification or the execution history, fix the cause, then rerun each failed window ({"from": windowStart, "to": windowEnd}).',
      }),
      // Every scheduled execution puts its duration when it ends, so a missing datum means no
      // scheduled run finished in the period: the schedule stopped, or a run hangs.
      'etl-scheduled-run-duration-ms': alarm('etl-scheduled-run-duration-ms', {
        metric: workflow.metricRunDuration('schedule', { period: alarmPeriod }),
        threshold: periodMs,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: durationPeriods,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        what: `A scheduled ETL run took ${periodMs} ms (the schedule period) or longer, or no scheduled run finished in ${durationPeriods} period(s): runs overlap or have stopped.`,
        todo: 'check the schedule is enabled and its recent executions; for slow runs, raise etl.numberOfWorkers or the worker type.',
      }),
      // Missing data means no window ran: the other two alarms cover that.
      'etl-dq-score-ratio': alarm('etl-dq-score-ratio', {
        metric: workflow.metricDqScore({ period: alarmPeriod }),
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: `A window's data-quality score fell below ${threshold}: its curated partitions were written but failed their checks.`,
        todo: 'query dq_partition and dq_device_hour for the window to find the failing checks and devices.',
      }),
    };
  }
}
