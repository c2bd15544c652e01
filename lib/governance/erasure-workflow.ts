import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { NO_COUNTS } from '../../lambdas/erasure/erasure-event.ts';
import {
  ERASURE_ENV,
  ERASURE_ERRORS,
  ERASURE_SERVICE_NAME,
  ERASURE_ZONES,
  type ErasureZone,
} from '../../lambdas/erasure/names.ts';
import { ERASURE_AUDIT_PREFIX } from '../../lambdas/shared/erasure.ts';
import { LAMBDA_TRANSIENT_ERRORS, SDK_TASK_TIMEOUT_SECONDS } from '../batch/etl-workflow.ts';
import { stateMachineEncryption } from '../batch/state-machine-encryption.ts';
import type { TelemetryLake } from '../lake/telemetry-lake.ts';
import { acknowledge, nagReference } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';
import type { AnalyticsWarehouse } from '../warehouse/analytics-warehouse.ts';
import type { WarehouseSchema } from '../warehouse/warehouse-schema.ts';

const ERASURE_ENTRY = join(REPO_ROOT, 'lambdas', 'erasure', 'handler.ts');
/**
 * Lambda's longest: a sweep reads every object version of a zone, page after page, and stops
 * starting pages two minutes before the end; the workflow invokes it again from where it stopped.
 */
export const ERASURE_FUNCTION_TIMEOUT_SECONDS = 900;
/** A curated Parquet file is read, filtered and written in memory, a few at a time. */
export const ERASURE_FUNCTION_MEMORY_MB = 1024;
/** How long the task state waits beyond the function's own timeout, which always ends it first. */
export const ERASURE_TASK_TIMEOUT_MARGIN_SECONDS = 60;
/**
 * The longest an erasure may take: a month of a large fleet's lake is many 15-minute sweeps, and
 * an erasure is due within a month of the request (GDPR article 12(3)).
 */
export const ERASURE_WORKFLOW_TIMEOUT_HOURS = 72;
export const DEFAULT_ERASURE_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;

