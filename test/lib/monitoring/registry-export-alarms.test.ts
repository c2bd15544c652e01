import { RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { RegistryExport } from '../../../lib/batch/registry-export.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import {
  REGISTRY_EXPORT_ALARM_IDS,
  type RegistryExportAlarmId,
  RegistryExportAlarms,
  registryExportRunbookAnchor,
} from '../../../lib/monitoring/registry-export-alarms.ts';
import { nagFindings, resourceOf, testStack } from '../support/cdk.ts';

describe('RegistryExportAlarms', () => {
  let template: Template;
  const ids: Record<string, string> = {};
  let findings: string[];

  const alarmOf = (alarmId: RegistryExportAlarmId) => {
    const matches = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.AlarmName === `sdap-test-${alarmId}`,
    );
    expect(matches).toHaveLength(1);
    return matches[0]?.Properties;
  };

  beforeAll(() => {
    const stack = testStack();
    const lake = new TelemetryLake(stack, 'Lake', {
      databaseName: 'sdap_test',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const registryExport = new RegistryExport(stack, 'RegistryExport', {
      rawBucket: lake.rawBucket,
      encryptionKey: lake.key,
    });
    const onCallTopic = new sns.Topic(stack, 'OnCall', { masterKey: lake.key });
    new RegistryExportAlarms(stack, 'RegistryExportAlarms', {
      registryExport,
      onCallTopic,
      namePrefix: 'sdap-test',
    });
    template = Template.fromStack(stack);
    ids.topic = resourceOf(template, 'AWS::SNS::Topic').id;
    ids.function = resourceOf(template, 'AWS::Lambda::Function', 'RegistryExportFunction').id;
    findings = nagFindings(stack).filter((finding) => finding.includes('/RegistryExportAlarms/'));
  });

  it.each(REGISTRY_EXPORT_ALARM_IDS)(
    '%s says what to do, links its runbook entry and notifies on-call',
    (alarmId) => {
      // Act
      const alarm = alarmOf(alarmId);

      // Assess
      expect(alarm.AlarmDescription).toContain(' Do: ');
      expect(alarm.AlarmDescription).toContain(`Runbook: docs/runbook.md#${alarmId}`);
      expect(registryExportRunbookAnchor(alarmId)).toBe(`docs/runbook.md#${alarmId}`);
      expect(alarm.AlarmActions).toEqual([{ Ref: ids.topic }]);
      expect(alarm.OKActions).toEqual([{ Ref: ids.topic }]);
    },
  );

  it("fires on any failed run within the hour, watching this function's Errors", () => {
    expect(alarmOf('registry-export-errors-count')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.function } }],
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(findings).toEqual([]);
  });
});
