import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ArnFormat, Aws, CfnMapping, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct, type IConstruct } from 'constructs';
import {
  MODEL_EVALUATION_ENV,
  MODEL_EVALUATION_SERVICE_NAME,
  TRAINING_PREFIX,
  TRAINING_RUN_LAYOUT,
} from '../../lambdas/model-evaluation/names.ts';
import {
  loadModelSpec,
  MODEL_NAMES,
  MODEL_SPEC_PATH,
  type ModelName,
  type ModelSpec,
  sagemakerHyperParameters,
} from '../../ml/model-spec.ts';
import { ETL_GLUE_VERSION, GLUE_LOG_GROUP_PREFIX, glueJobArguments } from '../batch/etl-job.ts';
import { GLUE_SCRIPTS_DIR } from '../batch/etl-manifest.ts';
import {
  GLUE_TASK_TIMEOUT_MARGIN_MINUTES,
  GLUE_TRANSIENT_ERRORS,
  LAMBDA_TRANSIENT_ERRORS,
  SDK_TASK_TIMEOUT_SECONDS,
  SDK_TRANSIENT_ERRORS,
} from '../batch/etl-workflow.ts';
import { SCHEDULE_EXPRESSION_PATTERN } from '../batch/function-schedule.ts';
import { scheduleStartRole, stateMachineEncryption } from '../batch/state-machine-encryption.ts';
import {
  DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
  DEFAULT_TRAINING_INSTANCE_TYPE,
  DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
  MAX_CHALLENGER_TRAFFIC_PERCENT,
} from '../config.ts';
import {
  ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS,
  DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS,
  type TelemetryLake,
} from '../lake/telemetry-lake.ts';
import { acknowledge, nagReference } from '../nag.ts';
import { createProjectFunction, REPO_ROOT } from '../project-function.ts';
// One map of SageMaker's registry accounts for the endpoints and the training jobs.
import { XGBOOST_IMAGE_ACCOUNTS, XGBOOST_IMAGE_REPOSITORY } from './model-endpoints.ts';

// The workflow's defaults are the stage defaults; re-exported as this construct's own.
export {
  DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
  DEFAULT_TRAINING_INSTANCE_TYPE,
  DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
  MAX_CHALLENGER_TRAFFIC_PERCENT,
};

/** The PySpark entry point of the training-data job; every other `glue-scripts/ml_*.py` ships as its module. */
export const TRAINING_DATA_JOB_SCRIPT = 'ml_training_data.py';
/** The file-name prefix of the training-data job's Python. */
export const ML_SCRIPT_PREFIX = 'ml_';
/** The models' example queries (`<model>_examples.sql`), deployed as one archive. */
export const ML_SQL_DIR = join(REPO_ROOT, 'ml', 'sql');
/** The evaluation function's handler module. */
export const MODEL_EVALUATION_ENTRY = join(REPO_ROOT, 'lambdas', 'model-evaluation', 'handler.ts');

/**
 * The training-data job's arguments, set by the construct (`fixed`) or by each run (`perRun`); the
 * PySpark script validates every one of them and fails naming the argument.
 */
export const TRAINING_DATA_JOB_ARGUMENTS = {
  fixed: {
    rawBucket: '--raw_bucket',
    curatedBucket: '--curated_bucket',
    artifactsBucket: '--artifacts_bucket',
    sqlLocation: '--sql_location',
    modelSpecLocation: '--model_spec_location',
  },
  perRun: {
    model: '--model',
    windowStart: '--window_start',
    splitAt: '--split_at',
    windowEnd: '--window_end',
    outputPrefix: '--output_prefix',
  },
} as const;

/** The curated tables the example queries may read (prefixes of the curated bucket). */
export const TRAINING_CURATED_PREFIXES = ['curated_telemetry/', 'device_baselines/', 'ml_features/'] as const;
/** Where the simulator's ground truth lies in the raw bucket (NDJSON, one labelled incident a line). */
export const LABELS_PREFIX = 'labels/';

/**
 * The default window: the 28 days before the start of the run's day, of which the last 7 are held
 * out. A week of hold-out covers every weekday once (energy follows the week) and gathers enough
 * failures to measure ROC-AUC; three weeks of training see each weekday three times. Started on a
 * Monday (the stage's schedule), the window is four whole weeks and the hold-out the last of them;
 * it ends at midnight, hours after the hourly ETL has rebuilt the last hour of Sunday.
 */
export const TRAINING_WINDOW_DAYS = 28;
export const HOLDOUT_DAYS = 7;
/** The longest window a requested run may name: a quarter. Longer windows cost Glue and training time for stale patterns. */
export const MAX_TRAINING_WINDOW_DAYS = 92;
/** Glue's timeout of one model's training data: 28 days of readings for the anomaly model take the longest. */
export const TRAINING_DATA_JOB_TIMEOUT_MINUTES = 120;
/** G.1X workers of the training-data job. */
export const TRAINING_DATA_JOB_WORKERS = 4;
/** The training job's own limit; its state waits {@link SAGEMAKER_JOB_MARGIN_MINUTES} longer. */
export const TRAINING_MAX_RUNTIME_SECONDS = 2 * 3600;
/** The training instance's EBS volume: room for a few GB of CSV and its DMatrix. */
export const TRAINING_VOLUME_GB = 30;
/**
 * Minutes a SageMaker job's state waits beyond the job's own limit: provisioning, image pull and
 * artefact upload are outside `MaxRuntimeInSeconds`.
 */
export const SAGEMAKER_JOB_MARGIN_MINUTES = 30;
/** Batch transform of a week's hold-out: minutes of scoring after minutes of start-up. */
export const TRANSFORM_TASK_TIMEOUT_MINUTES = 90;
/** How often the workflow looks at an endpoint it has asked to update, and for how long. */
export const ENDPOINT_POLL_SECONDS = 60;
export const ENDPOINT_MAX_POLLS = 60;
/** The evaluation reads a week of hold-out (millions of readings for the anomaly model) into memory. */
export const EVALUATION_MEMORY_MB = 3008;
export const EVALUATION_TIMEOUT_SECONDS = 900;
/** How long the evaluation state waits beyond the function's own timeout, which always ends it first. */
export const EVALUATION_TASK_TIMEOUT_MARGIN_SECONDS = 60;
export const DEFAULT_TRAINING_LOG_RETENTION_DAYS = logs.RetentionDays.ONE_MONTH;
/**
 * SageMaker names are at most 63 characters: `<prefix>-<model>-<yyyymmdd>-<yyyymmdd>-<8 hex>-champ`
 * leaves 22 for the prefix.
 */
export const MAX_NAME_PREFIX_LENGTH = 22;
/** The endpoint variants the workflow reads and writes (the endpoints construct names them the same). */
export const CHAMPION_VARIANT = 'champion';
export const CHALLENGER_VARIANT = 'challenger';

/** The image versions the registry map (`XGBOOST_IMAGE_ACCOUNTS`, shared with the endpoints) holds. */
export const XGBOOST_IMAGE_VERSIONS = ['1.7-1'] as const;

/** The built-in XGBoost image of `version` in `region`. @throws Error for a region or version not in the map */
export function xgboostImageUri(region: string, version: string): string {
  checkXgboostVersion(version);
  const account = XGBOOST_IMAGE_ACCOUNTS[region];
  if (account === undefined) {
    throw new Error(
      `XGBoost image region: received '${region}', expected one of ${Object.keys(XGBOOST_IMAGE_ACCOUNTS).join(', ')}`,
    );
  }
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `${account}.dkr.ecr.${region}.${suffix}/${XGBOOST_IMAGE_REPOSITORY}:${version}`;
}

function checkXgboostVersion(version: string): void {
  if (!(XGBOOST_IMAGE_VERSIONS as readonly string[]).includes(version)) {
    throw new Error(
      `XGBoost image version: received '${version}', expected one of ${XGBOOST_IMAGE_VERSIONS.join(', ')} (models.json sagemakerXgboostVersion); add the registry accounts of a new version first`,
    );
  }
}

/**
 * SageMaker's transient errors. The optimized integrations (createTrainingJob, createModel,
 * createTransformJob, createEndpointConfig, updateEndpoint) report every API error under one name,
 * throttling (ThrottlingException) and ServiceUnavailable included; the AWS SDK integrations
 * (describeEndpoint, createModelPackage, ...) name unmodelled errors after the service. A failed job
 * is `States.TaskFailed`, never retried: it would fail again. Validation errors share the first name
 * and are retried a few seconds in vain; the bound keeps that short.
 */
export const SAGEMAKER_TRANSIENT_ERRORS = [
  'SageMaker.AmazonSageMakerException',
  'SageMaker.SageMakerException',
  'SageMaker.SdkClientException',
  'SageMaker.ThrottlingException',
  'SageMaker.ServiceUnavailableException',
];

/**
 * The alarm on failed executions the monitoring construct is to create, and its runbook entry, which
 * also explains a candidate held at the gate: both notifications link to it.
 */
export const TRAINING_FAILED_ALARM_ID = 'ml-training-failed-executions-count';
const TRAINING_RUNBOOK_LINK = `docs/runbook.md#${TRAINING_FAILED_ALARM_ID}`;

