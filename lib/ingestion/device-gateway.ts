import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  basicIngestTopic,
  DEVICE_TYPES,
  type DeviceType,
  RULE_ENVELOPE_FIELDS,
  TELEMETRY_TOPIC_FILTER,
  TOPIC_DEVICE_ID_LEVEL,
  telemetryTopic,
} from '../../lambdas/shared/contract.ts';
import type { IotLogLevel } from '../config.ts';
import { FAILURE_PREFIXES } from '../lake/telemetry-lake.ts';
import { acknowledge } from '../nag.ts';

/** The IoT rules SQL version the rule is written for. */
export const IOT_SQL_VERSION = '2016-03-23';
/** The IoT policy variable holding the connected thing's name; the device id IS the thing name. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT policy variable, resolved by IoT Core
export const THING_NAME_VARIABLE = '${iot:Connection.Thing.ThingName}';
/** Where the rule's error action writes, inside the failures bucket. */
export const DEFAULT_RULE_ERROR_PREFIX = FAILURE_PREFIXES.iotRuleErrors;

/**
 * The topic rule's SQL. It selects exactly the fields of `RuleEnvelope` that the validator parses:
 * the device's bytes base64-encoded untouched (so even non-JSON payloads reach the quarantine with
 * their original bytes), the topic, the device id from the topic (authenticated by the device
 * policy) and the broker's receive time.
 */
export function telemetryRuleSql(): string {
  const f = RULE_ENVELOPE_FIELDS;
  return (
    `SELECT encode(*, 'base64') AS ${f.payload}, topic() AS ${f.topic}, ` +
    `topic(${TOPIC_DEVICE_ID_LEVEL}) AS ${f.deviceId}, timestamp() AS ${f.receivedAtMs} ` +
    `FROM '${TELEMETRY_TOPIC_FILTER}'`
  );
}

/** The Kinesis partition key: the device id, so each device's messages stay in order on one shard. */
export const TELEMETRY_PARTITION_KEY = `\${topic(${TOPIC_DEVICE_ID_LEVEL})}`;

export interface DeviceGatewayProps {
  /** Where the rule puts messages. The stack grants the rule's role `kinesis:PutRecord` on it. */
  readonly stream: kinesis.IStream;
  /** Where the rule's error action writes. The stack grants the rule's role `s3:PutObject` on the prefix. */
  readonly failuresBucket: s3.IBucket;
  /** Topic rule name: letters, digits and `_`, unique per account and region. */
  readonly ruleName: string;
  /** Prefix of the IoT policy and thing type names, unique per account and region (e.g. `sdap-dev`). */
  readonly namePrefix: string;
  /** @default {@link DEFAULT_RULE_ERROR_PREFIX} = "iot-rule-errors/" */
  readonly errorPrefix?: string;
  /**
   * Account-wide AWS IoT logging level. IoT logging is one setting per account and region; it is the
   * only way to see SQL errors, which never reach the error action.
   * @default - account logging is not managed by this construct
   */
  readonly accountLogLevel?: IotLogLevel;
}

/**
 * The devices' door into the pipeline: thing types, the device policy (connect as your own thing,
 * publish only to your own telemetry topics), and the topic rule that forwards every telemetry
 * message to the stream, with an error action into the failures bucket.
 */
export class DeviceGateway extends Construct {
  public readonly thingTypes: Readonly<Record<DeviceType, iot.CfnThingType>>;
  public readonly devicePolicy: iot.CfnPolicy;
  public readonly topicRule: iot.CfnTopicRule;
  /** Assumed by IoT to run the rule's actions; the stack grants it the stream and the error prefix. */
  public readonly ruleRole: iam.Role;
  public readonly ruleName: string;
  public readonly errorPrefix: string;
  public readonly logging?: iot.CfnLogging;
  public readonly loggingRole?: iam.Role;

