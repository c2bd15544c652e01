import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ETL_METRICS } from '../../../lib/batch/etl-workflow.ts';
import { buildStageConfig } from '../../../lib/config.ts';
import {
  WAREHOUSE_ALARM_IDS,
  type WarehouseAlarmId,
  warehouseRunbookAnchor,
} from '../../../lib/monitoring/warehouse-alarms.ts';
import { TelemetryPipelineStack } from '../../../lib/telemetry-pipeline-stack.ts';
import { resourceOf, testApp } from '../support/cdk.ts';
import { type TestModels, writeTestModels } from '../support/test-models.ts';

describe('WarehouseAlarms', () => {
  let template: Template;
  let topic: string;

  const alarmOf = (alarmId: WarehouseAlarmId) => {
    const matches = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.AlarmName === `sdap-prod-${alarmId}`,
    );
    expect(matches).toHaveLength(1);
    return matches[0]?.Properties;
  };

  // Prod deploys the models' endpoints: small models stand in for the committed ones.
  let models: TestModels;
  afterAll(() => models.remove());

  beforeAll(() => {
    models = writeTestModels();
    const stack = new TelemetryPipelineStack(testApp(), 'Sdap-prod', {
      config: buildStageConfig('prod'),
      modelPath: models.modelPath,
    });
    template = Template.fromStack(stack);
    topic = resourceOf(template, 'AWS::SNS::Topic', 'AlarmsOnCallTopic').id;
  });

  it.each(WAREHOUSE_ALARM_IDS)(
    '%s says what to do, links its runbook entry and notifies on-call',
    (alarmId) => {
      // Act
      const alarm = alarmOf(alarmId);

      // Assess
      expect(alarm.AlarmDescription).toContain(' Do: ');
      expect(alarm.AlarmDescription).toContain(`Runbook: docs/runbook.md#${alarmId}`);
      expect(warehouseRunbookAnchor(alarmId)).toBe(`docs/runbook.md#${alarmId}`);
      expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.OKActions).toEqual([{ Ref: topic }]);
    },
  );

  it('alarms on any window whose load failed, from the metric the workflow puts with its name', () => {
    expect(alarmOf('warehouse-load-failures-count')).toMatchObject({
      Namespace: 'Sdap',
      MetricName: ETL_METRICS.warehouseLoadFailures,
      Dimensions: [{ Name: 'workflow', Value: 'sdap-prod-etl' }],
      Statistic: 'Sum',
      Unit: 'Count',
      Period: 3600,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('exists only where the ETL loads a warehouse', () => {
    // Act
    const devAlarms = Object.values(
      Template.fromStack(
        new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config: buildStageConfig('dev') }),
      ).findResources('AWS::CloudWatch::Alarm'),
    ).map((alarm) => alarm.Properties.AlarmName);

    // Assess
    expect(devAlarms).not.toContain('sdap-dev-warehouse-load-failures-count');
  });
});