/** How each model's run ended: the `status` of its result. */
export const TRAINING_RESULT_STATUSES = {
  /** Registered (Approved) and served by the endpoint as the challenger. */
  deployed: 'DEPLOYED',
  /** Registered (Approved), not deployed: no endpoint serves the model yet, or the stage gives a challenger no traffic. */
  registered: 'REGISTERED',
  /** Registered (Rejected): it missed the gate; the champion keeps serving. On-call is told. */
  gateHeld: 'GATE_HELD',
  /** A step failed; the execution fails after telling on-call. */
  failed: 'FAILED',
} as const;

/** An object holding a model artefact (`model.tar.gz`); a CDK `s3assets.Asset` is one. */
export interface ModelArtifactLocation {
  readonly bucket: s3.IBucket;
  readonly s3ObjectKey: string;
}

/** Where an endpoint's data capture writes. */
export interface DataCaptureLocation {
  readonly bucket: s3.IBucket;
  /** The key prefix of every endpoint's captures, ending in `/`, e.g. `ml-data-capture/`. */
  readonly prefix: string;
}

export interface TrainingWorkflowProps {
  /** The curated tables and labels the training data is built from; its access-log bucket receives the artifacts bucket's logs. */
  readonly lake: TelemetryLake;
  /** Where a failed run and a candidate held at the gate are reported. */
  readonly onCallTopic: sns.ITopic;
  /** Prefix of every name (state machine, job, model package groups, SageMaker jobs), e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /** The endpoint serving each model (`sdap-<stage>-<model>`); a model without a live endpoint is registered, not deployed. */
  readonly endpointNames: Readonly<Record<ModelName, string>>;
  /** The key of the endpoints' configs, which `UpdateEndpoint` must be allowed to use. @default - none: the configs use an AWS owned key */
  readonly endpointEncryptionKey?: kms.IKey;
  /**
   * The artefacts the endpoints' champions were deployed from (the endpoints construct's assets):
   * the workflow scores the champion under its own execution role, which must read them. Champions
   * this workflow trained lie in the artifacts bucket, readable already.
   * @default - none
   */
  readonly championModelArtifacts?: readonly ModelArtifactLocation[];
  /**
   * Where the endpoints capture requests and responses: a challenger the workflow deploys runs under
   * its execution role, which must write its captures there.
   * @default - none: the endpoints capture nothing
   */
  readonly dataCapture?: DataCaptureLocation;
  /** @default {@link DEFAULT_TRAINING_SCHEDULE_EXPRESSION} = "cron(0 3 ? * MON *)" */
  readonly scheduleExpression?: string;
  /** Of the training job and batch transform. @default {@link DEFAULT_TRAINING_INSTANCE_TYPE} = "ml.m5.xlarge" */
  readonly instanceType?: string;
  /**
   * Traffic an approved candidate gets as the endpoint's challenger, 0 to 50; at 0 it is registered
   * (Approved) and not deployed, like the endpoints, which then serve the champion alone.
   * @default {@link DEFAULT_CHALLENGER_TRAFFIC_PERCENT} = 0
   */
  readonly challengerTrafficPercent?: number;
  /** The model definitions. @default - ml/models.json */
  readonly spec?: ModelSpec;
  /** @default {@link DEFAULT_TRAINING_LOG_RETENTION_DAYS} = 30 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the key, the artifacts bucket, the log groups and the model package groups. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** Options of a task of a model's run. */
interface TaskOptions {
  readonly assign?: Record<string, unknown>;
  readonly comment?: string;
}

/** What every step of a model's run shares: its FAILED result, and how its tasks retry and fail. */
interface ModelRunKit {
  /** The FAILED result every task catches into. */
  readonly modelFailed: sfn.Pass;
  /** A terminal state reporting the model's run with `status` and its figures. */
  result(id: string, status: string, extra?: string): sfn.Pass;
  catchInto(task: sfn.TaskStateBase | sfn.CustomState, name: string): void;
  /** An AWS SDK call to SageMaker, with its retry and catch. */
  sdkCall(
    id: string,
    action: string,
    parameters: Record<string, unknown>,
    iamResources: string[],
    options?: TaskOptions,
  ): tasks.CallAwsService;
  /** An optimized SageMaker integration, with its timeout, retry and catch. */
  sagemakerTask(
    id: string,
    integration: string,
    args: Record<string, unknown> | string,
    timeout: Duration,
    options?: TaskOptions,
  ): sfn.CustomState;
  createModel(
    id: string,
    name: string,
    image: string,
    modelDataUrl: string,
    comment: string,
  ): sfn.CustomState;
  /** Batch transform of the hold-out with `modelName` into `output` (relative to the run's prefix). */
  transform(id: string, jobName: string, modelName: string, output: string, comment: string): sfn.CustomState;
}

const DAY_MS = 86_400_000;
/** How the workflow writes a window's bounds: midnights UTC. */
const DAY_PICTURE = "'[Y0001]-[M01]-[D01]T00:00:00Z'";
/** True when `$v` is a midnight UTC written `YYYY-MM-DDT00:00:00Z` that exists in the calendar. */
const IS_DAY = `function($v) { $type($v) = 'string' and $contains($v, /^[0-9]{4}-[0-9]{2}-[0-9]{2}T00:00:00Z$/) and $fromMillis($toMillis($v), ${DAY_PICTURE}) = $v }`;
/** The default window ending at `$end` (ms since the epoch, a midnight UTC). */
const DEFAULT_WINDOW = `{ 'start': $fromMillis($end - ${TRAINING_WINDOW_DAYS * DAY_MS}, ${DAY_PICTURE}), 'splitAt': $fromMillis($end - ${HOLDOUT_DAYS * DAY_MS}, ${DAY_PICTURE}), 'end': $fromMillis($end, ${DAY_PICTURE}) }`;

/**
 * The ML training workflow: a Standard Step Functions workflow, started weekly by EventBridge
 * Scheduler, that retrains the three models (ml/models.json) on a window of the lake and puts a
 * candidate in front of live traffic only when it earns it. Per model, in parallel:
 *
 * 1. a Glue job builds the training data (`ml/sql/<model>_examples.sql` over the curated tables and
 *    the ground-truth labels) as the built-in XGBoost container's CSV: a train and a hold-out channel;
 * 2. a SageMaker training job fits the candidate with the region's built-in XGBoost 1.7-1 image and
 *    the hyperparameters of models.json (`sagemakerHyperParameters`), the hold-out as validation;
 * 3. batch transform scores the hold-out with the candidate and, when the endpoint exists, with the
 *    champion it serves (read from the endpoint's current config);
 * 4. the evaluation function computes the model's metric for both (ml/metrics.ts) and applies the
 *    gate (`passesGate`, ml/quality-targets.ts);
 * 5. the candidate is registered as a version of the model's Model Package Group, Approved or
 *    Rejected by the gate;
 * 6. where the stage gives a challenger traffic, an approved candidate joins the endpoint as the
 *    `challenger` variant (the champion kept) and the workflow waits for the endpoint to be in
 *    service with the new config.
 *
 * **The run log is the model registry.** Every evaluated run becomes a model package version: its
 * `CustomerMetadataProperties` hold the data window, the run and training job names, every
 * hyperparameter, the figures and the verdict, and the SHA-256 of the artefact; its `ModelMetrics`
 * point to the evaluation report (`evaluation.json`, with the hold-out's figures in full). One
 * real, queryable place (`ListModelPackages`, the Studio model registry), no extra service, and the
 * same record that decides what may be deployed. Runs that fail before the evaluation are in the
 * execution history and the on-call notification.
 *
 * Input: `{}` (the default window ending at the start of today), the scheduler's
 * `{"trigger":"schedule","scheduledTime":"..."}` (the default window ending at the start of that
 * day), or a window `{"windowStart":"2026-11-02T00:00:00Z","splitAt":"2026-11-23T00:00:00Z","windowEnd":"2026-11-30T00:00:00Z"}`
 * (midnights UTC, start < split < end, at most {@link MAX_TRAINING_WINDOW_DAYS} days).
 *
 * Every task has a timeout, retries transient errors with backoff and jitter, and catches everything
 * else into the model's FAILED result; a failed model notifies on-call and fails the execution, a
 * candidate held at the gate notifies on-call with its figures and the execution succeeds.
 */
export class TrainingWorkflow extends Construct {
  /** Encrypts the artifacts, the training and transform volumes, the job's and the workflow's logs. */
  public readonly key: kms.Key;
  /** Training data, models, scores and evaluation reports, under `training/<runId>/<model>/`. */
  public readonly artifactsBucket: s3.Bucket;
  public readonly trainingDataJob: glue.CfnJob;
  public readonly trainingDataJobName: string;
  public readonly trainingDataRole: iam.Role;
  public readonly securityConfiguration: glue.SecurityConfiguration;
  public readonly trainingDataLogGroup: logs.LogGroup;
  /** Assumed by SageMaker for training, batch transform and the models it creates (also when an endpoint serves them). */
  public readonly executionRole: iam.Role;
  public readonly evaluationFunction: nodejs.NodejsFunction;
  public readonly evaluationRole: iam.Role;
  public readonly modelPackageGroups: Readonly<Record<ModelName, sagemaker.CfnModelPackageGroup>>;
  public readonly stateMachine: sfn.StateMachine;
  public readonly stateMachineName: string;
  public readonly logGroup: logs.LogGroup;
  public readonly schedule: scheduler.Schedule;
  /** The built-in XGBoost image the jobs and models use (a token when the stack's region is). */
  public readonly xgboostImage: string;
  public readonly instanceType: string;
  public readonly challengerTrafficPercent: number;
  /** Whether an approved candidate joins its endpoint: only when the stage gives a challenger traffic. */
  public readonly deploysChallengers: boolean;

