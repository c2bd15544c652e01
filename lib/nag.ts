/**
 * cdk-nag acknowledgements, one finding at a time. cdk-nag v3 reads CDK's native acknowledgements
 * (`Validations.of(construct).acknowledge`), and each finding of a multi-finding rule (IAM5) has its
 * own id, so an acknowledgement can never hide a finding added later.
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges exactly one cdk-nag finding on `scope` (and the resources under it).
 *
 * @param findingId a rule id (`AwsSolutions-S1`) or a rule id with its finding
 *   (`AwsSolutions-IAM5[Resource::*]`); never a bare multi-finding rule
 * @param reason why the finding is accepted, read by reviewers and auditors
 */
export function acknowledge(scope: IConstruct, findingId: string, reason: string): void {
  if (/^AwsSolutions-IAM5$/.test(findingId)) {
    throw new Error(
      `acknowledge: received '${findingId}', expected one finding such as 'AwsSolutions-IAM5[Resource::*]'`,
    );
  }
  if (reason.trim().length < 20) {
    throw new Error(`acknowledge ${findingId}: received reason '${reason}', expected a sentence saying why`);
  }
  Validations.of(scope).acknowledge({ id: findingId, reason });
}

/** How cdk-nag spells a reference to `attribute` of `element` inside a finding id: `<LogicalId.Arn>`. */
export function nagReference(element: CfnElement, attribute = 'Arn'): string {
  return `<${Stack.of(element).resolve(element.logicalId) as string}.${attribute}>`;
}
