import type { Template } from 'aws-cdk-lib/assertions';
import { Template as CdkTemplate } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  METRICS_NAMESPACE,
  VALIDATOR_METRICS,
  VALIDATOR_SERVICE_NAME,
} from '../../../lambdas/shared/pipeline-names.ts';
import { buildStageConfig } from '../../../lib/config.ts';
import {
  DEFAULT_ITERATOR_AGE_ALARM_FRACTION,
  DEFAULT_QUARANTINE_RATIO_ALARM_PERCENT,
  INGEST_ALARM_IDS,
  type IngestAlarmId,
  runbookAnchor,
} from '../../../lib/monitoring/ingest-alarms.ts';
import { TelemetryPipelineStack } from '../../../lib/telemetry-pipeline-stack.ts';
import { nagFindings, resourceOf, testApp } from '../support/cdk.ts';

const EMAILS = ['oncall@example.com', 'backup@example.com'];

describe('IngestAlarms', () => {
  let stack: TelemetryPipelineStack;
  let template: Template;
  let ids: Record<'stream' | 'function' | 'failures' | 'topic', string>;

  /** The synthesized alarm of `alarmId`. */
  const alarmOf = (alarmId: IngestAlarmId) => {
    const matches = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.AlarmName === `sdap-dev-${alarmId}`,
    );
    expect(matches).toHaveLength(1);
    return matches[0]?.Properties;
  };

  beforeAll(() => {
    // The ETL's alarms are EtlAlarms' (test/lib/monitoring/etl-alarms.test.ts).
    const config = buildStageConfig('dev', { onCallEmails: EMAILS, etl: { enabled: false } });
    stack = new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config });
    template = CdkTemplate.fromStack(stack);
    ids = {
      stream: resourceOf(template, 'AWS::Kinesis::Stream').id,
      function: resourceOf(template, 'AWS::Lambda::Function', 'ValidatorFunction').id,
      failures: resourceOf(template, 'AWS::S3::Bucket', 'LakeFailuresBucket').id,
      topic: resourceOf(template, 'AWS::SNS::Topic', 'AlarmsOnCallTopic').id,
    };
  });

  it('creates exactly the exported alarms', () => {
    // Act
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties.AlarmName,
    );

    // Assess
    expect(names.sort()).toEqual(INGEST_ALARM_IDS.map((alarmId) => `sdap-dev-${alarmId}`).sort());
  });

  it.each(INGEST_ALARM_IDS)('%s says what to do, links its runbook entry and notifies on-call', (alarmId) => {
    // Act
    const alarm = alarmOf(alarmId);

    // Assess
    expect(alarm.AlarmDescription).toContain(' Do: ');
    expect(alarm.AlarmDescription).toContain(`Runbook: docs/runbook.md#${alarmId}`);
    expect(runbookAnchor(alarmId)).toBe(`docs/runbook.md#${alarmId}`);
    expect(alarm.AlarmActions).toEqual([{ Ref: ids.topic }]);
    expect(alarm.OKActions).toEqual([{ Ref: ids.topic }]);
    expect(alarm.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
  });

  it('alarms on iterator age at a quarter of the retention, in milliseconds', () => {
    // Prepare
    const retentionHours = resourceOf(template, 'AWS::Kinesis::Stream').properties.RetentionPeriodHours;

    // Act
    const alarm = alarmOf('stream-iterator-age-ms');

    // Assess: 24 h x 3,600,000 ms/h x 0.25 = 21,600,000 ms = 6 h
    expect(DEFAULT_ITERATOR_AGE_ALARM_FRACTION).toBe(0.25);
    expect(alarm.Threshold).toBe(retentionHours * 3_600_000 * DEFAULT_ITERATOR_AGE_ALARM_FRACTION);
    expect(alarm.Threshold).toBe(21_600_000);
    expect(stack.alarms.iteratorAgeThreshold.toHours()).toBe(6);
    expect(alarm).toMatchObject({
      Namespace: 'AWS/Kinesis',
      MetricName: 'GetRecords.IteratorAgeMilliseconds',
      Dimensions: [{ Name: 'StreamName', Value: { Ref: ids.stream } }],
      Statistic: 'Maximum',
      Period: 300,
      TreatMissingData: 'breaching',
    });
  });

  it.each([
    ['validator-errors-count', 'Errors', 1],
    ['validator-throttles-count', 'Throttles', 3],
    ['stream-failure-delivery-failures-count', 'DestinationDeliveryFailures', 1],
  ] as const)('%s watches the validator function (%s)', (alarmId, metricName, evaluationPeriods) => {
    expect(alarmOf(alarmId)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: metricName,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.function } }],
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: evaluationPeriods,
      TreatMissingData: 'notBreaching',
    });
  });

  it.each([
    ['stream-failure-objects-count', 'StreamFailures'],
    ['iot-rule-error-objects-count', 'IotRuleErrors'],
  ] as const)('%s counts objects landing under its prefix of the failures bucket', (alarmId, filterId) => {
    expect(alarmOf(alarmId)).toMatchObject({
      Namespace: 'AWS/S3',
      MetricName: 'PutRequests',
      Dimensions: [
        { Name: 'BucketName', Value: { Ref: ids.failures } },
        { Name: 'FilterId', Value: filterId },
      ],
      Statistic: 'Sum',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(
      resourceOf(template, 'AWS::S3::Bucket', 'LakeFailuresBucket').properties.MetricsConfigurations.map(
        (filter: { Id: string }) => filter.Id,
      ),
    ).toContain(filterId);
  });

  it('alarms when the IoT rule error action itself fails', () => {
    expect(alarmOf('iot-rule-error-action-failures-count')).toMatchObject({
      Namespace: 'AWS/IoT',
      MetricName: 'ErrorActionFailure',
      Dimensions: [
        { Name: 'RuleName', Value: resourceOf(template, 'AWS::IoT::TopicRule').properties.RuleName },
      ],
      Threshold: 1,
    });
  });

  it('alarms on the quarantined share of readings from the validator metrics', () => {
    // Act
    const alarm = alarmOf('quarantine-ratio-percent');
    const byId = Object.fromEntries(alarm.Metrics.map((metric: { Id: string }) => [metric.Id, metric]));

    // Assess
    expect(alarm.Threshold).toBe(DEFAULT_QUARANTINE_RATIO_ALARM_PERCENT);
    expect(alarm.EvaluationPeriods).toBe(3);
    expect(alarm.Metrics.filter((metric: { ReturnData: boolean }) => metric.ReturnData)).toEqual([
      expect.objectContaining({ Expression: '100 * quarantined / (valid + quarantined)' }),
    ]);
    for (const [id, metricName] of [
      ['valid', VALIDATOR_METRICS.readingsValid],
      ['quarantined', VALIDATOR_METRICS.readingsQuarantined],
    ]) {
      expect(byId[id as string]).toMatchObject({
        ReturnData: false,
        MetricStat: {
          Metric: {
            Namespace: METRICS_NAMESPACE,
            MetricName: metricName,
            Dimensions: [{ Name: 'service', Value: VALIDATOR_SERVICE_NAME }],
          },
          Stat: 'Sum',
          Period: 300,
        },
      });
    }
  });

  it('e-mails each on-call address through a KMS-encrypted, TLS-only topic CloudWatch can use', () => {
    // Prepare
    const topic = resourceOf(template, 'AWS::SNS::Topic', 'AlarmsOnCallTopic').properties;
    const key = resourceOf(template, 'AWS::KMS::Key', 'AlarmsOnCallKey');

    // Assess
    expect(topic.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key.id, 'Arn'] });
    expect(key.properties.EnableKeyRotation).toBe(true);
    expect(key.properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
    const endpoints = Object.values(template.findResources('AWS::SNS::Subscription')).map((subscription) => [
      subscription.Properties.Protocol,
      subscription.Properties.Endpoint,
      subscription.Properties.TopicArn,
    ]);
    expect(endpoints).toEqual(EMAILS.map((address) => ['email', address, { Ref: ids.topic }]));
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(stack.alarms)).toEqual([]);
  });
});
