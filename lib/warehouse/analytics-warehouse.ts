import { ArnFormat, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as redshiftserverless from 'aws-cdk-lib/aws-redshiftserverless';
import { Construct } from 'constructs';
import { managedAdminSecretName } from '../../lambdas/shared/warehouse-names.ts';
import { CURATED_TABLES } from '../../warehouse/curated-tables.ts';
import { DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU, DEFAULT_WAREHOUSE_DATABASE_NAME } from '../config.ts';
import type { TelemetryLake } from '../lake/telemetry-lake.ts';

// The warehouse's defaults are the stage defaults; re-exported as this construct's own.
export { DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU, DEFAULT_WAREHOUSE_DATABASE_NAME };

/** Redshift's port, the one analysts' tools expect. */
export const WAREHOUSE_PORT = 5439;
/** The namespace's admin user; Redshift keeps its password in a secret it manages and rotates. */
export const WAREHOUSE_ADMIN_USERNAME = 'sdap_admin';
/** Audit logs the namespace exports to CloudWatch Logs: logins, user changes, every query. */
export const WAREHOUSE_LOG_EXPORTS = ['userlog', 'connectionlog', 'useractivitylog'] as const;
/** Redshift Serverless requires subnets in at least three Availability Zones. */
export const WAREHOUSE_AVAILABILITY_ZONES = 3;
/** The warehouse VPC's range; a /24 per subnet leaves room for the workgroup's scaling. */
export const WAREHOUSE_VPC_CIDR = '10.42.0.0/16';
export const WAREHOUSE_SUBNET_CIDR_MASK = 24;
export const DEFAULT_WAREHOUSE_FLOW_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;

// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, resolved by IAM
const CALLER_USER_ID = '${aws:userid}';

export interface AnalyticsWarehouseProps {
  /** The lake whose curated tables the warehouse COPYs from. */
  readonly lake: TelemetryLake;
  /** Prefix of the namespace, workgroup and log group names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /** @default {@link DEFAULT_WAREHOUSE_DATABASE_NAME} = "sdap" */
  readonly databaseName?: string;
  /** @default {@link DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU} = 8 */
  readonly baseCapacityRpu?: number;
  /** Retention of the VPC flow logs. @default {@link DEFAULT_WAREHOUSE_FLOW_LOG_RETENTION_DAYS} = 30 */
  readonly flowLogRetentionDays?: logs.RetentionDays;
  /** For the namespace (the data), the workgroup, the key and the logs. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The analysts' warehouse: a Redshift Serverless namespace (the data, encrypted with its own
 * customer-managed key, audit logs exported, the admin password managed in Secrets Manager) and a
 * workgroup (the compute) in the isolated subnets of a VPC of its own: no internet route, no NAT,
 * not publicly accessible, no open ingress. Enhanced VPC routing keeps COPY's traffic in the VPC,
 * through its S3 gateway endpoint. COPY runs as a role that may read the lake's curated tables and
 * nothing else.
 */
export class AnalyticsWarehouse extends Construct {
  public readonly vpc: ec2.Vpc;
  public readonly s3Endpoint: ec2.GatewayVpcEndpoint;
  public readonly flowLogGroup: logs.LogGroup;
  /** Attached to the workgroup; ingress only from what `allowConnectionsFrom` names. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** Encrypts the namespace's data and its admin secret. */
  public readonly key: kms.Key;
  /** The role COPY assumes (the namespace's default role). */
  public readonly copyRole: iam.Role;
  public readonly namespace: redshiftserverless.CfnNamespace;
  public readonly workgroup: redshiftserverless.CfnWorkgroup;
  public readonly namespaceName: string;
  public readonly workgroupName: string;
  public readonly databaseName: string;
  public readonly adminUsername = WAREHOUSE_ADMIN_USERNAME;
  /** The secret Redshift creates for the admin; its ARN adds a suffix only known after creation. */
  public readonly adminSecretName: string;
  /** Matches exactly the admin secret's ARN (`?` stands for each character of the random suffix). */
  public readonly adminSecretArnPattern: string;
  public readonly port = WAREHOUSE_PORT;

  constructor(scope: Construct, id: string, props: AnalyticsWarehouseProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const stack = Stack.of(this);
    this.namespaceName = `${props.namePrefix}-warehouse`;
    this.workgroupName = `${props.namePrefix}-warehouse`;
    this.databaseName = props.databaseName ?? DEFAULT_WAREHOUSE_DATABASE_NAME;
    this.adminSecretName = managedAdminSecretName(this.namespaceName, this.adminUsername);
    this.adminSecretArnPattern = stack.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${this.adminSecretName}-??????`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts the ${this.namespaceName} Redshift namespace, its admin secret and flow logs`,
      enableKeyRotation: true,
      removalPolicy,
    });

    const flowLogGroupName = `/aws/vpc/flow-logs/${this.namespaceName}`;
    this.allowLogGroupEncryption(flowLogGroupName);
    this.flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      logGroupName: flowLogGroupName,
      encryptionKey: this.key,
      retention: props.flowLogRetentionDays ?? DEFAULT_WAREHOUSE_FLOW_LOG_RETENTION_DAYS,
      removalPolicy,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(WAREHOUSE_VPC_CIDR),
      // The region's first three zones, resolved at deployment: an environment-agnostic stack
      // otherwise gets two, and the workgroup needs three.
      availabilityZones: Array.from({ length: WAREHOUSE_AVAILABILITY_ZONES }, (_, index) =>
        Fn.select(index, Fn.getAzs()),
      ),
      natGateways: 0,
      subnetConfiguration: [
        {
          name: 'warehouse',
          subnetType: ec2.SubnetType.PRIVATE_ISOLATED,
          cidrMask: WAREHOUSE_SUBNET_CIDR_MASK,
        },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    this.s3Endpoint = this.vpc.addGatewayEndpoint('S3', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [{ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    // Outbound reaches only what the VPC routes to: the S3 endpoint (the VPC has no other way out).
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: `Redshift Serverless workgroup ${this.workgroupName}: no ingress except named peers`,
      allowAllOutbound: true,
    });

    this.copyRole = new iam.Role(this, 'CopyRole', {
      description: 'Assumed by Redshift COPY: reads the curated tables of the lake, nothing else',
      assumedBy: new iam.CompositePrincipal(
        new iam.ServicePrincipal('redshift.amazonaws.com'),
        new iam.ServicePrincipal('redshift-serverless.amazonaws.com'),
      ),
    });
    props.lake.grantRead(
      this.copyRole,
      'curated',
      CURATED_TABLES.map((table) => table.prefix),
      'the curated tables the warehouse loads',
    );

    this.namespace = new redshiftserverless.CfnNamespace(this, 'Namespace', {
      namespaceName: this.namespaceName,
      dbName: this.databaseName,
      adminUsername: this.adminUsername,
      manageAdminPassword: true,
      adminPasswordSecretKmsKeyId: this.key.keyArn,
      kmsKeyId: this.key.keyArn,
      logExports: [...WAREHOUSE_LOG_EXPORTS],
      iamRoles: [this.copyRole.roleArn],
      defaultIamRoleArn: this.copyRole.roleArn,
    });
    this.namespace.applyRemovalPolicy(removalPolicy);

    this.workgroup = new redshiftserverless.CfnWorkgroup(this, 'Workgroup', {
      workgroupName: this.workgroupName,
      namespaceName: this.namespace.attrNamespaceNamespaceName,
      baseCapacity: props.baseCapacityRpu ?? DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU,
      port: this.port,
      publiclyAccessible: false,
      enhancedVpcRouting: true,
      subnetIds: this.vpc.isolatedSubnets.map((subnet) => subnet.subnetId),
      securityGroupIds: [this.securityGroup.securityGroupId],
    });
    this.workgroup.applyRemovalPolicy(removalPolicy);
    // COPY goes through the endpoint from the first load on.
    this.workgroup.node.addDependency(this.s3Endpoint);
  }

  /** The workgroup's endpoint host name, for clients inside the VPC (QuickSight's VPC connection). */
  public get endpointAddress(): string {
    return this.workgroup.attrWorkgroupEndpointAddress;
  }

  /** Lets `peer` connect to the workgroup's port; nothing else may. */
  public allowConnectionsFrom(peer: ec2.ISecurityGroup, description: string): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(this.port), description);
  }

  /**
   * Lets `grantee` run SQL through the Redshift Data API as the admin: submit statements to this
   * workgroup, read and cancel its own statements, read the admin secret (and decrypt it).
   * DescribeStatement, GetStatementResult and CancelStatement take no resource; the condition
   * limits them to the caller's own statements. The caller acknowledges that `*` resource.
   */
  public grantDataApi(grantee: iam.IGrantable): void {
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['redshift-data:ExecuteStatement', 'redshift-data:BatchExecuteStatement'],
        resources: [this.workgroup.attrWorkgroupWorkgroupArn],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'redshift-data:DescribeStatement',
          'redshift-data:GetStatementResult',
          'redshift-data:CancelStatement',
        ],
        resources: ['*'],
        conditions: { StringEquals: { 'redshift-data:statement-owner-iam-userid': CALLER_USER_ID } },
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [this.adminSecretArnPattern],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.key.keyArn] }),
    );
  }

  /** Lets CloudWatch Logs encrypt the log group `logGroupName` with the warehouse key, and no other. */
  private allowLogGroupEncryption(logGroupName: string): void {
    const stack = Stack.of(this);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptFlowLogs',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnEquals: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: logGroupName,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
  }
}
