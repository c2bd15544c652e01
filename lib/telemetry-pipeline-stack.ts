import { readFileSync } from 'node:fs';
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { modelVersionOf } from '../lambdas/failure-scoring/names.ts';
import { committedModelPath, MODEL_NAMES, type ModelName } from '../ml/model-spec.ts';
import { EtlJob } from './batch/etl-job.ts';
import { EtlWorkflow } from './batch/etl-workflow.ts';
import { FailureScoring } from './batch/failure-scoring.ts';
import { RegistryExport } from './batch/registry-export.ts';
import { WeatherIngest } from './batch/weather-ingest.ts';
import type { StageConfig } from './config.ts';
import { ErasureWorkflow } from './governance/erasure-workflow.ts';
import { DeviceGateway } from './ingestion/device-gateway.ts';
import { TelemetryStream } from './ingestion/telemetry-stream.ts';
import { TelemetryValidator } from './ingestion/telemetry-validator.ts';
import { LakeReplication } from './lake/lake-replication.ts';
import { TelemetryLake } from './lake/telemetry-lake.ts';
import { DATA_CAPTURE_PREFIX, ModelEndpoints } from './ml/model-endpoints.ts';
import { TrainingWorkflow } from './ml/training-workflow.ts';
import { EtlAlarms } from './monitoring/etl-alarms.ts';
import { IngestAlarms } from './monitoring/ingest-alarms.ts';
import { ModelEndpointAlarms } from './monitoring/model-endpoint-alarms.ts';
import { type DashboardSection, PipelineDashboard } from './monitoring/pipeline-dashboard.ts';
import { RegistryExportAlarms } from './monitoring/registry-export-alarms.ts';
import { TrainingAlarms } from './monitoring/training-alarms.ts';
import { WarehouseAlarms } from './monitoring/warehouse-alarms.ts';
import { AnalyticsWarehouse } from './warehouse/analytics-warehouse.ts';
import { QuickSightDatasets } from './warehouse/quicksight-datasets.ts';
import { WarehouseLoader } from './warehouse/warehouse-loader.ts';
import { WarehouseSchema } from './warehouse/warehouse-schema.ts';
import { WarehouseSnapshots } from './warehouse/warehouse-snapshots.ts';

export interface TelemetryPipelineStackProps extends StackProps {
  readonly config: StageConfig;
  /**
   * Where the endpoints read each trained model at synthesis (with `ml.endpoints.enabled`).
   * @default - {@link committedModelPath}: the models committed under ml/models/
   */
  readonly modelPath?: (name: ModelName) => string;
}

/** The stack name of a stage: `Sdap-dev`, `Sdap-prod`. */
export function stackNameOf(stage: string): string {
  return `Sdap-${stage}`;
}

/** The batch ETL of a stage, present when `etl.enabled`. */
export interface EtlParts {
  readonly job: EtlJob;
  readonly workflow: EtlWorkflow;
  readonly alarms: EtlAlarms;
  /** The load after each window and its alarms, present when the stage also has a warehouse. */
  readonly warehouseLoad?: { readonly loader: WarehouseLoader; readonly alarms: WarehouseAlarms };
  /** The failure model's scoring after each window, present when the stage also has the endpoints. */
  readonly failureScoring?: FailureScoring;
}

/** The IoT registry export of a stage and its alarm, present when `registryExport.enabled`. */
export interface RegistryExportParts {
  readonly registryExport: RegistryExport;
  readonly alarms: RegistryExportAlarms;
}

/** The analysts' warehouse of a stage, present when `warehouse.enabled`. */
export interface WarehouseParts {
  readonly warehouse: AnalyticsWarehouse;
  readonly schema: WarehouseSchema;
  /** `undefined` unless `quicksight.enabled`. */
  readonly quicksight?: QuickSightDatasets;
  /** `undefined` unless `disasterRecovery.warehouseSnapshots.enabled`. */
  readonly snapshots?: WarehouseSnapshots;
}

