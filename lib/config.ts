/**
 * Stage configuration: the built-in defaults of each stage, the context overrides merged over them,
 * and the validation that turns a wrong value into an error naming the key, the value received and
 * what is allowed. This module is the only reader of CDK context; constructs receive plain values.
 *
 * Choose a stage with `-c stage=<name>` (default `dev`). Override any key with a JSON object in the
 * context key `sdap:<stage>`, in cdk.json or on the command line:
 *
 * @example
 * npx cdk synth -c stage=prod -c 'sdap:prod={"onCallEmails":["oncall@example.com"]}'
 */
import type { IConstruct } from 'constructs';
import * as z from 'zod';
import { valueAt } from '../lambdas/shared/received-value.ts';

/** The stages this app knows. Stage names end up in resource names, so they stay short and lowercase. */
export const STAGE_NAMES = ['dev', 'prod'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/** The CDK context key that selects the stage. */
export const STAGE_CONTEXT_KEY = 'stage';
/** The stage synthesized when no `-c stage=...` is given. */
export const DEFAULT_STAGE: StageName = 'dev';

/** The CDK context key whose JSON object is merged over the built-in defaults of `stage`. */
export function stageOverrideContextKey(stage: string): string {
  return `sdap:${stage}`;
}

/** Log levels of the account-wide AWS IoT logging configuration, least to most verbose. */
export const IOT_LOG_LEVELS = ['ERROR', 'WARN', 'INFO', 'DEBUG'] as const;
export type IotLogLevel = (typeof IOT_LOG_LEVELS)[number];

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Glue worker types the ETL job may use (Glue 5.0 Spark). Flex runs only on G.1X and G.2X. */
export const ETL_WORKER_TYPES = ['G.1X', 'G.2X', 'G.4X', 'G.8X'] as const;
export type EtlWorkerType = (typeof ETL_WORKER_TYPES)[number];
/** Worker types Glue's Flex execution class runs on. */
export const FLEX_WORKER_TYPES: readonly EtlWorkerType[] = ['G.1X', 'G.2X'];
/** Glue execution classes: Flex runs on spare capacity, cheaper and with a variable start delay. */
export const ETL_EXECUTION_CLASSES = ['STANDARD', 'FLEX'] as const;
export type EtlExecutionClass = (typeof ETL_EXECUTION_CLASSES)[number];

/**
 * Lambda's limit on an event source mapping's maximum record age (7 days), in seconds. Values above
 * it are rejected by the Lambda API.
 */
export const MAX_EVENT_SOURCE_RECORD_AGE_SECONDS = 7 * 24 * 3600;

/** Provisioned shards (fixed throughput, cheapest for a small steady fleet) or on-demand (scales itself). */
export type StreamCapacity =
  | { readonly mode: 'on-demand' }
  | { readonly mode: 'provisioned'; readonly shardCount: number };

/** When objects of a bucket change storage class and expire. Day counts run from object creation. */
export interface LifecycleSettings {
  /** Days before objects move to S3 Standard-IA; `null` keeps them in S3 Standard. S3 requires at least 30. */
  readonly infrequentAccessAfterDays: number | null;
  /**
   * Days before objects move to S3 Glacier Instant Retrieval, which Athena and the ETL read without a
   * restore; `null` never. S3 requires it to be at least 30 days after the Standard-IA transition.
   */
  readonly archiveAfterDays: number | null;
  /** Days before objects expire (their versions then follow `noncurrentVersionExpireAfterDays`); `null` never. */
  readonly expireAfterDays: number | null;
}

export interface StreamSettings {
  /**
   * @default {@link DEV_STREAM_CAPACITY} = {"mode":"provisioned","shardCount":1} in dev;
   *   {@link PROD_STREAM_CAPACITY} = {"mode":"on-demand"} in prod
   */
  readonly capacity: StreamCapacity;
  /**
   * How long the stream keeps records, 24 to 8760 hours. Everything downstream that replays or
   * alarms on lag is derived from it.
   * @default {@link DEV_STREAM_RETENTION_HOURS} = 24 in dev; {@link PROD_STREAM_RETENTION_HOURS} = 168 in prod
   */
  readonly retentionHours: number;
}

export interface LakeSettings {
  /**
   * @default {@link DEV_RAW_LIFECYCLE} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":30} in dev;
   *   {@link PROD_RAW_LIFECYCLE} = {"infrequentAccessAfterDays":30,"archiveAfterDays":90,"expireAfterDays":1095} in prod
   */
  readonly raw: LifecycleSettings;
  /**
   * @default {@link DEV_QUARANTINE_LIFECYCLE} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":30} in dev;
   *   {@link PROD_QUARANTINE_LIFECYCLE} = {"infrequentAccessAfterDays":30,"archiveAfterDays":null,"expireAfterDays":365} in prod
   */
  readonly quarantine: LifecycleSettings;
  /**
   * @default {@link DEV_FAILURES_LIFECYCLE} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":30} in dev;
   *   {@link PROD_FAILURES_LIFECYCLE} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":365} in prod
   */
  readonly failures: LifecycleSettings;
  /**
   * The ETL's output (curated Parquet, aggregates, data quality, run summaries).
   * @default {@link DEV_CURATED_LIFECYCLE} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":30} in dev;
   *   {@link PROD_CURATED_LIFECYCLE} = {"infrequentAccessAfterDays":90,"archiveAfterDays":null,"expireAfterDays":1095} in prod
   */
  readonly curated: LifecycleSettings;
  /**
   * Days a replaced or deleted object version is kept. Bounds how long erased data survives in old
   * versions (right to erasure), and how long an accidental overwrite can be undone.
   * @default {@link DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS} = 30
   */
  readonly noncurrentVersionExpireAfterDays: number;
  /**
   * @default {@link DEV_ACCESS_LOGS_EXPIRE_AFTER_DAYS} = 30 in dev; {@link PROD_ACCESS_LOGS_EXPIRE_AFTER_DAYS} = 365 in prod
   */
  readonly accessLogsExpireAfterDays: number;
}

export interface ValidatorSettings {
  /**
   * Most records per invocation (1 to 10000). Lambda also cuts a batch at its 6 MB payload limit.
   * @default {@link DEFAULT_BATCH_SIZE} = 100
   */
  readonly batchSize: number;
  /**
   * How long the event source mapping gathers records before invoking (0 to 300 s): latency against
   * invocations.
   * @default {@link DEFAULT_MAX_BATCHING_WINDOW_SECONDS} = 1
   */
  readonly maxBatchingWindowSeconds: number;
  /**
   * Concurrent batches per shard (1 to 10); records with the same partition key (device) stay in order.
   * @default {@link DEFAULT_PARALLELIZATION_FACTOR} = 1
   */
  readonly parallelizationFactor: number;
  /**
   * Retries of a failed batch before its records go to the on-failure destination (0 to 10000).
   * Bisection halves a failing batch without spending a retry, so 10 retries isolate a poison record
   * in any batch of up to 10,000 records (2^10 > 6,400, the most a 6 MB payload holds) and still
   * retry a transient fault several times.
   * @default {@link DEFAULT_RETRY_ATTEMPTS} = 10
   */
  readonly retryAttempts: number;
  /**
   * Age at which the event source mapping stops retrying a record and sends it to the on-failure
   * destination (60 to 604800 s). Must stay below the stream retention, or records would expire from
   * the stream before Lambda hands them over, and be lost silently. The defaults keep 4 h (dev) and
   * 24 h (prod) between the two, a margin for the hand-over itself and for an operator to react.
   * @default {@link DEV_MAX_RECORD_AGE_SECONDS} = 72000 in dev; {@link PROD_MAX_RECORD_AGE_SECONDS} = 518400 in prod
   */
  readonly maxRecordAgeSeconds: number;
  /**
   * Concurrency reserved for the validator; `null` reserves none. When set it must cover
   * shards x parallelization factor, or the event source mapping is throttled.
   * @default {@link DEFAULT_RESERVED_CONCURRENCY} = null
   */
  readonly reservedConcurrency: number | null;
  /**
   * Retention of the validator's log group; one of the values CloudWatch Logs accepts.
   * @default {@link DEV_LOG_RETENTION_DAYS} = 14 in dev; {@link PROD_LOG_RETENTION_DAYS} = 90 in prod
   */
  readonly logRetentionDays: number;
}

/**
 * AWS IoT logging is one configuration per account and region: deploying a second stage into the
 * same account with logging enabled fails, so all but one stage there must disable it.
 */
export interface IotLoggingSettings {
  /** @default {@link DEFAULT_IOT_LOGGING} = {"enabled":true,"level":"WARN"} */
  readonly enabled: boolean;
  /** @default {@link DEFAULT_IOT_LOGGING} = {"enabled":true,"level":"WARN"} */
  readonly level: IotLogLevel;
}

/**
 * The hourly batch ETL: an EventBridge schedule starts a Step Functions workflow that runs the Glue
 * job over the previous hours of raw data, then gates on the run's data-quality score.
 */
export interface EtlSettings {
  /**
   * Deploys the ETL (job, workflow, schedule, alarms). Glue is the largest fixed cost of a stage
   * (AWS-FACTS: about $100 a month hourly), so a stage that only tests ingest may switch it off.
   * @default {@link DEFAULT_ETL_ENABLED} = true
   */
  readonly enabled: boolean;
  /**
   * When the workflow runs, as an EventBridge Scheduler expression in UTC: `rate(N hours)`,
   * `rate(N days)`, or a `cron(...)` that fires every N hours (`cron(15 * * * ? *)`,
   * `cron(15 0/2 * * ? *)`) or once a day. Each run processes the ingest hours of one period, ending
   * at the last full hour before it fires.
   * @default {@link DEFAULT_ETL_SCHEDULE_EXPRESSION} = "cron(15 * * * ? *)"
   */
  readonly scheduleExpression: string;
  /**
   * Lowest data-quality score (0 to 1) a run may produce; below it the run fails, notifies on-call
   * and the DQ alarm fires.
   * @default {@link DEFAULT_ETL_DQ_SCORE_THRESHOLD} = 0.95
   */
  readonly dqScoreThreshold: number;
  /**
   * Glue worker type; Flex runs only on G.1X and G.2X.
   * @default {@link DEFAULT_ETL_WORKER_TYPE} = "G.1X"
   */
  readonly workerType: EtlWorkerType;
  /**
   * Workers per run (2 to 299), driver included.
   * @default {@link DEV_ETL_NUMBER_OF_WORKERS} = 2 in dev; {@link PROD_ETL_NUMBER_OF_WORKERS} = 4 in prod
   */
  readonly numberOfWorkers: number;
  /**
   * Minutes a Glue run may take before Glue stops it (1 to 2880). Must stay below the schedule
   * period, or a slow run overlaps the next one.
   * @default {@link DEFAULT_ETL_TIMEOUT_MINUTES} = 30
   */
  readonly timeoutMinutes: number;
  /**
   * Backfill runs (a day of event hours each) at once, 1 to 40 (an inline Map runs at most 40
   * iterations in parallel). Each run reads the curated hours before its window as context (rolling
   * windows, baselines, daily tables), so only sequential runs rebuild a range exactly as the
   * hourly schedule would; above 1, a run's first days may read context its predecessor has not
   * rebuilt yet. The job admits this many runs plus one for the schedule.
   * @default {@link DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY} = 1
   */
  readonly backfillMaxConcurrency: number;
  /**
   * Glue execution class of backfill runs. Scheduled and single-hour runs always use STANDARD.
   * @default {@link DEFAULT_ETL_BACKFILL_EXECUTION_CLASS} = "FLEX"
   */
  readonly backfillExecutionClass: EtlExecutionClass;
  /**
   * Retention of the job's and the workflow's log groups; one of the values CloudWatch Logs accepts.
   * @default {@link DEV_LOG_RETENTION_DAYS} = 14 in dev; {@link PROD_LOG_RETENTION_DAYS} = 90 in prod
   */
  readonly logRetentionDays: number;
}

/**
 * The hourly export of the AWS IoT registry (things and thing groups) into the raw bucket's
 * `iot-registry/`: the ETL's device and location snapshots and the weather function's sites come from it.
 */
export interface RegistryExportSettings {
  /**
   * Deploys the export function, its schedule and its alarm. Unless the stage sets it, it follows
   * `etl.enabled`: the ETL is its main reader. `weather.enabled` needs it.
   * @default - the value of `etl.enabled` ({@link DEFAULT_ETL_ENABLED} = true)
   */
  readonly enabled: boolean;
  /**
   * When the export runs, as an EventBridge Scheduler expression in UTC; before the weather function
   * and the ETL, which read it.
   * @default {@link DEFAULT_REGISTRY_EXPORT_SCHEDULE} = "cron(0 * * * ? *)"
   */
  readonly scheduleExpression: string;
}

/**
 * Hourly outdoor weather per site, fetched from an HTTP provider into the raw bucket's `weather/`
 * for the ETL to join to energy and features.
 */
export interface WeatherSettings {
  /**
   * Deploys the weather function and its schedule; needs `registryExport.enabled` (the function reads
   * the sites and their coordinates from `iot-registry/thing-groups.ndjson`). Off by default: the
   * default provider is Open-Meteo's free API, whose terms allow non-commercial use only and which
   * takes no key; a stage switching weather on chooses a provider and plan whose terms fit its use
   * (`providerUrl`, and `apiKeySecretName` for a key).
   * @default {@link DEFAULT_WEATHER_ENABLED} = false
   */
  readonly enabled: boolean;
  /**
   * The provider's endpoint (https), speaking the request and response shape documented in
   * lambdas/weather/http-weather-provider.ts. Check the provider's terms for commercial use.
   * @default {@link DEFAULT_WEATHER_PROVIDER_URL} = "https://api.open-meteo.com/v1/forecast"
   */
  readonly providerUrl: string;
  /**
   * Recorded in every weather line's `source`.
   * @default {@link DEFAULT_WEATHER_PROVIDER} = "open-meteo"
   */
  readonly providerName: string;
  /**
   * Name of the Secrets Manager secret holding the provider's API key (created outside the stack);
   * `null` when the provider needs no key.
   * @default {@link DEFAULT_WEATHER_API_KEY_SECRET_NAME} = null
   */
  readonly apiKeySecretName: string | null;
  /**
   * When the function runs, as an EventBridge Scheduler expression in UTC; before the ETL's run, so
   * the hour's weather is there when the ETL joins it.
   * @default {@link DEFAULT_WEATHER_SCHEDULE} = "cron(5 * * * ? *)"
   */
  readonly scheduleExpression: string;
  /**
   * Whole hours before the scheduled hour that each run (re)fetches, 1 to 744: gaps left by a
   * provider outage fill themselves within this window.
   * @default {@link DEFAULT_WEATHER_LOOKBACK} = 24
   */
  readonly lookbackHours: number;
}

/**
 * The analysts' warehouse: Redshift Serverless in its own VPC, its schema deployed with the stack,
 * and (with the ETL) a load of each window's curated partitions after the Glue run.
 */
export interface WarehouseSettings {
  /**
   * Deploys the warehouse. Redshift Serverless bills RPU-hours whenever it runs queries (AWS-FACTS:
   * about $180 a month for a couple of hours a day at 8 RPU), so dev leaves it off.
   * @default {@link DEV_WAREHOUSE_ENABLED} = false in dev; {@link PROD_WAREHOUSE_ENABLED} = true in prod
   */
  readonly enabled: boolean;
  /**
   * Redshift Processing Units the workgroup starts queries with: 4, or a multiple of 8 from 8 to
   * 1024. The hourly loads and a handful of analysts need the smallest general size.
   * @default {@link DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU} = 8
   */
  readonly baseCapacityRpu: number;
  /**
   * The database the namespace creates and the tables, views, loads and QuickSight use: a lowercase
   * letter, then lowercase letters, digits or underscores, at most 64.
   * @default {@link DEFAULT_WAREHOUSE_DATABASE_NAME} = "sdap"
   */
  readonly databaseName: string;
}

/**
 * QuickSight datasets over the warehouse's analyst views, defined in the stack. Needs the warehouse,
 * a QuickSight Enterprise subscription in the account, and QuickSight allowed to read the
 * warehouse's admin secret (see the README).
 */
export interface QuickSightSettings {
  /**
   * Deploys the VPC connection, the data source and one dataset per analyst view.
   * @default {@link DEFAULT_QUICKSIGHT_ENABLED} = false
   */
  readonly enabled: boolean;
  /**
   * The QuickSight group the datasets are shared with, as an ARN; or `null` to build it from
   * `groupName` and `namespace` in the stack's region (give the ARN when QuickSight's identity
   * region differs).
   * @default {@link DEFAULT_QUICKSIGHT_GROUP_ARN} = null
   */
  readonly groupArn: string | null;
  /**
   * The group's name, used when `groupArn` is null.
   * @default {@link DEFAULT_QUICKSIGHT_GROUP_NAME} = null
   */
  readonly groupName: string | null;
  /**
   * The QuickSight namespace of `groupName`.
   * @default {@link DEFAULT_QUICKSIGHT_NAMESPACE} = "default"
   */
  readonly namespace: string;
}

/**
 * The SageMaker real-time endpoints, one per model of `ml/models.json` (`sdap-<stage>-<model>`), each
 * serving its committed model (`ml/models/<model>.json`) on the built-in XGBoost container.
 */
export interface ModelEndpointSettings {
  /**
   * Deploys the endpoints and their alarms. Endpoints bill every instance-hour whether called or not
   * (AWS-FACTS, unverified: about $85 a month for one ml.m5.large; prod's defaults run six), so dev
   * leaves them off.
   * @default {@link DEV_ENDPOINTS_ENABLED} = false in dev; {@link PROD_ENDPOINTS_ENABLED} = true in prod
   */
  readonly enabled: boolean;
  /**
   * Instance type of every variant, `ml.<family>.<size>`. Types with local NVMe storage (such as
   * ml.m5d, ml.c5d, ml.g4dn, ml.g5) refuse the endpoint configuration's KMS key. Changing it on a live
   * endpoint fails while autoscaling is registered (see the README).
   * @default {@link DEV_ENDPOINT_INSTANCE_TYPE} = "ml.t2.medium" in dev; {@link PROD_ENDPOINT_INSTANCE_TYPE} = "ml.m5.large" in prod
   */
  readonly instanceType: string;
  /**
   * Instances each variant starts with, and the least autoscaling keeps (1 to 100). A stage that
   * retains its data (`removalPolicy: retain`) needs at least 2: SageMaker spreads a variant's
   * instances over Availability Zones, and one instance is one failure away from an outage.
   * @default {@link DEV_ENDPOINT_INSTANCE_COUNT} = 1 in dev; {@link PROD_ENDPOINT_INSTANCE_COUNT} = 2 in prod
   */
  readonly instanceCount: number;
  /**
   * The most instances autoscaling may run per variant, from `instanceCount` to 100.
   * @default {@link DEV_ENDPOINT_MAX_INSTANCE_COUNT} = 2 in dev; {@link PROD_ENDPOINT_MAX_INSTANCE_COUNT} = 4 in prod
   */
  readonly maxInstanceCount: number;
  /**
   * Invocations per instance and minute that target tracking (`SageMakerVariantInvocationsPerInstance`)
   * holds each variant at, 1 to 1000000. Re-derive it from a load test: about half the highest rate
   * one instance sustains, times 60.
   * @default {@link DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE} = 1000
   */
  readonly targetInvocationsPerInstance: number;
  /**
   * Percent of requests (0 to 50) routed to a `challenger` variant beside the `champion`, which gets
   * the rest; 0 deploys the champion alone.
   * @default {@link DEFAULT_CHALLENGER_TRAFFIC_PERCENT} = 0
   */
  readonly challengerTrafficPercent: number;
  /**
   * Percent of requests (0 to 100) whose input and output the endpoints capture into the raw bucket's
   * `ml-data-capture/<model>/`; 0 captures nothing.
   * @default {@link DEV_DATA_CAPTURE_PERCENT} = 100 in dev; {@link PROD_DATA_CAPTURE_PERCENT} = 10 in prod
   */
  readonly dataCapturePercent: number;
}

/**
 * The scheduled retraining of the models (the training workflow reads these keys; this module only
 * validates them).
 */
export interface ModelTrainingSettings {
  /**
   * Deploys the training workflow and its schedule; needs `ml.endpoints.enabled`, and is switched off
   * with it unless the stage sets it.
   * @default {@link DEV_TRAINING_ENABLED} = false in dev; {@link PROD_TRAINING_ENABLED} = true in prod
   */
  readonly enabled: boolean;
  /**
   * When training runs, as an EventBridge Scheduler expression in UTC.
   * @default {@link DEFAULT_TRAINING_SCHEDULE_EXPRESSION} = "cron(0 3 ? * MON *)"
   */
  readonly scheduleExpression: string;
  /**
   * Instance type of the training jobs, `ml.<family>.<size>`.
   * @default {@link DEFAULT_TRAINING_INSTANCE_TYPE} = "ml.m5.xlarge"
   */
  readonly instanceType: string;
}

/** Machine learning: the models' endpoints and their retraining. */
export interface MlSettings {
  readonly endpoints: ModelEndpointSettings;
  readonly training: ModelTrainingSettings;
}

/** Lake zones whose bucket can be replicated to another region. */
export const REPLICABLE_ZONES = ['raw', 'quarantine', 'failures', 'curated'] as const;
export type ReplicableZone = (typeof REPLICABLE_ZONES)[number];
/**
 * Storage classes a replica may be written in. Archive classes that need a restore before a read
 * (Glacier Flexible Retrieval, Deep Archive) are left out: a disaster is when the replica is read.
 */
export const REPLICA_STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
] as const;
export type ReplicaStorageClass = (typeof REPLICA_STORAGE_CLASSES)[number];

