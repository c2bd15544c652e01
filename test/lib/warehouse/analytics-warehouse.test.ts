/**
 * cdk-nag has no rules for Redshift Serverless (its Redshift rules check provisioned clusters only),
 * so the warehouse's security settings are asserted here, on the template.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import {
  AnalyticsWarehouse,
  DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU,
  WAREHOUSE_ADMIN_USERNAME,
  WAREHOUSE_AVAILABILITY_ZONES,
  WAREHOUSE_LOG_EXPORTS,
  WAREHOUSE_PORT,
} from '../../../lib/warehouse/analytics-warehouse.ts';
import { CURATED_TABLES } from '../../../warehouse/curated-tables.ts';
import {
  grantsOf,
  nagFindings,
  resourceOf,
  type StatementJson,
  statementsOfRole,
  testStack,
} from '../support/cdk.ts';
import { buildWarehouse, type WarehouseFixture } from './warehouse-fixture.ts';

// biome-ignore lint/suspicious/noTemplateCurlyInString: the IAM policy variable, literally
const CALLER_USER_ID = '${aws:userid}';

describe('AnalyticsWarehouse', () => {
  let built: WarehouseFixture;
  const idOf = (type: string, prefix = '') => resourceOf(built.template, type, prefix).id;
  const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });

  beforeAll(() => {
    built = buildWarehouse();
  });

  describe('the namespace', () => {
    it('encrypts with its own rotating key, manages the admin password in Secrets Manager with it, and exports the audit logs', () => {
      // Prepare
      const key = idOf('AWS::KMS::Key', 'WarehouseKey');

      // Act
      const namespace = resourceOf(built.template, 'AWS::RedshiftServerless::Namespace').properties;

      // Assess
      expect(namespace).toMatchObject({
        NamespaceName: 'sdap-test-warehouse',
        DbName: 'sdap',
        AdminUsername: WAREHOUSE_ADMIN_USERNAME,
        ManageAdminPassword: true,
        KmsKeyId: getAtt(key),
        AdminPasswordSecretKmsKeyId: getAtt(key),
        LogExports: ['userlog', 'connectionlog', 'useractivitylog'],
      });
      expect(namespace).not.toHaveProperty('AdminUserPassword');
      expect([...WAREHOUSE_LOG_EXPORTS]).toEqual(namespace.LogExports);
      expect(resourceOf(built.template, 'AWS::KMS::Key', 'WarehouseKey').properties.EnableKeyRotation).toBe(
        true,
      );
    });

    it('attaches the COPY role as its only and default role', () => {
      // Act
      const namespace = resourceOf(built.template, 'AWS::RedshiftServerless::Namespace').properties;

      // Assess
      const role = getAtt(idOf('AWS::IAM::Role', 'WarehouseCopyRole'));
      expect(namespace.IamRoles).toEqual([role]);
      expect(namespace.DefaultIamRoleArn).toEqual(role);
    });

    it('names the secret Redshift manages for the admin after the namespace and the user', () => {
      expect(built.warehouse.adminSecretName).toBe('redshift!sdap-test-warehouse-sdap_admin');
      expect(built.stack.resolve(built.warehouse.adminSecretArnPattern)).toEqual({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':secretsmanager:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            ':secret:redshift!sdap-test-warehouse-sdap_admin-??????',
          ],
        ],
      });
    });
  });

  describe('the workgroup', () => {
    it('is not publicly accessible, routes through the VPC, and starts at the configured capacity', () => {
      // Act
      const larger = buildWarehouse({ baseCapacityRpu: 32 });

      // Assess
      built.template.hasResourceProperties(
        'AWS::RedshiftServerless::Workgroup',
        Match.objectLike({
          WorkgroupName: 'sdap-test-warehouse',
          NamespaceName: getAtt(idOf('AWS::RedshiftServerless::Namespace'), 'Namespace.NamespaceName'),
          PubliclyAccessible: false,
          EnhancedVpcRouting: true,
          BaseCapacity: DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU,
          Port: WAREHOUSE_PORT,
          SecurityGroupIds: [getAtt(idOf('AWS::EC2::SecurityGroup', 'WarehouseSecurityGroup'), 'GroupId')],
        }),
      );
      expect(resourceOf(larger.template, 'AWS::RedshiftServerless::Workgroup').properties.BaseCapacity).toBe(
        32,
      );
    });

    it('runs in isolated subnets of three Availability Zones: no internet gateway, no NAT, no route out', () => {
      // Prepare
      const subnets = built.template.findResources('AWS::EC2::Subnet');
      const workgroup = resourceOf(built.template, 'AWS::RedshiftServerless::Workgroup').properties;

      // Act
      const zones = workgroup.SubnetIds.map(
        ({ Ref }: { Ref: string }) => subnets[Ref]?.Properties.AvailabilityZone,
      );

      // Assess
      expect(workgroup.SubnetIds).toHaveLength(WAREHOUSE_AVAILABILITY_ZONES);
      expect(zones).toEqual([0, 1, 2].map((index) => ({ 'Fn::Select': [index, { 'Fn::GetAZs': '' }] })));
      for (const { Ref } of workgroup.SubnetIds as { Ref: string }[]) {
        expect(subnets[Ref]?.Properties).toMatchObject({
          MapPublicIpOnLaunch: false,
          Tags: expect.arrayContaining([{ Key: 'aws-cdk:subnet-type', Value: 'Isolated' }]),
        });
      }
      for (const type of [
        'AWS::EC2::InternetGateway',
        'AWS::EC2::NatGateway',
        'AWS::EC2::Route',
        'AWS::EC2::EIP',
      ]) {
        built.template.resourceCountIs(type, 0);
      }
    });

    it("reaches S3 through a gateway endpoint on the subnets' route tables, so COPY works with enhanced VPC routing", () => {
      // Act
      const endpoint = resourceOf(built.template, 'AWS::EC2::VPCEndpoint').properties;

      // Assess
      expect(endpoint).toMatchObject({
        VpcEndpointType: 'Gateway',
        ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
      });
      expect(endpoint.RouteTableIds.map(({ Ref }: { Ref: string }) => Ref).sort()).toEqual(
        Object.keys(built.template.findResources('AWS::EC2::RouteTable')).sort(),
      );
    });

    it('admits nobody by default: its security group has no ingress rule of its own, none from anywhere', () => {
      // Prepare
      const group = idOf('AWS::EC2::SecurityGroup', 'WarehouseSecurityGroup');

      // Act
      const inline = resourceOf(
        built.template,
        'AWS::EC2::SecurityGroup',
        'WarehouseSecurityGroup',
      ).properties;
      const ingress = Object.values(built.template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
        (rule) => JSON.stringify(rule.Properties.GroupId) === JSON.stringify(getAtt(group, 'GroupId')),
      );

      // Assess
      expect(inline.SecurityGroupIngress).toBeUndefined();
      // The only admitted peer in this fixture is QuickSight's VPC connection, on the workgroup's port.
      expect(ingress.map((rule) => rule.Properties)).toEqual([
        expect.objectContaining({
          IpProtocol: 'tcp',
          FromPort: WAREHOUSE_PORT,
          ToPort: WAREHOUSE_PORT,
          SourceSecurityGroupId: getAtt(
            idOf('AWS::EC2::SecurityGroup', 'QuickSightSecurityGroup'),
            'GroupId',
          ),
        }),
      ]);
      for (const rule of Object.values(built.template.findResources('AWS::EC2::SecurityGroupIngress'))) {
        expect(rule.Properties.CidrIp).toBeUndefined();
      }
    });

    it('logs the VPC flows to a log group encrypted with the warehouse key', () => {
      // Act
      const flowLog = resourceOf(built.template, 'AWS::EC2::FlowLog').properties;

      // Assess
      expect(flowLog).toMatchObject({
        ResourceType: 'VPC',
        TrafficType: 'ALL',
        LogDestinationType: 'cloud-watch-logs',
      });
      expect(
        resourceOf(built.template, 'AWS::Logs::LogGroup', 'WarehouseFlowLogGroup').properties,
      ).toMatchObject({
        LogGroupName: '/aws/vpc/flow-logs/sdap-test-warehouse',
        KmsKeyId: getAtt(idOf('AWS::KMS::Key', 'WarehouseKey')),
      });
    });
  });

  describe('the COPY role', () => {
    let statements: StatementJson[];

    beforeAll(() => {
      statements = statementsOfRole(built.template, 'WarehouseCopyRole');
    });

    it('can be assumed by Redshift only', () => {
      expect(
        resourceOf(built.template, 'AWS::IAM::Role', 'WarehouseCopyRole').properties.AssumeRolePolicyDocument,
      ).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Principal: { Service: ['redshift-serverless.amazonaws.com', 'redshift.amazonaws.com'] },
          },
        ],
      });
    });

    it('reads the curated tables only, lists them only, and decrypts with the lake key only', () => {
      // Prepare
      const curated = idOf('AWS::S3::Bucket', 'LakeCuratedBucket');

      // Act
      const reads = grantsOf(statements, 's3:GetObject');

      // Assess
      expect(reads.sort()).toEqual(
        CURATED_TABLES.flatMap((table) => [
          `<${curated}.Arn>/${table.prefix.slice(0, -1)}`,
          `<${curated}.Arn>/${table.prefix}*`,
        ]).sort(),
      );
      expect(grantsOf(statements, 's3:ListBucket')).toEqual([`<${curated}.Arn>`]);
      expect(grantsOf(statements, 'kms:Decrypt')).toEqual([`<${idOf('AWS::KMS::Key', 'LakeKey')}.Arn>`]);
    });

    it('can write nothing: no action but reading, listing and decrypting', () => {
      // Act
      const actions = new Set(statements.flatMap((statement) => [statement.Action].flat()));

      // Assess
      expect([...actions].sort()).toEqual(['kms:Decrypt', 's3:GetObject', 's3:ListBucket']);
    });
  });

  describe('grantDataApi', () => {
    it('lets a role run statements in this workgroup, follow its own, and read and decrypt the admin secret', () => {
      // Prepare
      const stack = testStack();
      const lake = new TelemetryLake(stack, 'Lake', {
        databaseName: 'sdap_test',
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const warehouse = new AnalyticsWarehouse(stack, 'Warehouse', { lake, namePrefix: 'sdap-test' });
      const role = new iam.Role(stack, 'Reader', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });

      // Act
      warehouse.grantDataApi(role);
      const template = Template.fromStack(stack);

      // Assess
      const workgroup = resourceOf(template, 'AWS::RedshiftServerless::Workgroup').id;
      const key = resourceOf(template, 'AWS::KMS::Key', 'WarehouseKey').id;
      expect(statementsOfRole(template, 'Reader')).toEqual([
        {
          Effect: 'Allow',
          Action: ['redshift-data:BatchExecuteStatement', 'redshift-data:ExecuteStatement'],
          Resource: getAtt(workgroup, 'Workgroup.WorkgroupArn'),
        },
        {
          Effect: 'Allow',
          Action: [
            'redshift-data:CancelStatement',
            'redshift-data:DescribeStatement',
            'redshift-data:GetStatementResult',
          ],
          Resource: '*',
          Condition: { StringEquals: { 'redshift-data:statement-owner-iam-userid': CALLER_USER_ID } },
        },
        {
          Effect: 'Allow',
          Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          Resource: stack.resolve(warehouse.adminSecretArnPattern),
        },
        { Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt(key) },
      ]);
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });
});
