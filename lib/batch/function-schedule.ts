import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { acknowledge, nagReference } from '../nag.ts';

/** What EventBridge Scheduler accepts as a schedule: `cron(...)` or `rate(...)`. */
export const SCHEDULE_EXPRESSION_PATTERN = /^(rate|cron)\(.+\)$/;

export interface FunctionScheduleOptions {
  readonly function: lambda.IFunction;
  /** An EventBridge Scheduler expression, in UTC. */
  readonly scheduleExpression: string;
  readonly description: string;
  readonly roleDescription: string;
  /** Encrypts the schedule. */
  readonly encryptionKey: kms.IKey;
  /** Delivery retries of an invocation (not reruns of a failed run). */
  readonly retryAttempts: number;
  /** A delivery later than this is dropped: the next scheduled run is due. */
  readonly maxEventAgeSeconds: number;
}

/**
 * A schedule that invokes `function` with `{"scheduledTime": ...}` (the function logs it, and the
 * scheduled time, not the clock, names the run), through a role of its own scoped to this account
 * (the confused-deputy condition EventBridge Scheduler documents), rather than a stack-wide one.
 * Creates `ScheduleRole` and `Schedule` in `scope`.
 */
export function createFunctionSchedule(
  scope: Construct,
  options: FunctionScheduleOptions,
): { readonly schedule: scheduler.Schedule; readonly role: iam.Role } {
  const role = new iam.Role(scope, 'ScheduleRole', {
    description: options.roleDescription,
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
  });
  const schedule = new scheduler.Schedule(scope, 'Schedule', {
    description: options.description,
    schedule: scheduler.ScheduleExpression.expression(options.scheduleExpression),
    target: new targets.LambdaInvoke(options.function, {
      role,
      input: scheduler.ScheduleTargetInput.fromObject({
        scheduledTime: scheduler.ContextAttribute.scheduledTime,
      }),
      retryAttempts: options.retryAttempts,
      maxEventAge: Duration.seconds(options.maxEventAgeSeconds),
    }),
    key: options.encryptionKey,
  });
  acknowledge(
    role,
    `AwsSolutions-IAM5[Resource::${nagReference(options.function.node.defaultChild as lambda.CfnFunction)}:*]`,
    "The invoke grant also covers the function's qualified ARNs (versions, aliases): this function only.",
  );
  return { schedule, role };
}
