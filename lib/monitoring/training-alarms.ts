import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { TRAINING_FAILED_ALARM_ID, type TrainingWorkflow } from '../ml/training-workflow.ts';
import { createOnCallAlarm } from './on-call-alarm.ts';

/**
 * The training workflow's alarms. Each id is part of the alarm's name and the anchor of its runbook
 * entry (`docs/runbook.md#<id>`); the unit of the threshold is in the id.
 */
export const TRAINING_ALARM_IDS = [TRAINING_FAILED_ALARM_ID] as const;
export type TrainingAlarmId = (typeof TRAINING_ALARM_IDS)[number];

/**
 * A day: the workflow runs weekly and takes hours, so a failed execution keeps the alarm in ALARM
 * for a day (long enough to be seen the next morning) and it clears on its own after.
 */
export const TRAINING_FAILURES_PERIOD = Duration.days(1);

export interface TrainingAlarmsProps {
  readonly workflow: TrainingWorkflow;
  /** The on-call topic of the other alarms: one place to subscribe. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of the alarm names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
}

/**
 * Alarms on the models' retraining: an execution failed. A candidate the gate holds back is not a
 * failure (on-call gets a message, the champion keeps serving); a failed step is.
 */
export class TrainingAlarms extends Construct {
  public readonly alarms: Readonly<Record<TrainingAlarmId, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: TrainingAlarmsProps) {
    super(scope, id);
    this.alarms = {
      [TRAINING_FAILED_ALARM_ID]: createOnCallAlarm(this, TRAINING_FAILED_ALARM_ID, {
        namePrefix: props.namePrefix,
        onCallTopic: props.onCallTopic,
        metric: props.workflow.stateMachine.metricFailed({
          statistic: cloudwatch.Stats.SUM,
          period: TRAINING_FAILURES_PERIOD,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No execution, no datum: a week without training is not a failure.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: "An execution of the models' training workflow failed at a step (building the data, training, scoring, evaluating, registering or updating an endpoint). The endpoints keep serving their current models.",
        todo: 'open the failed execution in Step Functions; its cause names the model and the state that failed; fix it and start the workflow again.',
      }),
    };
  }
}
