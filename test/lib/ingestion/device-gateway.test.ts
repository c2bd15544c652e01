import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEVICE_TYPES,
  RULE_ENVELOPE_FIELDS,
  TELEMETRY_TOPIC_FILTER,
  TELEMETRY_TOPIC_PREFIX,
} from '../../../lambdas/shared/contract.ts';
import {
  DEFAULT_RULE_ERROR_PREFIX,
  DeviceGateway,
  IOT_SQL_VERSION,
  TELEMETRY_PARTITION_KEY,
  telemetryRuleSql,
} from '../../../lib/ingestion/device-gateway.ts';
import {
  type CfnProperties,
  flatten,
  nagFindings,
  resourceOf,
  type StatementJson,
  testStack,
} from '../support/cdk.ts';

const RULE_NAME = 'sdap_test_telemetry';
// biome-ignore lint/suspicious/noTemplateCurlyInString: the IoT policy variable, literally
const THING = '${iot:Connection.Thing.ThingName}';

function gatewayStack(accountLogLevel?: 'WARN'): { stack: Stack; template: Template } {
  const stack = testStack();
  new DeviceGateway(stack, 'Gateway', {
    stream: new kinesis.Stream(stack, 'Stream', { encryption: kinesis.StreamEncryption.KMS }),
    failuresBucket: new s3.Bucket(stack, 'Failures', { enforceSSL: true }),
    ruleName: RULE_NAME,
    namePrefix: 'sdap-test',
    accountLogLevel,
  });
  return { stack, template: Template.fromStack(stack) };
}

