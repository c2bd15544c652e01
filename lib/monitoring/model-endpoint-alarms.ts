import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { MODEL_NAMES, type ModelName } from '../../ml/model-spec.ts';
import type { ModelCaller, ModelEndpoints, VariantName } from '../ml/model-endpoints.ts';
import {
  createOnCallAlarm,
  createOnCallAnomalyAlarm,
  type OnCallAlarmOptions,
  runbookAnchorOf,
} from './on-call-alarm.ts';

/** What each endpoint is alarmed on; the unit of the threshold ends each kind. */
export const MODEL_ENDPOINT_ALARM_KINDS = [
  'endpoint-5xx-count',
  'endpoint-model-errors-count',
  'endpoint-latency-p99-us',
  'high-score-share-percent',
] as const;
export type ModelEndpointAlarmKind = (typeof MODEL_ENDPOINT_ALARM_KINDS)[number];
export type ModelEndpointAlarmId = `${ModelName}-${ModelEndpointAlarmKind}`;

/**
 * The endpoints' alarms, `<model>-<kind>`. Each id is part of the alarm's name and the anchor of its
 * runbook entry (`docs/runbook.md#<id>`); the unit of the threshold is in the id.
 */
export const MODEL_ENDPOINT_ALARM_IDS: readonly ModelEndpointAlarmId[] = MODEL_NAMES.flatMap((model) =>
  MODEL_ENDPOINT_ALARM_KINDS.map((kind): ModelEndpointAlarmId => `${model}-${kind}`),
);

export function modelEndpointRunbookAnchor(alarmId: ModelEndpointAlarmId): string {
  return runbookAnchorOf(alarmId);
}

/** How an endpoint's errors and latency are evaluated, by who calls it. */
export interface AlarmCadence {
  readonly period: Duration;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
}

/**
 * The stream calls its endpoint for every batch, many times a minute: five-minute periods, and two
 * bad ones out of three, so that one blip (SageMaker replacing an instance, a retried call) does not
 * page while a real fault does within ten minutes. The ETL calls its endpoints in one burst an hour:
 * one hourly period, each run judged on its own, the alarm staying up until the next run.
 */
export const ALARM_CADENCE: Readonly<Record<ModelCaller, AlarmCadence>> = {
  stream: { period: Duration.minutes(5), evaluationPeriods: 3, datapointsToAlarm: 2 },
  etl: { period: Duration.hours(1), evaluationPeriods: 1, datapointsToAlarm: 1 },
};

/**
 * p99 of ModelLatency (the container's time, in microseconds) above which an endpoint is too slow
 * for its caller. Measured with xgboost 1.7.4 on one thread (as the container scores), a model of
 * the anomaly model's size (200 trees of depth 6) parses and scores 100 CSV rows in about 25 ms and
 * 6,400 rows (the most a stream batch carries) in about 55 ms. The stream's alarm sits at 250 ms,
 * four times its largest batch: queueing in a saturated instance or a model grown out of proportion,
 * while the stream's call still has time left before it gives up. An ETL call carries up to
 * InvokeEndpoint's 6 MB (about 40,000 rows, some 350 ms): 2 s.
 */
export const LATENCY_P99_ALARM_MICROSECONDS: Readonly<Record<ModelCaller, number>> = {
  stream: 250_000,
  etl: 2_000_000,
};

/**
 * The drift alarm fires when a model's hourly HighScoreShare leaves CloudWatch's anomaly detection
 * band, 3 standard deviations wide, for 3 hours in a row.
 *
 * Why a band and not "the last hour above 3x its 7-day average": a CloudWatch alarm evaluates at most
 * a day of data (period x evaluation periods), so a 7-day average cannot be part of its metric math;
 * it would take a scheduled function computing the baseline, one more thing to fail. The anomaly
 * detection model is that trailing baseline, kept by CloudWatch: trained on up to two weeks of the
 * metric's own history, with its daily and weekly pattern (more anomalies at night when devices idle).
 * It catches a fall as well as a rise (a model that stops flagging anything has drifted too). Its
 * limits: no band until it has history (no alarm in a new stage's first days), and a shift that lasts
 * for weeks becomes the new normal: the weekly retraining's evaluation against the champion is what
 * catches slow drift. Three bands wide and three hours long keeps it to real shifts in the data.
 */
export const DRIFT_BAND_STD_DEVS = 3;
export const DRIFT_EVALUATION_HOURS = 3;

