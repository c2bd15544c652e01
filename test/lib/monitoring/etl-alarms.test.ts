import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ETL_METRICS } from '../../../lib/batch/etl-workflow.ts';
import { buildStageConfig, DEFAULT_ETL_DQ_SCORE_THRESHOLD } from '../../../lib/config.ts';
import { ETL_ALARM_IDS, type EtlAlarmId, etlRunbookAnchor } from '../../../lib/monitoring/etl-alarms.ts';
import { TelemetryPipelineStack } from '../../../lib/telemetry-pipeline-stack.ts';
import { resourceOf, testApp } from '../support/cdk.ts';

describe('EtlAlarms', () => {
  let template: Template;
  let topic: string;

  const alarmOf = (alarmId: EtlAlarmId) => {
    const matches = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.AlarmName === `sdap-dev-${alarmId}`,
    );
    expect(matches).toHaveLength(1);
    return matches[0]?.Properties;
  };

  beforeAll(() => {
    const stack = new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config: buildStageConfig('dev') });
    template = Template.fromStack(stack);
    topic = resourceOf(template, 'AWS::SNS::Topic', 'AlarmsOnCallTopic').id;
  });

  it.each(ETL_ALARM_IDS)('%s says what to do, links its runbook entry and notifies on-call', (alarmId) => {
    // Act
    const alarm = alarmOf(alarmId);

    // Assess
    expect(alarm.AlarmDescription).toContain(' Do: ');
    expect(alarm.AlarmDescription).toContain(`Runbook: docs/runbook.md#${alarmId}`);
    expect(etlRunbookAnchor(alarmId)).toBe(`docs/runbook.md#${alarmId}`);
    expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
    expect(alarm.OKActions).toEqual([{ Ref: topic }]);
  });

  it('alarms on any failed execution of the workflow', () => {
    // Act
    const alarm = alarmOf('etl-failed-executions-count');

    // Assess
    expect(alarm).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [
        {
          Name: 'StateMachineArn',
          Value: { Ref: resourceOf(template, 'AWS::StepFunctions::StateMachine', 'EtlWorkflow').id },
        },
      ],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms when a scheduled run lasts the schedule period, in milliseconds, or none finishes in two periods', () => {
    // Act
    const alarm = alarmOf('etl-scheduled-run-duration-ms');

    // Assess: an hourly schedule is 3,600,000 ms
    expect(alarm).toMatchObject({
      Namespace: 'Sdap',
      MetricName: ETL_METRICS.runDuration,
      Statistic: 'Maximum',
      Unit: 'Milliseconds',
      Period: 3600,
      Threshold: 3_600_000,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'breaching',
    });
    expect(alarm.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'workflow', Value: 'sdap-dev-etl' },
        { Name: 'trigger', Value: 'schedule' },
      ]),
    );
  });

  it("alarms when a window's data-quality score falls below the stage's threshold", () => {
    expect(alarmOf('etl-dq-score-ratio')).toMatchObject({
      Namespace: 'Sdap',
      MetricName: ETL_METRICS.dqScore,
      Dimensions: [{ Name: 'workflow', Value: 'sdap-dev-etl' }],
      Statistic: 'Minimum',
      Threshold: DEFAULT_ETL_DQ_SCORE_THRESHOLD,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('follows a daily schedule with one day-long evaluation period', () => {
    // Prepare
    const config = buildStageConfig('dev', { etl: { scheduleExpression: 'cron(30 2 * * ? *)' } });

    // Act
    const daily = Template.fromStack(new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config }));
    const alarm = Object.values(daily.findResources('AWS::CloudWatch::Alarm')).find(
      (candidate) => candidate.Properties.AlarmName === 'sdap-dev-etl-scheduled-run-duration-ms',
    )?.Properties;

    // Assess
    expect(alarm).toMatchObject({ Period: 86_400, EvaluationPeriods: 1, Threshold: 86_400_000 });
  });
});