describe('DeviceGateway', () => {
  let stack: Stack;
  let template: Template;

  beforeAll(() => {
    ({ stack, template } = gatewayStack('WARN'));
  });

  describe('device policy', () => {
    let statements: StatementJson[];

    beforeAll(() => {
      statements = resourceOf(template, 'AWS::IoT::Policy').properties.PolicyDocument.Statement;
    });

    it('lets a device connect only as its own, attached thing', () => {
      // Act
      const connect = statements.filter((statement) => [statement.Action].flat().includes('iot:Connect'));

      // Assess
      expect(connect).toHaveLength(1);
      expect(flatten(connect[0]?.Resource)).toMatch(/:client\/\$\{iot:Connection\.Thing\.ThingName\}$/);
      expect(connect[0]?.Condition).toEqual({ Bool: { 'iot:Connection.Thing.IsAttached': 'true' } });
    });

    it('lets a device publish only to its own telemetry topic and its Basic Ingest twin', () => {
      // Act
      const publish = statements.filter((statement) => [statement.Action].flat().includes('iot:Publish'));
      const topics = publish.flatMap((statement) => [statement.Resource].flat().map(flatten));

      // Assess
      expect(topics.map((arn) => arn.replace(/^.*?:topic\//, ''))).toEqual([
        `${TELEMETRY_TOPIC_PREFIX}/${THING}/telemetry`,
        `$aws/rules/${RULE_NAME}/${TELEMETRY_TOPIC_PREFIX}/${THING}/telemetry`,
      ]);
    });

    it('has no wildcard in any action or resource, and allows nothing but connect and publish', () => {
      // Act
      const actions = statements.flatMap((statement) => [statement.Action].flat());
      const resources = statements.flatMap((statement) => [statement.Resource].flat().map(flatten));

      // Assess
      expect(new Set(actions)).toEqual(new Set(['iot:Connect', 'iot:Publish']));
      expect(statements.every((statement) => statement.Effect === 'Allow')).toBe(true);
      for (const value of [...actions, ...resources]) {
        expect(value.replaceAll(THING, '')).not.toMatch(/[*+#]/);
      }
    });
  });

  describe('topic rule', () => {
    let rule: CfnProperties;

    beforeAll(() => {
      rule = resourceOf(template, 'AWS::IoT::TopicRule').properties;
    });

    it('selects exactly the envelope fields the validator parses', () => {
      // Assess
      expect(rule.RuleName).toBe(RULE_NAME);
      expect(rule.TopicRulePayload.AwsIotSqlVersion).toBe(IOT_SQL_VERSION);
      expect(IOT_SQL_VERSION).toBe('2016-03-23');
      expect(rule.TopicRulePayload.Sql).toBe(
        `SELECT encode(*, 'base64') AS payload, topic() AS topic, topic(3) AS deviceId, timestamp() AS receivedAtMs FROM 'dt/sdap/+/telemetry'`,
      );
      expect(telemetryRuleSql()).toContain(`FROM '${TELEMETRY_TOPIC_FILTER}'`);
      for (const field of Object.values(RULE_ENVELOPE_FIELDS))
        expect(telemetryRuleSql()).toContain(` AS ${field}`);
    });

    it('puts each message on the stream with the device id as partition key', () => {
      // Act
      const [action] = rule.TopicRulePayload.Actions;

      // Assess
      expect(rule.TopicRulePayload.Actions).toHaveLength(1);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT substitution template, literally
      expect(action.Kinesis.PartitionKey).toBe('${topic(3)}');
      expect(TELEMETRY_PARTITION_KEY).toBe(action.Kinesis.PartitionKey);
      expect(action.Kinesis.StreamName).toEqual({ Ref: resourceOf(template, 'AWS::Kinesis::Stream').id });
    });

    it('writes failed messages to the failures bucket under the error prefix', () => {
      // Act
      const errorAction = rule.TopicRulePayload.ErrorAction.S3;

      // Assess
      expect(DEFAULT_RULE_ERROR_PREFIX).toBe('iot-rule-errors/');
      expect(errorAction.BucketName).toEqual({ Ref: resourceOf(template, 'AWS::S3::Bucket').id });
      expect(errorAction.Key.startsWith(DEFAULT_RULE_ERROR_PREFIX)).toBe(true);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT substitution template, literally
      expect(errorAction.Key).toContain('${newuuid()}');
      expect(errorAction.RoleArn).toEqual(rule.TopicRulePayload.Actions[0].Kinesis.RoleArn);
    });

    it('runs as a role only this rule of this account can assume', () => {
      // Act
      const [trust] = resourceOf(template, 'AWS::IAM::Role', 'GatewayRuleRole').properties
        .AssumeRolePolicyDocument.Statement;

      // Assess
      expect(trust.Principal).toEqual({ Service: 'iot.amazonaws.com' });
      expect(trust.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
      expect(flatten(trust.Condition.ArnEquals['aws:SourceArn'])).toMatch(new RegExp(`:rule/${RULE_NAME}$`));
    });
  });

  it('defines a thing type per device type', () => {
    // Act
    const names = Object.values(template.findResources('AWS::IoT::ThingType')).map(
      (thingType) => thingType.Properties.ThingTypeName,
    );

    // Assess
    expect(names.sort()).toEqual(DEVICE_TYPES.map((deviceType) => `sdap-test-${deviceType}`).sort());
  });

  it('configures account logging with its own role when a level is given', () => {
    // Act
    const logging = resourceOf(template, 'AWS::IoT::Logging').properties;

    // Assess
    expect(logging.DefaultLogLevel).toBe('WARN');
    expect(logging.RoleArn).toEqual({
      'Fn::GetAtt': [resourceOf(template, 'AWS::IAM::Role', 'GatewayLoggingRole').id, 'Arn'],
    });
  });

  it('leaves account logging alone when no level is given', () => {
    gatewayStack().template.resourceCountIs('AWS::IoT::Logging', 0);
  });

  it('fails when the rule name has characters IoT rejects', () => {
    expect(
      () =>
        new DeviceGateway(testStack(), 'Gateway', {
          stream: kinesis.Stream.fromStreamArn(
            testStack(),
            'S',
            'arn:aws:kinesis:eu-west-1:111111111111:stream/s',
          ),
          failuresBucket: s3.Bucket.fromBucketName(testStack(), 'B', 'bucket'),
          ruleName: 'sdap-dev-telemetry',
          namePrefix: 'sdap-dev',
        }),
    ).toThrow(`DeviceGateway ruleName: received 'sdap-dev-telemetry', expected 1-128 letters, digits or _`);
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(stack).filter((finding) => finding.includes('/Gateway/'))).toEqual([]);
  });
});
