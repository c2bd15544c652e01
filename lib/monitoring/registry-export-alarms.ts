import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { RegistryExport } from '../batch/registry-export.ts';
import { createOnCallAlarm, runbookAnchorOf } from './on-call-alarm.ts';

/**
 * The registry export's alarms. Each id is part of the alarm's name and the anchor of its runbook
 * entry (`docs/runbook.md#<id>`); the unit of the threshold is in the id.
 */
export const REGISTRY_EXPORT_ALARM_IDS = ['registry-export-errors-count'] as const;
export type RegistryExportAlarmId = (typeof REGISTRY_EXPORT_ALARM_IDS)[number];

export function registryExportRunbookAnchor(alarmId: RegistryExportAlarmId): string {
  return runbookAnchorOf(alarmId);
}

/**
 * An hour, the default schedule's period: a failed run keeps the alarm in ALARM until an hour passes
 * without one, normally the next scheduled run's success.
 */
export const REGISTRY_EXPORT_ERRORS_PERIOD = Duration.hours(1);

export interface RegistryExportAlarmsProps {
  readonly registryExport: RegistryExport;
  /** The on-call topic of the other alarms: one place to subscribe. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of the alarm names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
}

/**
 * Alarms on the registry export: a run failed (it could not read the whole registry, could not write,
 * or timed out). It wrote nothing; the lake keeps the previous export, which grows stale.
 */
export class RegistryExportAlarms extends Construct {
  public readonly alarms: Readonly<Record<RegistryExportAlarmId, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: RegistryExportAlarmsProps) {
    super(scope, id);
    this.alarms = {
      // Lambda counts a timeout as an error too. No invocation, no datum: not a failure.
      'registry-export-errors-count': createOnCallAlarm(this, 'registry-export-errors-count', {
        namePrefix: props.namePrefix,
        onCallTopic: props.onCallTopic,
        metric: props.registryExport.function.metricErrors({
          statistic: cloudwatch.Stats.SUM,
          period: REGISTRY_EXPORT_ERRORS_PERIOD,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: "A run of the IoT registry export failed: IoT's API stayed throttled or denied a call, S3 refused the write, or the run timed out. Nothing was written; the ETL and the weather function read the previous export until a run succeeds.",
        todo: 'read the error in the function log (it names the call that failed), fix the cause, then invoke the function once to export now.',
      }),
    };
  }
}