/**
 * Cross-region replication of the lake's buckets into replica buckets of a second stack
 * (`Sdap-<stage>-replica`) in `destinationRegion`, each encrypted with a key of that region.
 */
export interface LakeReplicationSettings {
  /**
   * Deploys the replica stack and the replication rules. Off in every stage: which second region
   * may hold the devices' data is the owner's decision (data residency), and the stages are
   * environment-agnostic, so no default region can be known to differ from the stage's.
   * @default {@link DEFAULT_REPLICATION_ENABLED} = false
   */
  readonly enabled: boolean;
  /**
   * The region of the replicas; required while `enabled`, and different from the stage's `region`
   * (an environment-agnostic stage must be deployed into another region than this one).
   * @default {@link DEFAULT_REPLICATION_DESTINATION_REGION} = null
   */
  readonly destinationRegion: string | null;
  /**
   * The zones replicated. Curated is rebuilt from raw by the ETL, but replicating it turns hours of
   * backfill into a copy (see the README's disaster recovery table).
   * @default {@link DEFAULT_REPLICATED_ZONES} = ["raw","quarantine","failures","curated"]
   */
  readonly zones: readonly ReplicableZone[];
  /**
   * S3 Replication Time Control: AWS's SLA replicates 99.99 % of new objects within 15 minutes,
   * which bounds the recovery point; without it replication has no time bound.
   * @default {@link DEFAULT_REPLICATION_TIME_CONTROL} = true
   */
  readonly replicationTimeControl: boolean;
  /**
   * Storage class the replicas are written in. Raw objects are small (a batch of gzip NDJSON, tens
   * of KB), and Standard-IA and Glacier IR bill at least 128 KB an object, so Standard is the cheaper
   * default; the replicas then follow the source zone's own lifecycle.
   * @default {@link DEFAULT_REPLICA_STORAGE_CLASS} = "STANDARD"
   */
  readonly storageClass: ReplicaStorageClass;
}

