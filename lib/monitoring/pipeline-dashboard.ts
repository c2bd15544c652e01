import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { TelemetryStream } from '../ingestion/telemetry-stream.ts';
import type { TelemetryValidator } from '../ingestion/telemetry-validator.ts';
import { RUNBOOK_PATH } from './on-call-alarm.ts';

/** A stage of the pipeline on the dashboard: its alarms, in the order they are shown. */
export interface DashboardSection {
  /** The section's heading, e.g. `Batch ETL`. */
  readonly title: string;
  /** One line under the heading: what the section watches. */
  readonly description: string;
  /** The section's alarms by id (the alarm's name suffix and runbook anchor). */
  readonly alarms: Readonly<Record<string, cloudwatch.IAlarm>>;
}

export interface PipelineDashboardProps {
  /** The dashboard's name, e.g. `sdap-prod-pipeline`. */
  readonly dashboardName: string;
  readonly stream: TelemetryStream;
  readonly validator: TelemetryValidator;
  /**
   * The stages after the stream, in pipeline order (ingest first): each gets a heading and a graph
   * per alarm with its threshold.
   */
  readonly sections: readonly DashboardSection[];
}

/** Widths on the dashboard's 24-column grid. */
const FULL_WIDTH = 24;
const GRAPH_WIDTH = 6;
const GRAPH_HEIGHT = 6;
const MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

/**
 * One CloudWatch dashboard for a stage, read top to bottom as the pipeline runs: the state of every
 * alarm at a glance, then the ingest path's traffic (readings in, stream lag, the validator's
 * duration, errors and alerts), then each stage's alarms as graphs with their thresholds. Every
 * alarm of the stage is on it: on-call opens one page, and each graph's title is the alarm's id,
 * the anchor of its runbook entry.
 */
export class PipelineDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const { stream, validator } = props;
    const allAlarms = props.sections.flatMap((section) => Object.values(section.alarms));

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(6),
    });

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: [
          `# ${props.dashboardName}`,
          `Devices → IoT Core → Kinesis → validator → S3 lake, then the hourly ETL, the warehouse and the models. Each alarm's graph is titled with its id: the anchor of its entry in \`${RUNBOOK_PATH}\` (what it means, how to confirm, what to do, how to replay).`,
        ].join('\n\n'),
        width: FULL_WIDTH,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: allAlarms,
        width: FULL_WIDTH,
        height: Math.max(2, Math.ceil(allAlarms.length / 6) + 1),
        sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
      }),
    );

    this.dashboard.addWidgets(
      heading(
        'Traffic',
        'What flows in: readings per outcome, the stream, the validator and the alerts it raises.',
      ),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Readings per 5 minutes: valid, quarantined, duplicates dropped',
        left: [
          validator.metricCount('readingsValid', { label: 'valid' }),
          validator.metricCount('readingsQuarantined', { label: 'quarantined' }),
          validator.metricCount('duplicatesDropped', { label: 'duplicates dropped' }),
        ],
        stacked: true,
        width: GRAPH_WIDTH,
        height: GRAPH_HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stream: records in per minute, iterator age (ms)',
        left: [
          stream.stream.metricIncomingRecords({
            statistic: cloudwatch.Stats.SUM,
            period: MINUTE,
            label: 'records in',
          }),
        ],
        right: [
          stream.stream.metricGetRecordsIteratorAgeMilliseconds({
            statistic: cloudwatch.Stats.MAXIMUM,
            period: MINUTE,
            label: 'iterator age (ms)',
          }),
        ],
        width: GRAPH_WIDTH,
        height: GRAPH_HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Validator: duration p99 (ms), errors, throttles',
        left: [
          validator.function.metricDuration({
            statistic: cloudwatch.Stats.p(99),
            period: FIVE_MINUTES,
            label: 'duration p99 (ms)',
          }),
        ],
        right: [
          validator.function.metricErrors({ period: FIVE_MINUTES, label: 'errors' }),
          validator.function.metricThrottles({ period: FIVE_MINUTES, label: 'throttles' }),
        ],
        width: GRAPH_WIDTH,
        height: GRAPH_HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Alerts per 5 minutes: raised, critical (SNS)',
        left: [
          validator.metricCount('alertsRaised', { label: 'raised' }),
          validator.criticalAlertTopic.metricNumberOfMessagesPublished({
            period: FIVE_MINUTES,
            label: 'critical',
          }),
        ],
        width: GRAPH_WIDTH,
        height: GRAPH_HEIGHT,
      }),
    );

    for (const section of props.sections) {
      this.dashboard.addWidgets(heading(section.title, section.description));
      const graphs = Object.entries(section.alarms).map(
        ([alarmId, alarm]) =>
          new cloudwatch.AlarmWidget({ title: alarmId, alarm, width: GRAPH_WIDTH, height: GRAPH_HEIGHT }),
      );
      // Four graphs a row, as the grid holds them.
      for (let i = 0; i < graphs.length; i += FULL_WIDTH / GRAPH_WIDTH) {
        this.dashboard.addWidgets(...graphs.slice(i, i + FULL_WIDTH / GRAPH_WIDTH));
      }
    }
  }
}

function heading(title: string, description: string): cloudwatch.TextWidget {
  return new cloudwatch.TextWidget({ markdown: `## ${title}\n${description}`, width: FULL_WIDTH, height: 2 });
}