/** The SageMaker endpoints of a stage and their alarms, present when `ml.endpoints.enabled`. */
export interface MlParts {
  readonly endpoints: ModelEndpoints;
  readonly alarms: ModelEndpointAlarms;
  /** The weekly retraining and its alarm, present when `ml.training.enabled` too. */
  readonly training?: { readonly workflow: TrainingWorkflow; readonly alarms: TrainingAlarms };
}

/**
 * One stage of the pipeline. Reads like the architecture: devices -> IoT gateway -> stream ->
 * validator -> lake, the hourly registry export -> lake, then the hourly ETL -> curated lake ->
 * warehouse (and QuickSight), the models' endpoints, with alarms over all of it. Constructs build;
 * this class composes and grants.
 */
export class TelemetryPipelineStack extends Stack {
  public readonly lake: TelemetryLake;
  /**
   * The lake's replication into the replica stack's region; `undefined` unless
   * `disasterRecovery.replication.enabled`.
   */
  public readonly lakeReplication?: LakeReplication;
  public readonly stream: TelemetryStream;
  public readonly gateway: DeviceGateway;
  public readonly validator: TelemetryValidator;
  public readonly alarms: IngestAlarms;
  /** `undefined` when the stage switches the ETL off (`etl.enabled: false`). */
  public readonly etl?: EtlParts;
  /** `undefined` when the stage switches the export off (`registryExport.enabled: false`). */
  public readonly registryExport?: RegistryExportParts;
  /** `undefined` when the stage switches weather off (`weather.enabled: false`). */
  public readonly weather?: WeatherIngest;
  /** `undefined` when the stage switches the warehouse off (`warehouse.enabled: false`). */
  public readonly warehouse?: WarehouseParts;
  /** `undefined` when the stage switches the endpoints off (`ml.endpoints.enabled: false`). */
  public readonly ml?: MlParts;
  /** The stage's one dashboard: every alarm above, stage by stage. */
  public readonly dashboard: PipelineDashboard;
  /** Right to erasure: one device out of the lake (every version) and the warehouse, with an audit record. */
  public readonly erasure: ErasureWorkflow;

