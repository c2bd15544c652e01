import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import {
  DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS,
  DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE,
  MAX_WAREHOUSE_SNAPSHOT_RETENTION_DAYS,
} from '../config.ts';
import { acknowledge } from '../nag.ts';
import type { AnalyticsWarehouse } from './analytics-warehouse.ts';

// The snapshot defaults are the stage defaults; re-exported as this construct's own.
export { DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS, DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE };

/**
 * How often Redshift Serverless takes a recovery point by itself, and how long it keeps each (AWS:
 * every 30 minutes, or sooner after 5 GB of changes; kept 24 hours; not configurable).
 */
export const RECOVERY_POINT_INTERVAL_MINUTES = 30;
export const RECOVERY_POINT_RETENTION_HOURS = 24;
/** The Redshift Serverless API operation the schedule calls (an EventBridge Scheduler universal target). */
export const SNAPSHOT_SDK_SERVICE = 'redshiftserverless';
export const SNAPSHOT_SDK_ACTION = 'createSnapshot';
/**
 * Delivery retries of a missed snapshot call (throttling, the namespace busy restoring). A call still
 * failing after them is dropped: the next day's snapshot is due, and the recovery points go on.
 */
export const SNAPSHOT_RETRY_ATTEMPTS = 3;

export interface WarehouseSnapshotsProps {
  readonly warehouse: AnalyticsWarehouse;
  /**
   * When a snapshot is taken, as an EventBridge Scheduler expression in UTC.
   * @default {@link DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE} = "cron(45 2 * * ? *)"
   */
  readonly scheduleExpression?: string;
  /**
   * Days each snapshot is kept (1 to 3653).
   * @default {@link DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS} = 14
   */
  readonly retentionDays?: number;
}

/**
 * Scheduled manual snapshots of the warehouse's namespace, kept `retentionDays`: restore points
 * beyond the 24 hours of recovery points Redshift Serverless keeps by itself. CloudFormation has no
 * resource for a Redshift Serverless snapshot schedule (`AWS::Redshift::ScheduledAction` only
 * pauses, resumes and resizes provisioned clusters), so an EventBridge Scheduler schedule calls
 * `CreateSnapshot` directly, naming each snapshot `<namespace>-<execution id>`, through a role that
 * may create snapshots of this namespace and nothing else.
 */
export class WarehouseSnapshots extends Construct {
  public readonly role: iam.Role;
  public readonly schedule: scheduler.Schedule;
  public readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: WarehouseSnapshotsProps) {
    super(scope, id);
    const { warehouse } = props;
    this.retentionDays = props.retentionDays ?? DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS;
    if (
      !Number.isInteger(this.retentionDays) ||
      this.retentionDays < 1 ||
      this.retentionDays > MAX_WAREHOUSE_SNAPSHOT_RETENTION_DAYS
    ) {
      throw new Error(
        `WarehouseSnapshots: received retentionDays ${this.retentionDays}, expected a whole number of days from 1 to ${MAX_WAREHOUSE_SNAPSHOT_RETENTION_DAYS}`,
      );
    }
    const stack = Stack.of(this);
    this.role = new iam.Role(this, 'ScheduleRole', {
      description: `Takes the scheduled snapshots of the ${warehouse.namespaceName} namespace`,
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    // The snapshot's ARN carries an id Redshift assigns when it creates it.
    // Pseudo parameters rather than formatArn, so the finding acknowledged below reads the same
    // whether or not the stage names its region.
    const snapshots = `arn:${Aws.PARTITION}:redshift-serverless:${Aws.REGION}:${Aws.ACCOUNT_ID}:snapshot/*`;
    const scheduleExpression = props.scheduleExpression ?? DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE;
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Snapshot of the ${warehouse.namespaceName} namespace, kept ${this.retentionDays} days (${scheduleExpression}, UTC)`,
      schedule: scheduler.ScheduleExpression.expression(scheduleExpression),
      target: new targets.Universal({
        service: SNAPSHOT_SDK_SERVICE,
        action: SNAPSHOT_SDK_ACTION,
        role: this.role,
        input: scheduler.ScheduleTargetInput.fromObject({
          NamespaceName: warehouse.namespaceName,
          // Snapshot names take lowercase letters, digits and dashes; the execution id is one such
          // word per attempt, so a retried call never collides with the snapshot it replaces.
          SnapshotName: `${warehouse.namespaceName}-${scheduler.ContextAttribute.executionId}`,
          RetentionPeriod: this.retentionDays,
        }),
        policyStatements: [
          new iam.PolicyStatement({
            actions: ['redshift-serverless:CreateSnapshot'],
            resources: [warehouse.namespace.attrNamespaceNamespaceArn, snapshots],
          }),
        ],
        retryAttempts: SNAPSHOT_RETRY_ATTEMPTS,
      }),
      key: warehouse.key,
      timeWindow: scheduler.TimeWindow.off(),
    });
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:redshift-serverless:<AWS::Region>:<AWS::AccountId>:snapshot/*]',
      'CreateSnapshot names the new snapshot, whose id Redshift assigns at creation; the action is also limited to this namespace.',
    );
  }
}
