import { ArnFormat, Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { DEVICE_TYPES } from '../../lambdas/shared/contract.ts';
import { ALERTS_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX } from '../../lambdas/shared/pipeline-names.ts';
import { acknowledge, nagReference } from '../nag.ts';
import { rawPartitionColumns, rawTableColumns, rawTableSerdeMappings } from './raw-table-columns.ts';

/**
 * Where things land in the failures bucket. Lambda names the objects of an event source mapping's
 * S3 on-failure destination `aws/lambda/<mapping id>/<shard id>/<yyyy>/<MM>/<dd>/...`; the IoT
 * rule's error action writes under the prefix we give it.
 */
export const FAILURE_PREFIXES = {
  streamFailures: 'aws/lambda/',
  iotRuleErrors: 'iot-rule-errors/',
} as const;
export type FailureSink = keyof typeof FAILURE_PREFIXES;

/** The lake's data buckets by zone, for grants that name a zone and the keys in it. */
export type LakeZone = 'raw' | 'quarantine' | 'curated';

/** Name of the raw table in the Glue database. */
export const RAW_TABLE_NAME = 'raw_telemetry';
/** First day the raw table's date projection enumerates; earlier partitions cannot exist. */
export const RAW_PROJECTION_START_DATE = '2025-01-01';
/** Days after which an unfinished multipart upload is aborted, freeing its parts. */
export const ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS = 7;

/** When objects of a bucket change storage class and expire; `null` leaves that step out. */
export interface BucketLifecycle {
  readonly infrequentAccessAfterDays: number | null;
  readonly archiveAfterDays: number | null;
  readonly expireAfterDays: number | null;
}

/** Keeps objects in S3 Standard and never expires them. */
export const KEEP_FOREVER: BucketLifecycle = {
  infrequentAccessAfterDays: null,
  archiveAfterDays: null,
  expireAfterDays: null,
};
export const DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS = 30;
export const DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS = 365;

export interface TelemetryLakeProps {
  /** Glue database holding the lake's tables; names are per account and region, so include the stage. */
  readonly databaseName: string;
  /**
   * What happens to the key, the buckets and their objects when the stack is deleted. `DESTROY` also
   * empties the buckets (auto-delete objects).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** @default {@link KEEP_FOREVER} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":null} */
  readonly rawLifecycle?: BucketLifecycle;
  /** @default {@link KEEP_FOREVER} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":null} */
  readonly quarantineLifecycle?: BucketLifecycle;
  /** @default {@link KEEP_FOREVER} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":null} */
  readonly failuresLifecycle?: BucketLifecycle;
  /** @default {@link KEEP_FOREVER} = {"infrequentAccessAfterDays":null,"archiveAfterDays":null,"expireAfterDays":null} */
  readonly curatedLifecycle?: BucketLifecycle;
  /**
   * Days an overwritten or deleted object version survives, in every bucket.
   * @default {@link DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS} = 30
   */
  readonly noncurrentVersionExpireAfterDays?: number;
  /** @default {@link DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS} = 365 */
  readonly accessLogsExpireAfterDays?: number;
}

/**
 * The S3 data lake: raw (valid readings), quarantine (rejected input with reasons), failures (what
 * the stream's consumer or the IoT rule could not deliver) and curated (the batch ETL's Parquet),
 * all encrypted with one customer-managed key, versioned and TLS-only, plus their access-log bucket
 * and the Glue catalog of the raw zone.
 */
export class TelemetryLake extends Construct {
  /** Encrypts the lake's buckets; the stack also uses it for the stream and the alert channels. */
  public readonly key: kms.Key;
  public readonly rawBucket: s3.Bucket;
  public readonly quarantineBucket: s3.Bucket;
  public readonly failuresBucket: s3.Bucket;
  /** The batch ETL's output: curated readings, aggregates, data quality and run summaries. */
  public readonly curatedBucket: s3.Bucket;
  /** Receives the server access logs of the other buckets (SSE-S3: log delivery cannot use KMS). */
  public readonly accessLogsBucket: s3.Bucket;
  public readonly database: glue.CfnDatabase;
  public readonly rawTable: glue.CfnTable;
  public readonly databaseName: string;
  public readonly rawTableName: string = RAW_TABLE_NAME;
  private readonly logGroupEncryptionPatterns: string[] = [];

  constructor(scope: Construct, id: string, props: TelemetryLakeProps) {
    super(scope, id);
    // Log delivery through a bucket policy, not the legacy ACL: ACLs are disabled on every bucket
    // here (BucketOwnerEnforced). Set on this scope so the lake does not depend on the app's cdk.json.
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    const noncurrentDays =
      props.noncurrentVersionExpireAfterDays ?? DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS;

    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the telemetry lake, stream and alert channels',
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: destroy ? Duration.days(7) : Duration.days(30),
    });

    // Versioning everywhere: the right-to-erasure procedure rewrites objects and then deletes the
    // old versions, and an accidental overwrite can be undone until the noncurrent version expires.
    const common: s3.BucketProps = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      removalPolicy,
      autoDeleteObjects: destroy,
    };

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      ...common,
      encryption: s3.BucketEncryption.S3_MANAGED,
      lifecycleRules: [
        lifecycleRule(
          {
            ...KEEP_FOREVER,
            expireAfterDays: props.accessLogsExpireAfterDays ?? DEFAULT_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
          },
          noncurrentDays,
        ),
      ],
    });
    acknowledge(
      this.accessLogsBucket,
      'AwsSolutions-S1',
      'This is the server access log bucket; logging its own access would log every log delivery.',
    );

    const dataBucket = (
      bucketId: string,
      logPrefix: string,
      lifecycle: BucketLifecycle,
      extra?: s3.BucketProps,
    ) =>
      new s3.Bucket(this, bucketId, {
        ...common,
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: logPrefix,
        lifecycleRules: [lifecycleRule(lifecycle, noncurrentDays)],
        ...extra,
      });

    this.rawBucket = dataBucket('RawBucket', 'raw/', props.rawLifecycle ?? KEEP_FOREVER);
    this.quarantineBucket = dataBucket(
      'QuarantineBucket',
      'quarantine/',
      props.quarantineLifecycle ?? KEEP_FOREVER,
    );
    // Request metrics per failure prefix: the alarms count objects landing in each failure sink.
    this.failuresBucket = dataBucket('FailuresBucket', 'failures/', props.failuresLifecycle ?? KEEP_FOREVER, {
      metrics: Object.entries(FAILURE_PREFIXES).map(([sink, prefix]) => ({
        id: metricsFilterId(sink),
        prefix,
      })),
    });

    this.curatedBucket = dataBucket('CuratedBucket', 'curated/', props.curatedLifecycle ?? KEEP_FOREVER);

    this.databaseName = props.databaseName;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Stack.of(this).account,
      databaseInput: {
        name: props.databaseName,
        description: 'Smart-device telemetry lake: the raw zone, and the curated tables the ETL keeps',
      },
    });
    this.rawTable = this.createRawTable();
  }

  /**
   * Lets `grantee` write raw objects (`telemetry/*`) and nothing else: PutObject on the prefix and
   * the data key for SSE-KMS.
   */
  public grantWriteRaw(grantee: iam.IGrantable): void {
    this.grantPutUnder(grantee, this.rawBucket, `${RAW_PREFIX}/*`, 'raw objects');
  }

  /**
   * Lets `grantee` write alerts objects (`alerts/*` of the raw bucket) and nothing else: the
   * validator archives every alert it raises there for the batch ETL.
   */
  public grantWriteAlerts(grantee: iam.IGrantable): void {
    this.grantPutUnder(grantee, this.rawBucket, `${ALERTS_PREFIX}/*`, 'alerts objects');
  }

  /** Lets `grantee` write quarantine objects (`rejected/*`) and nothing else. */
  public grantWriteQuarantine(grantee: iam.IGrantable): void {
    this.grantPutUnder(grantee, this.quarantineBucket, `${QUARANTINE_PREFIX}/*`, 'quarantine objects');
  }

  /** Lets `grantee` (the IoT rule's role) write error-action objects under `iot-rule-errors/`. */
  public grantWriteIotRuleErrors(grantee: iam.IGrantable): void {
    this.grantPutUnder(
      grantee,
      this.failuresBucket,
      `${FAILURE_PREFIXES.iotRuleErrors}*`,
      'IoT rule error documents',
    );
  }

  /** The data bucket of `zone`. */
  public bucketOf(zone: LakeZone): s3.Bucket {
    return { raw: this.rawBucket, quarantine: this.quarantineBucket, curated: this.curatedBucket }[zone];
  }

  /**
   * Lets `grantee` read the given keys of `zone` and list under them, with the key to decrypt. A
   * pattern ending in `/` is a prefix (every object under it); any other is one object's key.
   */
  public grantRead(
    grantee: iam.IGrantable,
    zone: LakeZone,
    keyPatterns: readonly string[],
    what: string,
  ): void {
    this.grantObjects(grantee, zone, keyPatterns, ['s3:GetObject'], ['kms:Decrypt'], `Reads ${what}`);
  }

  /**
   * Lets `grantee` read, write and delete objects under the given prefixes of the curated zone (an
   * overwrite of a partition deletes its old files), and list under them.
   */
  public grantReadWriteCurated(grantee: iam.IGrantable, prefixes: readonly string[], what: string): void {
    const notPrefixes = prefixes.filter((prefix) => !prefix.endsWith('/'));
    if (notPrefixes.length > 0) {
      throw new Error(
        `grantReadWriteCurated: received ${JSON.stringify(notPrefixes)}, expected prefixes ending in '/'`,
      );
    }
    this.grantObjects(
      grantee,
      'curated',
      prefixes,
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      ['kms:Decrypt', 'kms:GenerateDataKey'],
      `Rewrites ${what}`,
    );
  }

  /**
   * Lets CloudWatch Logs encrypt the log groups named by `logGroupNamePattern` (`*` allowed) with the
   * lake key, as a log group with a KMS key requires; no other log group may use the key.
   */
  public allowLogGroupEncryption(logGroupNamePattern: string): void {
    const stack = Stack.of(this);
    this.logGroupEncryptionPatterns.push(
      stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: logGroupNamePattern,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    if (this.logGroupEncryptionPatterns.length > 1) return;
    // One statement whose condition lists every pattern (the array is read at synthesis).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': Lazy.list({
              produce: () => this.logGroupEncryptionPatterns,
            }),
          },
        },
      }),
    );
  }

  /**
   * Objects written to one failure sink per period, from the bucket's request metrics. Any datum
   * above zero means records left the happy path and need a look.
   */
  public metricFailureObjectsWritten(sink: FailureSink, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName: 'PutRequests',
      dimensionsMap: { BucketName: this.failuresBucket.bucketName, FilterId: metricsFilterId(sink) },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  private grantPutUnder(grantee: iam.IGrantable, bucket: s3.Bucket, keyPattern: string, what: string): void {
    const objects = bucket.arnForObjects(keyPattern);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [objects] }),
    );
    // SSE-KMS PutObject needs a data key; bucket keys make it one call per bucket key, not per object.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [this.key.keyArn] }),
    );
    acknowledgeObjectWildcard(
      grantee,
      bucket,
      keyPattern,
      `Writes ${what} only; keys are content-derived and not known in advance.`,
    );
  }

  private grantObjects(
    grantee: iam.IGrantable,
    zone: LakeZone,
    keyPatterns: readonly string[],
    objectActions: readonly string[],
    keyActions: readonly string[],
    why: string,
  ): void {
    if (
      keyPatterns.length === 0 ||
      keyPatterns.some((pattern) => pattern === '' || pattern.startsWith('/'))
    ) {
      throw new Error(
        `TelemetryLake grant on ${zone}: received key patterns ${JSON.stringify(keyPatterns)}, expected one or more keys or prefixes, none empty or starting with '/'`,
      );
    }
    const bucket = this.bucketOf(zone);
    // A prefix `p/` grants `p/*` and the bare `p`: Spark probes the directory's own name before
    // listing under it, and a denied probe is an error where a missing object is not.
    const keys = keyPatterns.flatMap((pattern) =>
      pattern.endsWith('/') ? [pattern.slice(0, -1), `${pattern}*`] : [pattern],
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...objectActions],
        resources: keys.map((key) => bucket.arnForObjects(key)),
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': keys } },
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...keyActions], resources: [this.key.keyArn] }),
    );
    for (const pattern of keyPatterns.filter((candidate) => candidate.endsWith('/'))) {
      acknowledgeObjectWildcard(
        grantee,
        bucket,
        `${pattern}*`,
        `${why} under ${pattern} only; object names there are partition paths and run ids not known at deploy time.`,
      );
    }
  }

  private createRawTable(): glue.CfnTable {
    const stack = Stack.of(this);
    const columns = rawTableColumns();
    const location = `s3://${this.rawBucket.bucketName}/${RAW_PREFIX}/`;
    const partitions = rawPartitionColumns();
    const template = `${location}${partitions.map(({ name }) => `${name}=\${${name}}`).join('/')}/`;
    return new glue.CfnTable(this, 'RawTable', {
      catalogId: stack.account,
      databaseName: this.database.ref,
      tableInput: {
        name: RAW_TABLE_NAME,
        description:
          'Valid readings as the devices sent them plus ingest fields; gzip NDJSON, one line a reading',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          compressionType: 'gzip',
          EXTERNAL: 'TRUE',
          // Partition projection: Athena computes the partitions, so none are ever registered.
          'projection.enabled': 'true',
          'projection.device_type.type': 'enum',
          'projection.device_type.values': DEVICE_TYPES.join(','),
          'projection.ingest_date.type': 'date',
          'projection.ingest_date.format': 'yyyy-MM-dd',
          'projection.ingest_date.range': `${RAW_PROJECTION_START_DATE},NOW`,
          'projection.ingest_date.interval': '1',
          'projection.ingest_date.interval.unit': 'DAYS',
          'projection.ingest_hour.type': 'integer',
          'projection.ingest_hour.range': '0,23',
          'projection.ingest_hour.digits': '2',
          'storage.location.template': template,
        },
        partitionKeys: partitions.map(({ name, type }) => ({ name, type })),
        storageDescriptor: {
          location,
          compressed: true,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'ignore.malformed.json': 'false', ...rawTableSerdeMappings(columns) },
          },
          columns: columns.map(({ name, type, comment }) => ({ name, type, comment })),
        },
      },
    });
  }
}

