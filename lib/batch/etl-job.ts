import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import {
  DEFAULT_ETL_TIMEOUT_MINUTES,
  DEFAULT_ETL_WORKER_TYPE,
  DEV_ETL_NUMBER_OF_WORKERS,
  type EtlWorkerType,
} from '../config.ts';
import type { TelemetryLake } from '../lake/telemetry-lake.ts';
import { acknowledge } from '../nag.ts';
import {
  ETL_MANIFEST_PATH,
  ETL_SQL_DIR,
  type EtlManifest,
  type EtlOutput,
  etlOutputs,
  etlSourceKeys,
  GLUE_SCRIPTS_DIR,
  loadEtlManifest,
} from './etl-manifest.ts';

// The job's defaults are the stage defaults; re-exported as this construct's own.
export { DEFAULT_ETL_TIMEOUT_MINUTES, DEFAULT_ETL_WORKER_TYPE };
export const DEFAULT_ETL_NUMBER_OF_WORKERS = DEV_ETL_NUMBER_OF_WORKERS;

/**
 * The PySpark entry point Glue runs; every other `glue-scripts/etl_*.py` ships as an importable
 * module (the folder's other jobs keep to their own prefix, e.g. `ml_*.py`).
 */
export const ETL_JOB_SCRIPT = 'etl_job.py';
/** The file-name prefix of the ETL job's Python: its entry point and its modules. */
export const ETL_SCRIPT_PREFIX = 'etl_';
/** Glue 5.0: Spark 3.5, Python 3.11; the newest Glue version CloudFormation and CDK both name. */
export const ETL_GLUE_VERSION = '5.0';
/** Where in the curated bucket a run writes its summary (`--summary_key`), which the workflow reads. */
export const ETL_RUNS_PREFIX = 'etl-runs/';
/**
 * The run summary's field the workflow gates on: the mean data-quality score of the run's
 * device-hours (`99_run_summary.sql`), on the SQL's 0-100 scale; null when no device-hour was scored.
 */
export const RUN_SUMMARY_DQ_SCORE_FIELD = 'dq_score_mean';
/** The SQL scores 0 to 100; the stage's threshold and the metric are 0 to 1. */
export const RUN_SUMMARY_DQ_SCORE_SCALE = 100;
/** Where a run stages its output before swapping it into place (see glue-scripts/README.md). */
export const ETL_STAGING_PREFIX = '_staging/';
/** Glue writes the job's logs under this log-group prefix (its own groups and ours). */
export const GLUE_LOG_GROUP_PREFIX = '/aws-glue/jobs/';
/** @default {@link DEFAULT_ETL_MAX_CONCURRENT_RUNS} = 1 */
export const DEFAULT_ETL_MAX_CONCURRENT_RUNS = 1;

/**
 * The job's arguments, set by the stack (`fixed`) or by each run (`perRun`); the PySpark script
 * validates every one of them and fails naming the argument.
 */
export const ETL_JOB_ARGUMENTS = {
  fixed: {
    rawBucket: '--raw_bucket',
    quarantineBucket: '--quarantine_bucket',
    curatedBucket: '--curated_bucket',
    sqlLocation: '--sql_location',
    databaseName: '--database_name',
  },
  perRun: {
    windowStart: '--window_start',
    windowEnd: '--window_end',
    windowKind: '--window_kind',
    summaryKey: '--summary_key',
  },
} as const;