  private readonly namePrefix: string;
  private readonly spec: ModelSpec;
  private readonly endpointNames: Readonly<Record<ModelName, string>>;

  constructor(scope: Construct, id: string, props: TrainingWorkflowProps) {
    super(scope, id);
    this.namePrefix = validNamePrefix(props.namePrefix);
    this.endpointNames = validEndpointNames(props.endpointNames);
    const scheduleExpression = props.scheduleExpression ?? DEFAULT_TRAINING_SCHEDULE_EXPRESSION;
    if (!SCHEDULE_EXPRESSION_PATTERN.test(scheduleExpression)) {
      throw new Error(
        `TrainingWorkflow scheduleExpression: received ${JSON.stringify(scheduleExpression)}, expected an EventBridge Scheduler expression such as cron(0 3 ? * MON *)`,
      );
    }
    this.instanceType = props.instanceType ?? DEFAULT_TRAINING_INSTANCE_TYPE;
    if (!/^ml\.[a-z0-9]+\.[a-z0-9]+$/.test(this.instanceType)) {
      throw new Error(
        `TrainingWorkflow instanceType: received ${JSON.stringify(this.instanceType)}, expected a SageMaker instance type such as ml.m5.large`,
      );
    }
    this.challengerTrafficPercent = props.challengerTrafficPercent ?? DEFAULT_CHALLENGER_TRAFFIC_PERCENT;
    if (
      !Number.isInteger(this.challengerTrafficPercent) ||
      this.challengerTrafficPercent < 0 ||
      this.challengerTrafficPercent > MAX_CHALLENGER_TRAFFIC_PERCENT
    ) {
      throw new Error(
        `TrainingWorkflow challengerTrafficPercent: received ${this.challengerTrafficPercent}, expected an integer from 0 to ${MAX_CHALLENGER_TRAFFIC_PERCENT}`,
      );
    }
    this.deploysChallengers = this.challengerTrafficPercent > 0;
    this.spec = props.spec ?? loadModelSpec();
    this.xgboostImage = xgboostImage(this, this.spec.sagemakerXgboostVersion);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetentionDays ?? DEFAULT_TRAINING_LOG_RETENTION_DAYS;
    this.stateMachineName = `${this.namePrefix}-ml-training`;
    this.trainingDataJobName = `${this.namePrefix}-ml-training-data`;
    const stateMachineLogGroupName = `/aws/vendedlogs/states/${this.stateMachineName}`;

    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the ML training artifacts, volumes and logs',
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: removalPolicy === RemovalPolicy.DESTROY ? Duration.days(7) : Duration.days(30),
    });
    this.allowLogGroupEncryption([stateMachineLogGroupName, `${GLUE_LOG_GROUP_PREFIX}*`]);

