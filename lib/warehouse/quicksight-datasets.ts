import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as quicksight from 'aws-cdk-lib/aws-quicksight';
import { Construct } from 'constructs';
import { WAREHOUSE_SCHEMA, type WarehouseType, type WarehouseView } from '../../warehouse/spec.ts';
import { WAREHOUSE_VIEWS } from '../../warehouse/views.ts';
import { acknowledge } from '../nag.ts';
import type { AnalyticsWarehouse } from './analytics-warehouse.ts';
import type { WarehouseSchema } from './warehouse-schema.ts';

/**
 * QuickSight's input column type for each warehouse type. QuickSight's integers are 64-bit, so
 * `bigint` fits INTEGER; DATETIME holds dates and timestamps alike. `boolean` maps to BOOLEAN, which
 * the DataSet API accepts for input columns (STRING | INTEGER | DECIMAL | DATETIME | BIT | BOOLEAN
 * | JSON): the column keeps its Redshift type and needs no cast in the view.
 */
export const QUICKSIGHT_COLUMN_TYPES: Readonly<Record<WarehouseType, string>> = {
  string: 'STRING',
  int: 'INTEGER',
  bigint: 'INTEGER',
  double: 'DECIMAL',
  boolean: 'BOOLEAN',
  timestamp: 'DATETIME',
  date: 'DATETIME',
};

/** What the group may do with the data source: see it and build datasets on it. */
export const DATA_SOURCE_ACTIONS = [
  'quicksight:DescribeDataSource',
  'quicksight:DescribeDataSourcePermissions',
  'quicksight:PassDataSource',
] as const;
/** What the group may do with each dataset: see it, use it in analyses, see its refreshes. */
export const DATA_SET_ACTIONS = [
  'quicksight:DescribeDataSet',
  'quicksight:DescribeDataSetPermissions',
  'quicksight:PassDataSet',
  'quicksight:DescribeIngestion',
  'quicksight:ListIngestions',
] as const;
/**
 * Every query goes to Redshift: the views answer "now" relative to the latest loaded hour, which a
 * SPICE copy would freeze between refreshes (and SPICE capacity is billed on its own).
 */
export const DATA_SET_IMPORT_MODE = 'DIRECT_QUERY';

export interface QuickSightDatasetsProps {
  readonly warehouse: AnalyticsWarehouse;
  /** The deployed schema: the views must exist, and QuickSight signs in with its admin secret. */
  readonly schema: WarehouseSchema;
  /** The QuickSight group the data source and datasets are shared with. */
  readonly groupArn: string;
  /** Prefix of the QuickSight ids and names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /** @default - every view of warehouse/views.ts */
  readonly views?: readonly WarehouseView[];
}

/** `v_fleet_health_now` → `v-fleet-health-now`: QuickSight's table ids take no underscore. */
function idOf(name: string): string {
  return name.replaceAll('_', '-');
}

/**
 * The analysts' QuickSight datasets, defined as code: a VPC connection into the warehouse's subnets
 * (its own security group, admitted to the workgroup's port only), a Redshift data source on the
 * workgroup's endpoint signing in with the admin secret, and one dataset per analyst view whose
 * columns, types and descriptions come from the warehouse spec, shared with one group.
 */
export class QuickSightDatasets extends Construct {
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly vpcConnectionRole: iam.Role;
  public readonly vpcConnection: quicksight.CfnVPCConnection;
  public readonly dataSource: quicksight.CfnDataSource;
  /** By view name. */
  public readonly dataSets: Readonly<Record<string, quicksight.CfnDataSet>>;