/**
 * Scheduled manual snapshots of the warehouse's namespace, beside the recovery points Redshift
 * Serverless takes by itself (every 30 minutes, kept 24 hours).
 */
export interface WarehouseSnapshotSettings {
  /**
   * Takes the snapshots while the stage has a warehouse (`warehouse.enabled`); ignored otherwise.
   * @default {@link DEV_WAREHOUSE_SNAPSHOTS_ENABLED} = false in dev; {@link PROD_WAREHOUSE_SNAPSHOTS_ENABLED} = true in prod
   */
  readonly enabled: boolean;
  /**
   * When a snapshot is taken, as an EventBridge Scheduler expression in UTC.
   * @default {@link DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE} = "cron(45 2 * * ? *)"
   */
  readonly scheduleExpression: string;
  /**
   * Days each snapshot is kept, 1 to 3653. A snapshot keeps what the warehouse held when it was
   * taken, erased rows included, until it expires.
   * @default {@link DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS} = 14
   */
  readonly retentionDays: number;
}

/** Backups and replicas beyond what the lake's versioning already gives (see the README). */
export interface DisasterRecoverySettings {
  readonly replication: LakeReplicationSettings;
  readonly warehouseSnapshots: WarehouseSnapshotSettings;
}

/** Everything a stage can set. */
export interface StageSettings {
  /** Target account; omit for an environment-agnostic stack. @default - environment-agnostic */
  readonly account?: string;
  /** Target region; omit for an environment-agnostic stack. @default - environment-agnostic */
  readonly region?: string;
  /**
   * What happens to stateful resources (buckets, stream, keys, logs) when the stack is deleted.
   * `destroy` also empties the buckets.
   * @default {@link DEV_REMOVAL_POLICY} = "destroy" in dev; {@link PROD_REMOVAL_POLICY} = "retain" in prod
   */
  readonly removalPolicy: 'destroy' | 'retain';
  readonly stream: StreamSettings;
  readonly lake: LakeSettings;
  readonly validator: ValidatorSettings;
  readonly iotLogging: IotLoggingSettings;
  readonly etl: EtlSettings;
  readonly registryExport: RegistryExportSettings;
  readonly weather: WeatherSettings;
  readonly warehouse: WarehouseSettings;
  readonly quicksight: QuickSightSettings;
  /** Who the alarms e-mail; may be empty. @default {@link DEFAULT_ON_CALL_EMAILS} = [] */
  readonly onCallEmails: readonly string[];
  readonly ml: MlSettings;
  readonly disasterRecovery: DisasterRecoverySettings;
}

