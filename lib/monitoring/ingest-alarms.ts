import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { DeviceGateway } from '../ingestion/device-gateway.ts';
import type { TelemetryStream } from '../ingestion/telemetry-stream.ts';
import type { TelemetryValidator } from '../ingestion/telemetry-validator.ts';
import type { TelemetryLake } from '../lake/telemetry-lake.ts';
import { acknowledge } from '../nag.ts';
import { createOnCallAlarm, type OnCallAlarmOptions, runbookAnchorOf } from './on-call-alarm.ts';

/**
 * The ingest path's alarms. Each id is part of the alarm's name and the anchor of its runbook entry
 * (`docs/runbook.md#<id>`); the unit of the threshold is in the id.
 */
export const INGEST_ALARM_IDS = [
  'stream-iterator-age-ms',
  'validator-errors-count',
  'validator-throttles-count',
  'stream-failure-objects-count',
  'stream-failure-delivery-failures-count',
  'iot-rule-error-objects-count',
  'iot-rule-error-action-failures-count',
  'quarantine-ratio-percent',
] as const;
export type IngestAlarmId = (typeof INGEST_ALARM_IDS)[number];

export { RUNBOOK_PATH } from './on-call-alarm.ts';
export function runbookAnchor(alarmId: IngestAlarmId): string {
  return runbookAnchorOf(alarmId);
}

/**
 * The iterator-age alarm fires when the consumer lags by this share of the stream retention. At 25 %
 * three quarters of the retention remain to fix the consumer before records reach the maximum
 * record age and are diverted: 6 h of a 24 h retention, 42 h of a 7-day one.
 */
export const DEFAULT_ITERATOR_AGE_ALARM_FRACTION = 0.25;
/** Share of readings quarantined, sustained over 15 minutes, that means a fleet or contract problem. */
export const DEFAULT_QUARANTINE_RATIO_ALARM_PERCENT = 5;

export interface IngestAlarmsProps {
  readonly lake: TelemetryLake;
  readonly stream: TelemetryStream;
  readonly gateway: DeviceGateway;
  readonly validator: TelemetryValidator;
  /** Prefix of the alarm names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /** E-mail addresses subscribed to the on-call topic; each must confirm its subscription once. */
  readonly onCallEmails: readonly string[];
  /** @default {@link DEFAULT_ITERATOR_AGE_ALARM_FRACTION} = 0.25 */
  readonly iteratorAgeAlarmFraction?: number;
  /** @default {@link DEFAULT_QUARANTINE_RATIO_ALARM_PERCENT} = 5 */
  readonly quarantineRatioAlarmPercent?: number;
  /** For the on-call topic and its key. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Alarms on everything that means data is late, diverted or lost on the ingest path, each sent to
 * the on-call topic, each with a description saying what to do and a runbook anchor.
 */
export class IngestAlarms extends Construct {
  public readonly onCallTopic: sns.Topic;
  /** Encrypts the on-call topic; CloudWatch may use it to publish. */
  public readonly onCallKey: kms.Key;
  public readonly alarms: Readonly<Record<IngestAlarmId, cloudwatch.Alarm>>;
  /** The iterator-age threshold, derived from the stream retention. */
  public readonly iteratorAgeThreshold: Duration;

