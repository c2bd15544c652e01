/**
 * The schema function end to end: the custom resource's properties are taken from the synthesized
 * template (the plan as the stack renders it), sent as CloudFormation's Create, Update and Delete
 * events, and applied through a fake executor that keeps a version table in memory. Secrets Manager
 * is mocked. Running the same SQL for real is test/warehouse/'s part (PGlite, DuckDB).
 */
import { readFileSync } from 'node:fs';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CdkCustomResourceEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RedshiftDataTarget } from '../../../lambdas/shared/redshift-data.ts';
import { WAREHOUSE_SCHEMA_PROPERTIES } from '../../../lambdas/shared/warehouse-names.ts';
import { createHandler } from '../../../lambdas/warehouse-schema/handler.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { AnalyticsWarehouse } from '../../../lib/warehouse/analytics-warehouse.ts';
import { WarehouseSchema } from '../../../lib/warehouse/warehouse-schema.ts';
import { createTableSql } from '../../../warehouse/ddl.ts';
import { checksum, type SqlExecutor } from '../../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../../warehouse/migrations.ts';
import { WAREHOUSE_TABLES } from '../../../warehouse/tables.ts';
import { resourceOf, testStack } from '../../lib/support/cdk.ts';

const SECRET_ARN =
  'arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift!sdap-test-warehouse-sdap_admin-Xy12Zw';
const secrets = mockClient(SecretsManagerClient);
const context = {
  functionName: 'warehouse-schema',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 600_000,
} as unknown as Context;
const fixture = (name: string): CdkCustomResourceEvent =>
  JSON.parse(readFileSync(new URL(`../../events/warehouse-schema/${name}.json`, import.meta.url), 'utf8'));

/** A warehouse in memory: the version table's rows, and every transaction and query it was sent. */
class FakeWarehouse implements SqlExecutor {
  readonly versions = new Map<number, string>();
  readonly transactions: string[][] = [];
  readonly queries: string[] = [];
  readonly targets: Array<{ target: RedshiftDataTarget; deadlineMs: number }> = [];

  async query(sql: string) {
    this.queries.push(sql);
    return [...this.versions].map(([version, sum]) => ({ version, checksum: sum }));
  }

  async transaction(statements: readonly string[]) {
    this.transactions.push([...statements]);
    for (const statement of statements) {
      const deleted = /^DELETE FROM \S+ WHERE version = (\d+)$/.exec(statement);
      if (deleted) this.versions.delete(Number(deleted[1]));
      const recorded =
        /^INSERT INTO \S+ \(version, description, checksum, applied_at\) VALUES \((\d+), '(?:[^']|'')*', '([0-9a-f]+)'/.exec(
          statement,
        );
      if (recorded) this.versions.set(Number(recorded[1]), recorded[2] as string);
    }
  }
}

/** The schema resource's properties as CloudFormation sends them: the workgroup's name resolved. */
let properties: Record<string, unknown>;

beforeAll(() => {
  const stack = testStack();
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const warehouse = new AnalyticsWarehouse(stack, 'Warehouse', { lake, namePrefix: 'sdap-test' });
  new WarehouseSchema(stack, 'WarehouseSchema', { warehouse });
  const template = Template.fromStack(stack);
  const workgroupName = resourceOf(template, 'AWS::RedshiftServerless::Workgroup').properties.WorkgroupName;
  const resource = resourceOf(template, 'Custom::WarehouseSchema').properties;
  properties = {
    ...resource,
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
    [WAREHOUSE_SCHEMA_PROPERTIES.workgroupName]: workgroupName,
  };
});

beforeEach(() => {
  secrets.reset();
  secrets
    .on(DescribeSecretCommand, { SecretId: 'redshift!sdap-test-warehouse-sdap_admin' })
    .resolves({ ARN: SECRET_ARN });
});

function handlerOver(warehouse: FakeWarehouse) {
  return createHandler(() => ({
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    executorFor: (target, deadlineMs) => {
      warehouse.targets.push({ target, deadlineMs });
      return warehouse;
    },
  }));
}

const create = (): CdkCustomResourceEvent =>
  ({ ...fixture('create'), ResourceProperties: properties }) as CdkCustomResourceEvent;