    this.artifactsBucket = new s3.Bucket(this, 'ArtifactsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Versioned like the lake: an overwritten artefact can be restored while its old version lives.
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      serverAccessLogsBucket: props.lake.accessLogsBucket,
      serverAccessLogsPrefix: 'ml-artifacts/',
      lifecycleRules: [
        {
          id: 'noncurrent-versions',
          enabled: true,
          noncurrentVersionExpiration: Duration.days(DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS),
        },
      ],
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    });

    const trainingData = new Construct(this, 'TrainingData');
    this.trainingDataRole = new iam.Role(trainingData, 'Role', {
      description:
        "Runs the ML training-data Glue job: reads the lake's curated tables and labels, writes training/",
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
    });
    this.securityConfiguration = new glue.SecurityConfiguration(trainingData, 'SecurityConfiguration', {
      securityConfigurationName: this.trainingDataJobName,
      s3Encryption: glue.S3Encryption.kms(this.key),
      cloudWatchEncryption: glue.CloudWatchEncryption.kms(this.key),
      jobBookmarksEncryption: glue.JobBookmarksEncryption.clientSideKms(this.key),
      removalPolicy,
    });
    this.trainingDataLogGroup = new logs.LogGroup(trainingData, 'LogGroup', {
      logGroupName: `${GLUE_LOG_GROUP_PREFIX}${this.trainingDataJobName}`,
      encryptionKey: this.key,
      retention: logRetention,
      removalPolicy,
    });
    this.trainingDataJob = this.createTrainingDataJob(trainingData, props.lake);

    this.executionRole = this.createExecutionRole(props);

    const evaluation = new Construct(this, 'Evaluation');
    const evaluationParts = createProjectFunction(evaluation, {
      entry: MODEL_EVALUATION_ENTRY,
      description: 'Evaluates a candidate model against the champion on the hold-out and applies the gate',
      roleDescription: 'Execution role of the ML model evaluation function',
      serviceName: MODEL_EVALUATION_SERVICE_NAME,
      memorySizeMb: EVALUATION_MEMORY_MB,
      timeoutSeconds: EVALUATION_TIMEOUT_SECONDS,
      logRetentionDays: logRetention,
      removalPolicy,
      environment: { [MODEL_EVALUATION_ENV.artifactsBucket]: this.artifactsBucket.bucketName },
    });
    this.evaluationFunction = evaluationParts.function;
    this.evaluationRole = evaluationParts.role;
    this.grantEvaluation();

    this.modelPackageGroups = Object.fromEntries(
      MODEL_NAMES.map((model) => {
        const group = new sagemaker.CfnModelPackageGroup(this, `ModelPackageGroup-${model}`, {
          modelPackageGroupName: this.modelPackageGroupName(model),
          modelPackageGroupDescription: `${this.spec.models[model].description} One version per evaluated training run, Approved or Rejected by the gate.`,
        });
        // The registry is the run log: it outlives the stack unless the stage says otherwise.
        group.applyRemovalPolicy(removalPolicy);
        return [model, group];
      }),
    ) as Record<ModelName, sagemaker.CfnModelPackageGroup>;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: stateMachineLogGroupName,
      encryptionKey: this.key,
      retention: logRetention,
      removalPolicy,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      comment:
        'Weekly ML training: data, training, evaluation against the champion, gate, registry, challenger',
      queryLanguage: sfn.QueryLanguage.JSONATA,
      definitionBody: sfn.DefinitionBody.fromChainable(this.definition(props.onCallTopic)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      encryptionConfiguration: stateMachineEncryption(this.key),
      removalPolicy,
    });
    this.grantStateMachine(props);

    const startRole = scheduleStartRole(this, 'ScheduleRole', this.key, 'ML training workflow');

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Starts the ML training workflow (${scheduleExpression}, UTC)`,
      schedule: scheduler.ScheduleExpression.expression(scheduleExpression),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        role: startRole,
        input: scheduler.ScheduleTargetInput.fromObject({
          trigger: 'schedule',
          scheduledTime: scheduler.ContextAttribute.scheduledTime,
        }),
        // Scheduler's default retries stay: the input carries the scheduled time, so a late start
        // still trains on the window of its own week.
      }),
      key: this.key,
      timeWindow: scheduler.TimeWindow.off(),
    });
  }

  /** The model package group (the run log) of `model`. */
  public modelPackageGroupName(model: ModelName): string {
    return `${this.namePrefix}-${model}`;
  }

  /** Executions that failed (a model's step failed, or the input was invalid); Sum per 5 minutes. */
  public metricExecutionsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed({
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  /** Lets CloudWatch Logs use the key for exactly these log groups (`*` allowed). */
  private allowLogGroupEncryption(logGroupNamePatterns: readonly string[]): void {
    const stack = Stack.of(this);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': logGroupNamePatterns.map((pattern) =>
              stack.formatArn({
                service: 'logs',
                resource: 'log-group',
                resourceName: pattern,
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              }),
            ),
          },
        },
      }),
    );
  }

  private createTrainingDataJob(scope: Construct, lake: TelemetryLake): glue.CfnJob {
    const role = this.trainingDataRole;
    const script = new s3assets.Asset(scope, 'Script', {
      path: join(GLUE_SCRIPTS_DIR, TRAINING_DATA_JOB_SCRIPT),
    });
    const modules = readGlueModules().map(
      (name) =>
        new s3assets.Asset(scope, `Module-${name.replace(/\W/g, '-')}`, {
          path: join(GLUE_SCRIPTS_DIR, name),
        }),
    );
    const sql = new s3assets.Asset(scope, 'Sql', { path: ML_SQL_DIR });
    const spec = new s3assets.Asset(scope, 'ModelSpec', { path: MODEL_SPEC_PATH });
    for (const asset of [script, sql, spec, ...modules]) {
      // Exactly the asset's object (its key is a content hash): no wildcard on the assets bucket.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [asset.bucket.arnForObjects(asset.s3ObjectKey)],
        }),
      );
    }

    lake.grantRead(role, 'raw', [LABELS_PREFIX], 'the ground-truth labels');
    lake.grantRead(role, 'curated', TRAINING_CURATED_PREFIXES, 'the curated tables the example queries read');
    // The run's objects: write the channels, replace them on a rerun, clear Spark's temporary files.
    this.grantArtifacts(
      role,
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      [`${TRAINING_PREFIX}*`],
      ['kms:Decrypt', 'kms:GenerateDataKey'],
      "Writes and replaces a run's training data; run ids are made at run time.",
    );

    const stack = Stack.of(this);
    const glueLogs = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: `${GLUE_LOG_GROUP_PREFIX}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:AssociateKmsKey'],
        resources: [glueLogs],
      }),
    );
    acknowledgeWildcard(
      role,
      glueLogs,
      'Glue derives the names of its output and error log groups from the security configuration and role at run time; the grant stays under /aws-glue/jobs/.',
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': 'Glue' } },
      }),
    );
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'cloudwatch:PutMetricData supports no resource-level permission; the condition limits it to the Glue namespace.',
    );

    return new glue.CfnJob(scope, 'Resource', {
      name: this.trainingDataJobName,
      description: "Builds one model's training data: ml/sql/<model>_examples.sql -> XGBoost CSV channels",
      role: role.roleArn,
      command: { name: 'glueetl', pythonVersion: '3', scriptLocation: script.s3ObjectUrl },
      glueVersion: ETL_GLUE_VERSION,
      workerType: 'G.1X',
      numberOfWorkers: TRAINING_DATA_JOB_WORKERS,
      timeout: TRAINING_DATA_JOB_TIMEOUT_MINUTES,
      // Retries belong to the workflow, which backs off and knows what is transient.
      maxRetries: 0,
      executionClass: 'STANDARD',
      // One run per model of an execution.
      executionProperty: { maxConcurrentRuns: MODEL_NAMES.length },
      securityConfiguration: this.securityConfiguration.securityConfigurationName,
      defaultArguments: {
        // Every run names its window and output prefix: a bookmark would skip data a rerun needs.
        ...glueJobArguments(this.trainingDataLogGroup, modules),
        [TRAINING_DATA_JOB_ARGUMENTS.fixed.rawBucket]: lake.rawBucket.bucketName,
        [TRAINING_DATA_JOB_ARGUMENTS.fixed.curatedBucket]: lake.curatedBucket.bucketName,
        [TRAINING_DATA_JOB_ARGUMENTS.fixed.artifactsBucket]: this.artifactsBucket.bucketName,
        [TRAINING_DATA_JOB_ARGUMENTS.fixed.sqlLocation]: sql.s3ObjectUrl,
        [TRAINING_DATA_JOB_ARGUMENTS.fixed.modelSpecLocation]: spec.s3ObjectUrl,
      },
    });
  }

  /**
   * SageMaker's role for the training jobs, the transform jobs and the models: reads the channels,
   * writes models and scores, uses the key for data and volumes, logs and puts metrics. The built-in
   * image is pulled with SageMaker's own credentials, so no ECR permission is needed.
   */
  private createExecutionRole(props: TrainingWorkflowProps): iam.Role {
    const role = new iam.Role(this, 'ExecutionRole', {
      description: 'Assumed by SageMaker for the ML training and transform jobs and the models they create',
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
    });
    this.grantArtifacts(
      role,
      ['s3:GetObject'],
      [`${TRAINING_PREFIX}*`],
      ['kms:Decrypt'],
      "Reads a run's channels and models; run ids are made at run time.",
    );
    this.grantArtifacts(
      role,
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      [
        `${TRAINING_PREFIX}*/${TRAINING_RUN_LAYOUT.modelOutput}*`,
        `${TRAINING_PREFIX}*/${TRAINING_RUN_LAYOUT.candidateScores}*`,
        `${TRAINING_PREFIX}*/${TRAINING_RUN_LAYOUT.championScores}*`,
      ],
      ['kms:GenerateDataKey', 'kms:Encrypt'],
      "Writes a run's model and hold-out scores only; run ids are made at run time.",
    );
    // Encrypted training and transform volumes: SageMaker creates a grant for the instance.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:CreateGrant', 'kms:DescribeKey'],
        resources: [this.key.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    const stack = Stack.of(this);
    const sagemakerLogs = ['TrainingJobs', 'TransformJobs', 'Endpoints'].map((kind) =>
      stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: `/aws/sagemaker/${kind}*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
        ],
        resources: sagemakerLogs,
      }),
    );
    for (const arn of sagemakerLogs) {
      acknowledgeWildcard(
        role,
        arn,
        "SageMaker names a job's or endpoint's log group and streams after it at run time; the grant stays under its own /aws/sagemaker/ prefix.",
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      "cloudwatch:PutMetricData supports no resource-level permission; the condition limits it to SageMaker's namespaces.",
    );

    // The champions the endpoints were deployed with: exactly their objects.
    for (const artifact of props.championModelArtifacts ?? []) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [artifact.bucket.arnForObjects(artifact.s3ObjectKey)],
        }),
      );
      const artifactKey = artifact.bucket.encryptionKey;
      if (artifactKey) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [artifactKey.keyArn] }),
        );
      }
    }
    const capture = props.dataCapture;
    if (capture && (!capture.prefix.endsWith('/') || capture.prefix.startsWith('/'))) {
      throw new Error(
        `TrainingWorkflow dataCapture.prefix: received ${JSON.stringify(capture.prefix)}, expected a key prefix ending in '/', e.g. ml-data-capture/`,
      );
    }
    // Only a challenger this workflow deploys serves (and captures) under the execution role.
    if (capture && this.deploysChallengers) {
      const captures = capture.bucket.arnForObjects(`${capture.prefix}*`);
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [captures] }),
      );
      const captureKey = capture.bucket.encryptionKey;
      if (captureKey) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [captureKey.keyArn] }),
        );
      }
      acknowledgeWildcard(
        role,
        captures,
        `A challenger this workflow deploys writes its captures under ${capture.prefix} only; SageMaker names each file by endpoint, variant, hour and a random id.`,
      );
    }
    return role;
  }

  /** The evaluation reads a run's objects and writes its report; nothing else. */
  private grantEvaluation(): void {
    const role = this.evaluationRole;
    this.grantArtifacts(
      role,
      ['s3:GetObject'],
      [`${TRAINING_PREFIX}*`],
      ['kms:Decrypt'],
      "Reads a run's hold-out, scores and model; run ids are made at run time.",
    );
    this.grantArtifacts(
      role,
      ['s3:PutObject'],
      [`${TRAINING_PREFIX}*/${TRAINING_RUN_LAYOUT.evaluationFile}`],
      ['kms:GenerateDataKey'],
      "Writes each run's evaluation report only; run ids are made at run time.",
    );
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    );
    const synchronousOnly =
      'Invoked synchronously by the training workflow only, which retries and catches its errors; there is no asynchronous invocation to keep.';
    acknowledge(this.evaluationFunction, 'Serverless-LambdaDLQ', synchronousOnly);
    acknowledge(this.evaluationFunction, 'Serverless-LambdaAsyncFailureDestination', synchronousOnly);
  }

  /** Object actions on key patterns of the artifacts bucket, with the key; one acknowledged finding per pattern. */
  private grantArtifacts(
    role: iam.Role,
    actions: readonly string[],
    keyPatterns: readonly string[],
    keyActions: readonly string[],
    reason: string,
  ): void {
    const bucket = this.artifactsBucket;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...actions],
        resources: keyPatterns.map((pattern) => bucket.arnForObjects(pattern)),
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${TRAINING_PREFIX}*`] } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...keyActions], resources: [this.key.keyArn] }),
    );
    const bucketArn = nagReference(bucket.node.defaultChild as s3.CfnBucket);
    for (const pattern of keyPatterns) {
      acknowledge(role, `AwsSolutions-IAM5[Resource::${bucketArn}/${pattern}]`, reason);
    }
  }

  private definition(onCallTopic: sns.ITopic): sfn.IChainable {
    const initial = { results: [], failure: null };
    const invalidInput = sfn.Fail.jsonata(this, 'InvalidInput', {
      error: 'InvalidInput',
      cause: `{% 'input: received ' & $string($states.input) & ', expected {}, {"windowStart":"YYYY-MM-DDT00:00:00Z","splitAt":"YYYY-MM-DDT00:00:00Z","windowEnd":"YYYY-MM-DDT00:00:00Z"} (start before split before end, at most ${MAX_TRAINING_WINDOW_DAYS} days) or the schedule input {"trigger":"schedule","scheduledTime":"<ISO time>"}' %}`,
    });
    const planScheduled = sfn.Pass.jsonata(this, 'PlanScheduledRun', {
      comment: `The ${TRAINING_WINDOW_DAYS} days before the scheduled day, the last ${HOLDOUT_DAYS} held out`,
      assign: {
        ...initial,
        trigger: 'schedule',
        window: `{% ($end := $floor($toMillis($states.input.scheduledTime) / ${DAY_MS}) * ${DAY_MS}; ${DEFAULT_WINDOW}) %}`,
      },
    });
    const planDefault = sfn.Pass.jsonata(this, 'PlanDefaultRun', {
      comment: `The ${TRAINING_WINDOW_DAYS} days before today, the last ${HOLDOUT_DAYS} held out`,
      assign: {
        ...initial,
        trigger: 'manual',
        window: `{% ($end := $floor($toMillis($now()) / ${DAY_MS}) * ${DAY_MS}; ${DEFAULT_WINDOW}) %}`,
      },
    });
    const planRequested = sfn.Pass.jsonata(this, 'PlanRequestedRun', {
      assign: {
        ...initial,
        trigger: 'manual',
        window:
          "{% { 'start': $states.input.windowStart, 'splitAt': $states.input.splitAt, 'end': $states.input.windowEnd } %}",
      },
    });
    const nameRun = sfn.Pass.jsonata(this, 'NameRun', {
      comment: 'The run id: the window and a hash of the execution, so reruns of a window never collide',
      assign: {
        runId:
          "{% $replace($substring($window.start, 0, 10), '-', '') & '-' & $replace($substring($window.end, 0, 10), '-', '') & '-' & $lowercase($substring($hash($states.context.Execution.Id, 'SHA-256'), 0, 8)) %}",
      },
    });

    const readInput = sfn.Choice.jsonata(this, 'ReadInput', {
      comment: 'Which window: the schedule, a requested one, or the default ending today',
    })
      .when(
        sfn.Condition.jsonata(
          "{% $states.input.trigger = 'schedule' and $type($states.input.scheduledTime) = 'string' and $contains($states.input.scheduledTime, /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$/) %}",
        ),
        planScheduled,
      )
      .when(
        sfn.Condition.jsonata(
          `{% ($isDay := ${IS_DAY}; $i := $states.input; $count($keys($i)) = 3 and $isDay($i.windowStart) and $isDay($i.splitAt) and $isDay($i.windowEnd) and $toMillis($i.windowStart) < $toMillis($i.splitAt) and $toMillis($i.splitAt) < $toMillis($i.windowEnd) and $toMillis($i.windowEnd) - $toMillis($i.windowStart) <= ${MAX_TRAINING_WINDOW_DAYS * DAY_MS}) %}`,
        ),
        planRequested,
      )
      .when(sfn.Condition.jsonata('{% $count($keys($states.input)) = 0 %}'), planDefault)
      .otherwise(invalidInput);

    const trainModels = sfn.Map.jsonata(this, 'TrainModels', {
      comment: 'One run per model, in parallel; each iteration reports its outcome instead of failing',
      items: sfn.ProvideItems.jsonArray(
        MODEL_NAMES.map((model) => ({
          model,
          endpointName: this.endpointNames[model],
          modelPackageGroupName: this.modelPackageGroupName(model),
          hyperParameters: sagemakerHyperParameters(this.spec.models[model]),
        })),
      ),
      itemSelector: {
        model: '{% $states.context.Map.Item.Value.model %}',
        endpointName: '{% $states.context.Map.Item.Value.endpointName %}',
        modelPackageGroupName: '{% $states.context.Map.Item.Value.modelPackageGroupName %}',
        hyperParameters: '{% $states.context.Map.Item.Value.hyperParameters %}',
        runId: '{% $runId %}',
        window: '{% $window %}',
      },
      maxConcurrency: MODEL_NAMES.length,
      assign: { results: '{% $states.result %}' },
    });
    trainModels.itemProcessor(this.modelChain());

    const failed = sfn.Fail.jsonata(this, 'TrainingFailed', {
      error: 'TrainingFailed',
      cause: `{% $failure != null ? $string($failure) : $join($results[status = '${TRAINING_RESULT_STATUSES.failed}'].(model & ' failed at ' & failedState & ': ' & $string(error)), '; ') %}`,
    });
    const done = sfn.Succeed.jsonata(this, 'Done', { outputs: '{% $results %}' });
    const notifyFailed = tasks.SnsPublish.jsonata(this, 'NotifyOnCall', {
      comment: "One message per failed execution, with every model's outcome",
      topic: onCallTopic,
      // SNS takes subjects of at most 100 characters.
      subject: `{% $substring('sdap ${this.stateMachineName} failed (' & $trigger & ')', 0, 100) %}`,
      message: sfn.TaskInput.fromText(
        `{% $string({ 'execution': $states.context.Execution.Id, 'trigger': $trigger, 'window': $window, 'runId': $runId, 'results': $results, 'error': $failure, 'runbook': '${TRAINING_RUNBOOK_LINK}' }, true) %}`,
      ),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(SDK_TASK_TIMEOUT_SECONDS)),
    });
    const notifyHeld = tasks.SnsPublish.jsonata(this, 'NotifyGateHeld', {
      comment: 'Candidates that missed the gate, with their figures; the champions keep serving',
      topic: onCallTopic,
      subject: `{% $substring('sdap ${this.stateMachineName}: candidate held at the gate (' & $join($results[status = '${TRAINING_RESULT_STATUSES.gateHeld}'].model, ', ') & ')', 0, 100) %}`,
      message: sfn.TaskInput.fromText(
        `{% $string({ 'execution': $states.context.Execution.Id, 'trigger': $trigger, 'window': $window, 'runId': $runId, 'results': $results, 'runbook': '${TRAINING_RUNBOOK_LINK}' }, true) %}`,
      ),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(SDK_TASK_TIMEOUT_SECONDS)),
    });
    for (const notify of [notifyFailed, notifyHeld]) {
      notify.addRetry(sdkRetry(SDK_TRANSIENT_ERRORS));
      // Even when the notification cannot be sent, the execution fails (and the failure alarm fires).
      notify.addCatch(failed, {
        errors: [sfn.Errors.ALL],
        assign: { failure: '{% $states.errorOutput %}' },
      });
    }
    notifyFailed.next(failed);
    notifyHeld.next(done);
    trainModels.addCatch(notifyFailed, {
      errors: [sfn.Errors.ALL],
      assign: { failure: '{% $states.errorOutput %}' },
    });

    const verdict = sfn.Choice.jsonata(this, 'AllModelsTrained')
      .when(
        sfn.Condition.jsonata(`{% $count($results[status = '${TRAINING_RESULT_STATUSES.failed}']) > 0 %}`),
        notifyFailed,
      )
      .when(
        sfn.Condition.jsonata(`{% $count($results[status = '${TRAINING_RESULT_STATUSES.gateHeld}']) > 0 %}`),
        notifyHeld,
      )
      .otherwise(done);

    for (const plan of [planScheduled, planDefault, planRequested]) plan.next(nameRun);
    nameRun.next(trainModels).next(verdict);
    return readInput;
  }

  /** One model's run, from its training data to the challenger; every path ends in a result. */
  private modelChain(): sfn.IChainable {
    const bucketUrl = `s3://${this.artifactsBucket.bucketName}/`;
    const prepare = sfn.Pass.jsonata(this, 'PrepareModelRun', {
      comment: "The model's names and locations, known to every state of its run",
      assign: {
        model: '{% $states.input.model %}',
        endpointName: '{% $states.input.endpointName %}',
        modelPackageGroupName: '{% $states.input.modelPackageGroupName %}',
        hyperParameters: '{% $states.input.hyperParameters %}',
        runId: '{% $states.input.runId %}',
        window: '{% $states.input.window %}',
        runName: `{% '${this.namePrefix}-' & $states.input.model & '-' & $states.input.runId %}`,
        dataPrefix: `{% '${TRAINING_PREFIX}' & $states.input.runId & '/' & $states.input.model & '/' %}`,
        dataUrl: `{% '${bucketUrl}${TRAINING_PREFIX}' & $states.input.runId & '/' & $states.input.model & '/' %}`,
        endpointExists: false,
        championVariant: null,
        evaluation: null,
        modelPackageArn: null,
        failedState: null,
      },
    });

    const kit = this.modelRunKit();
    const evaluate = this.evaluationSteps(kit);
    const findEndpoint = kit.sdkCall(
      'FindEndpoint',
      'listEndpoints',
      { NameContains: '{% $endpointName %}', MaxResults: 100 },
      ['*'],
      {
        comment: 'Whether the endpoint exists: a stage may train before it serves',
        assign: { endpointExists: '{% $endpointName in $states.result.Endpoints.EndpointName %}' },
      },
    );
    const hasEndpoint = sfn.Choice.jsonata(this, 'HasEndpoint')
      .when(sfn.Condition.jsonata('{% $endpointExists %}'), this.championSteps(kit, evaluate))
      .otherwise(evaluate);
    return sfn.Chain.start(prepare).next(this.candidateSteps(kit)).next(findEndpoint).next(hasEndpoint);
  }

  /** The states every step of a model's run shares: its FAILED result, and how its tasks retry and fail. */
  private modelRunKit(): ModelRunKit {
    const partition = Stack.of(this).partition;
    const result = (id: string, resultStatus: string, extra = '') =>
      sfn.Pass.jsonata(this, id, {
        outputs: `{% { 'model': $model, 'status': '${resultStatus}', 'runName': $runName, 'metric': $evaluation.metric, 'candidate': $evaluation.candidate, 'champion': $evaluation.champion, 'baseline': $evaluation.baseline, 'passed': $evaluation.passed, 'reason': $evaluation.reason, 'evaluation': $evaluation.evaluationUrl, 'modelPackageArn': $modelPackageArn, 'endpointName': $endpointName${extra} } %}`,
      });
    const modelFailed = result(
      'ModelFailed',
      TRAINING_RESULT_STATUSES.failed,
      ", 'failedState': $failedState, 'error': $states.input.Error, 'cause': $states.input.Cause",
    );
    const catchInto = (task: sfn.TaskStateBase | sfn.CustomState, name: string) => {
      task.addCatch(modelFailed, {
        errors: [sfn.Errors.ALL],
        assign: { failedState: name },
        outputs: '{% $states.errorOutput %}',
      });
    };
    const sdkCall = (
      id: string,
      action: string,
      parameters: Record<string, unknown>,
      iamResources: string[],
      options: TaskOptions = {},
    ) => {
      const task = tasks.CallAwsService.jsonata(this, id, {
        comment: options.comment,
        service: 'sagemaker',
        action,
        iamAction: `sagemaker:${action.charAt(0).toUpperCase()}${action.slice(1)}`,
        parameters,
        iamResources,
        taskTimeout: sfn.Timeout.duration(Duration.seconds(SDK_TASK_TIMEOUT_SECONDS)),
        assign: options.assign,
      });
      task.addRetry(sdkRetry(SAGEMAKER_TRANSIENT_ERRORS));
      catchInto(task, id);
      return task;
    };
    const sagemakerTask = (
      id: string,
      integration: string,
      args: Record<string, unknown> | string,
      timeout: Duration,
      options: TaskOptions = {},
    ) => {
      const task = new sfn.CustomState(this, id, {
        stateJson: {
          Type: 'Task',
          ...(options.comment && { Comment: options.comment }),
          Resource: `arn:${partition}:states:::sagemaker:${integration}`,
          Arguments: args,
          TimeoutSeconds: timeout.toSeconds(),
          ...(options.assign && { Assign: options.assign }),
        },
      });
      task.addRetry(sdkRetry(SAGEMAKER_TRANSIENT_ERRORS));
      catchInto(task, id);
      return task;
    };

    const createModel = (id: string, name: string, image: string, modelDataUrl: string, comment: string) =>
      sagemakerTask(
        id,
        'createModel',
        {
          ModelName: name,
          PrimaryContainer: { Image: image, ModelDataUrl: modelDataUrl },
          ExecutionRoleArn: this.executionRole.roleArn,
          EnableNetworkIsolation: true,
        },
        Duration.seconds(SDK_TASK_TIMEOUT_SECONDS),
        { comment },
      );
    const transform = (id: string, jobName: string, modelName: string, output: string, comment: string) =>
      sagemakerTask(
        id,
        'createTransformJob.sync',
        {
          TransformJobName: jobName,
          ModelName: modelName,
          BatchStrategy: 'MultiRecord',
          MaxPayloadInMB: 6,
          TransformInput: {
            DataSource: {
              S3DataSource: {
                S3DataType: 'S3Prefix',
                S3Uri: `{% $dataUrl & '${TRAINING_RUN_LAYOUT.holdoutChannel}' %}`,
              },
            },
            ContentType: 'text/csv',
            SplitType: 'Line',
            CompressionType: 'None',
          },
          TransformOutput: {
            S3OutputPath: `{% $dataUrl & '${output}' %}`,
            Accept: 'text/csv',
            AssembleWith: 'Line',
            KmsKeyId: this.key.keyArn,
          },
          TransformResources: {
            InstanceType: this.instanceType,
            InstanceCount: 1,
            VolumeKmsKeyId: this.key.keyArn,
          },
          // Score the features (the label is column 0) and keep the label beside each score, so the
          // evaluation can check every output line against the hold-out's.
          DataProcessing: { InputFilter: '$[1:]', JoinSource: 'Input', OutputFilter: '$[0,-1]' },
        },
        Duration.minutes(TRANSFORM_TASK_TIMEOUT_MINUTES),
        { comment },
      );
    return { modelFailed, result, catchInto, sdkCall, sagemakerTask, createModel, transform };
  }

  /** The training data, the candidate trained on it, and its scores of the hold-out. */
  private candidateSteps(kit: ModelRunKit): sfn.Chain {
    const { catchInto, sagemakerTask, createModel, transform } = kit;
    const partition = Stack.of(this).partition;
    const buildData = new sfn.CustomState(this, 'BuildTrainingData', {
      stateJson: {
        Type: 'Task',
        Comment: "Glue run building the model's channels; .sync waits for the run to end",
        Resource: `arn:${partition}:states:::glue:startJobRun.sync`,
        Arguments: {
          JobName: this.trainingDataJobName,
          Arguments: {
            [TRAINING_DATA_JOB_ARGUMENTS.perRun.model]: '{% $model %}',
            [TRAINING_DATA_JOB_ARGUMENTS.perRun.windowStart]: '{% $window.start %}',
            [TRAINING_DATA_JOB_ARGUMENTS.perRun.splitAt]: '{% $window.splitAt %}',
            [TRAINING_DATA_JOB_ARGUMENTS.perRun.windowEnd]: '{% $window.end %}',
            [TRAINING_DATA_JOB_ARGUMENTS.perRun.outputPrefix]: '{% $dataPrefix %}',
          },
        },
        TimeoutSeconds: (TRAINING_DATA_JOB_TIMEOUT_MINUTES + GLUE_TASK_TIMEOUT_MARGIN_MINUTES) * 60,
      },
    });
    // A full run queue clears when another run ends: wait minutes, not seconds.
    buildData.addRetry({
      errors: GLUE_TRANSIENT_ERRORS,
      interval: Duration.seconds(30),
      maxAttempts: 6,
      backoffRate: 2,
      maxDelay: Duration.minutes(10),
      jitterStrategy: sfn.JitterType.FULL,
    });
    catchInto(buildData, 'BuildTrainingData');

    const channel = (name: string, prefix: string) => ({
      ChannelName: name,
      ContentType: 'text/csv',
      CompressionType: 'None',
      DataSource: {
        S3DataSource: {
          S3DataType: 'S3Prefix',
          S3DataDistributionType: 'FullyReplicated',
          S3Uri: `{% $dataUrl & '${prefix}' %}`,
        },
      },
    });
    const train = sagemakerTask(
      'TrainCandidate',
      'createTrainingJob.sync',
      {
        TrainingJobName: '{% $runName %}',
        AlgorithmSpecification: { TrainingImage: this.xgboostImage, TrainingInputMode: 'File' },
        HyperParameters: '{% $hyperParameters %}',
        RoleArn: this.executionRole.roleArn,
        InputDataConfig: [
          channel('train', TRAINING_RUN_LAYOUT.trainChannel),
          // The hold-out is the validation channel: the job logs its eval_metric on it.
          channel('validation', TRAINING_RUN_LAYOUT.holdoutChannel),
        ],
        OutputDataConfig: {
          S3OutputPath: `{% $dataUrl & '${TRAINING_RUN_LAYOUT.modelOutput}' %}`,
          KmsKeyId: this.key.keyArn,
        },
        ResourceConfig: {
          InstanceType: this.instanceType,
          InstanceCount: 1,
          VolumeSizeInGB: TRAINING_VOLUME_GB,
          VolumeKmsKeyId: this.key.keyArn,
        },
        StoppingCondition: { MaxRuntimeInSeconds: TRAINING_MAX_RUNTIME_SECONDS },
        EnableNetworkIsolation: true,
      },
      Duration.seconds(TRAINING_MAX_RUNTIME_SECONDS).plus(Duration.minutes(SAGEMAKER_JOB_MARGIN_MINUTES)),
      {
        comment:
          'Built-in XGBoost on the train channel, hyperparameters from models.json; .sync waits for the job',
        assign: {
          modelDataUrl: '{% $states.result.ModelArtifacts.S3ModelArtifacts %}',
          trainingJobName: '{% $states.result.TrainingJobName %}',
        },
      },
    );
    const candidateModel = createModel(
      'CreateCandidateModel',
      '{% $runName %}',
      this.xgboostImage,
      '{% $modelDataUrl %}',
      'The candidate as a model, for batch transform and the endpoint',
    );
    const scoreCandidate = transform(
      'ScoreCandidate',
      "{% $runName & '-cand' %}",
      '{% $runName %}',
      TRAINING_RUN_LAYOUT.candidateScores,
      'Batch transform of the hold-out with the candidate; .sync waits for the job',
    );

    return sfn.Chain.start(buildData).next(train).next(candidateModel).next(scoreCandidate);
  }

  /**
   * The champion the endpoint serves, read from its current config, copied under the execution role
   * and scored on the same hold-out; then `next` (the evaluation).
   */
  private championSteps(kit: ModelRunKit, next: sfn.IChainable): sfn.IChainable {
    const { sdkCall, createModel, transform, modelFailed } = kit;
    const stack = Stack.of(this);
    const describeEndpoint = sdkCall(
      'DescribeEndpoint',
      'describeEndpoint',
      { EndpointName: '{% $endpointName %}' },
      this.endpointArns(),
      { assign: { endpointConfigName: '{% $states.result.EndpointConfigName %}' } },
    );
    const describeEndpointConfig = sdkCall(
      'DescribeEndpointConfig',
      'describeEndpointConfig',
      { EndpointConfigName: '{% $endpointConfigName %}' },
      [stack.formatArn({ service: 'sagemaker', resource: 'endpoint-config', resourceName: '*' })],
      {
        comment: 'The variant serving the champion, and the config settings a new config keeps',
        assign: {
          championVariant: `{% ($found := $states.result.ProductionVariants[VariantName = '${CHAMPION_VARIANT}']; $exists($found) ? $found[0] : null) %}`,
          endpointConfig: '{% $states.result %}',
        },
      },
    );
    const describeChampion = sdkCall(
      'DescribeChampionModel',
      'describeModel',
      { ModelName: '{% $championVariant.ModelName %}' },
      [stack.formatArn({ service: 'sagemaker', resource: 'model', resourceName: '*' })],
      {
        assign: {
          championContainer:
            '{% $exists($states.result.PrimaryContainer) ? $states.result.PrimaryContainer : $states.result.Containers[0] %}',
        },
      },
    );
    const championModel = createModel(
      'CreateChampionModel',
      "{% $runName & '-champ' %}",
      '{% $championContainer.Image %}',
      '{% $championContainer.ModelDataUrl %}',
      "A copy of the champion under this workflow's role, which may read and write the run's objects",
    );
    const scoreChampion = transform(
      'ScoreChampion',
      "{% $runName & '-champ' %}",
      "{% $runName & '-champ' %}",
      TRAINING_RUN_LAYOUT.championScores,
      'Batch transform of the same hold-out with the champion',
    );
    const noChampionVariant = sfn.Pass.jsonata(this, 'NoChampionVariant', {
      assign: { failedState: 'DescribeEndpointConfig' },
      outputs: {
        Error: 'ChampionVariantMissing',
        Cause: `{% 'endpoint ' & $endpointName & ' serves config ' & $endpointConfigName & ' without a variant named ${CHAMPION_VARIANT}; expected the endpoints construct to name it so' %}`,
      },
    });

    noChampionVariant.next(modelFailed);
    const hasChampion = sfn.Choice.jsonata(this, 'HasChampion')
      .when(sfn.Condition.jsonata('{% $championVariant != null %}'), describeChampion)
      .otherwise(noChampionVariant);
    describeChampion.next(championModel).next(scoreChampion).next(next);
    return describeEndpoint.next(describeEndpointConfig).next(hasChampion);
  }

  /** The evaluation, the run's model package (Approved or Rejected), and what follows the gate. */
  private evaluationSteps(kit: ModelRunKit): tasks.LambdaInvoke {
    const { catchInto, sdkCall, result } = kit;
    const stack = Stack.of(this);
    const status = TRAINING_RESULT_STATUSES;
    const evaluate = tasks.LambdaInvoke.jsonata(this, 'EvaluateCandidate', {
      comment: "The model's metric for candidate and champion on the same hold-out, and the gate",
      lambdaFunction: this.evaluationFunction,
      payload: sfn.TaskInput.fromObject({
        model: '{% $model %}',
        runId: '{% $runId %}',
        trainingJobName: '{% $trainingJobName %}',
        modelArtifactUrl: '{% $modelDataUrl %}',
        championModelName: '{% $championVariant != null ? $championVariant.ModelName : null %}',
        window: '{% $window %}',
      }),
      // Retried below, with jitter, on the same errors.
      retryOnServiceExceptions: false,
      taskTimeout: sfn.Timeout.duration(
        Duration.seconds(EVALUATION_TIMEOUT_SECONDS + EVALUATION_TASK_TIMEOUT_MARGIN_SECONDS),
      ),
      assign: { evaluation: '{% $states.result.Payload %}' },
    });
    evaluate.addRetry(sdkRetry(LAMBDA_TRANSIENT_ERRORS));
    catchInto(evaluate, 'EvaluateCandidate');

    // The run log: every evaluated candidate becomes a version of the model's package group.
    const groupArns = MODEL_NAMES.flatMap((model) => [
      stack.formatArn({
        service: 'sagemaker',
        resource: 'model-package',
        resourceName: `${this.modelPackageGroupName(model).toLowerCase()}/*`,
      }),
      stack.formatArn({
        service: 'sagemaker',
        resource: 'model-package-group',
        resourceName: this.modelPackageGroupName(model).toLowerCase(),
      }),
    ]);
    const register = sdkCall(
      'RegisterModelPackage',
      'createModelPackage',
      {
        ModelPackageGroupName: '{% $modelPackageGroupName %}',
        ModelPackageDescription:
          "{% $substring($model & ' trained on ' & $window.start & ' to ' & $window.splitAt & ', held out to ' & $window.end & ': ' & $evaluation.reason, 0, 1024) %}",
        ModelApprovalStatus: "{% $evaluation.passed ? 'Approved' : 'Rejected' %}",
        InferenceSpecification: {
          Containers: [{ Image: this.xgboostImage, ModelDataUrl: '{% $modelDataUrl %}' }],
          SupportedContentTypes: ['text/csv'],
          SupportedResponseMIMETypes: ['text/csv'],
        },
        ModelMetrics: {
          ModelQuality: {
            Statistics: { ContentType: 'application/json', S3Uri: '{% $evaluation.evaluationUrl %}' },
          },
        },
        CustomerMetadataProperties: `{% ($text := function($v) { $exists($v) and $v != null ? $substring($string($v), 0, 256) : 'none' }; $merge($append([{ 'model': $model, 'runId': $runId, 'windowStart': $window.start, 'splitAt': $window.splitAt, 'windowEnd': $window.end, 'trainingJobName': $trainingJobName, 'image': '${this.xgboostImage}', 'instanceType': '${this.instanceType}', 'metric': $evaluation.metric, 'candidate': $text($evaluation.candidate), 'champion': $text($evaluation.champion), 'baseline': $text($evaluation.baseline), 'holdoutRows': $text($evaluation.rows), 'passed': $text($evaluation.passed), 'reason': $text($evaluation.reason), 'championModel': $text($championVariant.ModelName), 'artifactSha256': $evaluation.artifactSha256, 'evaluation': $evaluation.evaluationUrl, 'execution': $states.context.Execution.Id }], $each($hyperParameters, function($value, $name) { { 'hyperparameter:' & $name: $value } }))) ) %}`,
        // Idempotent: a retried call after a lost response does not register the run twice.
        ClientToken: "{% $substring($hash($runName, 'SHA-256'), 0, 36) %}",
      },
      groupArns,
      {
        comment:
          'Approved when the gate passed, else Rejected; the package records the run (window, parameters, figures, artefact hash)',
        assign: { modelPackageArn: '{% $states.result.ModelPackageArn %}' },
      },
    );

    const deployOrHold = sfn.Choice.jsonata(this, 'GatePassed', {
      comment: this.deploysChallengers
        ? 'Deploy an approved candidate where an endpoint serves the model'
        : 'Register only: the stage gives a challenger no traffic',
    });
    if (this.deploysChallengers) {
      deployOrHold.when(
        sfn.Condition.jsonata('{% $evaluation.passed = true and $endpointExists %}'),
        this.challengerSteps(kit),
      );
    }
    deployOrHold
      .when(sfn.Condition.jsonata('{% $evaluation.passed = true %}'), result('Registered', status.registered))
      .otherwise(result('GateHeld', status.gateHeld));
    evaluate.next(register).next(deployOrHold);
    return evaluate;
  }

  /**
   * A new endpoint config with the champion kept and the candidate beside it as the challenger, the
   * endpoint updated to it, and the wait until it serves it.
   */
  private challengerSteps(kit: ModelRunKit): sfn.IChainable {
    const { sdkCall, sagemakerTask, result, modelFailed } = kit;
    const status = TRAINING_RESULT_STATUSES;
    const championShare = 100 - this.challengerTrafficPercent;
    const variant = (name: string, modelName: string, weight: number) =>
      `{ 'VariantName': '${name}', 'ModelName': ${modelName}, 'InitialVariantWeight': ${weight}, 'InstanceType': $championVariant.InstanceType, 'InitialInstanceCount': $championVariant.InitialInstanceCount, 'ServerlessConfig': $championVariant.ServerlessConfig }`;
    const createEndpointConfig = sagemakerTask(
      'CreateEndpointConfig',
      'createEndpointConfig',
      // One expression, so that the settings the current config lacks are left out, not null.
      `{% { 'EndpointConfigName': $runName, 'ProductionVariants': [${variant(CHAMPION_VARIANT, '$championVariant.ModelName', championShare)}, ${variant(CHALLENGER_VARIANT, '$runName', this.challengerTrafficPercent)}], 'KmsKeyId': $endpointConfig.KmsKeyId, 'DataCaptureConfig': $endpointConfig.DataCaptureConfig } %}`,
      Duration.seconds(SDK_TASK_TIMEOUT_SECONDS),
      {
        comment: `The champion kept (${championShare} %), the candidate as ${CHALLENGER_VARIANT} (${this.challengerTrafficPercent} %), the current config's key and data capture`,
      },
    );
    const updateEndpoint = sagemakerTask(
      'UpdateEndpoint',
      'updateEndpoint',
      { EndpointName: '{% $endpointName %}', EndpointConfigName: '{% $runName %}' },
      Duration.seconds(SDK_TASK_TIMEOUT_SECONDS),
      { assign: { polls: 0 } },
    );
    const waitForEndpoint = sfn.Wait.jsonata(this, 'WaitForEndpoint', {
      time: sfn.WaitTime.duration(Duration.seconds(ENDPOINT_POLL_SECONDS)),
    });
    const checkEndpoint = sdkCall(
      'CheckEndpoint',
      'describeEndpoint',
      { EndpointName: '{% $endpointName %}' },
      this.endpointArns(),
      {
        assign: { polls: '{% $polls + 1 %}' },
      },
    );
    const endpointUpdateFailed = sfn.Pass.jsonata(this, 'EndpointUpdateFailed', {
      assign: { failedState: 'CheckEndpoint' },
      outputs: {
        Error: 'EndpointUpdateFailed',
        Cause: `{% 'endpoint ' & $endpointName & ' is ' & $states.input.EndpointStatus & ' with config ' & $states.input.EndpointConfigName & ' after ' & $string($polls) & ' checks, expected InService with ' & $runName & ($exists($states.input.FailureReason) ? ': ' & $states.input.FailureReason : '') %}`,
      },
    });
    const endpointUpdated = sfn.Choice.jsonata(this, 'EndpointUpdated', {
      comment: 'InService with the new config; a failed update rolls back to the old one',
    })
      .when(
        sfn.Condition.jsonata(
          "{% $states.input.EndpointStatus = 'InService' and $states.input.EndpointConfigName = $runName %}",
        ),
        result(
          'Deployed',
          status.deployed,
          `, 'endpointConfigName': $runName, 'challengerTrafficPercent': ${this.challengerTrafficPercent}`,
        ),
      )
      .when(
        sfn.Condition.jsonata(
          `{% $states.input.EndpointStatus in ['Creating', 'Updating', 'SystemUpdating', 'RollingBack'] and $polls < ${ENDPOINT_MAX_POLLS} %}`,
        ),
        waitForEndpoint,
      )
      .otherwise(endpointUpdateFailed);
    endpointUpdateFailed.next(modelFailed);
    return createEndpointConfig
      .next(updateEndpoint)
      .next(waitForEndpoint)
      .next(checkEndpoint)
      .next(endpointUpdated);
  }

  /** The ARNs of the endpoints the workflow reads and updates. */
  private endpointArns(): string[] {
    const stack = Stack.of(this);
    return MODEL_NAMES.map((model) =>
      stack.formatArn({
        service: 'sagemaker',
        resource: 'endpoint',
        resourceName: this.endpointNames[model].toLowerCase(),
      }),
    );
  }

  private grantStateMachine(props: TrainingWorkflowProps): void {
    const role = this.stateMachine.role;
    const stack = Stack.of(this);
    const sagemakerArn = (resource: string, resourceName: string) =>
      stack.formatArn({ service: 'sagemaker', resource, resourceName });
    const prefix = `${this.namePrefix.toLowerCase()}-*`;
    const grant = (actions: string[], resources: string[]) =>
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources }));

    // What the typed Glue task grants for RUN_JOB: start, poll, and stop the run when the state ends.
    grant(
      ['glue:StartJobRun', 'glue:GetJobRun', 'glue:GetJobRuns', 'glue:BatchStopJobRun'],
      [stack.formatArn({ service: 'glue', resource: 'job', resourceName: this.trainingDataJobName })],
    );
    // The .sync integrations start, poll and stop the jobs, tag them, and watch them through a rule
    // Step Functions manages.
    const trainingJobs = sagemakerArn('training-job', prefix);
    const transformJobs = sagemakerArn('transform-job', prefix);
    grant(
      ['sagemaker:CreateTrainingJob', 'sagemaker:DescribeTrainingJob', 'sagemaker:StopTrainingJob'],
      [trainingJobs],
    );
    grant(
      ['sagemaker:CreateTransformJob', 'sagemaker:DescribeTransformJob', 'sagemaker:StopTransformJob'],
      [transformJobs],
    );
    grant(['sagemaker:AddTags'], [trainingJobs, transformJobs]);
    grant(
      ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      ['TrainingJobs', 'TransformJobs'].map((kind) =>
        stack.formatArn({
          service: 'events',
          resource: 'rule',
          resourceName: `StepFunctionsGetEventsForSageMaker${kind}Rule`,
        }),
      ),
    );
    const models = sagemakerArn('model', prefix);
    grant(['sagemaker:CreateModel'], [models]);
    const endpointConfigs = sagemakerArn('endpoint-config', prefix);
    // The optimized integrations read back the tags of what they create.
    grant(['sagemaker:ListTags'], [trainingJobs, transformJobs, models]);
    if (this.deploysChallengers) {
      grant(['sagemaker:CreateEndpointConfig', 'sagemaker:ListTags'], [endpointConfigs]);
      grant(
        ['sagemaker:UpdateEndpoint'],
        [
          ...MODEL_NAMES.map((model) => sagemakerArn('endpoint', this.endpointNames[model].toLowerCase())),
          endpointConfigs,
        ],
      );
    }
    // The models SageMaker runs with the execution role, and nothing else.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    // UpdateEndpoint lets SageMaker use the endpoint config's key on the caller's behalf.
    if (props.endpointEncryptionKey && this.deploysChallengers) {
      grant(['kms:CreateGrant', 'kms:DescribeKey'], [props.endpointEncryptionKey.keyArn]);
    }
    // Publishing to an encrypted topic needs a data key of the topic's key.
    const topicKey = props.onCallTopic.masterKey;
    if (topicKey) grant(['kms:GenerateDataKey', 'kms:Decrypt'], [topicKey.keyArn]);

    const reasons: [string, string][] = [
      [
        trainingJobs,
        "Training jobs are named per run (<prefix>-<model>-<run id>) at run time; the grant covers this stage's prefix only.",
      ],
      [
        transformJobs,
        "Transform jobs are named per run at run time; the grant covers this stage's prefix only.",
      ],
      [models, "Models are named per run at run time; the grant covers this stage's prefix only."],
      ...(this.deploysChallengers
        ? [
            [
              endpointConfigs,
              "Endpoint configs are named per run at run time; the grant covers this stage's prefix only.",
            ] as [string, string],
          ]
        : []),
      [
        sagemakerArn('endpoint-config', '*'),
        "DescribeEndpointConfig reads the endpoint's current config, whose name the endpoints construct chooses at deploy time; read-only.",
      ],
      [
        sagemakerArn('model', '*'),
        'DescribeModel reads the champion model the endpoint serves, whose name is chosen at deploy time; read-only.',
      ],
      ...MODEL_NAMES.map((model): [string, string] => [
        sagemakerArn('model-package', `${this.modelPackageGroupName(model).toLowerCase()}/*`),
        `Registers versions of the ${model} model package group only; SageMaker numbers them.`,
      ]),
    ];
    for (const [arn, reason] of reasons) acknowledgeWildcard(role, arn, reason);
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'sagemaker:ListEndpoints, X-Ray tracing and CloudWatch Logs delivery support no resource-level permission.',
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::${nagReference(this.evaluationFunction.node.defaultChild as lambda.CfnFunction)}:*]`,
      "The invoke grant also covers the evaluation function's versions and aliases: that function only.",
    );
  }
}

/**
 * The ETL job's modules the training-data job reuses: its command-line reading (`etl_args.py`) and
 * what that imports.
 */
export const SHARED_ETL_MODULES = ['etl_args.py', 'etl_window.py'] as const;

/**
 * The Python modules of the training-data job: `glue-scripts/ml_*.py` besides its entry point, and
 * {@link SHARED_ETL_MODULES}.
 */
function readGlueModules(): string[] {
  return readdirSync(GLUE_SCRIPTS_DIR)
    .filter(
      (name) =>
        (name.startsWith(ML_SCRIPT_PREFIX) && name.endsWith('.py') && name !== TRAINING_DATA_JOB_SCRIPT) ||
        (SHARED_ETL_MODULES as readonly string[]).includes(name),
    )
    .sort();
}

/** The image URI, literal when the stack's region is known, else looked up in a mapping at deploy time. */
function xgboostImage(scope: Construct, version: string): string {
  const region = Stack.of(scope).region;
  if (!Token.isUnresolved(region)) return xgboostImageUri(region, version);
  checkXgboostVersion(version);
  const mapping = new CfnMapping(scope, 'XgboostRegistry', {
    mapping: Object.fromEntries(
      Object.entries(XGBOOST_IMAGE_ACCOUNTS).map(([name, account]) => [name, { account }]),
    ),
  });
  return `${mapping.findInMap(Aws.REGION, 'account')}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}/${XGBOOST_IMAGE_REPOSITORY}:${version}`;
}

function validNamePrefix(prefix: string): string {
  if (!/^[a-z0-9](-?[a-z0-9])*$/.test(prefix) || prefix.length > MAX_NAME_PREFIX_LENGTH) {
    throw new Error(
      `TrainingWorkflow namePrefix: received ${JSON.stringify(prefix)}, expected at most ${MAX_NAME_PREFIX_LENGTH} lowercase letters, digits and single hyphens, e.g. sdap-dev`,
    );
  }
  return prefix;
}

function validEndpointNames(names: Readonly<Record<ModelName, string>>): Readonly<Record<ModelName, string>> {
  for (const model of MODEL_NAMES) {
    const name = names[model];
    if (typeof name !== 'string' || !/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(name)) {
      throw new Error(
        `TrainingWorkflow endpointNames.${model}: received ${JSON.stringify(name)}, expected a SageMaker endpoint name such as sdap-dev-${model}`,
      );
    }
  }
  return names;
}

/** Retries quick calls on `errors`: 2, 4, 8 s (jittered), at most 30 s apart. */
function sdkRetry(errors: readonly string[]): sfn.RetryProps {
  return {
    errors: [...errors],
    interval: Duration.seconds(2),
    maxAttempts: 4,
    backoffRate: 2,
    maxDelay: Duration.seconds(30),
    jitterStrategy: sfn.JitterType.FULL,
  };
}

/**
 * Acknowledges the IAM5 finding of one wildcard resource, spelled as cdk-nag spells it (the resolved
 * ARN, references as `<Name>`), so that the acknowledgement names exactly that resource.
 */
function acknowledgeWildcard(scope: IConstruct, arn: string, reason: string): void {
  acknowledge(scope, `AwsSolutions-IAM5[Resource::${findingResource(scope, arn)}]`, reason);
}

function findingResource(scope: IConstruct, value: string): string {
  const visit = (node: unknown): string => {
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
    const ref = node as {
      'Fn::Join'?: [string, unknown[]];
      'Fn::GetAtt'?: [unknown, unknown];
      Ref?: unknown;
    };
    if (ref['Fn::Join']) return ref['Fn::Join'][1].map(visit).join(ref['Fn::Join'][0]);
    if (ref['Fn::GetAtt']) return `<${visit(ref['Fn::GetAtt'][0])}.${visit(ref['Fn::GetAtt'][1])}>`;
    if (ref.Ref !== undefined) return `<${visit(ref.Ref)}>`;
    return JSON.stringify(node);
  };
  return visit(Stack.of(scope).resolve(value));
}