export interface ModelEndpointAlarmsProps {
  readonly endpoints: ModelEndpoints;
  /** The on-call topic of the other alarms: one place to subscribe. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of the alarm names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
}

/**
 * Alarms on each model endpoint, over all its variants: the model answered 5xx, it refused or
 * dropped requests (the other errors its callers receive as ModelError), its p99 latency is too high
 * for its caller, and the share of high scores it gives has left its usual band (drift).
 */
export class ModelEndpointAlarms extends Construct {
  public readonly alarms: Readonly<Record<ModelEndpointAlarmId, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: ModelEndpointAlarmsProps) {
    super(scope, id);
    const { endpoints } = props;
    const alarm = (
      alarmId: ModelEndpointAlarmId,
      options: Omit<OnCallAlarmOptions, 'namePrefix' | 'onCallTopic'>,
    ) =>
      createOnCallAlarm(this, alarmId, {
        ...options,
        namePrefix: props.namePrefix,
        onCallTopic: props.onCallTopic,
      });

    const alarms: Partial<Record<ModelEndpointAlarmId, cloudwatch.Alarm>> = {};
    for (const model of MODEL_NAMES) {
      const caller = endpoints.callers[model];
      const cadence = ALARM_CADENCE[caller];
      const { period } = cadence;
      const variants = endpoints.variantNames;
      const endpointName = endpoints.endpointNames[model];
      const perVariant = (
        prefix: string,
        metric: (variant: VariantName) => cloudwatch.IMetric,
      ): Record<string, cloudwatch.IMetric> =>
        Object.fromEntries(variants.map((variant) => [`${prefix}_${variant}`, metric(variant)]));
      const callerText =
        caller === 'stream'
          ? 'The stream scores readings with the rules alone meanwhile.'
          : "The ETL's predictions of the affected hours are missing.";

      // One variant: its own metric. Several: their sum, each variant's metric with its dimensions.
      const fiveXx = perVariant('fivexx', (variant) =>
        endpoints.metricInvocation5xxErrors(model, variant, { period }),
      );
      alarms[`${model}-endpoint-5xx-count`] = alarm(`${model}-endpoint-5xx-count`, {
        metric:
          variants.length === 1
            ? endpoints.metricInvocation5xxErrors(model, 'champion', { period })
            : new cloudwatch.MathExpression({
                expression: `SUM([${Object.keys(fiveXx).join(', ')}])`,
                usingMetrics: fiveXx,
                label: `${endpointName} 5xx answers (count)`,
                period,
              }),
        threshold: 1,
        ...cadence,
        // SageMaker reports invocation metrics only for periods with invocations.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: `The ${model} model answered requests with a 5xx status on ${endpointName}: its container failed or an instance was unhealthy. ${callerText}`,
        todo: `read the endpoint's log group /aws/sagemaker/Endpoints/${endpointName} and its instance metrics; a failing new model: roll back its commit and deploy.`,
      });

      // InvocationModelErrors counts every answer that was not 2xx, 5xx included: subtracting the
      // 5xx leaves the refusals (4xx: input that does not fit the model), timeouts and dropped
      // connections, so the two alarms never fire for the same requests.
      const modelErrors = perVariant('errors', (variant) =>
        endpoints.metricInvocationModelErrors(model, variant, { period }),
      );
      const sum = (ids: string[]) => (ids.length === 1 ? ids.join('') : `SUM([${ids.join(', ')}])`);
      alarms[`${model}-endpoint-model-errors-count`] = alarm(`${model}-endpoint-model-errors-count`, {
        metric: new cloudwatch.MathExpression({
          expression: `${sum(Object.keys(modelErrors))} - ${sum(Object.keys(fiveXx))}`,
          usingMetrics: { ...modelErrors, ...fiveXx },
          label: `${endpointName} model errors other than 5xx (count)`,
          period,
        }),
        threshold: 1,
        ...cadence,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: `The ${model} model refused requests (4xx: rows that do not fit it), timed out or dropped them on ${endpointName}; callers received ModelError. ${callerText}`,
        todo: `read OriginalStatusCode and OriginalMessage in the caller's log; a feature-count or format refusal means the caller and ml/models.json disagree with the deployed model.`,
      });

      // ModelLatency is in microseconds: the threshold and the alarm's id say so.
      const latencyMicros = LATENCY_P99_ALARM_MICROSECONDS[caller];
      const latency = perVariant('p99', (variant) =>
        endpoints.metricModelLatency(model, variant, { period }),
      );
      alarms[`${model}-endpoint-latency-p99-us`] = alarm(`${model}-endpoint-latency-p99-us`, {
        metric:
          variants.length === 1
            ? endpoints.metricModelLatency(model, 'champion', { period })
            : new cloudwatch.MathExpression({
                expression: `MAX([${Object.keys(latency).join(', ')}])`,
                usingMetrics: latency,
                label: `${endpointName} slowest variant's p99 ModelLatency (microseconds)`,
                period,
              }),
        threshold: latencyMicros,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        ...cadence,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: `The ${model} model's p99 latency on ${endpointName} exceeded ${latencyMicros} microseconds (${latencyMicros / 1000} ms): its instances are saturated or the model grew.`,
        todo: `compare Invocations per instance with ml.endpoints.targetInvocationsPerInstance and the variant's instance count against its maximum; raise ml.endpoints.maxInstanceCount or the instance type.`,
      });

      alarms[`${model}-high-score-share-percent`] = createOnCallAnomalyAlarm(
        this,
        `${model}-high-score-share-percent`,
        {
          namePrefix: props.namePrefix,
          onCallTopic: props.onCallTopic,
          metric: endpoints.metricHighScoreShare(model, { period: Duration.hours(1) }),
          stdDevs: DRIFT_BAND_STD_DEVS,
          evaluationPeriods: DRIFT_EVALUATION_HOURS,
          // No scoring, no share: the error alarms say why.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          what: `The share of rows the ${model} model scores at or above its threshold (percent, hourly) has been outside its usual band for ${DRIFT_EVALUATION_HOURS} hours: the data it scores, or the model, changed.`,
          todo: 'compare the captured inputs (ml-data-capture/) of the last hours with earlier ones; a fleet or firmware change calls for retraining, a deployment for a rollback.',
        },
      );
    }
    this.alarms = alarms as Record<ModelEndpointAlarmId, cloudwatch.Alarm>;
  }
}