  constructor(scope: Construct, id: string, props: QuickSightDatasetsProps) {
    super(scope, id);
    const { warehouse, namePrefix } = props;
    const account = Stack.of(this).account;

    // QuickSight's network interfaces do not track connections: the answers from Redshift need an
    // inbound rule of their own (QuickSight's VPC connection guide), from the workgroup only.
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: warehouse.vpc,
      description: 'QuickSight VPC connection: to the warehouse port, answers from the warehouse only',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(
      warehouse.securityGroup,
      ec2.Port.tcp(warehouse.port),
      'QuickSight to the Redshift workgroup',
    );
    this.securityGroup.addIngressRule(
      warehouse.securityGroup,
      ec2.Port.allTcp(),
      "Redshift's answers (QuickSight's interfaces are stateless)",
    );
    warehouse.allowConnectionsFrom(this.securityGroup, 'QuickSight VPC connection');

    this.vpcConnectionRole = new iam.Role(this, 'VpcConnectionRole', {
      description: 'Lets QuickSight manage the network interfaces of its VPC connection to the warehouse',
      assumedBy: new iam.ServicePrincipal('quicksight.amazonaws.com'),
    });
    this.vpcConnectionRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:ModifyNetworkInterfaceAttribute',
          'ec2:DeleteNetworkInterface',
          'ec2:DescribeSubnets',
          'ec2:DescribeSecurityGroups',
        ],
        resources: ['*'],
      }),
    );
    acknowledge(
      this.vpcConnectionRole,
      'AwsSolutions-IAM5[Resource::*]',
      'The EC2 network-interface and Describe actions QuickSight needs for a VPC connection take no resource before the interface exists; the role can be assumed by QuickSight only.',
    );
    const subnetIds = warehouse.vpc.isolatedSubnets.map((subnet) => subnet.subnetId);
    this.vpcConnection = new quicksight.CfnVPCConnection(this, 'VpcConnection', {
      awsAccountId: account,
      vpcConnectionId: `${namePrefix}-warehouse`,
      name: `${namePrefix} warehouse`,
      roleArn: this.vpcConnectionRole.roleArn,
      securityGroupIds: [this.securityGroup.securityGroupId],
      subnetIds,
    });
    // QuickSight validates the role when the connection is created.
    this.vpcConnection.node.addDependency(this.vpcConnectionRole);

    this.dataSource = new quicksight.CfnDataSource(this, 'DataSource', {
      awsAccountId: account,
      dataSourceId: `${namePrefix}-warehouse`,
      name: `${namePrefix} warehouse (Redshift)`,
      type: 'REDSHIFT',
      dataSourceParameters: {
        redshiftParameters: {
          host: warehouse.endpointAddress,
          port: warehouse.port,
          database: warehouse.databaseName,
        },
      },
      credentials: { secretArn: props.schema.adminSecretArn },
      vpcConnectionProperties: { vpcConnectionArn: this.vpcConnection.attrArn },
      sslProperties: { disableSsl: false },
      permissions: [{ principal: props.groupArn, actions: [...DATA_SOURCE_ACTIONS] }],
    });

    const dataSets: Record<string, quicksight.CfnDataSet> = {};
    for (const view of props.views ?? WAREHOUSE_VIEWS) {
      const tableId = idOf(view.name);
      const dataSet = new quicksight.CfnDataSet(this, `DataSet-${tableId}`, {
        awsAccountId: account,
        dataSetId: `${namePrefix}-${tableId}`,
        name: view.name,
        importMode: DATA_SET_IMPORT_MODE,
        physicalTableMap: {
          [tableId]: {
            relationalTable: {
              dataSourceArn: this.dataSource.attrArn,
              schema: WAREHOUSE_SCHEMA,
              name: view.name,
              inputColumns: view.columns.map((column) => ({
                name: column.name,
                type: QUICKSIGHT_COLUMN_TYPES[column.type],
              })),
            },
          },
        },
        permissions: [{ principal: props.groupArn, actions: [...DATA_SET_ACTIONS] }],
      });
      // Column descriptions: CloudFormation's schema marks LogicalTableMap deprecated in favour of
      // DataPrepConfiguration, which has no step that sets a column's description. The map still
      // works; it is set as a raw property so that CDK does not print a deprecation warning at every
      // synthesis, and the template validator's finding is acknowledged here, once per dataset.
      dataSet.addPropertyOverride('LogicalTableMap', {
        [tableId]: {
          Alias: view.name,
          Source: { PhysicalTableId: tableId },
          DataTransforms: view.columns.map((column) => ({
            TagColumnOperation: {
              ColumnName: column.name,
              Tags: [{ ColumnDescription: { Text: column.description } }],
            },
          })),
        },
      });
      acknowledge(
        dataSet,
        'CloudFormation-Validate::W9009',
        'LogicalTableMap is deprecated, but its replacement (DataPrepConfiguration) cannot set column descriptions, which analysts read in QuickSight.',
      );
      // The views exist once the schema is deployed.
      dataSet.node.addDependency(props.schema.resource);
      dataSets[view.name] = dataSet;
    }
    this.dataSets = dataSets;
  }
}
