import { beforeAll, describe, expect, it } from 'vitest';
import { WAREHOUSE_SCHEMA_ATTRIBUTES } from '../../../lambdas/shared/warehouse-names.ts';
import { WAREHOUSE_SCHEMA_RESOURCE_TYPE } from '../../../lib/warehouse/warehouse-schema.ts';
import { createTableSql } from '../../../warehouse/ddl.ts';
import type { MigrationPlan } from '../../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../../warehouse/migrations.ts';
import { WAREHOUSE_TABLES } from '../../../warehouse/tables.ts';
import { WAREHOUSE_VIEWS } from '../../../warehouse/views.ts';
import { grantsOf, nagFindings, resourceOf, statementsOfRole } from '../support/cdk.ts';
import { buildWarehouse, type WarehouseFixture } from './warehouse-fixture.ts';

describe('WarehouseSchema', () => {
  let built: WarehouseFixture;
  let properties: Record<string, unknown>;
  let plan: MigrationPlan;

  beforeAll(() => {
    built = buildWarehouse();
    properties = resourceOf(built.template, WAREHOUSE_SCHEMA_RESOURCE_TYPE).properties;
    plan = JSON.parse(properties.Plan as string);
  });

  it('carries the Redshift migration plan rendered at synthesis, so a change of the spec updates the resource', () => {
    expect(plan).toEqual(migrationPlan('redshift'));
  });

  it('creates every table of the spec, in its Redshift form', () => {
    // Act
    const statements = plan.versioned.flatMap((migration) => migration.steps.flat());

    // Assess
    for (const table of WAREHOUSE_TABLES) expect(statements).toContain(createTableSql('redshift', table));
  });

  it('creates every analyst view', () => {
    for (const view of WAREHOUSE_VIEWS) {
      expect(
        plan.repeatable.steps.flat().some((sql) => sql.startsWith(`CREATE VIEW analytics.${view.name} AS`)),
      ).toBe(true);
    }
  });

  it('targets the workgroup (deployed first) and its database, and finds the admin secret by name', () => {
    expect(properties).toMatchObject({
      ServiceToken: {
        'Fn::GetAtt': [expect.stringMatching(/^WarehouseSchemaProviderframeworkonEvent/), 'Arn'],
      },
      WorkgroupName: {
        'Fn::GetAtt': [
          resourceOf(built.template, 'AWS::RedshiftServerless::Workgroup').id,
          'Workgroup.WorkgroupName',
        ],
      },
      Database: 'sdap',
      AdminSecretName: 'redshift!sdap-test-warehouse-sdap_admin',
    });
  });

  it("hands out the admin secret's ARN from the resource", () => {
    expect(built.stack.resolve(built.schema.adminSecretArn)).toEqual({
      'Fn::GetAtt': [
        resourceOf(built.template, WAREHOUSE_SCHEMA_RESOURCE_TYPE).id,
        WAREHOUSE_SCHEMA_ATTRIBUTES.adminSecretArn,
      ],
    });
  });

  it('lets its function use the Data API on the workgroup with the admin secret, and nothing in S3', () => {
    // Act
    const statements = statementsOfRole(built.template, 'WarehouseSchemaRole');

    // Assess
    expect(grantsOf(statements, 'redshift-data:BatchExecuteStatement')).toEqual([
      `<${resourceOf(built.template, 'AWS::RedshiftServerless::Workgroup').id}.Workgroup.WorkgroupArn>`,
    ]);
    expect(grantsOf(statements, 'secretsmanager:GetSecretValue')).toEqual([
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:redshift!sdap-test-warehouse-sdap_admin-??????',
    ]);
    expect(
      statements
        .flatMap((statement) => [statement.Action].flat())
        .filter((action) => action.startsWith('s3:')),
    ).toEqual([]);
  });

  it('runs its function long enough for the migrations, traced, with its own log group', () => {
    expect(
      resourceOf(built.template, 'AWS::Lambda::Function', 'WarehouseSchemaFunction').properties,
    ).toMatchObject({ Timeout: 600, TracingConfig: { Mode: 'Active' }, Architectures: ['arm64'] });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });
});