  constructor(scope: Construct, id: string, props: DeviceGatewayProps) {
    super(scope, id);
    if (!/^[a-zA-Z0-9_]{1,128}$/.test(props.ruleName)) {
      throw new Error(
        `DeviceGateway ruleName: received '${props.ruleName}', expected 1-128 letters, digits or _`,
      );
    }
    const stack = Stack.of(this);
    this.ruleName = props.ruleName;
    this.errorPrefix = props.errorPrefix ?? DEFAULT_RULE_ERROR_PREFIX;

    this.thingTypes = Object.fromEntries(
      DEVICE_TYPES.map((deviceType) => [
        deviceType,
        new iot.CfnThingType(this, `ThingType-${deviceType}`, {
          thingTypeName: `${props.namePrefix}-${deviceType}`,
          thingTypeProperties: { thingTypeDescription: `SDAP ${deviceType.replace('_', ' ')}` },
        }),
      ]),
    ) as Record<DeviceType, iot.CfnThingType>;

    const iotArn = (resource: 'client' | 'topic', resourceName: string) =>
      stack.formatArn({ service: 'iot', resource, resourceName });
    this.devicePolicy = new iot.CfnPolicy(this, 'DevicePolicy', {
      policyName: `${props.namePrefix}-device`,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ConnectAsOwnThing',
            Effect: 'Allow',
            Action: 'iot:Connect',
            Resource: iotArn('client', THING_NAME_VARIABLE),
            Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
          },
          {
            Sid: 'PublishOwnTelemetry',
            Effect: 'Allow',
            Action: 'iot:Publish',
            Resource: [
              iotArn('topic', telemetryTopic(THING_NAME_VARIABLE)),
              iotArn('topic', basicIngestTopic(props.ruleName, THING_NAME_VARIABLE)),
            ],
          },
        ],
      },
    });

    const ruleArn = stack.formatArn({ service: 'iot', resource: 'rule', resourceName: props.ruleName });
    this.ruleRole = new iam.Role(this, 'RuleRole', {
      description: `Runs the actions of IoT rule ${props.ruleName}`,
      // Confused-deputy guard: only this account's rule may assume the role.
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnEquals: { 'aws:SourceArn': ruleArn },
        },
      }),
    });

    this.topicRule = new iot.CfnTopicRule(this, 'TopicRule', {
      ruleName: props.ruleName,
      topicRulePayload: {
        description: 'Forwards device telemetry to the telemetry stream, partitioned by device',
        sql: telemetryRuleSql(),
        awsIotSqlVersion: IOT_SQL_VERSION,
        ruleDisabled: false,
        actions: [
          {
            kinesis: {
              streamName: props.stream.streamName,
              partitionKey: TELEMETRY_PARTITION_KEY,
              roleArn: this.ruleRole.roleArn,
            },
          },
        ],
        // Receives the original payload base64-encoded with the failure reasons; one object per failure.
        errorAction: {
          s3: {
            bucketName: props.failuresBucket.bucketName,
            key: `${this.errorPrefix}\${parse_time("yyyy-MM-dd", timestamp(), "UTC")}/\${newuuid()}.json`,
            roleArn: this.ruleRole.roleArn,
          },
        },
      },
    });

    // The rule must not run before its role can act (the grants are added to the role's policy).
    this.topicRule.node.addDependency(this.ruleRole);

    if (props.accountLogLevel !== undefined) {
      this.loggingRole = new iam.Role(this, 'LoggingRole', {
        description: 'Lets AWS IoT write its account-wide logs',
        assumedBy: new iam.ServicePrincipal('iot.amazonaws.com'),
      });
      const iotLogGroup = stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: 'AWSIotLogsV2:*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      this.loggingRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [
            'logs:CreateLogGroup',
            'logs:CreateLogStream',
            'logs:PutLogEvents',
            'logs:PutMetricFilter',
            'logs:PutRetentionPolicy',
          ],
          resources: [iotLogGroup],
        }),
      );
      this.logging = new iot.CfnLogging(this, 'AccountLogging', {
        accountId: stack.account,
        roleArn: this.loggingRole.roleArn,
        defaultLogLevel: props.accountLogLevel,
      });
      this.logging.node.addDependency(this.loggingRole);
      acknowledge(
        this.loggingRole,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:AWSIotLogsV2:*]',
        'AWS IoT writes to the fixed log group AWSIotLogsV2 with streams it names itself; :* scopes the grant to that one group.',
      );
    }
  }
}
