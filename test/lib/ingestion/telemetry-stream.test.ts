import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_STREAM_CAPACITY,
  DEFAULT_STREAM_RETENTION_HOURS,
  TelemetryStream,
} from '../../../lib/ingestion/telemetry-stream.ts';
import { grantsOf, nagFindings, resourceOf, statementsOfRole, testStack } from '../support/cdk.ts';

describe('TelemetryStream', () => {
  describe('with defaults', () => {
    let stack: Stack;
    let template: Template;

    beforeAll(() => {
      stack = testStack();
      const stream = new TelemetryStream(stack, 'Telemetry');
      stream.grantPutRecord(
        new iam.Role(stack, 'Producer', { assumedBy: new iam.ServicePrincipal('iot.amazonaws.com') }),
      );
      template = Template.fromStack(stack);
    });

    it('is on-demand, keeps records 24 h and is encrypted with its own rotating key', () => {
      // Assess
      expect(DEFAULT_STREAM_CAPACITY).toEqual({ mode: 'on-demand' });
      expect(DEFAULT_STREAM_RETENTION_HOURS).toBe(24);
      const key = resourceOf(template, 'AWS::KMS::Key');
      expect(key.properties.EnableKeyRotation).toBe(true);
      expect(resourceOf(template, 'AWS::Kinesis::Stream').properties).toMatchObject({
        StreamModeDetails: { StreamMode: 'ON_DEMAND' },
        RetentionPeriodHours: DEFAULT_STREAM_RETENTION_HOURS,
        StreamEncryption: { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': [key.id, 'Arn'] } },
      });
    });

    it('lets a producer put single records with the data key, and nothing else', () => {
      // Act
      const statements = statementsOfRole(template, 'Producer');

      // Assess
      expect(statements.flatMap((statement) => [statement.Action].flat()).sort()).toEqual([
        'kinesis:PutRecord',
        'kms:GenerateDataKey',
      ]);
      expect(grantsOf(statements, 'kinesis:PutRecord')).toEqual([
        `<${resourceOf(template, 'AWS::Kinesis::Stream').id}.Arn>`,
      ]);
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(stack)).toEqual([]);
    });
  });

  it('provisions the given shards and retention', () => {
    // Prepare
    const stack = testStack();

    // Act
    new TelemetryStream(stack, 'Telemetry', {
      capacity: { mode: 'provisioned', shardCount: 3 },
      retentionHours: 168,
    });

    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::Stream', {
      ShardCount: 3,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      RetentionPeriodHours: 168,
    });
  });

  it('fails when the retention is outside 24..8760 hours', () => {
    expect(() => new TelemetryStream(testStack(), 'Telemetry', { retentionHours: 23 })).toThrow(
      'TelemetryStream retentionHours: received 23, expected an integer from 24 to 8760',
    );
  });
});