/** A validated stage configuration. */
export interface StageConfig extends StageSettings {
  readonly stage: StageName;
}

export const DEV_STREAM_CAPACITY: StreamCapacity = { mode: 'provisioned', shardCount: 1 };
export const PROD_STREAM_CAPACITY: StreamCapacity = { mode: 'on-demand' };
export const DEV_STREAM_RETENTION_HOURS = 24;
/** Seven days: the age beyond which the contract rejects readings (`MAX_READING_AGE_MS`). */
export const PROD_STREAM_RETENTION_HOURS = 168;

export const DEV_REMOVAL_POLICY = 'destroy';
export const PROD_REMOVAL_POLICY = 'retain';

const expireOnly = (days: number): LifecycleSettings => ({
  infrequentAccessAfterDays: null,
  archiveAfterDays: null,
  expireAfterDays: days,
});
export const DEV_RAW_LIFECYCLE: LifecycleSettings = expireOnly(30);
/** Raw is the replay source of the curated zone: kept three years, cold after three months. */
export const PROD_RAW_LIFECYCLE: LifecycleSettings = {
  infrequentAccessAfterDays: 30,
  archiveAfterDays: 90,
  expireAfterDays: 1095,
};
export const DEV_QUARANTINE_LIFECYCLE: LifecycleSettings = expireOnly(30);
export const PROD_QUARANTINE_LIFECYCLE: LifecycleSettings = {
  infrequentAccessAfterDays: 30,
  archiveAfterDays: null,
  expireAfterDays: 365,
};
export const DEV_FAILURES_LIFECYCLE: LifecycleSettings = expireOnly(30);
export const PROD_FAILURES_LIFECYCLE: LifecycleSettings = expireOnly(365);
/** One month: the time a data subject's erasure request must be answered in. */
export const DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS = 30;
/** Dev's curated data is rebuilt from raw on demand: it lives as long as dev's raw data. */
export const DEV_CURATED_LIFECYCLE: LifecycleSettings = expireOnly(30);
/**
 * Curated data is read mostly for recent hours (aggregates, features); it turns cold after three
 * months and goes when the raw data it was rebuilt from goes.
 */
export const PROD_CURATED_LIFECYCLE: LifecycleSettings = {
  infrequentAccessAfterDays: 90,
  archiveAfterDays: null,
  expireAfterDays: 1095,
};
export const DEV_ACCESS_LOGS_EXPIRE_AFTER_DAYS = 30;
export const PROD_ACCESS_LOGS_EXPIRE_AFTER_DAYS = 365;

export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_MAX_BATCHING_WINDOW_SECONDS = 1;
export const DEFAULT_PARALLELIZATION_FACTOR = 1;
export const DEFAULT_RETRY_ATTEMPTS = 10;
/** 20 h: 4 h below the dev retention of 24 h. */
export const DEV_MAX_RECORD_AGE_SECONDS = 20 * 3600;
/** 6 days: 24 h below the prod retention of 7 days. */
export const PROD_MAX_RECORD_AGE_SECONDS = 6 * 24 * 3600;
export const DEFAULT_RESERVED_CONCURRENCY = null;
export const DEV_LOG_RETENTION_DAYS = 14;
export const PROD_LOG_RETENTION_DAYS = 90;

export const DEFAULT_ETL_ENABLED = true;

/** Minute 0: before the weather function's minute 5 and the ETL's minute 15, which read the export. */
export const DEFAULT_REGISTRY_EXPORT_SCHEDULE = 'cron(0 * * * ? *)';
/** The built-in value; `enabled` then follows the stage's `etl.enabled` unless the stage sets it. */
const DEFAULT_REGISTRY_EXPORT: RegistryExportSettings = {
  enabled: DEFAULT_ETL_ENABLED,
  scheduleExpression: DEFAULT_REGISTRY_EXPORT_SCHEDULE,
};

export const DEFAULT_WEATHER_ENABLED = false;
export const DEFAULT_WEATHER_PROVIDER_URL = 'https://api.open-meteo.com/v1/forecast';
export const DEFAULT_WEATHER_PROVIDER = 'open-meteo';
export const DEFAULT_WEATHER_API_KEY_SECRET_NAME = null;
/** Minute 5: after the hour closes, before the ETL's default minute 15. */
export const DEFAULT_WEATHER_SCHEDULE = 'cron(5 * * * ? *)';
export const DEFAULT_WEATHER_LOOKBACK = 24;
const DEFAULT_WEATHER: WeatherSettings = {
  enabled: DEFAULT_WEATHER_ENABLED,
  providerUrl: DEFAULT_WEATHER_PROVIDER_URL,
  providerName: DEFAULT_WEATHER_PROVIDER,
  apiKeySecretName: DEFAULT_WEATHER_API_KEY_SECRET_NAME,
  scheduleExpression: DEFAULT_WEATHER_SCHEDULE,
  lookbackHours: DEFAULT_WEATHER_LOOKBACK,
};
/**
 * Hourly at minute 15: the raw zone is partitioned by arrival hour, and the validator writes an
 * hour's last objects shortly after the hour ends (batching window, retries with backoff); a quarter
 * of an hour lets that hour settle before the run reads it.
 */
export const DEFAULT_ETL_SCHEDULE_EXPRESSION = 'cron(15 * * * ? *)';
/** At most one device-hour in twenty may fail its data-quality checks before a run fails. */
export const DEFAULT_ETL_DQ_SCORE_THRESHOLD = 0.95;
export const DEFAULT_ETL_WORKER_TYPE: EtlWorkerType = 'G.1X';
/** Glue's minimum for G.1X: an hour of a small fleet is megabytes, not gigabytes. */
export const DEV_ETL_NUMBER_OF_WORKERS = 2;
/** Each run also reads a week of context (prior device-hour statistics): twice dev's workers. */
export const PROD_ETL_NUMBER_OF_WORKERS = 4;
/**
 * Half the hourly period: a run of one hour takes a few minutes of Spark; the rest is room for a
 * slow start, while a stuck run is stopped before the next scheduled run begins.
 */
export const DEFAULT_ETL_TIMEOUT_MINUTES = 30;
/** In order: each backfill run reads the hours rebuilt before it (see `backfillMaxConcurrency`). */
export const DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY = 1;
/** Backfills are not urgent: Flex costs about a third less per DPU-hour (AWS-FACTS) for a later start. */
export const DEFAULT_ETL_BACKFILL_EXECUTION_CLASS: EtlExecutionClass = 'FLEX';

export const DEFAULT_IOT_LOGGING: IotLoggingSettings = { enabled: true, level: 'WARN' };
export const DEFAULT_ON_CALL_EMAILS: readonly string[] = [];

export const DEV_WAREHOUSE_ENABLED = false;
export const PROD_WAREHOUSE_ENABLED = true;
/** The smallest general base capacity (4 RPU caps storage and concurrency). */
export const DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU = 8;
export const DEFAULT_WAREHOUSE_DATABASE_NAME = 'sdap';
const warehouseDefaults = (enabled: boolean): WarehouseSettings => ({
  enabled,
  baseCapacityRpu: DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU,
  databaseName: DEFAULT_WAREHOUSE_DATABASE_NAME,
});

/** Off everywhere: QuickSight needs an Enterprise subscription and a group, which only the account owner can name. */
export const DEFAULT_QUICKSIGHT_ENABLED = false;
export const DEFAULT_QUICKSIGHT_GROUP_ARN = null;
export const DEFAULT_QUICKSIGHT_GROUP_NAME = null;
export const DEFAULT_QUICKSIGHT_NAMESPACE = 'default';
const DEFAULT_QUICKSIGHT: QuickSightSettings = {
  enabled: DEFAULT_QUICKSIGHT_ENABLED,
  groupArn: DEFAULT_QUICKSIGHT_GROUP_ARN,
  groupName: DEFAULT_QUICKSIGHT_GROUP_NAME,
  namespace: DEFAULT_QUICKSIGHT_NAMESPACE,
};

