import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCORING_METRICS, VALIDATOR_SERVICE_NAME } from '../../../lambdas/shared/pipeline-names.ts';
import { buildStageConfig } from '../../../lib/config.ts';
import {
  DRIFT_BAND_STD_DEVS,
  LATENCY_P99_ALARM_MICROSECONDS,
  MODEL_ENDPOINT_ALARM_IDS,
  type ModelEndpointAlarmId,
  modelEndpointRunbookAnchor,
} from '../../../lib/monitoring/model-endpoint-alarms.ts';
import { TelemetryPipelineStack } from '../../../lib/telemetry-pipeline-stack.ts';
import { type CfnProperties, nagFindings, resourceOf, testApp } from '../support/cdk.ts';
import { type TestModels, writeTestModels } from '../support/test-models.ts';

let models: TestModels;

beforeAll(() => {
  models = writeTestModels();
});
afterAll(() => models.remove());

/** The prod stack, with endpoint settings merged over the stage's. */
function prodStack(endpoints: Record<string, unknown> = {}): TelemetryPipelineStack {
  return new TelemetryPipelineStack(testApp(), 'Sdap-prod', {
    config: buildStageConfig('prod', { ml: { endpoints } }),
    modelPath: models.modelPath,
  });
}

function alarmIn(template: Template, alarmId: string): CfnProperties {
  const matches = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
    (alarm) => alarm.Properties.AlarmName === `sdap-prod-${alarmId}`,
  );
  expect(matches, alarmId).toHaveLength(1);
  return matches[0]?.Properties;
}

const variantDimensions = (endpoint: string, variant: string) => [
  { Name: 'EndpointName', Value: endpoint },
  { Name: 'VariantName', Value: variant },
];