const update = (): CdkCustomResourceEvent =>
  ({
    ...fixture('create'),
    RequestType: 'Update',
    PhysicalResourceId: 'sdap-test-warehouse/sdap',
    ResourceProperties: properties,
    OldResourceProperties: properties,
  }) as CdkCustomResourceEvent;

describe('warehouse schema handler', () => {
  it('creates the schema from the plan the stack rendered: bootstrap, the star schema, the views', async () => {
    // Prepare
    const warehouse = new FakeWarehouse();
    const plan = migrationPlan('redshift');

    // Act
    const response = await handlerOver(warehouse)(create(), context);

    // Assess
    expect(response).toEqual({
      PhysicalResourceId: 'sdap-test-warehouse/sdap',
      Data: { AdminSecretArn: SECRET_ARN, MigrationsApplied: '1' },
    });
    expect(warehouse.transactions[0]).toEqual(plan.bootstrap);
    // One transaction per step of migration 1, then one per step of the views.
    const starSteps = plan.versioned[0]?.steps.length ?? 0;
    const starSchema = warehouse.transactions.slice(1, 1 + starSteps).flat();
    for (const table of WAREHOUSE_TABLES) expect(starSchema).toContain(createTableSql('redshift', table));
    const views = warehouse.transactions.slice(1 + starSteps).flat();
    for (const view of ['v_fleet_health_now', 'v_location_rollup'])
      expect(views.some((sql) => sql.startsWith(`CREATE VIEW analytics.${view}`))).toBe(true);
    expect(Math.max(...warehouse.transactions.map((t) => t.length))).toBeLessThanOrEqual(40);
    expect(warehouse.versions.get(1)).toBe(checksum(plan.versioned[0] as (typeof plan.versioned)[number]));
    expect(warehouse.targets).toEqual([
      {
        target: { workgroupName: 'sdap-test-warehouse', database: 'sdap', secretArn: SECRET_ARN },
        deadlineMs: expect.any(Number),
      },
    ]);
  });

  it('changes nothing when the same plan is deployed again', async () => {
    // Prepare
    const warehouse = new FakeWarehouse();
    const handler = handlerOver(warehouse);
    await handler(create(), context);
    const sent = warehouse.transactions.length;

    // Act
    const response = await handler(update(), context);

    // Assess
    expect(response.Data?.MigrationsApplied).toBe('none');
    // Only the bootstrap (IF NOT EXISTS) runs again.
    expect(warehouse.transactions.slice(sent)).toEqual([migrationPlan('redshift').bootstrap]);
  });

  it('leaves the warehouse alone on Delete', async () => {
    // Prepare
    const warehouse = new FakeWarehouse();

    // Act
    const response = await handlerOver(warehouse)(fixture('delete'), context);

    // Assess
    expect(response).toEqual({ PhysicalResourceId: 'sdap-prod-warehouse/sdap' });
    expect(warehouse.transactions).toEqual([]);
    expect(warehouse.queries).toEqual([]);
    expect(secrets.calls()).toHaveLength(0);
  });

  it('fails naming the secret when the namespace has no managed admin secret', async () => {
    // Prepare
    secrets.reset();
    secrets
      .on(DescribeSecretCommand)
      .rejects(Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' }));

    // Act & Assess
    await expect(handlerOver(new FakeWarehouse())(create(), context)).rejects.toThrow(
      'warehouse schema resource: the admin secret redshift!sdap-test-warehouse-sdap_admin does not exist; the namespace must manage its admin password in Secrets Manager (ManageAdminPassword)',
    );
  });

  it('fails naming the property when the plan is not a migration plan', async () => {
    // Prepare
    const event = {
      ...create(),
      ResourceProperties: { ...properties, Plan: JSON.stringify({ bootstrap: [] }) },
    } as unknown as CdkCustomResourceEvent;
    const warehouse = new FakeWarehouse();

    // Act & Assess
    await expect(handlerOver(warehouse)(event, context)).rejects.toThrow(
      /^warehouse schema resource: property Plan is not a migration plan: versionTable: /,
    );
    expect(warehouse.transactions).toEqual([]);
  });
});