export const DEV_ENDPOINTS_ENABLED = false;
export const PROD_ENDPOINTS_ENABLED = true;
/** The smallest general type: dev traffic is a few calls a second at most. */
export const DEV_ENDPOINT_INSTANCE_TYPE = 'ml.t2.medium';
/** Two vCPUs and no burst credits to run out of under steady stream traffic. */
export const PROD_ENDPOINT_INSTANCE_TYPE = 'ml.m5.large';
export const DEV_ENDPOINT_INSTANCE_COUNT = 1;
/** The least a production variant may run (RELIABILITY: >= 2 instances in production). */
export const PROD_ENDPOINT_INSTANCE_COUNT = 2;
/** The fewest instances a stage that retains its data may run per variant. */
export const MIN_RETAINED_STAGE_ENDPOINT_INSTANCE_COUNT = 2;
export const DEV_ENDPOINT_MAX_INSTANCE_COUNT = 2;
/** Twice the minimum: room for a surge (a replay of the stream) without an unbounded bill. */
export const PROD_ENDPOINT_MAX_INSTANCE_COUNT = 4;
/**
 * A conservative start until a load test says otherwise: scoring a batch of 100 readings takes about
 * 25 ms of one core (xgboost 1.7.4, a model the size of the anomaly model's 200 trees of depth 6,
 * CSV parsing included), so a two-vCPU instance answers well over 30 calls a second; 1000 a minute
 * (about 17 a second) keeps each instance near half of that.
 */
export const DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE = 1000;
export const DEFAULT_CHALLENGER_TRAFFIC_PERCENT = 0;
/** The highest share a challenger may take: above it, the challenger would be the champion. */
export const MAX_CHALLENGER_TRAFFIC_PERCENT = 50;
/** Dev traffic is small: capture all of it to see what the models receive. */
export const DEV_DATA_CAPTURE_PERCENT = 100;
/** A tenth of the stream's batches is ample for drift analysis at a tenth of the S3 writes. */
export const PROD_DATA_CAPTURE_PERCENT = 10;
const endpointDefaults = (stage: StageName): ModelEndpointSettings => ({
  enabled: stage === 'prod' ? PROD_ENDPOINTS_ENABLED : DEV_ENDPOINTS_ENABLED,
  instanceType: stage === 'prod' ? PROD_ENDPOINT_INSTANCE_TYPE : DEV_ENDPOINT_INSTANCE_TYPE,
  instanceCount: stage === 'prod' ? PROD_ENDPOINT_INSTANCE_COUNT : DEV_ENDPOINT_INSTANCE_COUNT,
  maxInstanceCount: stage === 'prod' ? PROD_ENDPOINT_MAX_INSTANCE_COUNT : DEV_ENDPOINT_MAX_INSTANCE_COUNT,
  targetInvocationsPerInstance: DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE,
  challengerTrafficPercent: DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
  dataCapturePercent: stage === 'prod' ? PROD_DATA_CAPTURE_PERCENT : DEV_DATA_CAPTURE_PERCENT,
});

export const DEV_TRAINING_ENABLED = false;
export const PROD_TRAINING_ENABLED = true;
/** Mondays at 03:00 UTC: a week of new data, and a quiet hour to evaluate and deploy in. */
export const DEFAULT_TRAINING_SCHEDULE_EXPRESSION = 'cron(0 3 ? * MON *)';
/**
 * Four vCPUs (the hist method uses them all) and 16 GiB: three months of device-hours of 10,000
 * devices (about 22 million rows of 28 features, 2.4 GB as float32) fit in memory.
 */
export const DEFAULT_TRAINING_INSTANCE_TYPE = 'ml.m5.xlarge';
const trainingDefaults = (stage: StageName): ModelTrainingSettings => ({
  enabled: stage === 'prod' ? PROD_TRAINING_ENABLED : DEV_TRAINING_ENABLED,
  scheduleExpression: DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
  instanceType: DEFAULT_TRAINING_INSTANCE_TYPE,
});

export const DEFAULT_REPLICATION_ENABLED = false;
export const DEFAULT_REPLICATION_DESTINATION_REGION = null;
/** Every data bucket: raw and quarantine hold what nothing can produce again, failures what awaits a replay. */
export const DEFAULT_REPLICATED_ZONES: readonly ReplicableZone[] = [
  'raw',
  'quarantine',
  'failures',
  'curated',
];
/** The only bound AWS gives on replication time (15 minutes); the seed asks for a recovery point within the hour. */
export const DEFAULT_REPLICATION_TIME_CONTROL = true;
export const DEFAULT_REPLICA_STORAGE_CLASS: ReplicaStorageClass = 'STANDARD';
const DEFAULT_REPLICATION: LakeReplicationSettings = {
  enabled: DEFAULT_REPLICATION_ENABLED,
  destinationRegion: DEFAULT_REPLICATION_DESTINATION_REGION,
  zones: DEFAULT_REPLICATED_ZONES,
  replicationTimeControl: DEFAULT_REPLICATION_TIME_CONTROL,
  storageClass: DEFAULT_REPLICA_STORAGE_CLASS,
};
export const DEV_WAREHOUSE_SNAPSHOTS_ENABLED = false;
export const PROD_WAREHOUSE_SNAPSHOTS_ENABLED = true;
/** Daily at 02:45 UTC: after the 02:15 ETL run has loaded its window, in a quiet hour. */
export const DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE = 'cron(45 2 * * ? *)';
/**
 * Two weeks of daily restore points beyond the 24 hours of recovery points: a bad migration or load
 * found a week later can still be undone, and erased rows leave the backups within the month the
 * lake's noncurrent versions take.
 */
export const DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS = 14;
/** Redshift's longest snapshot retention (ten years); keeping one forever is not offered. */
export const MAX_WAREHOUSE_SNAPSHOT_RETENTION_DAYS = 3653;
const disasterRecoveryDefaults = (stage: StageName): DisasterRecoverySettings => ({
  replication: DEFAULT_REPLICATION,
  warehouseSnapshots: {
    enabled: stage === 'prod' ? PROD_WAREHOUSE_SNAPSHOTS_ENABLED : DEV_WAREHOUSE_SNAPSHOTS_ENABLED,
    scheduleExpression: DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE,
    retentionDays: DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS,
  },
});

