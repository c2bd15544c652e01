/**
 * An alarm as every monitoring construct of this project builds one: named `<prefix>-<id>`, its
 * description saying what it means, what to do and where its runbook entry is, notifying on-call
 * when it fires and when it clears.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

/** Where the on-call runbook lives, relative to the repository root. */
export const RUNBOOK_PATH = 'docs/runbook.md';

/** The runbook entry of an alarm: its id is the entry's anchor. */
export function runbookAnchorOf(alarmId: string): string {
  return `${RUNBOOK_PATH}#${alarmId}`;
}

export interface OnCallAlarmOptions {
  readonly namePrefix: string;
  readonly onCallTopic: sns.ITopic;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  /** @default - fires at or above the threshold */
  readonly comparisonOperator?: cloudwatch.ComparisonOperator;
  /** @default - one period */
  readonly evaluationPeriods?: number;
  /** @default - every evaluation period */
  readonly datapointsToAlarm?: number;
  readonly treatMissingData: cloudwatch.TreatMissingData;
  /** What firing means, for the description. */
  readonly what: string;
  /** What on-call should do first. */
  readonly todo: string;
}

/** Creates the alarm `alarmId` in `scope`; the id is also the construct id. */
export function createOnCallAlarm(
  scope: Construct,
  alarmId: string,
  options: OnCallAlarmOptions,
): cloudwatch.Alarm {
  const evaluationPeriods = options.evaluationPeriods ?? 1;
  return notifyOnCall(
    new cloudwatch.Alarm(scope, alarmId, {
      alarmName: `${options.namePrefix}-${alarmId}`,
      alarmDescription: describe(alarmId, options),
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator:
        options.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods,
      datapointsToAlarm: options.datapointsToAlarm ?? evaluationPeriods,
      treatMissingData: options.treatMissingData,
    }),
    options.onCallTopic,
  );
}

export interface OnCallAnomalyAlarmOptions
  extends Omit<OnCallAlarmOptions, 'threshold' | 'comparisonOperator'> {
  /** Width of the band CloudWatch's anomaly detection model draws around the expected value. */
  readonly stdDevs: number;
  /** @default - fires below the band or above it */
  readonly comparisonOperator?: cloudwatch.ComparisonOperator;
}

/**
 * Creates the alarm `alarmId` in `scope` on a metric leaving the band CloudWatch's anomaly detection
 * model expects it in (trained on the metric's own history); named, described and notifying like
 * {@link createOnCallAlarm}.
 */
export function createOnCallAnomalyAlarm(
  scope: Construct,
  alarmId: string,
  options: OnCallAnomalyAlarmOptions,
): cloudwatch.Alarm {
  const evaluationPeriods = options.evaluationPeriods ?? 1;
  return notifyOnCall(
    new cloudwatch.AnomalyDetectionAlarm(scope, alarmId, {
      alarmName: `${options.namePrefix}-${alarmId}`,
      alarmDescription: describe(alarmId, options),
      metric: options.metric,
      stdDevs: options.stdDevs,
      comparisonOperator:
        options.comparisonOperator ??
        cloudwatch.ComparisonOperator.LESS_THAN_LOWER_OR_GREATER_THAN_UPPER_THRESHOLD,
      evaluationPeriods,
      datapointsToAlarm: options.datapointsToAlarm ?? evaluationPeriods,
      treatMissingData: options.treatMissingData,
    }),
    options.onCallTopic,
  );
}

function describe(alarmId: string, options: Pick<OnCallAlarmOptions, 'what' | 'todo'>): string {
  return `${options.what} Do: ${options.todo} Runbook: ${runbookAnchorOf(alarmId)}`;
}

/** On-call hears when the alarm fires and when it clears. */
function notifyOnCall(alarm: cloudwatch.Alarm, topic: sns.ITopic): cloudwatch.Alarm {
  alarm.addAlarmAction(new actions.SnsAction(topic));
  alarm.addOkAction(new actions.SnsAction(topic));
  return alarm;
}
