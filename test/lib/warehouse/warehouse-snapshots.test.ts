/**
 * The warehouse's scheduled snapshots: an EventBridge Scheduler universal target calling Redshift
 * Serverless CreateSnapshot with a retention, through a role limited to that call on this namespace.
 */
import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { AnalyticsWarehouse } from '../../../lib/warehouse/analytics-warehouse.ts';
import {
  DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS,
  DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE,
  WarehouseSnapshots,
} from '../../../lib/warehouse/warehouse-snapshots.ts';
import { flatten, nagFindings, resourceOf, statementsOfRole, testStack } from '../support/cdk.ts';

function warehouseStack(): { stack: Stack; warehouse: AnalyticsWarehouse } {
  const stack = testStack();
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  return { stack, warehouse: new AnalyticsWarehouse(stack, 'Warehouse', { lake, namePrefix: 'sdap-test' }) };
}

describe('WarehouseSnapshots', () => {
  let stack: Stack;
  let template: Template;

  beforeAll(() => {
    const built = warehouseStack();
    stack = built.stack;
    new WarehouseSnapshots(stack, 'WarehouseSnapshots', {
      warehouse: built.warehouse,
      retentionDays: 7,
      scheduleExpression: 'cron(30 3 * * ? *)',
    });
    template = Template.fromStack(stack);
  });

  it('calls CreateSnapshot on the namespace on the schedule, with the retention and a name per execution', () => {
    // Act
    const schedule = resourceOf(template, 'AWS::Scheduler::Schedule', 'WarehouseSnapshots').properties;

    // Assess
    expect(schedule).toMatchObject({
      ScheduleExpression: 'cron(30 3 * * ? *)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      KmsKeyArn: { 'Fn::GetAtt': [resourceOf(template, 'AWS::KMS::Key', 'WarehouseKey').id, 'Arn'] },
      Target: { RetryPolicy: { MaximumRetryAttempts: 3 } },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({
        RoleArn: {
          'Fn::GetAtt': [resourceOf(template, 'AWS::IAM::Role', 'WarehouseSnapshotsScheduleRole').id, 'Arn'],
        },
      }),
    });
    expect(flatten(schedule.Target.Arn)).toBe(
      'arn:<AWS::Partition>:scheduler:::aws-sdk:redshiftserverless:createSnapshot',
    );
    expect(JSON.parse(schedule.Target.Input)).toEqual({
      NamespaceName: 'sdap-test-warehouse',
      SnapshotName: 'sdap-test-warehouse-<aws.scheduler.execution-id>',
      RetentionPeriod: 7,
    });
  });

  it('lets the schedule role create snapshots of this namespace and decrypt the schedule, nothing else', () => {
    // Act
    const statements = statementsOfRole(template, 'WarehouseSnapshotsScheduleRole');

    // Assess
    expect(statements.map((statement) => statement.Action)).toEqual([
      'redshift-serverless:CreateSnapshot',
      'kms:Decrypt',
    ]);
    expect([statements[0]?.Resource].flat().map(flatten)).toEqual([
      `<${resourceOf(template, 'AWS::RedshiftServerless::Namespace').id}.Namespace.NamespaceArn>`,
      'arn:<AWS::Partition>:redshift-serverless:<AWS::Region>:<AWS::AccountId>:snapshot/*',
    ]);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ],
      },
    });
  });

  it('has no unacknowledged cdk-nag finding', () => {
    expect(nagFindings(stack)).toEqual([]);
  });

  it('defaults to a daily snapshot at 02:45 UTC kept two weeks', () => {
    expect(DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE).toBe('cron(45 2 * * ? *)');
    expect(DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS).toBe(14);
  });

  it('fails when the retention is not a whole number of days from 1 to 3653', () => {
    const built = warehouseStack();
    expect(
      () =>
        new WarehouseSnapshots(built.stack, 'Snapshots', { warehouse: built.warehouse, retentionDays: 0 }),
    ).toThrow('WarehouseSnapshots: received retentionDays 0, expected a whole number of days from 1 to 3653');
  });
});
