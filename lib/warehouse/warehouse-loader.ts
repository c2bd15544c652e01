import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { WAREHOUSE_LOAD_ENV, WAREHOUSE_LOAD_SERVICE_NAME } from '../../lambdas/shared/warehouse-names.ts';
import { CURATED_TABLES } from '../../warehouse/curated-tables.ts';
import type { TelemetryLake } from '../lake/telemetry-lake.ts';
import { acknowledge } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';
import type { AnalyticsWarehouse } from './analytics-warehouse.ts';
import type { WarehouseSchema } from './warehouse-schema.ts';

const LOADER_ENTRY = join(REPO_ROOT, 'lambdas', 'warehouse-load', 'handler.ts');
/**
 * Lambda's longest: a backfill day is about a hundred partitions of a few seconds each, and every
 * invocation the window needs beyond the first is one more round trip through the workflow. The
 * function stops starting partitions three minutes before its end and cancels what still runs 30 s
 * before it, so no invocation is cut off mid-transaction.
 */
export const WAREHOUSE_LOADER_TIMEOUT_SECONDS = 900;
/** The function lists keys and polls the Data API: no data passes through it. */
export const WAREHOUSE_LOADER_MEMORY_MB = 256;
export const DEFAULT_WAREHOUSE_LOADER_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;

export interface WarehouseLoaderProps {
  readonly warehouse: AnalyticsWarehouse;
  /** The deployed schema: loads need its tables, and it knows the admin secret's ARN. */
  readonly schema: WarehouseSchema;
  /** The lake whose curated partitions are loaded. */
  readonly lake: TelemetryLake;
  /** @default {@link DEFAULT_WAREHOUSE_LOADER_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The function the ETL workflow calls after each window's Glue run: it lists the curated partitions
 * the run rewrote and has Redshift COPY and MERGE each in its own transaction (see
 * lambdas/warehouse-load/). It may list the curated tables' keys and run SQL through the Data API;
 * it reads no object itself (COPY reads them with the warehouse's own role).
 */
export class WarehouseLoader extends Construct {
  public readonly function: lambda.IFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: WarehouseLoaderProps) {
    super(scope, id);
    const { warehouse, lake } = props;
    this.timeout = Duration.seconds(WAREHOUSE_LOADER_TIMEOUT_SECONDS);
    const parts = createProjectFunction(this, {
      entry: LOADER_ENTRY,
      description: `Loads each ETL window's curated partitions into ${warehouse.workgroupName}`,
      roleDescription: 'Execution role of the warehouse load function',
      serviceName: WAREHOUSE_LOAD_SERVICE_NAME,
      memorySizeMb: WAREHOUSE_LOADER_MEMORY_MB,
      timeoutSeconds: WAREHOUSE_LOADER_TIMEOUT_SECONDS,
      logRetentionDays: props.logRetentionDays ?? DEFAULT_WAREHOUSE_LOADER_LOG_RETENTION_DAYS,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      environment: {
        [WAREHOUSE_LOAD_ENV.workgroupName]: warehouse.workgroupName,
        [WAREHOUSE_LOAD_ENV.databaseName]: warehouse.databaseName,
        [WAREHOUSE_LOAD_ENV.adminSecretArn]: props.schema.adminSecretArn,
        [WAREHOUSE_LOAD_ENV.curatedBucket]: lake.curatedBucket.bucketName,
        [WAREHOUSE_LOAD_ENV.copyRoleArn]: warehouse.copyRole.roleArn,
      },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;

    warehouse.grantDataApi(this.role);
    // Listing only, under the curated tables' prefixes: the function reads no object.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [lake.curatedBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': CURATED_TABLES.map((table) => `${table.prefix}*`) } },
      }),
    );
    acknowledge(
      parts.function,
      'Serverless-LambdaDLQ',
      'Only the ETL workflow invokes this function, synchronously; it retries transient failures and reports the rest to on-call. There is no asynchronous invocation to dead-letter.',
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      "X-Ray tracing and the Data API's DescribeStatement, GetStatementResult and CancelStatement support no resource; the latter are limited to the function's own statements by condition.",
    );
  }
}
