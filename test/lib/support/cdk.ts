/** Helpers shared by the infrastructure tests: the app's real context, cdk-nag runs, template lookups. */
import { readFileSync } from 'node:fs';
import { App, type AppProps, type PolicyViolation, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** The feature flags and defaults of cdk.json, so tests synthesize what `cdk synth` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8'),
).context;

/** Skips asset bundling in every stack: bundling is under test in one place only. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

/** An App with cdk.json's context (plus `context`), no bundling, no built-in CloudFormation validation. */
export function testApp(context: Record<string, unknown> = {}, props: AppProps = {}): App {
  return new App({
    builtinCloudFormationValidation: false,
    ...props,
    context: { ...CDK_JSON_CONTEXT, ...NO_BUNDLING, ...context },
  });
}

/** A stack in a test app, for testing one construct. */
export function testStack(id = 'Test'): Stack {
  return new Stack(testApp(), id);
}

/**
 * Runs the AwsSolutions and Serverless packs over `scope` the way synthesis does, returning every
 * unacknowledged finding as `ruleName at constructPath`.
 */
export function nagFindings(scope: IConstruct): string[] {
  const packs = [new AwsSolutionsChecks(), new ServerlessChecks()];
  return packs.flatMap((pack) =>
    pack
      .validateScope(scope)
      .violations.flatMap((violation: PolicyViolation) =>
        violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
      ),
  );
}

/** A synthesized resource's properties, typed as loosely as CDK's own `Template.findResources`. */
export type CfnProperties = ReturnType<Template['findResources']>[string]['Properties'];

/** An IAM policy statement as synthesized. */
export interface StatementJson {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** The single resource of `type` whose logical id starts with `prefix`. */
export function resourceOf(
  template: Template,
  type: string,
  prefix = '',
): { id: string; properties: CfnProperties } {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(prefix));
  if (matches.length !== 1) {
    throw new Error(
      `expected one ${type} with id prefix '${prefix}', found ${matches.map(([id]) => id).join(', ') || 'none'}`,
    );
  }
  const [id, resource] = matches[0] as [string, { Properties: CfnProperties }];
  return { id, properties: resource.Properties };
}

/**
 * Every IAM policy statement attached to the role whose logical id starts with `rolePrefix`,
 * including the managed policies CDK moves statements to when the inline policy outgrows IAM's size limit.
 */
export function statementsOfRole(template: Template, rolePrefix: string): StatementJson[] {
  const role = resourceOf(template, 'AWS::IAM::Role', rolePrefix);
  return [
    ...Object.values(template.findResources('AWS::IAM::Policy')),
    ...Object.values(template.findResources('AWS::IAM::ManagedPolicy')),
  ]
    .filter((policy) =>
      ((policy.Properties.Roles ?? []) as { Ref?: string }[]).some((ref) => ref.Ref === role.id),
    )
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as StatementJson[]);
}

/**
 * The state machine's definition with every CloudFormation reference replaced by a placeholder
 * (pseudo parameters by sample values, other references by the logical id), as asl-validator wants.
 */
export function definitionOf(template: Template, prefix = ''): Record<string, unknown> {
  const resolve = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const value = node as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: [string, string]; Ref?: string };
    if (value['Fn::Join']) return value['Fn::Join'][1].map(resolve).join(value['Fn::Join'][0]);
    if (value['Fn::GetAtt']) return `${value['Fn::GetAtt'][0]}.${value['Fn::GetAtt'][1]}`;
    if (value.Ref) return PSEUDO_PARAMETERS[value.Ref] ?? value.Ref;
    throw new Error(`definitionOf: cannot resolve ${JSON.stringify(node)}`);
  };
  const machine = resourceOf(template, 'AWS::StepFunctions::StateMachine', prefix);
  return JSON.parse(resolve(machine.properties.DefinitionString));
}

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
};

/** Statements granting `action`, with their resources flattened to `<LogicalId.Attr>/suffix` strings. */
export function grantsOf(statements: readonly StatementJson[], action: string): string[] {
  return statements
    .filter((statement) => [statement.Action].flat().includes(action))
    .flatMap((statement) => [statement.Resource].flat().map(flatten));
}

/** Flattens a CloudFormation reference into a readable string, like cdk-nag does. */
export function flatten(node: unknown): string {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object') {
    const value = node as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: [string, string]; Ref?: string };
    if (value['Fn::Join']) return value['Fn::Join'][1].map(flatten).join(value['Fn::Join'][0]);
    if (value['Fn::GetAtt']) return `<${value['Fn::GetAtt'][0]}.${value['Fn::GetAtt'][1]}>`;
    if (value.Ref) return `<${value.Ref}>`;
  }
  return JSON.stringify(node);
}