/** The built-in settings of each stage, before context overrides. */
export const STAGE_DEFAULTS: Readonly<Record<StageName, StageSettings>> = {
  dev: {
    removalPolicy: DEV_REMOVAL_POLICY,
    stream: { capacity: DEV_STREAM_CAPACITY, retentionHours: DEV_STREAM_RETENTION_HOURS },
    lake: {
      raw: DEV_RAW_LIFECYCLE,
      quarantine: DEV_QUARANTINE_LIFECYCLE,
      failures: DEV_FAILURES_LIFECYCLE,
      curated: DEV_CURATED_LIFECYCLE,
      noncurrentVersionExpireAfterDays: DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS,
      accessLogsExpireAfterDays: DEV_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
    },
    validator: {
      batchSize: DEFAULT_BATCH_SIZE,
      maxBatchingWindowSeconds: DEFAULT_MAX_BATCHING_WINDOW_SECONDS,
      parallelizationFactor: DEFAULT_PARALLELIZATION_FACTOR,
      retryAttempts: DEFAULT_RETRY_ATTEMPTS,
      maxRecordAgeSeconds: DEV_MAX_RECORD_AGE_SECONDS,
      reservedConcurrency: DEFAULT_RESERVED_CONCURRENCY,
      logRetentionDays: DEV_LOG_RETENTION_DAYS,
    },
    iotLogging: DEFAULT_IOT_LOGGING,
    etl: {
      enabled: DEFAULT_ETL_ENABLED,
      scheduleExpression: DEFAULT_ETL_SCHEDULE_EXPRESSION,
      dqScoreThreshold: DEFAULT_ETL_DQ_SCORE_THRESHOLD,
      workerType: DEFAULT_ETL_WORKER_TYPE,
      numberOfWorkers: DEV_ETL_NUMBER_OF_WORKERS,
      timeoutMinutes: DEFAULT_ETL_TIMEOUT_MINUTES,
      backfillMaxConcurrency: DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY,
      backfillExecutionClass: DEFAULT_ETL_BACKFILL_EXECUTION_CLASS,
      logRetentionDays: DEV_LOG_RETENTION_DAYS,
    },
    registryExport: DEFAULT_REGISTRY_EXPORT,
    weather: DEFAULT_WEATHER,
    warehouse: warehouseDefaults(DEV_WAREHOUSE_ENABLED),
    quicksight: DEFAULT_QUICKSIGHT,
    onCallEmails: DEFAULT_ON_CALL_EMAILS,
    ml: { endpoints: endpointDefaults('dev'), training: trainingDefaults('dev') },
    disasterRecovery: disasterRecoveryDefaults('dev'),
  },
  prod: {
    removalPolicy: PROD_REMOVAL_POLICY,
    stream: { capacity: PROD_STREAM_CAPACITY, retentionHours: PROD_STREAM_RETENTION_HOURS },
    lake: {
      raw: PROD_RAW_LIFECYCLE,
      quarantine: PROD_QUARANTINE_LIFECYCLE,
      failures: PROD_FAILURES_LIFECYCLE,
      curated: PROD_CURATED_LIFECYCLE,
      noncurrentVersionExpireAfterDays: DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS,
      accessLogsExpireAfterDays: PROD_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
    },
    validator: {
      batchSize: DEFAULT_BATCH_SIZE,
      maxBatchingWindowSeconds: DEFAULT_MAX_BATCHING_WINDOW_SECONDS,
      parallelizationFactor: DEFAULT_PARALLELIZATION_FACTOR,
      retryAttempts: DEFAULT_RETRY_ATTEMPTS,
      maxRecordAgeSeconds: PROD_MAX_RECORD_AGE_SECONDS,
      reservedConcurrency: DEFAULT_RESERVED_CONCURRENCY,
      logRetentionDays: PROD_LOG_RETENTION_DAYS,
    },
    iotLogging: DEFAULT_IOT_LOGGING,
    etl: {
      enabled: DEFAULT_ETL_ENABLED,
      scheduleExpression: DEFAULT_ETL_SCHEDULE_EXPRESSION,
      dqScoreThreshold: DEFAULT_ETL_DQ_SCORE_THRESHOLD,
      workerType: DEFAULT_ETL_WORKER_TYPE,
      numberOfWorkers: PROD_ETL_NUMBER_OF_WORKERS,
      timeoutMinutes: DEFAULT_ETL_TIMEOUT_MINUTES,
      backfillMaxConcurrency: DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY,
      backfillExecutionClass: DEFAULT_ETL_BACKFILL_EXECUTION_CLASS,
      logRetentionDays: PROD_LOG_RETENTION_DAYS,
    },
    registryExport: DEFAULT_REGISTRY_EXPORT,
    weather: DEFAULT_WEATHER,
    warehouse: warehouseDefaults(PROD_WAREHOUSE_ENABLED),
    quicksight: DEFAULT_QUICKSIGHT,
    onCallEmails: DEFAULT_ON_CALL_EMAILS,
    ml: { endpoints: endpointDefaults('prod'), training: trainingDefaults('prod') },
    disasterRecovery: disasterRecoveryDefaults('prod'),
  },
};

// Each schema states what it allows once, in words; the same words are the error's "expected".
const integer = (min: number, max: number, unit = 'an integer') => {
  const expected = `${unit} from ${min} to ${max}`;
  return z
    .number({ error: expected })
    .int({ error: expected })
    .min(min, { error: expected })
    .max(max, { error: expected });
};
const days = (min: number) => {
  const expected = `null (never) or a whole number of days from ${min} to 36500`;
  return z
    .number({ error: expected })
    .int({ error: expected })
    .min(min, { error: expected })
    .max(36500, { error: expected })
    .nullable();
};
const flag = z.boolean({ error: 'true or false' });

const lifecycleSchema = z
  .strictObject({
    infrequentAccessAfterDays: days(30),
    archiveAfterDays: days(1),
    expireAfterDays: days(1),
  })
  .superRefine((lifecycle, ctx) => {
    const { infrequentAccessAfterDays: ia, archiveAfterDays: archive, expireAfterDays: expire } = lifecycle;
    if (ia !== null && archive !== null && archive < ia + 30) {
      ctx.addIssue({
        code: 'custom',
        path: ['archiveAfterDays'],
        message: `at least 30 days after infrequentAccessAfterDays (${ia}), i.e. >= ${ia + 30}, or null`,
      });
    }
    const lastTransition = Math.max(ia ?? 0, archive ?? 0);
    if (expire !== null && expire <= lastTransition) {
      ctx.addIssue({
        code: 'custom',
        path: ['expireAfterDays'],
        message: `later than the last storage-class transition (day ${lastTransition}), or null`,
      });
    }
  });

const logRetentionDaysSchema = z
  .number({ error: `one of ${LOG_RETENTION_DAYS.join(', ')}` })
  .refine((value) => (LOG_RETENTION_DAYS as readonly number[]).includes(value), {
    error: `one of ${LOG_RETENTION_DAYS.join(', ')}`,
  });

/** The longest schedule period the ETL accepts: a week of hours is still one workflow execution. */
export const MAX_ETL_SCHEDULE_PERIOD_HOURS = 168;
const scheduleExpected =
  'an EventBridge Scheduler expression firing every N hours or days: rate(N hours), rate(N days), cron(M * * * ? *), cron(M 0/N * * ? *) with N dividing 24, or cron(M H * * ? *)';

/**
 * Hours between two runs of an ETL schedule expression, or `undefined` when the expression is not
 * one of the regular shapes the ETL accepts (it must know the period to choose each run's window).
 *
 * @example schedulePeriodHours('cron(15 * * * ? *)') // 1
 */
export function schedulePeriodHours(expression: string): number | undefined {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const count = Number(rate[1]);
    const unit = rate[2] as string;
    if (count < 1 || (count === 1) !== !unit.endsWith('s')) return undefined;
    const hours = unit.startsWith('minute') ? count / 60 : unit.startsWith('hour') ? count : count * 24;
    return Number.isInteger(hours) && hours <= MAX_ETL_SCHEDULE_PERIOD_HOURS ? hours : undefined;
  }
  const cron = /^cron\((\d{1,2}) (\S+) \* \* \? \*\)$/.exec(expression);
  if (!cron || Number(cron[1]) > 59) return undefined;
  const hourField = cron[2] as string;
  if (hourField === '*') return 1;
  const every = /^(?:\*|0)\/(\d{1,2})$/.exec(hourField);
  if (every) {
    const step = Number(every[1]);
    return step >= 1 && 24 % step === 0 ? step : undefined;
  }
  return /^\d{1,2}$/.test(hourField) && Number(hourField) <= 23 ? 24 : undefined;
}

const etlSchema = z
  .strictObject({
    enabled: flag,
    scheduleExpression: z
      .string({ error: scheduleExpected })
      .refine((value) => schedulePeriodHours(value) !== undefined, { error: scheduleExpected }),
    dqScoreThreshold: z
      .number({ error: 'a number from 0 to 1' })
      .min(0, { error: 'a number from 0 to 1' })
      .max(1, { error: 'a number from 0 to 1' }),
    workerType: z.enum(ETL_WORKER_TYPES, { error: `one of ${ETL_WORKER_TYPES.join(', ')}` }),
    numberOfWorkers: integer(2, 299),
    timeoutMinutes: integer(1, 2880, 'a whole number of minutes'),
    backfillMaxConcurrency: integer(1, 40),
    backfillExecutionClass: z.enum(ETL_EXECUTION_CLASSES, {
      error: `one of ${ETL_EXECUTION_CLASSES.join(', ')}`,
    }),
    logRetentionDays: logRetentionDaysSchema,
  })
  .superRefine((etl, ctx) => {
    const periodHours = schedulePeriodHours(etl.scheduleExpression);
    if (periodHours !== undefined && etl.timeoutMinutes >= periodHours * 60) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeoutMinutes'],
        message: `below the schedule period of ${periodHours * 60} minutes (${etl.scheduleExpression}), or a slow run overlaps the next`,
      });
    }
    if (etl.backfillExecutionClass === 'FLEX' && !FLEX_WORKER_TYPES.includes(etl.workerType)) {
      ctx.addIssue({
        code: 'custom',
        path: ['workerType'],
        message: `one of ${FLEX_WORKER_TYPES.join(', ')} while backfillExecutionClass is FLEX (Flex runs on no other worker type)`,
      });
    }
  });

