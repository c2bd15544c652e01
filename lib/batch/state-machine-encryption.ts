import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';

/**
 * How long Step Functions reuses a data key of a workflow's key (60 to 900 s): the longest, so an
 * hourly or weekly workflow costs a KMS call per execution rather than per state transition.
 */
export const STATE_MACHINE_DATA_KEY_REUSE_SECONDS = 900;

/** Executions' inputs, outputs and history under `key`, a customer-managed key, not an AWS-owned one. */
export function stateMachineEncryption(key: kms.IKey): sfn.EncryptionConfiguration {
  return new sfn.CustomerManagedEncryptionConfiguration(
    key,
    Duration.seconds(STATE_MACHINE_DATA_KEY_REUSE_SECONDS),
  );
}

/**
 * The role EventBridge Scheduler starts an encrypted workflow with. Starting an execution of a state
 * machine under a customer-managed key encrypts its input with a data key of that key, so the role
 * needs kms:GenerateDataKey on it beside states:StartExecution (which the schedule's target grants).
 * Only schedules of the stack's own account may assume it.
 */
export function scheduleStartRole(scope: Construct, id: string, key: kms.IKey, workflow: string): iam.Role {
  const role = new iam.Role(scope, id, {
    description: `EventBridge Scheduler starts the ${workflow}`,
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
  });
  key.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
  return role;
}