describe('ModelEndpointAlarms', () => {
  describe('on prod with a champion alone', () => {
    let stack: TelemetryPipelineStack;
    let template: Template;
    let topic: string;
    const alarmOf = (alarmId: ModelEndpointAlarmId) => alarmIn(template, alarmId);

    beforeAll(() => {
      stack = prodStack();
      template = Template.fromStack(stack);
      topic = resourceOf(template, 'AWS::SNS::Topic', 'AlarmsOnCallTopic').id;
    });

    it('has four alarms per model, each id ending in its unit', () => {
      expect(MODEL_ENDPOINT_ALARM_IDS).toEqual([
        'anomaly-endpoint-5xx-count',
        'anomaly-endpoint-model-errors-count',
        'anomaly-endpoint-latency-p99-us',
        'anomaly-high-score-share-percent',
        'failure-endpoint-5xx-count',
        'failure-endpoint-model-errors-count',
        'failure-endpoint-latency-p99-us',
        'failure-high-score-share-percent',
        'energy-endpoint-5xx-count',
        'energy-endpoint-model-errors-count',
        'energy-endpoint-latency-p99-us',
        'energy-high-score-share-percent',
      ]);
      expect(Object.keys(stack.ml?.alarms.alarms ?? {}).sort()).toEqual([...MODEL_ENDPOINT_ALARM_IDS].sort());
    });

    it.each(MODEL_ENDPOINT_ALARM_IDS)(
      '%s says what to do, links its runbook entry and notifies on-call',
      (alarmId) => {
        // Act
        const alarm = alarmOf(alarmId);

        // Assess
        expect(alarm.AlarmDescription).toContain(' Do: ');
        expect(alarm.AlarmDescription).toContain(`Runbook: docs/runbook.md#${alarmId}`);
        expect(modelEndpointRunbookAnchor(alarmId)).toBe(`docs/runbook.md#${alarmId}`);
        expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
        expect(alarm.OKActions).toEqual([{ Ref: topic }]);
      },
    );

    it("alarms on the stream's endpoint answering 5xx in two of three five-minute periods", () => {
      expect(alarmOf('anomaly-endpoint-5xx-count')).toMatchObject({
        Namespace: 'AWS/SageMaker',
        MetricName: 'Invocation5XXErrors',
        Dimensions: variantDimensions('sdap-prod-anomaly', 'champion'),
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    it("alarms on an ETL endpoint's 5xx in any hourly run", () => {
      expect(alarmOf('failure-endpoint-5xx-count')).toMatchObject({
        MetricName: 'Invocation5XXErrors',
        Dimensions: variantDimensions('sdap-prod-failure', 'champion'),
        Period: 3600,
        Threshold: 1,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
      });
    });

    it('counts the model errors other than 5xx, so that one failure never fires both alarms', () => {
      // Act
      const alarm = alarmOf('energy-endpoint-model-errors-count');

      // Assess
      expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
      const byId = Object.fromEntries(alarm.Metrics.map((query: { Id: string }) => [query.Id, query]));
      expect(Object.values(byId).find((query) => 'Expression' in (query as object))).toMatchObject({
        Expression: 'errors_champion - fivexx_champion',
        ReturnData: true,
      });
      expect(byId.errors_champion).toMatchObject({
        MetricStat: {
          Metric: {
            Namespace: 'AWS/SageMaker',
            MetricName: 'InvocationModelErrors',
            Dimensions: variantDimensions('sdap-prod-energy', 'champion'),
          },
          Period: 3600,
          Stat: 'Sum',
        },
        ReturnData: false,
      });
      expect(byId.fivexx_champion.MetricStat.Metric.MetricName).toBe('Invocation5XXErrors');
    });

    it('alarms on p99 ModelLatency in microseconds: 250 ms for the stream, 2 s for the ETL', () => {
      // Assess
      expect(LATENCY_P99_ALARM_MICROSECONDS).toEqual({ stream: 250_000, etl: 2_000_000 });
      expect(alarmOf('anomaly-endpoint-latency-p99-us')).toMatchObject({
        Namespace: 'AWS/SageMaker',
        MetricName: 'ModelLatency',
        Dimensions: variantDimensions('sdap-prod-anomaly', 'champion'),
        ExtendedStatistic: 'p99',
        Period: 300,
        Threshold: 250_000,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(alarmOf('energy-endpoint-latency-p99-us')).toMatchObject({
        MetricName: 'ModelLatency',
        ExtendedStatistic: 'p99',
        Period: 3600,
        Threshold: 2_000_000,
      });
    });

    it("alarms when a model's hourly high-score share leaves its anomaly detection band for three hours", () => {
      // Act
      const alarm = alarmOf('anomaly-high-score-share-percent');

      // Assess
      expect(alarm).toMatchObject({
        ComparisonOperator: 'LessThanLowerOrGreaterThanUpperThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        TreatMissingData: 'notBreaching',
      });
      expect(alarm).not.toHaveProperty('Threshold');
      const band = alarm.Metrics.find((query: { Expression?: string }) => query.Expression);
      const metric = alarm.Metrics.find((query: { MetricStat?: unknown }) => query.MetricStat);
      expect(alarm.ThresholdMetricId).toBe(band.Id);
      expect(band.Expression).toBe(`ANOMALY_DETECTION_BAND(${metric.Id}, ${DRIFT_BAND_STD_DEVS})`);
      expect(metric.MetricStat).toEqual({
        Metric: {
          Namespace: 'Sdap',
          MetricName: SCORING_METRICS.highScoreShare,
          // What the validator puts: Powertools' service dimension beside the model's.
          Dimensions: [
            { Name: 'Model', Value: 'anomaly' },
            { Name: 'service', Value: VALIDATOR_SERVICE_NAME },
          ],
        },
        Period: 3600,
        Stat: 'Average',
      });
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(stack.ml?.alarms ?? stack)).toEqual([]);
    });
  });

  describe('on prod with a challenger', () => {
    let template: Template;

    beforeAll(() => {
      template = Template.fromStack(prodStack({ challengerTrafficPercent: 10 }));
    });

    it('sums the 5xx of both variants, each metric with its endpoint and variant', () => {
      // Act
      const alarm = alarmIn(template, 'anomaly-endpoint-5xx-count');

      // Assess
      const expression = alarm.Metrics.find((query: { Expression?: string }) => query.Expression);
      expect(expression).toMatchObject({ Expression: 'SUM([fivexx_champion, fivexx_challenger])' });
      for (const variant of ['champion', 'challenger']) {
        expect(alarm.Metrics).toContainEqual(
          expect.objectContaining({
            Id: `fivexx_${variant}`,
            MetricStat: expect.objectContaining({
              Metric: {
                Namespace: 'AWS/SageMaker',
                MetricName: 'Invocation5XXErrors',
                Dimensions: variantDimensions('sdap-prod-anomaly', variant),
              },
              Period: 300,
              Stat: 'Sum',
            }),
          }),
        );
      }
    });

    it("watches the slowest variant's p99 latency and both variants' model errors", () => {
      // Act
      const latency = alarmIn(template, 'failure-endpoint-latency-p99-us');
      const errors = alarmIn(template, 'failure-endpoint-model-errors-count');

      // Assess
      expect(latency.Metrics).toContainEqual(
        expect.objectContaining({ Expression: 'MAX([p99_champion, p99_challenger])' }),
      );
      expect(latency.Metrics).toContainEqual(
        expect.objectContaining({
          Id: 'p99_challenger',
          MetricStat: expect.objectContaining({
            Metric: expect.objectContaining({
              Dimensions: variantDimensions('sdap-prod-failure', 'challenger'),
            }),
            Stat: 'p99',
          }),
        }),
      );
      expect(errors.Metrics).toContainEqual(
        expect.objectContaining({
          Expression: 'SUM([errors_champion, errors_challenger]) - SUM([fivexx_champion, fivexx_challenger])',
        }),
      );
    });
  });

  it('exists only where the stage deploys endpoints', () => {
    // Act
    const devAlarms = Object.values(
      Template.fromStack(
        new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config: buildStageConfig('dev') }),
      ).findResources('AWS::CloudWatch::Alarm'),
    ).map((alarm) => alarm.Properties.AlarmName as string);

    // Assess
    expect(devAlarms.filter((name) => /-endpoint-|-high-score-share-/.test(name))).toEqual([]);
    expect(devAlarms.length).toBeGreaterThan(0);
  });
});