const schedulerExpressionExpected = 'an EventBridge Scheduler expression: rate(...) or cron(...)';
const registryExportSchema = z.strictObject({
  enabled: flag,
  scheduleExpression: z
    .string({ error: schedulerExpressionExpected })
    .regex(/^(rate|cron)\(.+\)$/, { error: schedulerExpressionExpected }),
});

const weatherSchema = z.strictObject({
  enabled: flag,
  providerUrl: z
    .string({ error: 'an https:// URL' })
    .refine((value) => URL.canParse(value) && new URL(value).protocol === 'https:', {
      error: 'an https:// URL',
    }),
  providerName: z
    .string({ error: 'a name of letters, digits, dot, dash or underscore (at most 64)' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: 'a name of letters, digits, dot, dash or underscore (at most 64)',
    }),
  apiKeySecretName: z
    .string({ error: 'a Secrets Manager secret name, or null' })
    .regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, { error: 'a Secrets Manager secret name, or null' })
    .nullable(),
  scheduleExpression: z
    .string({ error: 'an EventBridge Scheduler expression: rate(...) or cron(...)' })
    .regex(/^(rate|cron)\(.+\)$/, { error: 'an EventBridge Scheduler expression: rate(...) or cron(...)' }),
  lookbackHours: integer(1, 744, 'a whole number of hours'),
});

const baseCapacityExpected = '4, or a multiple of 8 from 8 to 1024 (RPUs)';
const warehouseSchema = z.strictObject({
  enabled: flag,
  baseCapacityRpu: z
    .number({ error: baseCapacityExpected })
    .refine((rpu) => rpu === 4 || (Number.isInteger(rpu) && rpu >= 8 && rpu <= 1024 && rpu % 8 === 0), {
      error: baseCapacityExpected,
    }),
  databaseName: z
    .string({ error: 'a lowercase letter, then lowercase letters, digits or underscores (at most 64)' })
    .regex(/^[a-z][a-z0-9_]{0,63}$/, {
      error: 'a lowercase letter, then lowercase letters, digits or underscores (at most 64)',
    }),
});

const groupArnExpected =
  'a QuickSight group ARN (arn:aws:quicksight:<region>:<account>:group/<namespace>/<name>), or null';
const quickSightSchema = z
  .strictObject({
    enabled: flag,
    groupArn: z
      .string({ error: groupArnExpected })
      .regex(/^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:group\/[A-Za-z0-9._-]+\/[^/]+$/, {
        error: groupArnExpected,
      })
      .nullable(),
    groupName: z
      .string({ error: 'a QuickSight group name (at most 256 characters, no slash), or null' })
      .regex(/^[^/]{1,256}$/, {
        error: 'a QuickSight group name (at most 256 characters, no slash), or null',
      })
      .nullable(),
    namespace: z
      .string({ error: 'a QuickSight namespace name: letters, digits, dot, dash or underscore (at most 64)' })
      .regex(/^[A-Za-z0-9._-]{1,64}$/, {
        error: 'a QuickSight namespace name: letters, digits, dot, dash or underscore (at most 64)',
      }),
  })
  .superRefine((quicksight, ctx) => {
    if (quicksight.enabled && quicksight.groupArn === null && quicksight.groupName === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['groupArn'],
        message:
          'a QuickSight group ARN, or quicksight.groupName, while quicksight.enabled is true (the datasets are shared with that group)',
      });
    }
  });

const instanceTypeExpected = 'a SageMaker instance type: ml.<family>.<size>, such as ml.m5.large';
const instanceTypeSchema = z
  .string({ error: instanceTypeExpected })
  .regex(/^ml\.[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: instanceTypeExpected });
const endpointsSchema = z
  .strictObject(
    {
      enabled: flag,
      instanceType: instanceTypeSchema,
      instanceCount: integer(1, 100),
      maxInstanceCount: integer(1, 100),
      targetInvocationsPerInstance: integer(1, 1_000_000, 'a whole number of invocations a minute'),
      challengerTrafficPercent: integer(0, MAX_CHALLENGER_TRAFFIC_PERCENT, 'a whole percent'),
      dataCapturePercent: integer(0, 100, 'a whole percent'),
    },
    { error: 'an object of endpoint settings' },
  )
  .superRefine((endpoints, ctx) => {
    const { instanceCount, maxInstanceCount } = endpoints;
    if (
      Number.isInteger(instanceCount) &&
      Number.isInteger(maxInstanceCount) &&
      maxInstanceCount < instanceCount
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxInstanceCount'],
        message: `at least ml.endpoints.instanceCount (${endpoints.instanceCount})`,
      });
    }
  });
const trainingSchema = z.strictObject(
  {
    enabled: flag,
    scheduleExpression: z
      .string({ error: schedulerExpressionExpected })
      .regex(/^(rate|cron)\(.+\)$/, { error: schedulerExpressionExpected }),
    instanceType: instanceTypeSchema,
  },
  { error: 'an object of training settings' },
);

const regionExpected = 'an AWS region name such as eu-west-1';
const disasterRecoverySchema = z.strictObject(
  {
    replication: z.strictObject(
      {
        enabled: flag,
        destinationRegion: z
          .string({ error: `${regionExpected}, or null` })
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: `${regionExpected}, or null` })
          .nullable(),
        zones: z
          .array(z.enum(REPLICABLE_ZONES, { error: `one of ${REPLICABLE_ZONES.join(', ')}` }), {
            error: `an array of zones from ${REPLICABLE_ZONES.join(', ')}`,
          })
          .min(1, { error: `at least one zone from ${REPLICABLE_ZONES.join(', ')}` })
          .refine((zones) => new Set(zones).size === zones.length, { error: 'each zone at most once' }),
        replicationTimeControl: flag,
        storageClass: z.enum(REPLICA_STORAGE_CLASSES, {
          error: `one of ${REPLICA_STORAGE_CLASSES.join(', ')}`,
        }),
      },
      { error: 'an object of replication settings' },
    ),
    warehouseSnapshots: z.strictObject(
      {
        enabled: flag,
        scheduleExpression: z
          .string({ error: schedulerExpressionExpected })
          .regex(/^(rate|cron)\(.+\)$/, { error: schedulerExpressionExpected }),
        retentionDays: integer(1, MAX_WAREHOUSE_SNAPSHOT_RETENTION_DAYS, 'a whole number of days'),
      },
      { error: 'an object of warehouse snapshot settings' },
    ),
  },
  { error: 'an object with the keys replication and warehouseSnapshots' },
);

const capacityExpected = `{"mode":"on-demand"} or {"mode":"provisioned","shardCount":<integer>}`;
const capacitySchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({ mode: z.literal('on-demand') }),
    z.strictObject({ mode: z.literal('provisioned'), shardCount: integer(1, 10_000) }),
  ],
  { error: capacityExpected },
);

