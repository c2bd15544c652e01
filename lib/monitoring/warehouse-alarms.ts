import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { EtlWorkflow } from '../batch/etl-workflow.ts';
import { createOnCallAlarm, runbookAnchorOf } from './on-call-alarm.ts';

/**
 * The warehouse's alarms. Each id is part of the alarm's name and the anchor of its runbook entry
 * (`docs/runbook.md#<id>`); the unit of the threshold is in the id.
 */
export const WAREHOUSE_ALARM_IDS = ['warehouse-load-failures-count'] as const;
export type WarehouseAlarmId = (typeof WAREHOUSE_ALARM_IDS)[number];

export function warehouseRunbookAnchor(alarmId: WarehouseAlarmId): string {
  return runbookAnchorOf(alarmId);
}

export interface WarehouseAlarmsProps {
  /** The ETL workflow that loads the warehouse after each window. */
  readonly workflow: EtlWorkflow;
  /** The on-call topic of the other alarms: one place to subscribe. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of the alarm names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
}

/**
 * Alarms on the warehouse: a window's load failed after its retries. The failed partition and the
 * ones after it were left as they were (each partition is one transaction), so the warehouse lags
 * the curated lake until the window is loaded again.
 */
export class WarehouseAlarms extends Construct {
  public readonly alarms: Readonly<Record<WarehouseAlarmId, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: WarehouseAlarmsProps) {
    super(scope, id);
    this.alarms = {
      // Every execution that ends puts the count, 0 included; missing data means no execution ended,
      // which the ETL's own alarms cover.
      'warehouse-load-failures-count': createOnCallAlarm(this, 'warehouse-load-failures-count', {
        namePrefix: props.namePrefix,
        onCallTopic: props.onCallTopic,
        metric: props.workflow.metricWarehouseLoadFailures(),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: "A window's warehouse load failed after its retries: Redshift rejected a partition (bad data, a schema mismatch, permissions) or stayed unavailable. The failed partition and those after it were not applied; the warehouse lags the lake for that window.",
        todo: "read the failed window's error in the ETL notification or execution history, fix the cause, then invoke the load function with the window's loadEvent until remaining is 0.",
      }),
    };
  }
}