  constructor(scope: Construct, id: string, props: IngestAlarmsProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    // An own key: CloudWatch must be allowed to use it, and that grant should not reach the lake's data.
    this.onCallKey = new kms.Key(this, 'OnCallKey', {
      description: 'Encrypts the on-call alarm topic',
      enableKeyRotation: true,
      removalPolicy,
    });
    // The statement AWS documents for alarms publishing to an encrypted topic (SNS calls KMS on the
    // publisher's behalf). In a key policy, `*` means this key.
    this.onCallKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.onCallTopic = new sns.Topic(this, 'OnCallTopic', {
      displayName: 'SDAP on-call',
      masterKey: this.onCallKey,
      enforceSSL: true,
    });
    this.onCallTopic.applyRemovalPolicy(removalPolicy);
    props.onCallEmails.forEach((address, index) => {
      const subscription = new sns.Subscription(this, `OnCallEmail${index}`, {
        topic: this.onCallTopic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: address,
      });
      acknowledge(
        subscription,
        'Serverless-SNSRedrivePolicy',
        'An e-mail endpoint fails only when the address is gone; the alarm itself stays in ALARM state in CloudWatch, and a dead-letter queue for on-call mail would be one more thing nobody watches.',
      );
    });

    const fraction = props.iteratorAgeAlarmFraction ?? DEFAULT_ITERATOR_AGE_ALARM_FRACTION;
    this.iteratorAgeThreshold = Duration.millis(props.stream.retention.toMilliseconds() * fraction);
    const iteratorAgeMs = this.iteratorAgeThreshold.toMilliseconds();
    const quarantinePercent = props.quarantineRatioAlarmPercent ?? DEFAULT_QUARANTINE_RATIO_ALARM_PERCENT;
    const fiveMinutes = Duration.minutes(5);
    const { lake, stream, gateway, validator } = props;

    const alarm = (alarmId: IngestAlarmId, options: Omit<OnCallAlarmOptions, 'namePrefix' | 'onCallTopic'>) =>
      createOnCallAlarm(this, alarmId, {
        ...options,
        namePrefix: props.namePrefix,
        onCallTopic: this.onCallTopic,
      });

    this.alarms = {
      // Missing data is breaching: the event source mapping polls every shard about once a second
      // even when the stream is idle, so no datum means nobody is reading the stream.
      'stream-iterator-age-ms': alarm('stream-iterator-age-ms', {
        metric: stream.stream.metricGetRecordsIteratorAgeMilliseconds({
          statistic: cloudwatch.Stats.MAXIMUM,
          period: fiveMinutes,
        }),
        threshold: iteratorAgeMs,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        what: `The validator lags the stream by ${iteratorAgeMs} ms (${fraction * 100} % of the retention) or nobody reads it.`,
        todo: 'check the validator for errors and throttles; raise its concurrency or the parallelization factor before records reach the maximum record age.',
      }),
      // Lambda reports Errors only for invocations: no traffic, no datum, nothing wrong.
      'validator-errors-count': alarm('validator-errors-count', {
        metric: validator.function.metricErrors({ statistic: cloudwatch.Stats.SUM, period: fiveMinutes }),
        threshold: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: 'The validator crashed or timed out (transient record failures are not errors).',
        todo: 'read the function logs and X-Ray traces; the batch is being retried and bisected.',
      }),
      // A throttle only delays a stream consumer; alarm when it lasts 15 minutes.
      'validator-throttles-count': alarm('validator-throttles-count', {
        metric: validator.function.metricThrottles({ statistic: cloudwatch.Stats.SUM, period: fiveMinutes }),
        threshold: 1,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: 'The validator has been throttled for 15 minutes.',
        todo: 'check account concurrency and the reserved concurrency against shards x parallelization factor.',
      }),
      // S3 request metrics exist only for periods with requests: missing data means nothing arrived.
      'stream-failure-objects-count': alarm('stream-failure-objects-count', {
        metric: lake.metricFailureObjectsWritten('streamFailures'),
        threshold: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: 'Stream records exhausted their retries or maximum age and were written to the failures bucket (aws/lambda/).',
        todo: 'find the cause in the validator logs, fix it, then replay the records from the failure objects.',
      }),
      'stream-failure-delivery-failures-count': alarm('stream-failure-delivery-failures-count', {
        metric: validator.metricDestinationDeliveryFailures(),
        threshold: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: 'Lambda could not write discarded stream records to the on-failure destination: those records are lost unless still in the stream.',
        todo: "check the validator role's s3:PutObject and kms:GenerateDataKey on the failures bucket, then replay from the stream while it retains them.",
      }),
      'iot-rule-error-objects-count': alarm('iot-rule-error-objects-count', {
        metric: lake.metricFailureObjectsWritten('iotRuleErrors'),
        threshold: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: 'The IoT rule could not put messages on the stream; its error action saved them to the failures bucket (iot-rule-errors/).',
        todo: 'read the failures in the error documents (throttling, permissions, KMS), fix, then replay their base64 payloads.',
      }),
      // AWS/IoT ErrorActionFailure, dimension RuleName (AWS IoT Developer Guide, "AWS IoT metrics
      // and dimensions", rule action metrics): the error action itself failed, the message is lost.
      'iot-rule-error-action-failures-count': alarm('iot-rule-error-action-failures-count', {
        metric: new cloudwatch.Metric({
          namespace: 'AWS/IoT',
          metricName: 'ErrorActionFailure',
          dimensionsMap: { RuleName: gateway.ruleName },
          statistic: cloudwatch.Stats.SUM,
          period: fiveMinutes,
        }),
        threshold: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: 'The IoT rule failed to put messages on the stream AND to save them to the failures bucket: they are lost.',
        todo: "check the rule role's s3:PutObject and KMS permissions and the AWSIotLogsV2 log group; ask the devices to resend.",
      }),
      // Readings are counted per batch; with no traffic the expression has no datum, which is fine.
      'quarantine-ratio-percent': alarm('quarantine-ratio-percent', {
        metric: new cloudwatch.MathExpression({
          expression: '100 * quarantined / (valid + quarantined)',
          usingMetrics: {
            valid: validator.metricCount('readingsValid'),
            quarantined: validator.metricCount('readingsQuarantined'),
          },
          label: 'Quarantined readings (%)',
          period: fiveMinutes,
        }),
        threshold: quarantinePercent,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        what: `More than ${quarantinePercent} % of readings have been quarantined for 15 minutes.`,
        todo: 'query the quarantine by reason code; a new firmware or a contract change is the usual cause.',
      }),
    };
  }
}
