/**
 * Names the warehouse functions share with the infrastructure that deploys and invokes them:
 * environment variables, custom-resource properties and attributes, error and metric names.
 * Defined once so the workflow cannot retry an error the function never throws.
 */

/** Environment variables the warehouse load function reads. */
export const WAREHOUSE_LOAD_ENV = {
  workgroupName: 'WAREHOUSE_WORKGROUP_NAME',
  databaseName: 'WAREHOUSE_DATABASE_NAME',
  /** ARN of the namespace's admin secret, the identity the Data API runs the loads as. */
  adminSecretArn: 'WAREHOUSE_ADMIN_SECRET_ARN',
  curatedBucket: 'CURATED_BUCKET_NAME',
  /** The role COPY assumes to read the curated bucket. */
  copyRoleArn: 'WAREHOUSE_COPY_ROLE_ARN',
} as const;

/** Powertools' `service` dimension of the load function's metrics. */
export const WAREHOUSE_LOAD_SERVICE_NAME = 'warehouse-load';
/** Powertools' service name of the schema function. */
export const WAREHOUSE_SCHEMA_SERVICE_NAME = 'warehouse-schema';

/** Metrics the load function emits once per invocation (unit Count, dimension `service`). */
export const WAREHOUSE_LOAD_METRICS = {
  partitionsLoaded: 'WarehousePartitionsLoaded',
} as const;

/**
 * The error names (`errorType`) the load function fails with. Step Functions retries the transient
 * one (a concurrent transaction, throttling, a statement cancelled at the function's deadline) and
 * catches the other (bad data, a bug, an invalid event), which a retry would only repeat.
 */
export const WAREHOUSE_LOAD_ERRORS = {
  transient: 'WarehouseLoadTransientError',
  failed: 'WarehouseLoadError',
} as const;

/** Properties of the schema custom resource (CloudFormation passes them as strings). */
export const WAREHOUSE_SCHEMA_PROPERTIES = {
  workgroupName: 'WorkgroupName',
  database: 'Database',
  /** Name of the admin secret Redshift manages for the namespace. */
  adminSecretName: 'AdminSecretName',
  /** The migration plan for Redshift, as JSON. */
  plan: 'Plan',
} as const;

/** Attributes the schema custom resource returns. */
export const WAREHOUSE_SCHEMA_ATTRIBUTES = {
  /** The full ARN of the admin secret (its name plus the suffix Secrets Manager adds). */
  adminSecretArn: 'AdminSecretArn',
  /** Versions the last deployment applied, comma-separated, or `none`. */
  migrationsApplied: 'MigrationsApplied',
} as const;

/**
 * The name of the secret Redshift Serverless creates for a namespace's admin when it manages the
 * password (`ManageAdminPassword`): `redshift!<namespace>-<admin user>`, to which Secrets Manager
 * appends `-` and six random characters in the ARN. CloudFormation returns neither, so this name is
 * how the stack finds it.
 */
export function managedAdminSecretName(namespaceName: string, adminUsername: string): string {
  return `redshift!${namespaceName}-${adminUsername}`;
}
