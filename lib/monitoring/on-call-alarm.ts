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
  const alarm = new cloudwatch.Alarm(scope, alarmId, {
    alarmName: `${options.namePrefix}-${alarmId}`,
    alarmDescription: `${options.what} Do: ${options.todo} Runbook: ${runbookAnchorOf(alarmId)}`,
    metric: options.metric,
    threshold: options.threshold,
    comparisonOperator:
      options.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods,
    datapointsToAlarm: options.datapointsToAlarm ?? evaluationPeriods,
    treatMissingData: options.treatMissingData,
  });
  alarm.addAlarmAction(new actions.SnsAction(options.onCallTopic));
  alarm.addOkAction(new actions.SnsAction(options.onCallTopic));
  return alarm;
}