export interface EtlJobProps {
  /** Where the job reads from and writes to; its key encrypts the job's output, logs and bookmarks. */
  readonly lake: TelemetryLake;
  /** Prefix of the job, security configuration and log group names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /** @default {@link DEFAULT_ETL_WORKER_TYPE} = "G.1X" */
  readonly workerType?: EtlWorkerType;
  /** @default {@link DEFAULT_ETL_NUMBER_OF_WORKERS} = 2 */
  readonly numberOfWorkers?: number;
  /** @default {@link DEFAULT_ETL_TIMEOUT_MINUTES} = 30 */
  readonly timeoutMinutes?: number;
  /** Runs Glue admits at once; a backfill's concurrency plus one for the schedule. @default {@link DEFAULT_ETL_MAX_CONCURRENT_RUNS} = 1 */
  readonly maxConcurrentRuns?: number;
  /** @default {@link DEFAULT_ETL_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** The manifest whose sources and outputs the role is granted. @default - glue-scripts/sql/pipeline.json */
  readonly manifest?: EtlManifest;
  /** For the log group and the security configuration. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}
/**
 * The arguments every Glue job of the project starts with: Python, job and observability metrics,
 * continuous logs into `logGroup`, no bookmarks (each run names the data it reads, and a rerun must
 * read it again), and `modules` as extra Python files.
 */
export function glueJobArguments(
  logGroup: logs.ILogGroup,
  modules: readonly s3assets.Asset[],
): Record<string, string> {
  return {
    '--job-language': 'python',
    '--enable-metrics': 'true',
    '--enable-observability-metrics': 'true',
    '--enable-continuous-cloudwatch-log': 'true',
    '--continuous-log-logGroup': logGroup.logGroupName,
    '--job-bookmark-option': 'job-bookmark-disable',
    ...(modules.length > 0
      ? { '--extra-py-files': modules.map((asset) => asset.s3ObjectUrl).join(',') }
      : {}),
  };
}

export const DEFAULT_ETL_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;

/**
 * The Glue Spark job of the batch ETL: the PySpark runner (I/O only) and the SQL it executes,
 * deployed as assets; a security configuration encrypting its S3 output, logs and bookmarks with the
 * lake key; and a role that reads exactly the manifest's sources and rewrites exactly its outputs.
 * The job keeps the curated tables of the Glue catalog in step with what it writes (their schemas
 * come from the SQL, so the catalog follows the data rather than a second definition of it).
 */
export class EtlJob extends Construct {
  public readonly job: glue.CfnJob;
  public readonly jobName: string;
  public readonly role: iam.Role;
  public readonly securityConfiguration: glue.SecurityConfiguration;
  /** Receives the job's driver and executor logs (continuous logging), encrypted with the lake key. */
  public readonly logGroup: logs.LogGroup;
  /** The steps whose rows the job writes, each a table of the Glue database. */
  public readonly outputs: readonly EtlOutput[];
  public readonly timeout: Duration;
  private readonly lake: TelemetryLake;

  constructor(scope: Construct, id: string, props: EtlJobProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const manifest = props.manifest ?? loadEtlManifest(ETL_MANIFEST_PATH);
    const { lake } = props;
    this.lake = lake;
    this.outputs = etlOutputs(manifest);
    this.jobName = `${props.namePrefix}-etl`;
    this.timeout = Duration.minutes(props.timeoutMinutes ?? DEFAULT_ETL_TIMEOUT_MINUTES);

    // CloudWatch Logs encrypts the job's log groups with the lake key on Glue's behalf (Glue developer
    // guide, "Setting up encryption").
    lake.allowLogGroupEncryption(`${GLUE_LOG_GROUP_PREFIX}*`);

    this.securityConfiguration = new glue.SecurityConfiguration(this, 'SecurityConfiguration', {
      securityConfigurationName: `${props.namePrefix}-etl`,
      s3Encryption: glue.S3Encryption.kms(lake.key),
      cloudWatchEncryption: glue.CloudWatchEncryption.kms(lake.key),
      jobBookmarksEncryption: glue.JobBookmarksEncryption.clientSideKms(lake.key),
      removalPolicy,
    });

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: `${GLUE_LOG_GROUP_PREFIX}${this.jobName}`,
      encryptionKey: lake.key,
      retention: props.logRetentionDays ?? DEFAULT_ETL_LOG_RETENTION_DAYS,
      removalPolicy,
    });

    this.role = new iam.Role(this, 'Role', {
      description: 'Runs the batch ETL Glue job: reads the lake zones it names, rewrites curated outputs',
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
    });

