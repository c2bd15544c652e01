/**
 * The schema custom resource's work: read the migration plan the stack rendered at synthesis from
 * the resource's properties, find the namespace's admin secret, and apply the plan (idempotent:
 * what is applied is skipped, views are recreated only when their SQL changed). A Delete does
 * nothing: the warehouse keeps its tables and data when the resource goes.
 */
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { applyMigrations, type MigrationPlan, type SqlExecutor } from '../../warehouse/migration-runner.ts';
import type { RedshiftDataTarget } from '../shared/redshift-data.ts';
import { WAREHOUSE_SCHEMA_ATTRIBUTES, WAREHOUSE_SCHEMA_PROPERTIES } from '../shared/warehouse-names.ts';

const statements = z.array(z.string().min(1));
const migration = z.strictObject({
  version: z.number().int().min(0),
  description: z.string(),
  steps: z.array(statements),
});
const planSchema = z.strictObject({
  bootstrap: statements,
  versionTable: z.string().min(1),
  versioned: z.array(migration),
  repeatable: migration,
});

const P = WAREHOUSE_SCHEMA_PROPERTIES;
const propertiesSchema = z.looseObject({
  [P.workgroupName]: z.string().min(1),
  [P.database]: z.string().min(1),
  [P.adminSecretName]: z.string().min(1),
  [P.plan]: z.string().min(2),
});

/** What the resource's properties say, validated. */
export interface SchemaRequest {
  readonly workgroupName: string;
  readonly database: string;
  readonly adminSecretName: string;
  readonly plan: MigrationPlan;
}

/** Reads the custom resource's properties, failing with a message that names each bad one. */
export function parseSchemaProperties(properties: unknown): SchemaRequest {
  const parsed = propertiesSchema.safeParse(properties);
  if (!parsed.success) {
    throw new Error(
      `warehouse schema resource: ${parsed.error.issues.map((issue) => `property ${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  let planJson: unknown;
  try {
    planJson = JSON.parse(parsed.data[P.plan]);
  } catch (error) {
    throw new Error(`warehouse schema resource: property ${P.plan} is not JSON: ${(error as Error).message}`);
  }
  const plan = planSchema.safeParse(planJson);
  if (!plan.success) {
    throw new Error(
      `warehouse schema resource: property ${P.plan} is not a migration plan: ${plan.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  return {
    workgroupName: parsed.data[P.workgroupName],
    database: parsed.data[P.database],
    adminSecretName: parsed.data[P.adminSecretName],
    plan: plan.data,
  };
}

/** The admin secret's full ARN (the name plus the suffix Secrets Manager added). */
export async function adminSecretArn(secrets: SecretsManagerClient, name: string): Promise<string> {
  try {
    const { ARN } = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    if (ARN) return ARN;
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  }
  throw new Error(
    `warehouse schema resource: the admin secret ${name} does not exist; the namespace must manage its admin password in Secrets Manager (ManageAdminPassword)`,
  );
}

export interface DeploySchemaDeps {
  readonly secrets: SecretsManagerClient;
  /** The executor that runs SQL in the target (the Redshift Data API when deployed). */
  readonly executorFor: (target: RedshiftDataTarget) => SqlExecutor;
  readonly log?: (message: string, details: Record<string, unknown>) => void;
}

export interface SchemaResult {
  readonly physicalResourceId: string;
  readonly data: Record<
    (typeof WAREHOUSE_SCHEMA_ATTRIBUTES)[keyof typeof WAREHOUSE_SCHEMA_ATTRIBUTES],
    string
  >;
}

/**
 * Applies the plan to the warehouse. The physical id names the workgroup and database: a change of
 * either is a new resource (CloudFormation then deletes the old one, which changes nothing).
 */
export async function deploySchema(request: SchemaRequest, deps: DeploySchemaDeps): Promise<SchemaResult> {
  const secretArn = await adminSecretArn(deps.secrets, request.adminSecretName);
  const executor = deps.executorFor({
    workgroupName: request.workgroupName,
    database: request.database,
    secretArn,
  });
  const report = await applyMigrations(executor, request.plan);
  deps.log?.('warehouse schema applied', {
    ...report,
    workgroup: request.workgroupName,
    database: request.database,
  });
  return {
    physicalResourceId: `${request.workgroupName}/${request.database}`,
    data: {
      [WAREHOUSE_SCHEMA_ATTRIBUTES.adminSecretArn]: secretArn,
      [WAREHOUSE_SCHEMA_ATTRIBUTES.migrationsApplied]: report.applied.join(',') || 'none',
    },
  };
}