const stageSettingsSchema = z
  .strictObject({
    account: z
      .string({ error: 'a 12-digit AWS account id' })
      .regex(/^\d{12}$/, { error: 'a 12-digit AWS account id' })
      .optional(),
    region: z
      .string({ error: 'an AWS region name such as eu-west-1' })
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'an AWS region name such as eu-west-1' })
      .optional(),
    removalPolicy: z.enum(['destroy', 'retain'], { error: "'destroy' or 'retain'" }),
    stream: z.strictObject({
      capacity: capacitySchema,
      retentionHours: integer(24, 8760, 'a whole number of hours'),
    }),
    lake: z.strictObject({
      raw: lifecycleSchema,
      quarantine: lifecycleSchema,
      failures: lifecycleSchema,
      curated: lifecycleSchema,
      noncurrentVersionExpireAfterDays: integer(1, 36500, 'a whole number of days'),
      accessLogsExpireAfterDays: integer(1, 36500, 'a whole number of days'),
    }),
    validator: z.strictObject({
      batchSize: integer(1, 10_000),
      maxBatchingWindowSeconds: integer(0, 300, 'a whole number of seconds'),
      parallelizationFactor: integer(1, 10),
      retryAttempts: integer(0, 10_000),
      maxRecordAgeSeconds: integer(60, MAX_EVENT_SOURCE_RECORD_AGE_SECONDS, 'a whole number of seconds'),
      reservedConcurrency: integer(1, 10_000).nullable(),
      logRetentionDays: logRetentionDaysSchema,
    }),
    iotLogging: z.strictObject({
      enabled: flag,
      level: z.enum(IOT_LOG_LEVELS, { error: `one of ${IOT_LOG_LEVELS.join(', ')}` }),
    }),
    etl: etlSchema,
    registryExport: registryExportSchema,
    weather: weatherSchema,
    warehouse: warehouseSchema,
    quicksight: quickSightSchema,
    onCallEmails: z.array(z.email({ error: 'an e-mail address' }), { error: 'an array of e-mail addresses' }),
    ml: z.strictObject(
      { endpoints: endpointsSchema, training: trainingSchema },
      { error: 'an object with the keys endpoints and training' },
    ),
    disasterRecovery: disasterRecoverySchema,
  })
  .superRefine((settings, ctx) => {
    if (settings.weather.enabled && !settings.registryExport.enabled) {
      ctx.addIssue({
        code: 'custom',
        path: ['weather', 'enabled'],
        message:
          'false while registryExport.enabled is false (the weather function reads its sites from the registry export; registryExport.enabled follows etl.enabled unless set)',
      });
    }
    const replication = settings.disasterRecovery?.replication;
    if (replication?.enabled === true) {
      if (replication.destinationRegion === null) {
        ctx.addIssue({
          code: 'custom',
          path: ['disasterRecovery', 'replication', 'destinationRegion'],
          message: `${regionExpected} while disasterRecovery.replication.enabled is true (the region of the replicas)`,
        });
      } else if (settings.region === replication.destinationRegion) {
        ctx.addIssue({
          code: 'custom',
          path: ['disasterRecovery', 'replication', 'destinationRegion'],
          message: `a region other than the stage's region ${settings.region} (a replica in the same region survives no regional outage)`,
        });
      }
    }
    if (settings.quicksight.enabled && !settings.warehouse.enabled) {
      ctx.addIssue({
        code: 'custom',
        path: ['quicksight', 'enabled'],
        message: 'false while warehouse.enabled is false (the QuickSight datasets read the warehouse)',
      });
    }
    if (settings.ml?.training?.enabled === true && settings.ml.endpoints?.enabled === false) {
      ctx.addIssue({
        code: 'custom',
        path: ['ml', 'training', 'enabled'],
        message:
          'false while ml.endpoints.enabled is false (the training workflow scores the serving champion and updates its endpoint)',
      });
    }
    // A count already reported as invalid is not compared again.
    const endpoints = settings.ml?.endpoints;
    if (
      settings.removalPolicy === 'retain' &&
      endpoints?.enabled === true &&
      Number.isInteger(endpoints.instanceCount) &&
      endpoints.instanceCount < MIN_RETAINED_STAGE_ENDPOINT_INSTANCE_COUNT
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['ml', 'endpoints', 'instanceCount'],
        message: `at least ${MIN_RETAINED_STAGE_ENDPOINT_INSTANCE_COUNT} while removalPolicy is retain (a production stage: with one instance per variant, one instance failure takes the endpoint down)`,
      });
    }
    const { retentionHours } = settings.stream;
    // A retention outside its range is already reported; comparing against it would only add noise.
    if (!Number.isInteger(retentionHours) || retentionHours < 24 || retentionHours > 8760) return;
    const retentionSeconds = retentionHours * 3600;
    if (settings.validator.maxRecordAgeSeconds >= retentionSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['validator', 'maxRecordAgeSeconds'],
        message: `below the stream retention of ${settings.stream.retentionHours} h (${retentionSeconds} s), or records expire before reaching the on-failure destination`,
      });
    }
  });

type DeepReadonly<T> = T extends readonly (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
// Fails to compile when the schema and the documented interface drift apart.
const schemaMatchesInterface: Same<
  DeepReadonly<z.output<typeof stageSettingsSchema>>,
  DeepReadonly<StageSettings>
> = true;
void schemaMatchesInterface;

/** A stage configuration that cannot be used; the message lists every problem, one per line. */
export class StageConfigError extends Error {
  override readonly name = 'StageConfigError';
}

/**
 * Builds and validates the configuration of a stage from its built-in defaults and an optional
 * override (an object, or its JSON text, as CDK passes `-c` values).
 *
 * @throws StageConfigError naming the key, the value received and what is allowed
 */
export function buildStageConfig(stage: unknown = DEFAULT_STAGE, override?: unknown): StageConfig {
  if (!isStageName(stage)) {
    throw new StageConfigError(
      `context '${STAGE_CONTEXT_KEY}': received ${show(stage)}, expected one of the known stages: ${STAGE_NAMES.join(', ')}`,
    );
  }
  const overrideObject = parseOverride(stage, override);
  const merged = followEndpoints(
    followEtl(mergeOverride(STAGE_DEFAULTS[stage], overrideObject), overrideObject),
    overrideObject,
  );
  const result = stageSettingsSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => describeIssue(issue, merged));
    throw new StageConfigError(lines.map((line) => `stage '${stage}': ${line}`).join('\n'));
  }
  return { stage, ...result.data };
}

/** Reads the stage and its override from the context of `scope` (normally the App) and validates them. */
export function loadStageConfig(scope: IConstruct): StageConfig {
  const stage = scope.node.tryGetContext(STAGE_CONTEXT_KEY) ?? DEFAULT_STAGE;
  const override = isStageName(stage) ? scope.node.tryGetContext(stageOverrideContextKey(stage)) : undefined;
  return buildStageConfig(stage, override);
}

function isStageName(value: unknown): value is StageName {
  return typeof value === 'string' && (STAGE_NAMES as readonly string[]).includes(value);
}

function parseOverride(stage: StageName, override: unknown): Record<string, unknown> {
  const key = stageOverrideContextKey(stage);
  let value = override;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new StageConfigError(`context '${key}': received ${show(override)}, expected a JSON object`);
    }
  }
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    throw new StageConfigError(`context '${key}': received ${show(override)}, expected a JSON object`);
  }
  return value;
}

/**
 * Merges `override` over `base` key by key. Arrays and objects with a `mode` discriminator (the
 * stream capacity) replace the default whole: merging `{"mode":"on-demand"}` into a provisioned
 * capacity must not keep its `shardCount`.
 */
function mergeOverride(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override) || 'mode' in override) return override;
  const keys = new Set([...Object.keys(base), ...Object.keys(override)]);
  // Object.fromEntries defines own properties, so a `__proto__` key cannot reach the prototype.
  return Object.fromEntries(
    [...keys].map((key) => [
      key,
      Object.hasOwn(override, key)
        ? mergeOverride(Object.hasOwn(base, key) ? base[key] : undefined, override[key])
        : base[key],
    ]),
  );
}

/**
 * `registryExport.enabled` takes the stage's `etl.enabled` unless the override sets it (an invalid
 * `etl.enabled` is reported on its own key, not copied).
 */
function followEtl(merged: unknown, override: Record<string, unknown>): unknown {
  const registryOverride = Object.hasOwn(override, 'registryExport') ? override.registryExport : undefined;
  if (isPlainObject(registryOverride) && Object.hasOwn(registryOverride, 'enabled')) return merged;
  if (!isPlainObject(merged) || !isPlainObject(merged.etl) || !isPlainObject(merged.registryExport)) {
    return merged;
  }
  const etlEnabled = merged.etl.enabled;
  if (typeof etlEnabled !== 'boolean') return merged;
  return { ...merged, registryExport: { ...merged.registryExport, enabled: etlEnabled } };
}

/**
 * `ml.training.enabled` is switched off with `ml.endpoints.enabled` unless the override sets it: a
 * stage that turns its endpoints off has no champion to train against.
 */
function followEndpoints(merged: unknown, override: Record<string, unknown>): unknown {
  const ml = Object.hasOwn(override, 'ml') ? override.ml : undefined;
  const training = isPlainObject(ml) && Object.hasOwn(ml, 'training') ? ml.training : undefined;
  if (isPlainObject(training) && Object.hasOwn(training, 'enabled')) return merged;
  if (!isPlainObject(merged) || !isPlainObject(merged.ml)) return merged;
  const { endpoints, training: mergedTraining } = merged.ml;
  if (!isPlainObject(endpoints) || !isPlainObject(mergedTraining) || endpoints.enabled !== false)
    return merged;
  return { ...merged, ml: { ...merged.ml, training: { ...mergedTraining, enabled: false } } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string[] {
  if (issue.code === 'unrecognized_keys') {
    const defaults = valueAt(STAGE_DEFAULTS.dev, issue.path);
    const known = isPlainObject(defaults) ? Object.keys(defaults) : [];
    if (issue.path.length === 0) known.push('account', 'region');
    return issue.keys.map((key) => {
      const path = [...issue.path, key];
      return `${formatPath(path)}: received ${show(valueAt(input, path))}, expected no such key (known keys: ${known.join(', ')})`;
    });
  }
  return [
    `${formatPath(issue.path)}: received ${show(valueAt(input, issue.path))}, expected ${issue.message}`,
  ];
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}
