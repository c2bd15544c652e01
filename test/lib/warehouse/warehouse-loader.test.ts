import { beforeAll, describe, expect, it } from 'vitest';
import { WAREHOUSE_LOAD_ENV } from '../../../lambdas/shared/warehouse-names.ts';
import { WAREHOUSE_LOADER_TIMEOUT_SECONDS } from '../../../lib/warehouse/warehouse-loader.ts';
import { CURATED_TABLES } from '../../../warehouse/curated-tables.ts';
import { grantsOf, nagFindings, resourceOf, type StatementJson, statementsOfRole } from '../support/cdk.ts';
import { buildWarehouse, type WarehouseFixture } from './warehouse-fixture.ts';

describe('WarehouseLoader', () => {
  let built: WarehouseFixture;
  let statements: StatementJson[];
  const idOf = (type: string, prefix = '') => resourceOf(built.template, type, prefix).id;

  beforeAll(() => {
    built = buildWarehouse();
    statements = statementsOfRole(built.template, 'WarehouseLoaderRole');
  });

  it('tells its function the workgroup, database, admin secret, curated bucket and COPY role', () => {
    // Act
    const fn = resourceOf(built.template, 'AWS::Lambda::Function', 'WarehouseLoaderFunction').properties;

    // Assess
    expect(fn.Environment.Variables).toMatchObject({
      [WAREHOUSE_LOAD_ENV.workgroupName]: 'sdap-test-warehouse',
      [WAREHOUSE_LOAD_ENV.databaseName]: 'sdap',
      [WAREHOUSE_LOAD_ENV.adminSecretArn]: {
        'Fn::GetAtt': [idOf('Custom::WarehouseSchema'), 'AdminSecretArn'],
      },
      [WAREHOUSE_LOAD_ENV.curatedBucket]: { Ref: idOf('AWS::S3::Bucket', 'LakeCuratedBucket') },
      [WAREHOUSE_LOAD_ENV.copyRoleArn]: {
        'Fn::GetAtt': [idOf('AWS::IAM::Role', 'WarehouseCopyRole'), 'Arn'],
      },
    });
    expect(fn).toMatchObject({
      Timeout: WAREHOUSE_LOADER_TIMEOUT_SECONDS,
      TracingConfig: { Mode: 'Active' },
    });
  });

  it('lists the curated tables and reads no object: COPY reads them with the warehouse role', () => {
    // Act
    const listing = statements.find((statement) => statement.Action === 's3:ListBucket');

    // Assess
    expect(listing).toEqual({
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': [idOf('AWS::S3::Bucket', 'LakeCuratedBucket'), 'Arn'] },
      Condition: { StringLike: { 's3:prefix': CURATED_TABLES.map((table) => `${table.prefix}*`) } },
    });
    const s3Actions = statements
      .flatMap((statement) => [statement.Action].flat())
      .filter((action) => action.startsWith('s3:'));
    expect(s3Actions).toEqual(['s3:ListBucket']);
  });

  it('runs SQL through the Data API on its workgroup only, as the admin', () => {
    expect(grantsOf(statements, 'redshift-data:BatchExecuteStatement')).toEqual([
      `<${idOf('AWS::RedshiftServerless::Workgroup')}.Workgroup.WorkgroupArn>`,
    ]);
    expect(grantsOf(statements, 'kms:Decrypt')).toEqual([`<${idOf('AWS::KMS::Key', 'WarehouseKey')}.Arn>`]);
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });
});