/** The request-metrics filter id of a failure sink (letters and digits only). */
function metricsFilterId(sink: string): string {
  return sink.charAt(0).toUpperCase() + sink.slice(1);
}

/**
 * The lifecycle rule every lake bucket carries: storage-class steps and expiry of current objects,
 * expiry of noncurrent versions after `noncurrentDays`, and the clean-up of abandoned uploads.
 * Replica buckets in another region reuse it, so a replica ages like its source.
 */
export function lifecycleRule(lifecycle: BucketLifecycle, noncurrentDays: number): s3.LifecycleRule {
  const transitions: s3.Transition[] = [];
  if (lifecycle.infrequentAccessAfterDays !== null) {
    transitions.push({
      storageClass: s3.StorageClass.INFREQUENT_ACCESS,
      transitionAfter: Duration.days(lifecycle.infrequentAccessAfterDays),
    });
  }
  if (lifecycle.archiveAfterDays !== null) {
    transitions.push({
      storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
      transitionAfter: Duration.days(lifecycle.archiveAfterDays),
    });
  }
  return {
    id: 'tiering-and-expiry',
    enabled: true,
    transitions,
    expiration: lifecycle.expireAfterDays === null ? undefined : Duration.days(lifecycle.expireAfterDays),
    noncurrentVersionExpiration: Duration.days(noncurrentDays),
    abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS),
  };
}

/** Acknowledges the one IAM5 finding a prefix grant on `bucket` produces, on the grantee's policy. */
function acknowledgeObjectWildcard(
  grantee: iam.IGrantable,
  bucket: s3.Bucket,
  keyPattern: string,
  reason: string,
) {
  const principal = grantee.grantPrincipal;
  if (!(principal instanceof iam.Role)) return;
  const bucketArn = nagReference(bucket.node.defaultChild as s3.CfnBucket);
  acknowledge(principal, `AwsSolutions-IAM5[Resource::${bucketArn}/${keyPattern}]`, reason);
}