    const script = new s3assets.Asset(this, 'Script', { path: join(GLUE_SCRIPTS_DIR, ETL_JOB_SCRIPT) });
    const modules = readdirSync(GLUE_SCRIPTS_DIR)
      .filter((name) => name.startsWith(ETL_SCRIPT_PREFIX) && name.endsWith('.py') && name !== ETL_JOB_SCRIPT)
      .sort()
      .map(
        (name) =>
          new s3assets.Asset(this, `Module-${name.replace(/\W/g, '-')}`, {
            path: join(GLUE_SCRIPTS_DIR, name),
          }),
      );
    // The SQL folder with its manifest: one zip, read by the job at start.
    const sql = new s3assets.Asset(this, 'Sql', { path: ETL_SQL_DIR });
    for (const asset of [script, sql, ...modules]) {
      // Exactly the asset's object (its key is a content hash): no wildcard on the assets bucket.
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [asset.bucket.arnForObjects(asset.s3ObjectKey)],
        }),
      );
    }

    this.grantLake(manifest);
    this.grantLogs();
    this.grantCatalog();

    this.job = new glue.CfnJob(this, 'Resource', {
      name: this.jobName,
      description: 'Hourly batch ETL: raw zone -> curated Parquet (glue-scripts/README.md)',
      role: this.role.roleArn,
      command: {
        name: 'glueetl',
        pythonVersion: '3',
        scriptLocation: script.s3ObjectUrl,
      },
      glueVersion: ETL_GLUE_VERSION,
      workerType: props.workerType ?? DEFAULT_ETL_WORKER_TYPE,
      numberOfWorkers: props.numberOfWorkers ?? DEFAULT_ETL_NUMBER_OF_WORKERS,
      timeout: this.timeout.toMinutes(),
      // Retries belong to the workflow, which backs off and knows what is transient.
      maxRetries: 0,
      executionClass: 'STANDARD',
      executionProperty: { maxConcurrentRuns: props.maxConcurrentRuns ?? DEFAULT_ETL_MAX_CONCURRENT_RUNS },
      securityConfiguration: this.securityConfiguration.securityConfigurationName,
      defaultArguments: {
        // Every run names its window explicitly and replaces its partitions: a bookmark would make
        // a rerun of the same hour skip the data it must rebuild.
        ...glueJobArguments(this.logGroup, modules),
        [ETL_JOB_ARGUMENTS.fixed.rawBucket]: lake.rawBucket.bucketName,
        [ETL_JOB_ARGUMENTS.fixed.quarantineBucket]: lake.quarantineBucket.bucketName,
        [ETL_JOB_ARGUMENTS.fixed.curatedBucket]: lake.curatedBucket.bucketName,
        [ETL_JOB_ARGUMENTS.fixed.sqlLocation]: sql.s3ObjectUrl,
        [ETL_JOB_ARGUMENTS.fixed.databaseName]: lake.databaseName,
      },
    });
  }

  /** The job's ARN, for the workflow's `glue:StartJobRun` grant. */
  public get jobArn(): string {
    return Stack.of(this).formatArn({ service: 'glue', resource: 'job', resourceName: this.jobName });
  }

  /** The manifest's sources to read, its outputs (plus staging and run summaries) to rewrite. */
  private grantLake(manifest: EtlManifest): void {
    const sources = etlSourceKeys(manifest);
    const writes = [
      ...new Set([...this.outputs.map((output) => output.prefix), ETL_STAGING_PREFIX, ETL_RUNS_PREFIX]),
    ];
    this.lake.grantRead(this.role, 'raw', sources.raw, 'raw readings, the device registry and weather');
    this.lake.grantRead(this.role, 'quarantine', sources.quarantine, 'quarantine records (rejection counts)');
    const curatedReadOnly = sources.curated.filter((prefix) => !writes.includes(prefix));
    if (curatedReadOnly.length > 0) {
      this.lake.grantRead(this.role, 'curated', curatedReadOnly, 'earlier curated outputs');
    }
    this.lake.grantReadWriteCurated(this.role, writes, 'the partitions of its window');
  }

  /**
   * Continuous logging into our group, and the groups Glue names after the security configuration
   * and role (`/aws-glue/jobs/<configuration>-role/<role>/output|error`), each associated with the key.
   */
  private grantLogs(): void {
    const glueLogs = glueLogGroupsArn(Stack.of(this));
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:AssociateKmsKey'],
        resources: [glueLogs],
      }),
    );
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${GLUE_LOG_GROUP_PREFIX}*]`,
      'Glue derives the names of its output and error log groups from the security configuration and role at run time; the grant stays under /aws-glue/jobs/.',
    );
    // Job metrics (--enable-metrics) are put by the job's driver; PutMetricData has no resource type.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': 'Glue' } },
      }),
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'cloudwatch:PutMetricData supports no resource-level permission; the condition limits it to the Glue namespace.',
    );
  }

  /** Reads the database; creates, updates and adds partitions to exactly the output tables. */
  private grantCatalog(): void {
    const stack = Stack.of(this);
    const database = this.lake.databaseName;
    const arn = (resource: string, resourceName?: string) =>
      stack.formatArn({ service: 'glue', resource, resourceName });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase'],
        resources: [arn('catalog'), arn('database', database)],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'glue:GetTable',
          'glue:CreateTable',
          'glue:UpdateTable',
          'glue:GetPartitions',
          'glue:BatchCreatePartition',
        ],
        resources: [
          arn('catalog'),
          arn('database', database),
          ...this.outputs.map((output) => arn('table', `${database}/${output.view}`)),
        ],
      }),
    );
  }
}

/** Every log group under Glue's job prefix, and their streams. */
function glueLogGroupsArn(stack: Stack): string {
  return stack.formatArn({
    service: 'logs',
    resource: 'log-group',
    resourceName: `${GLUE_LOG_GROUP_PREFIX}*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}
