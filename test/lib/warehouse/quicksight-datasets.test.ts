import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DATA_SET_ACTIONS,
  DATA_SOURCE_ACTIONS,
  QUICKSIGHT_COLUMN_TYPES,
} from '../../../lib/warehouse/quicksight-datasets.ts';
import { WAREHOUSE_TYPES } from '../../../warehouse/spec.ts';
import { WAREHOUSE_VIEWS } from '../../../warehouse/views.ts';
import { type CfnProperties, nagFindings, resourceOf } from '../support/cdk.ts';
import { buildWarehouse, GROUP_ARN, type WarehouseFixture } from './warehouse-fixture.ts';

describe('QuickSightDatasets', () => {
  let built: WarehouseFixture;
  let dataSets: CfnProperties[];
  const idOf = (type: string, prefix = '') => resourceOf(built.template, type, prefix).id;
  const groupId = (prefix: string) => ({
    'Fn::GetAtt': [idOf('AWS::EC2::SecurityGroup', prefix), 'GroupId'],
  });

  beforeAll(() => {
    built = buildWarehouse();
    dataSets = Object.values(built.template.findResources('AWS::QuickSight::DataSet')).map(
      (resource) => resource.Properties,
    );
  });

  it('maps every warehouse type to a QuickSight input column type', () => {
    expect(Object.keys(QUICKSIGHT_COLUMN_TYPES).sort()).toEqual([...WAREHOUSE_TYPES].sort());
    expect(QUICKSIGHT_COLUMN_TYPES).toEqual({
      string: 'STRING',
      int: 'INTEGER',
      bigint: 'INTEGER',
      double: 'DECIMAL',
      boolean: 'BOOLEAN',
      timestamp: 'DATETIME',
      date: 'DATETIME',
    });
  });

  it('defines one dataset per analyst view, querying it in the analytics schema', () => {
    expect(dataSets.map((dataSet) => dataSet.Name).sort()).toEqual(
      WAREHOUSE_VIEWS.map((view) => view.name).sort(),
    );
    for (const dataSet of dataSets) {
      const [table] = Object.values(dataSet.PhysicalTableMap) as { RelationalTable: CfnProperties }[];
      expect(table?.RelationalTable).toMatchObject({
        DataSourceArn: { 'Fn::GetAtt': [idOf('AWS::QuickSight::DataSource'), 'Arn'] },
        Schema: 'analytics',
        Name: dataSet.Name,
      });
      expect(dataSet.ImportMode).toBe('DIRECT_QUERY');
    }
  });

  it.each(WAREHOUSE_VIEWS.map((view) => [view.name, view] as const))(
    "gives %s exactly the view's columns, with their types and descriptions",
    (name, view) => {
      // Prepare
      const dataSet = dataSets.find((candidate) => candidate.Name === name);
      const [table] = Object.values(dataSet?.PhysicalTableMap ?? {}) as { RelationalTable: CfnProperties }[];
      const [logical] = Object.values(dataSet?.LogicalTableMap ?? {}) as CfnProperties[];

      // Act
      const columns = table?.RelationalTable.InputColumns;
      const descriptions = logical?.DataTransforms.map(
        (transform: {
          TagColumnOperation: { ColumnName: string; Tags: { ColumnDescription: { Text: string } }[] };
        }) => [
          transform.TagColumnOperation.ColumnName,
          transform.TagColumnOperation.Tags[0]?.ColumnDescription.Text,
        ],
      );

      // Assess
      expect(columns).toEqual(
        view.columns.map((column) => ({ Name: column.name, Type: QUICKSIGHT_COLUMN_TYPES[column.type] })),
      );
      expect(descriptions).toEqual(view.columns.map((column) => [column.name, column.description]));
      expect(logical?.Source).toEqual({ PhysicalTableId: Object.keys(dataSet?.PhysicalTableMap ?? {})[0] });
    },
  );

  it('shares the data source and every dataset with the configured group, for use only', () => {
    expect(resourceOf(built.template, 'AWS::QuickSight::DataSource').properties.Permissions).toEqual([
      { Principal: GROUP_ARN, Actions: [...DATA_SOURCE_ACTIONS] },
    ]);
    for (const dataSet of dataSets) {
      expect(dataSet.Permissions).toEqual([{ Principal: GROUP_ARN, Actions: [...DATA_SET_ACTIONS] }]);
    }
  });

  it("points the data source at the workgroup's endpoint through the VPC connection, with the admin secret and TLS", () => {
    built.template.hasResourceProperties(
      'AWS::QuickSight::DataSource',
      Match.objectLike({
        Type: 'REDSHIFT',
        DataSourceParameters: {
          RedshiftParameters: {
            Host: {
              'Fn::GetAtt': [idOf('AWS::RedshiftServerless::Workgroup'), 'Workgroup.Endpoint.Address'],
            },
            Port: 5439,
            Database: 'sdap',
          },
        },
        Credentials: { SecretArn: { 'Fn::GetAtt': [idOf('Custom::WarehouseSchema'), 'AdminSecretArn'] } },
        VpcConnectionProperties: {
          VpcConnectionArn: { 'Fn::GetAtt': [idOf('AWS::QuickSight::VPCConnection'), 'Arn'] },
        },
        SslProperties: { DisableSsl: false },
      }),
    );
  });

  it("places the VPC connection in the warehouse's subnets with its own security group, admitted to the port only", () => {
    // Prepare
    const workgroup = resourceOf(built.template, 'AWS::RedshiftServerless::Workgroup').properties;

    // Act
    const connection = resourceOf(built.template, 'AWS::QuickSight::VPCConnection').properties;
    const egress = Object.values(built.template.findResources('AWS::EC2::SecurityGroupEgress')).map(
      (rule) => rule.Properties,
    );

    // Assess
    expect(connection.SubnetIds).toEqual(workgroup.SubnetIds);
    expect(connection.SecurityGroupIds).toEqual([groupId('QuickSightSecurityGroup')]);
    expect(connection.RoleArn).toEqual({
      'Fn::GetAtt': [idOf('AWS::IAM::Role', 'QuickSightVpcConnectionRole'), 'Arn'],
    });
    expect(egress).toEqual([
      expect.objectContaining({
        GroupId: groupId('QuickSightSecurityGroup'),
        DestinationSecurityGroupId: groupId('WarehouseSecurityGroup'),
        IpProtocol: 'tcp',
        FromPort: 5439,
        ToPort: 5439,
      }),
    ]);
    expect(
      resourceOf(built.template, 'AWS::EC2::SecurityGroup', 'QuickSightSecurityGroup').properties
        .SecurityGroupEgress,
    ).toBeUndefined();
  });

  it('creates the datasets once the schema (and so the views) is deployed', () => {
    for (const resource of Object.values(built.template.findResources('AWS::QuickSight::DataSet'))) {
      expect(resource.DependsOn).toEqual(expect.arrayContaining([idOf('Custom::WarehouseSchema')]));
    }
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });
});