export interface ErasureWorkflowProps {
  /** The lake whose raw, quarantine, failures and curated buckets are swept. */
  readonly lake: TelemetryLake;
  /** Where a failed or incomplete erasure is reported. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of the state machine and log group names, e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /**
   * The warehouse the device's rows are deleted from.
   * @default - none: the stage has no warehouse
   */
  readonly warehouse?: { readonly warehouse: AnalyticsWarehouse; readonly schema: WarehouseSchema };
  /** @default {@link DEFAULT_ERASURE_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the log groups and the audit bucket. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Right to erasure in the cloud (RELIABILITY.md, item 14): a Standard Step Functions workflow,
 * started by an operator with `{"deviceId": "...", "requestedBy": "..."}`, that sweeps every object
 * version of the four lake zones in parallel (rewriting objects without the device, deleting the
 * versions that held it), deletes the device's rows from the warehouse and vacuums them away,
 * sweeps the zones again to verify (a delete S3 answered but did not do shows here), and writes an
 * audit record to its own bucket. The logic is the function's (lambdas/erasure/), and the per-object
 * decision is the one `sdap erase` uses on the twin. Every task has a timeout, retries transient
 * errors with backoff and jitter, and catches everything else into a message to on-call.
 *
 * Nothing else may write the device's data meanwhile: the device should be deregistered first, and
 * an ETL run over the same hours can bring back what the sweep just removed (the verification then
 * fails the erasure, and a rerun finishes it).
 */
export class ErasureWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly stateMachineName: string;
  public readonly logGroup: logs.LogGroup;
  public readonly function: lambda.IFunction;
  public readonly role: iam.Role;
  /** Holds the audit records, `erasure/<date>/<erasure id>.json`. */
  public readonly auditBucket: s3.Bucket;
  public readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: ErasureWorkflowProps) {
    super(scope, id);
    const { lake } = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retention = props.logRetentionDays ?? DEFAULT_ERASURE_LOG_RETENTION_DAYS;
    this.stateMachineName = `${props.namePrefix}-erasure`;
    this.timeout = Duration.seconds(ERASURE_FUNCTION_TIMEOUT_SECONDS);

    // Versioned and encrypted like the lake; never swept by an erasure (it is not one of the zones).
    this.auditBucket = new s3.Bucket(this, 'AuditBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: lake.key,
      bucketKeyEnabled: true,
      serverAccessLogsBucket: lake.accessLogsBucket,
      serverAccessLogsPrefix: 'erasure-audit/',
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    });

    const zoneBuckets: Record<ErasureZone, s3.Bucket> = {
      raw: lake.rawBucket,
      quarantine: lake.quarantineBucket,
      failures: lake.failuresBucket,
      curated: lake.curatedBucket,
    };
    const warehouse = props.warehouse;
    const parts = createProjectFunction(this, {
      entry: ERASURE_ENTRY,
      description: 'Erases one device from the lake and the warehouse (right to erasure)',
      roleDescription: 'Execution role of the device erasure function',
      serviceName: ERASURE_SERVICE_NAME,
      memorySizeMb: ERASURE_FUNCTION_MEMORY_MB,
      timeoutSeconds: ERASURE_FUNCTION_TIMEOUT_SECONDS,
      logRetentionDays: retention,
      removalPolicy,
      environment: {
        [ERASURE_ENV.zoneBuckets]: JSON.stringify(
          Object.fromEntries(ERASURE_ZONES.map((zone) => [zone, zoneBuckets[zone].bucketName])),
        ),
        [ERASURE_ENV.auditBucket]: this.auditBucket.bucketName,
        ...(warehouse && {
          [ERASURE_ENV.workgroupName]: warehouse.warehouse.workgroupName,
          [ERASURE_ENV.databaseName]: warehouse.warehouse.databaseName,
          [ERASURE_ENV.adminSecretArn]: warehouse.schema.adminSecretArn,
        }),
      },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.grantFunction(zoneBuckets, props);

    const logGroupName = `/aws/vendedlogs/states/${this.stateMachineName}`;
    lake.allowLogGroupEncryption(logGroupName);
    this.logGroup = new logs.LogGroup(this, 'StateMachineLogGroup', {
      logGroupName,
      encryptionKey: lake.key,
      retention,
      removalPolicy,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      comment: 'Right to erasure: one device out of every lake zone, every object version and the warehouse',
      queryLanguage: sfn.QueryLanguage.JSONATA,
      definitionBody: sfn.DefinitionBody.fromChainable(this.definition(props)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(ERASURE_WORKFLOW_TIMEOUT_HOURS),
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      encryptionConfiguration: stateMachineEncryption(lake.key),
      removalPolicy,
    });
    this.grantStateMachine(props);
  }

  /**
   * Every version of each zone's objects: read, rewrite, delete (by version id, which is what
   * removes bytes for good: `s3:DeleteObjectVersion`); the versions' listing; the lake key. And
   * writing audit records, nothing else, in the audit bucket.
   */
  private grantFunction(zoneBuckets: Record<ErasureZone, s3.Bucket>, props: ErasureWorkflowProps): void {
    for (const zone of ERASURE_ZONES) {
      const bucket = zoneBuckets[zone];
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket', 's3:ListBucketVersions'],
          resources: [bucket.bucketArn],
        }),
      );
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [
            's3:GetObject',
            's3:GetObjectVersion',
            's3:PutObject',
            's3:DeleteObject',
            's3:DeleteObjectVersion',
          ],
          resources: [bucket.arnForObjects('*')],
        }),
      );
      acknowledge(
        this.role,
        `AwsSolutions-IAM5[Resource::${nagReference(bucket.node.defaultChild as s3.CfnBucket)}/*]`,
        `An erasure reads and rewrites any object of the ${zone} zone that holds the device, in every version: which objects is known only by reading them.`,
      );
    }
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.auditBucket.arnForObjects(`${ERASURE_AUDIT_PREFIX}*`)],
      }),
    );
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::${nagReference(this.auditBucket.node.defaultChild as s3.CfnBucket)}/${ERASURE_AUDIT_PREFIX}*]`,
      'Writes audit records only; each key names its day and erasure, known only at run time.',
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [props.lake.key.keyArn],
      }),
    );
    props.warehouse?.warehouse.grantDataApi(this.role);
    acknowledge(
      this.function,
      'Serverless-LambdaDLQ',
      'Only the erasure workflow invokes this function, synchronously; it retries transient failures and reports the rest to on-call. There is no asynchronous invocation to dead-letter.',
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      "X-Ray tracing and the Data API's DescribeStatement, GetStatementResult and CancelStatement support no resource; the latter are limited to the function's own statements by condition.",
    );
  }

  private grantStateMachine(props: ErasureWorkflowProps): void {
    const role = this.stateMachine.role;
    const topicKey = props.onCallTopic.masterKey;
    if (topicKey) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [topicKey.keyArn],
        }),
      );
    }
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray tracing and CloudWatch Logs delivery support no resource-level permission.',
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::${nagReference(this.function.node.defaultChild as lambda.CfnFunction)}:*]`,
      "The invoke grant also covers the erasure function's versions and aliases: that function only.",
    );
  }

  /** A task invoking the function with `payload`, retried on transient errors, with a timeout. */
  private invoke(
    id: string,
    comment: string,
    payload: Record<string, unknown>,
    results: { readonly outputs?: string; readonly assign?: Record<string, string> },
  ) {
    const task = tasks.LambdaInvoke.jsonata(this, id, {
      comment,
      lambdaFunction: this.function,
      payload: sfn.TaskInput.fromObject(payload),
      retryOnServiceExceptions: false,
      taskTimeout: sfn.Timeout.duration(
        this.timeout.plus(Duration.seconds(ERASURE_TASK_TIMEOUT_MARGIN_SECONDS)),
      ),
      ...results,
    });
    task.addRetry({
      errors: [...LAMBDA_TRANSIENT_ERRORS, ERASURE_ERRORS.transient, 'States.Timeout'],
      interval: Duration.seconds(5),
      maxAttempts: 4,
      backoffRate: 2,
      maxDelay: Duration.seconds(60),
      jitterStrategy: sfn.JitterType.FULL,
    });
    return task;
  }

  /**
   * One zone's sweep in `mode`: invoke the function, again from where it stopped while the zone is
   * not done, and end with `{zone, counts}`.
   */
  private zoneSweep(zone: ErasureZone, mode: 'erase' | 'verify'): sfn.IChainable {
    const name = `${mode === 'erase' ? 'Erase' : 'Verify'}${zone.charAt(0).toUpperCase()}${zone.slice(1)}`;
    const start = sfn.Pass.jsonata(this, `${name}Start`, {
      outputs: { keyMarker: null, versionIdMarker: null, counts: NO_COUNTS },
    });
    const sweep = this.invoke(
      name,
      `${mode === 'erase' ? 'Erase the device from' : 'Look for the device in'} every object version of the ${zone} zone, a page at a time`,
      {
        action: 'sweep',
        mode,
        zone,
        deviceId: '{% $deviceId %}',
        keyMarker: '{% $states.input.keyMarker %}',
        versionIdMarker: '{% $states.input.versionIdMarker %}',
        counts: '{% $states.input.counts %}',
      },
      { outputs: '{% $states.result.Payload %}' },
    );
    const done = sfn.Pass.jsonata(this, `${name}Done`, {
      outputs: { zone, counts: '{% $states.input.counts %}' },
    });
    const more = sfn.Choice.jsonata(this, `${name}More`, {
      comment: 'Again from the markers until the zone is done',
    })
      .when(sfn.Condition.jsonata('{% $states.input.done %}'), done)
      .otherwise(sweep);
    return sfn.Chain.start(start).next(sweep).next(more);
  }

  private definition(props: ErasureWorkflowProps): sfn.IChainable {
    const notify = tasks.SnsPublish.jsonata(this, 'NotifyOnCall', {
      comment: 'A failed or incomplete erasure: a person must look (the audit record says what was left)',
      topic: props.onCallTopic,
      subject: `sdap erasure ${this.stateMachineName} failed`,
      message: sfn.TaskInput.fromText(
        `{% $string({ 'execution': $states.context.Execution.Id, 'error': $failure, 'runbook': 'README.md#right-to-erasure-sdap-erase' }, true) %}`,
      ),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(SDK_TASK_TIMEOUT_SECONDS)),
    });
    notify.addRetry({
      errors: ['SNS.SnsException', 'SNS.SdkClientException', 'SNS.ThrottledException', 'States.Timeout'],
      interval: Duration.seconds(2),
      maxAttempts: 3,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    const failed = sfn.Fail.jsonata(this, 'ErasureFailed', {
      error: 'ErasureFailed',
      cause: '{% $string($failure) %}',
    });
    // Even when the notification cannot be sent, the execution fails (and its metric shows it).
    notify.addCatch(failed, { errors: [sfn.Errors.ALL] });
    notify.next(failed);
    const catchInto = (state: sfn.TaskStateBase | sfn.Parallel) =>
      state.addCatch(notify, { errors: [sfn.Errors.ALL], assign: { failure: '{% $states.errorOutput %}' } });

    const begin = sfn.Pass.jsonata(this, 'Begin', {
      comment: 'The request: {"deviceId": "...", "requestedBy": "..."} (the function checks both)',
      assign: {
        deviceId: '{% $states.input.deviceId %}',
        requestedBy: '{% $states.input.requestedBy %}',
        failure: null,
      },
    });
    const erase = sfn.Parallel.jsonata(this, 'EraseZones', {
      comment: 'Every zone at once: each is its own bucket',
      assign: { erased: '{% $states.result %}' },
    });
    for (const zone of ERASURE_ZONES) erase.branch(this.zoneSweep(zone, 'erase'));
    catchInto(erase);

    const warehouse = this.invoke(
      'EraseWarehouse',
      "DELETE the device's rows from every warehouse table, VACUUM DELETE ONLY to 100 percent, count again",
      { action: 'warehouse', deviceId: '{% $deviceId %}' },
      { assign: { warehouse: '{% $states.result.Payload %}' } },
    );
    catchInto(warehouse);

    const verify = sfn.Parallel.jsonata(this, 'VerifyZones', {
      comment: 'Read every version again: a delete S3 answered but did not do shows here',
      assign: { verified: '{% $states.result %}' },
    });
    for (const zone of ERASURE_ZONES) verify.branch(this.zoneSweep(zone, 'verify'));
    catchInto(verify);

    const audit = this.invoke(
      'WriteAuditRecord',
      'Who, what, when and how many, per zone and table; fails when the verification found anything left',
      {
        action: 'audit',
        deviceId: '{% $deviceId %}',
        requestedBy: '{% $requestedBy %}',
        erasureId: '{% $states.context.Execution.Name %}',
        startedAt: '{% $states.context.Execution.StartTime %}',
        command: '{% $states.context.Execution.Id %}',
        erased: '{% $erased %}',
        verified: '{% $verified %}',
        warehouse: '{% $warehouse %}',
      },
      { outputs: '{% $states.result.Payload %}' },
    );
    catchInto(audit);
    const done = sfn.Succeed.jsonata(this, 'Erased');
    return sfn.Chain.start(begin).next(erase).next(warehouse).next(verify).next(audit).next(done);
  }
}