  constructor(scope: Construct, id: string, props: TelemetryPipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const namePrefix = `sdap-${config.stage}`;

    this.lake = new TelemetryLake(this, 'Lake', {
      databaseName: `sdap_${config.stage}`,
      removalPolicy,
      rawLifecycle: config.lake.raw,
      quarantineLifecycle: config.lake.quarantine,
      failuresLifecycle: config.lake.failures,
      curatedLifecycle: config.lake.curated,
      noncurrentVersionExpireAfterDays: config.lake.noncurrentVersionExpireAfterDays,
      accessLogsExpireAfterDays: config.lake.accessLogsExpireAfterDays,
    });
    const { replication } = config.disasterRecovery;
    if (replication.enabled && replication.destinationRegion !== null) {
      this.lakeReplication = new LakeReplication(this, 'LakeReplication', {
        lake: this.lake,
        namePrefix,
        destinationRegion: replication.destinationRegion,
        zones: replication.zones,
        replicationTimeControl: replication.replicationTimeControl,
        storageClass: replication.storageClass,
      });
    }

    this.stream = new TelemetryStream(this, 'Stream', {
      encryptionKey: this.lake.key,
      capacity: config.stream.capacity,
      retentionHours: config.stream.retentionHours,
      removalPolicy,
    });

    this.gateway = new DeviceGateway(this, 'Gateway', {
      stream: this.stream.stream,
      failuresBucket: this.lake.failuresBucket,
      ruleName: `sdap_${config.stage}_telemetry`,
      namePrefix,
      accountLogLevel: config.iotLogging.enabled ? config.iotLogging.level : undefined,
    });
    this.stream.grantPutRecord(this.gateway.ruleRole);
    this.lake.grantWriteIotRuleErrors(this.gateway.ruleRole);

    this.validator = new TelemetryValidator(this, 'Validator', {
      stream: this.stream,
      rawBucket: this.lake.rawBucket,
      quarantineBucket: this.lake.quarantineBucket,
      failuresBucket: this.lake.failuresBucket,
      encryptionKey: this.lake.key,
      batchSize: config.validator.batchSize,
      maxBatchingWindowSeconds: config.validator.maxBatchingWindowSeconds,
      parallelizationFactor: config.validator.parallelizationFactor,
      retryAttempts: config.validator.retryAttempts,
      maxRecordAgeSeconds: config.validator.maxRecordAgeSeconds,
      reservedConcurrency: config.validator.reservedConcurrency ?? undefined,
      logRetentionDays: config.validator.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    this.lake.grantWriteRaw(this.validator.function);
    this.lake.grantWriteQuarantine(this.validator.function);
    this.lake.grantWriteAlerts(this.validator.function);

    this.alarms = new IngestAlarms(this, 'Alarms', {
      lake: this.lake,
      stream: this.stream,
      gateway: this.gateway,
      validator: this.validator,
      namePrefix,
      onCallEmails: config.onCallEmails,
      removalPolicy,
    });

    if (config.warehouse.enabled) this.warehouse = this.composeWarehouse(config, namePrefix, removalPolicy);
    if (config.registryExport.enabled) {
      this.registryExport = this.composeRegistryExport(config, namePrefix, removalPolicy);
    }
    const modelPath = props.modelPath ?? committedModelPath;
    // The endpoints before the ETL, which scores each window with the failure model's.
    if (config.ml.endpoints.enabled) this.ml = this.composeMl(config, namePrefix, removalPolicy, modelPath);
    if (config.etl.enabled) this.etl = this.composeEtl(config, namePrefix, removalPolicy, modelPath);
    if (config.weather.enabled) {
      this.weather = new WeatherIngest(this, 'Weather', {
        rawBucket: this.lake.rawBucket,
        encryptionKey: this.lake.key,
        providerUrl: config.weather.providerUrl,
        providerName: config.weather.providerName,
        apiKeySecret: config.weather.apiKeySecretName ?? undefined,
        scheduleExpression: config.weather.scheduleExpression,
        lookbackHours: config.weather.lookbackHours,
        logRetentionDays: config.validator.logRetentionDays as logs.RetentionDays,
        removalPolicy,
      });
    }

    // Always deployed: idle, it costs nothing; an operator starts it for each erasure request.
    this.erasure = new ErasureWorkflow(this, 'Erasure', {
      lake: this.lake,
      onCallTopic: this.alarms.onCallTopic,
      namePrefix,
      ...(this.warehouse && {
        warehouse: { warehouse: this.warehouse.warehouse, schema: this.warehouse.schema },
      }),
      logRetentionDays: config.validator.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });

    this.dashboard = new PipelineDashboard(this, 'Dashboard', {
      dashboardName: `${namePrefix}-pipeline`,
      stream: this.stream,
      validator: this.validator,
      sections: this.dashboardSections(),
    });

    const outputs: Record<string, [string, string]> = {
      RawBucketName: [this.lake.rawBucket.bucketName, 'Valid readings, gzip NDJSON under telemetry/'],
      QuarantineBucketName: [
        this.lake.quarantineBucket.bucketName,
        'Rejected input with reason codes under rejected/',
      ],
      FailuresBucketName: [
        this.lake.failuresBucket.bucketName,
        'Records the stream consumer or the IoT rule gave up on',
      ],
      GlueDatabaseName: [this.lake.databaseName, 'Glue database of the lake'],
      RawTableName: [this.lake.rawTableName, 'Glue table over the raw zone (partition projection)'],
      TelemetryStreamName: [
        this.stream.stream.streamName,
        'Kinesis stream between the IoT rule and the validator',
      ],
      TopicRuleName: [this.gateway.ruleName, 'IoT topic rule; Basic Ingest topic prefix $aws/rules/<name>/'],
      DevicePolicyName: [this.gateway.devicePolicy.ref, 'IoT policy to attach to device certificates'],
      ValidatorFunctionName: [this.validator.function.functionName, 'The validator Lambda'],
      AlertBusName: [this.validator.alertBus.eventBusName, 'EventBridge bus of telemetry alerts'],
      CriticalAlertTopicArn: [
        this.validator.criticalAlertTopic.topicArn,
        'SNS topic of critical telemetry alerts',
      ],
      OnCallTopicArn: [this.alarms.onCallTopic.topicArn, 'SNS topic the alarms notify'],
      CuratedBucketName: [
        this.lake.curatedBucket.bucketName,
        'The ETL output: curated Parquet and run summaries',
      ],
      ErasureStateMachineArn: [
        this.erasure.stateMachine.stateMachineArn,
        'Right-to-erasure workflow; start with {"deviceId":...,"requestedBy":...}',
      ],
      ErasureAuditBucketName: [
        this.erasure.auditBucket.bucketName,
        'Audit records of erasures, under erasure/',
      ],
      ...(this.etl && {
        EtlStateMachineArn: [
          this.etl.workflow.stateMachine.stateMachineArn,
          'ETL workflow; start with {"hour":...} or {"from":...,"to":...}',
        ],
        EtlJobName: [this.etl.job.jobName, 'Glue job of the ETL'],
      }),
      ...(this.registryExport && {
        RegistryExportFunctionName: [
          this.registryExport.registryExport.function.functionName,
          'Hourly export of the IoT registry into iot-registry/ of the raw bucket',
        ],
      }),
      ...(this.weather && {
        WeatherFunctionName: [this.weather.function.functionName, 'Hourly weather per site into weather/'],
      }),
      ...(this.warehouse && {
        WarehouseWorkgroupName: [
          this.warehouse.warehouse.workgroupName,
          'Redshift Serverless workgroup (Data API, query editor)',
        ],
        WarehouseDatabaseName: [
          this.warehouse.warehouse.databaseName,
          'Warehouse database; tables and views in analytics',
        ],
        WarehouseAdminSecretArn: [
          this.warehouse.schema.adminSecretArn,
          "Secret of the warehouse's admin user, managed and rotated by Redshift",
        ],
      }),
      ...(this.ml && {
        AnomalyEndpointName: [
          this.ml.endpoints.endpointNames.anomaly,
          'SageMaker endpoint of the anomaly model (the stream scores readings with it)',
        ],
        FailureEndpointName: [
          this.ml.endpoints.endpointNames.failure,
          'SageMaker endpoint of the failure model (the ETL scores device-hours with it)',
        ],
        EnergyEndpointName: [
          this.ml.endpoints.endpointNames.energy,
          'SageMaker endpoint of the energy model (the ETL forecasts thermostat-hours with it)',
        ],
      }),
      ...(this.etl?.failureScoring && {
        FailureScoringFunctionName: [
          this.etl.failureScoring.function.functionName,
          "Scores an ETL window's device-hours with the failure model into predictions/",
        ],
      }),
      ...(this.etl?.warehouseLoad && {
        WarehouseLoadFunctionName: [
          this.etl.warehouseLoad.loader.function.functionName,
          "Loads an ETL window's curated partitions into the warehouse",
        ],
      }),
    };
    for (const [outputId, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, outputId, { value, description });
    }
  }

  /** The hourly export of the IoT registry into the raw bucket, and its alarm. */
  /** The dashboard's sections: each deployed part's alarms, in pipeline order. */
  private dashboardSections(): DashboardSection[] {
    const sections: DashboardSection[] = [
      {
        title: 'Ingest',
        description:
          'IoT rule, stream and validator: consumer lag, errors and throttles, records diverted, quarantine share.',
        alarms: this.alarms.alarms,
      },
    ];
    if (this.registryExport) {
      sections.push({
        title: 'IoT registry export',
        description: 'The hourly snapshot of things and groups the ETL and the weather function read.',
        alarms: this.registryExport.alarms.alarms,
      });
    }
    if (this.etl) {
      sections.push({
        title: 'Batch ETL',
        description:
          'The scheduled Step Functions workflow and its Glue runs: failures, run time, data quality.',
        alarms: this.etl.alarms.alarms,
      });
      if (this.etl.warehouseLoad) {
        sections.push({
          title: 'Warehouse loads',
          description: 'The curated partitions merged into Redshift after each window.',
          alarms: this.etl.warehouseLoad.alarms.alarms,
        });
      }
    }
    if (this.ml) {
      sections.push({
        title: 'Model endpoints',
        description:
          'Each SageMaker endpoint: errors, p99 latency, and the share of high scores against its trailing baseline (drift).',
        alarms: this.ml.alarms.alarms,
      });
      if (this.ml.training) {
        sections.push({
          title: 'Model training',
          description: 'The weekly retraining workflow.',
          alarms: this.ml.training.alarms.alarms,
        });
      }
    }
    return sections;
  }

  private composeRegistryExport(
    config: StageConfig,
    namePrefix: string,
    removalPolicy: RemovalPolicy,
  ): RegistryExportParts {
    const registryExport = new RegistryExport(this, 'RegistryExport', {
      rawBucket: this.lake.rawBucket,
      encryptionKey: this.lake.key,
      scheduleExpression: config.registryExport.scheduleExpression,
      // It feeds the ETL: its logs are kept as long as the ETL's.
      logRetentionDays: config.etl.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    const alarms = new RegistryExportAlarms(this, 'RegistryExportAlarms', {
      registryExport,
      onCallTopic: this.alarms.onCallTopic,
      namePrefix,
    });
    return { registryExport, alarms };
  }

  /**
   * The hourly ETL: the Glue job over the lake, its workflow and schedule, and their alarms; with the
   * endpoints, the failure model's scoring of each window (invoking that endpoint only).
   */
  private composeEtl(
    config: StageConfig,
    namePrefix: string,
    removalPolicy: RemovalPolicy,
    modelPath: (name: ModelName) => string,
  ): EtlParts {
    const { etl } = config;
    const logRetentionDays = etl.logRetentionDays as logs.RetentionDays;
    const job = new EtlJob(this, 'EtlJob', {
      lake: this.lake,
      namePrefix,
      workerType: etl.workerType,
      numberOfWorkers: etl.numberOfWorkers,
      timeoutMinutes: etl.timeoutMinutes,
      // A backfill's windows plus the scheduled run that may start meanwhile.
      maxConcurrentRuns: etl.backfillMaxConcurrency + 1,
      logRetentionDays,
      removalPolicy,
    });
    // The load after each window, when the stage has a warehouse.
    const loader =
      this.warehouse &&
      new WarehouseLoader(this, 'WarehouseLoader', {
        warehouse: this.warehouse.warehouse,
        schema: this.warehouse.schema,
        lake: this.lake,
        logRetentionDays,
        removalPolicy,
      });
    const endpoints = this.ml?.endpoints;
    const failureScoring =
      endpoints &&
      new FailureScoring(this, 'FailureScoring', {
        lake: this.lake,
        endpointName: endpoints.endpointNames.failure,
        // The champion serves the model the endpoints deployed: the same file.
        modelVersion: modelVersionOf(readFileSync(modelPath('failure'))),
        logRetentionDays,
        removalPolicy,
      });
    if (endpoints && failureScoring) endpoints.grantInvoke(failureScoring.function, 'failure');
    const workflow = new EtlWorkflow(this, 'EtlWorkflow', {
      job,
      lake: this.lake,
      onCallTopic: this.alarms.onCallTopic,
      namePrefix,
      scheduleExpression: etl.scheduleExpression,
      dqScoreThreshold: etl.dqScoreThreshold,
      backfillMaxConcurrency: etl.backfillMaxConcurrency,
      backfillExecutionClass: etl.backfillExecutionClass,
      logRetentionDays,
      removalPolicy,
      warehouseLoader: loader,
      failureScoring,
    });
    const alarms = new EtlAlarms(this, 'EtlAlarms', {
      workflow,
      onCallTopic: this.alarms.onCallTopic,
      namePrefix,
    });
    const warehouseLoad = loader && {
      loader,
      alarms: new WarehouseAlarms(this, 'WarehouseAlarms', {
        workflow,
        onCallTopic: this.alarms.onCallTopic,
        namePrefix,
      }),
    };
    return {
      job,
      workflow,
      alarms,
      ...(warehouseLoad && { warehouseLoad }),
      ...(failureScoring && { failureScoring }),
    };
  }

  /**
   * The models' SageMaker endpoints, capturing into the raw bucket, and their alarms. Who may invoke
   * them is granted where their callers are composed.
   */
  private composeMl(
    config: StageConfig,
    namePrefix: string,
    removalPolicy: RemovalPolicy,
    modelPath: (name: ModelName) => string,
  ): MlParts {
    const { endpoints: settings } = config.ml;
    const endpoints = new ModelEndpoints(this, 'ModelEndpoints', {
      namePrefix,
      modelPath,
      instanceType: settings.instanceType,
      instanceCount: settings.instanceCount,
      maxInstanceCount: settings.maxInstanceCount,
      targetInvocationsPerInstance: settings.targetInvocationsPerInstance,
      challengerTrafficPercent: settings.challengerTrafficPercent,
      dataCapturePercent: settings.dataCapturePercent,
      dataCaptureBucket: this.lake.rawBucket,
      // The endpoints serve the stream: their logs are kept as long as the validator's.
      logRetentionDays: config.validator.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    const alarms = new ModelEndpointAlarms(this, 'ModelEndpointAlarms', {
      endpoints,
      onCallTopic: this.alarms.onCallTopic,
      namePrefix,
    });
    // The stream scores its readings: the validator calls the anomaly endpoint and reads the
    // baselines the ETL writes.
    this.validator.scoreWith(endpoints.endpointNames.anomaly, this.lake.curatedBucket);
    endpoints.grantInvoke(this.validator.function, 'anomaly');
    if (!config.ml.training.enabled) return { endpoints, alarms };
    const workflow = new TrainingWorkflow(this, 'Training', {
      lake: this.lake,
      onCallTopic: this.alarms.onCallTopic,
      namePrefix,
      endpointNames: endpoints.endpointNames,
      endpointEncryptionKey: endpoints.key,
      championModelArtifacts: MODEL_NAMES.map((name) => {
        const { artifact } = endpoints.parts[name];
        return { bucket: artifact.bucket, s3ObjectKey: artifact.s3ObjectKey };
      }),
      dataCapture: { bucket: this.lake.rawBucket, prefix: `${DATA_CAPTURE_PREFIX}/` },
      scheduleExpression: config.ml.training.scheduleExpression,
      instanceType: config.ml.training.instanceType,
      challengerTrafficPercent: config.ml.endpoints.challengerTrafficPercent,
      removalPolicy,
    });
    const trainingAlarms = new TrainingAlarms(this, 'TrainingAlarms', {
      workflow,
      onCallTopic: this.alarms.onCallTopic,
      namePrefix,
    });
    return { endpoints, alarms, training: { workflow, alarms: trainingAlarms } };
  }

  /** Redshift Serverless over the curated lake, its schema, and the QuickSight datasets if asked. */
  private composeWarehouse(
    config: StageConfig,
    namePrefix: string,
    removalPolicy: RemovalPolicy,
  ): WarehouseParts {
    // The warehouse belongs to the batch side: its logs are kept as long as the ETL's.
    const logRetentionDays = config.etl.logRetentionDays as logs.RetentionDays;
    const warehouse = new AnalyticsWarehouse(this, 'Warehouse', {
      lake: this.lake,
      namePrefix,
      databaseName: config.warehouse.databaseName,
      baseCapacityRpu: config.warehouse.baseCapacityRpu,
      flowLogRetentionDays: logRetentionDays,
      removalPolicy,
    });
    const schema = new WarehouseSchema(this, 'WarehouseSchema', {
      warehouse,
      logRetentionDays,
      removalPolicy,
    });
    const { warehouseSnapshots } = config.disasterRecovery;
    const snapshots =
      warehouseSnapshots.enabled &&
      new WarehouseSnapshots(this, 'WarehouseSnapshots', {
        warehouse,
        scheduleExpression: warehouseSnapshots.scheduleExpression,
        retentionDays: warehouseSnapshots.retentionDays,
      });
    const { quicksight } = config;
    if (!quicksight.enabled) return { warehouse, schema, ...(snapshots && { snapshots }) };
    const groupArn =
      quicksight.groupArn ??
      this.formatArn({
        service: 'quicksight',
        resource: 'group',
        resourceName: `${quicksight.namespace}/${quicksight.groupName}`,
      });
    return {
      warehouse,
      schema,
      quicksight: new QuickSightDatasets(this, 'QuickSight', { warehouse, schema, groupArn, namePrefix }),
      ...(snapshots && { snapshots }),
    };
  }
}
