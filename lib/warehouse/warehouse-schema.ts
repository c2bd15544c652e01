import { join } from 'node:path';
import { CustomResource, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import {
  WAREHOUSE_SCHEMA_ATTRIBUTES,
  WAREHOUSE_SCHEMA_PROPERTIES,
  WAREHOUSE_SCHEMA_SERVICE_NAME,
} from '../../lambdas/shared/warehouse-names.ts';
import type { MigrationPlan } from '../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../warehouse/migrations.ts';
import { acknowledge, nagReference } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';
import type { AnalyticsWarehouse } from './analytics-warehouse.ts';

const SCHEMA_ENTRY = join(REPO_ROOT, 'lambdas', 'warehouse-schema', 'handler.ts');
/** The custom resource's type, as CloudFormation lists it. */
export const WAREHOUSE_SCHEMA_RESOURCE_TYPE = 'Custom::WarehouseSchema';
/**
 * The migrations of a fresh warehouse run a few dozen short statements; ten minutes is room for a
 * workgroup scaling up from idle, well within the provider framework's wait for its handler.
 */
export const WAREHOUSE_SCHEMA_TIMEOUT_SECONDS = 600;
export const WAREHOUSE_SCHEMA_MEMORY_MB = 256;
export const DEFAULT_WAREHOUSE_SCHEMA_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;

export interface WarehouseSchemaProps {
  readonly warehouse: AnalyticsWarehouse;
  /** @default - `migrationPlan('redshift')` of warehouse/, rendered at synthesis */
  readonly plan?: MigrationPlan;
  /** @default {@link DEFAULT_WAREHOUSE_SCHEMA_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the log groups. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The warehouse's schema, deployed with the stack: a custom resource whose properties carry the
 * migration plan rendered from the warehouse spec at synthesis. A change of the spec changes the
 * properties, so CloudFormation updates the resource and the function applies the (idempotent)
 * plan again: new migrations run once, views are recreated when their SQL changed. Deleting the
 * resource leaves the warehouse as it is.
 *
 * The function also resolves the admin secret's full ARN, which CloudFormation does not return for
 * a namespace, and hands it out as {@link adminSecretArn}.
 */
export class WarehouseSchema extends Construct {
  public readonly function: lambda.IFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly provider: cr.Provider;
  public readonly resource: CustomResource;
  public readonly plan: MigrationPlan;
  /** The admin secret's ARN, known once the resource is deployed. */
  public readonly adminSecretArn: string;

  constructor(scope: Construct, id: string, props: WarehouseSchemaProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetentionDays = props.logRetentionDays ?? DEFAULT_WAREHOUSE_SCHEMA_LOG_RETENTION_DAYS;
    const { warehouse } = props;
    this.plan = props.plan ?? migrationPlan('redshift');

    const parts = createProjectFunction(this, {
      entry: SCHEMA_ENTRY,
      description: `Applies the warehouse migrations to ${warehouse.workgroupName} on deploy`,
      roleDescription: 'Execution role of the warehouse schema function',
      serviceName: WAREHOUSE_SCHEMA_SERVICE_NAME,
      memorySizeMb: WAREHOUSE_SCHEMA_MEMORY_MB,
      timeoutSeconds: WAREHOUSE_SCHEMA_TIMEOUT_SECONDS,
      logRetentionDays,
      removalPolicy,
      environment: {},
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;
    warehouse.grantDataApi(this.role);
    acknowledge(
      parts.function,
      'Serverless-LambdaDLQ',
      'Only the custom-resource provider invokes this function, synchronously; a failure fails the deployment, which reports it. There is no asynchronous invocation to dead-letter.',
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      "X-Ray tracing and the Data API's DescribeStatement, GetStatementResult and CancelStatement support no resource; the latter are limited to the function's own statements by condition.",
    );

    // The provider's framework function: its own role (no AWS managed policy) and log group.
    const frameworkLogGroup = new logs.LogGroup(this, 'ProviderLogGroup', {
      retention: logRetentionDays,
      removalPolicy,
    });
    const frameworkRole = new iam.Role(this, 'ProviderRole', {
      description: 'Execution role of the warehouse schema custom-resource provider',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    frameworkLogGroup.grantWrite(frameworkRole);
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.function,
      logGroup: frameworkLogGroup,
      frameworkOnEventRole: frameworkRole,
    });
    this.acknowledgeProvider(frameworkRole);

    const P = WAREHOUSE_SCHEMA_PROPERTIES;
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: WAREHOUSE_SCHEMA_RESOURCE_TYPE,
      properties: {
        [P.workgroupName]: warehouse.workgroup.attrWorkgroupWorkgroupName,
        [P.database]: warehouse.databaseName,
        [P.adminSecretName]: warehouse.adminSecretName,
        // One JSON string: CloudFormation would turn the plan's numbers into strings.
        [P.plan]: JSON.stringify(this.plan),
      },
    });
    this.adminSecretArn = this.resource.getAttString(WAREHOUSE_SCHEMA_ATTRIBUTES.adminSecretArn);
  }

  /** The provider framework's findings, each with its reason. */
  private acknowledgeProvider(frameworkRole: iam.Role): void {
    const onEvent = this.function.node.defaultChild as lambda.CfnFunction;
    acknowledge(
      frameworkRole,
      `AwsSolutions-IAM5[Resource::${nagReference(onEvent)}:*]`,
      "The provider framework's invoke grant also covers the schema function's versions and aliases: that function only.",
    );
    // CDK's relay between CloudFormation and the schema function, configured by CDK itself.
    const framework = this.provider.node.findChild('framework-onEvent');
    acknowledge(
      framework,
      'Serverless-LambdaDLQ',
      'CloudFormation invokes the provider framework synchronously and waits for its answer; a failure fails the deployment, nothing is left to dead-letter.',
    );
    acknowledge(
      framework,
      'Serverless-LambdaTracing',
      "CDK's provider framework function only relays the request; the schema function that does the work is traced.",
    );
    acknowledge(
      framework,
      'Serverless-LambdaDefaultMemorySize',
      "CDK's provider framework sizes its relay function itself; relaying one small request needs no more.",
    );
  }
}
