import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { MAX_READING_AGE_MS } from '../../lambdas/shared/contract.ts';
import {
  buildStageConfig,
  DEFAULT_BATCH_SIZE,
  DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
  DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE,
  DEFAULT_ETL_BACKFILL_EXECUTION_CLASS,
  DEFAULT_ETL_BACKFILL_MAX_CONCURRENCY,
  DEFAULT_ETL_DQ_SCORE_THRESHOLD,
  DEFAULT_ETL_ENABLED,
  DEFAULT_ETL_SCHEDULE_EXPRESSION,
  DEFAULT_ETL_TIMEOUT_MINUTES,
  DEFAULT_ETL_WORKER_TYPE,
  DEFAULT_IOT_LOGGING,
  DEFAULT_MAX_BATCHING_WINDOW_SECONDS,
  DEFAULT_NONCURRENT_VERSION_EXPIRE_AFTER_DAYS,
  DEFAULT_ON_CALL_EMAILS,
  DEFAULT_PARALLELIZATION_FACTOR,
  DEFAULT_QUICKSIGHT_ENABLED,
  DEFAULT_QUICKSIGHT_GROUP_ARN,
  DEFAULT_QUICKSIGHT_GROUP_NAME,
  DEFAULT_QUICKSIGHT_NAMESPACE,
  DEFAULT_REGISTRY_EXPORT_SCHEDULE,
  DEFAULT_REPLICA_STORAGE_CLASS,
  DEFAULT_REPLICATED_ZONES,
  DEFAULT_REPLICATION_DESTINATION_REGION,
  DEFAULT_REPLICATION_ENABLED,
  DEFAULT_REPLICATION_TIME_CONTROL,
  DEFAULT_RESERVED_CONCURRENCY,
  DEFAULT_RETRY_ATTEMPTS,
  DEFAULT_STAGE,
  DEFAULT_TRAINING_INSTANCE_TYPE,
  DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
  DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU,
  DEFAULT_WAREHOUSE_DATABASE_NAME,
  DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS,
  DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE,
  DEFAULT_WEATHER_API_KEY_SECRET_NAME,
  DEFAULT_WEATHER_ENABLED,
  DEFAULT_WEATHER_LOOKBACK,
  DEFAULT_WEATHER_PROVIDER,
  DEFAULT_WEATHER_PROVIDER_URL,
  DEFAULT_WEATHER_SCHEDULE,
  DEV_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
  DEV_CURATED_LIFECYCLE,
  DEV_DATA_CAPTURE_PERCENT,
  DEV_ENDPOINT_INSTANCE_COUNT,
  DEV_ENDPOINT_INSTANCE_TYPE,
  DEV_ENDPOINT_MAX_INSTANCE_COUNT,
  DEV_ENDPOINTS_ENABLED,
  DEV_ETL_NUMBER_OF_WORKERS,
  DEV_FAILURES_LIFECYCLE,
  DEV_LOG_RETENTION_DAYS,
  DEV_MAX_RECORD_AGE_SECONDS,
  DEV_QUARANTINE_LIFECYCLE,
  DEV_RAW_LIFECYCLE,
  DEV_REMOVAL_POLICY,
  DEV_STREAM_CAPACITY,
  DEV_STREAM_RETENTION_HOURS,
  DEV_TRAINING_ENABLED,
  DEV_WAREHOUSE_ENABLED,
  DEV_WAREHOUSE_SNAPSHOTS_ENABLED,
  loadStageConfig,
  PROD_ACCESS_LOGS_EXPIRE_AFTER_DAYS,
  PROD_CURATED_LIFECYCLE,
  PROD_DATA_CAPTURE_PERCENT,
  PROD_ENDPOINT_INSTANCE_COUNT,
  PROD_ENDPOINT_INSTANCE_TYPE,
  PROD_ENDPOINT_MAX_INSTANCE_COUNT,
  PROD_ENDPOINTS_ENABLED,
  PROD_ETL_NUMBER_OF_WORKERS,
  PROD_FAILURES_LIFECYCLE,
  PROD_LOG_RETENTION_DAYS,
  PROD_MAX_RECORD_AGE_SECONDS,
  PROD_QUARANTINE_LIFECYCLE,
  PROD_RAW_LIFECYCLE,
  PROD_REMOVAL_POLICY,
  PROD_STREAM_CAPACITY,
  PROD_STREAM_RETENTION_HOURS,
  PROD_TRAINING_ENABLED,
  PROD_WAREHOUSE_ENABLED,
  PROD_WAREHOUSE_SNAPSHOTS_ENABLED,
  STAGE_NAMES,
  StageConfigError,
  schedulePeriodHours,
} from '../../lib/config.ts';

/** The message of the error `build` throws. */
function errorOf(build: () => unknown): string {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(StageConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a StageConfigError, but the configuration was accepted');
}

describe('stage configuration', () => {
  it('builds dev from its documented defaults', () => {
    // Act
    const config = buildStageConfig('dev');

    // Assess
    expect(config).toEqual({
      stage: 'dev',
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
      registryExport: {
        enabled: DEFAULT_ETL_ENABLED,
        scheduleExpression: DEFAULT_REGISTRY_EXPORT_SCHEDULE,
      },
      weather: {
        enabled: DEFAULT_WEATHER_ENABLED,
        providerUrl: DEFAULT_WEATHER_PROVIDER_URL,
        providerName: DEFAULT_WEATHER_PROVIDER,
        apiKeySecretName: DEFAULT_WEATHER_API_KEY_SECRET_NAME,
        scheduleExpression: DEFAULT_WEATHER_SCHEDULE,
        lookbackHours: DEFAULT_WEATHER_LOOKBACK,
      },
      warehouse: {
        enabled: DEV_WAREHOUSE_ENABLED,
        baseCapacityRpu: DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU,
        databaseName: DEFAULT_WAREHOUSE_DATABASE_NAME,
      },
      quicksight: {
        enabled: DEFAULT_QUICKSIGHT_ENABLED,
        groupArn: DEFAULT_QUICKSIGHT_GROUP_ARN,
        groupName: DEFAULT_QUICKSIGHT_GROUP_NAME,
        namespace: DEFAULT_QUICKSIGHT_NAMESPACE,
      },
      onCallEmails: DEFAULT_ON_CALL_EMAILS,
      ml: {
        endpoints: {
          enabled: DEV_ENDPOINTS_ENABLED,
          instanceType: DEV_ENDPOINT_INSTANCE_TYPE,
          instanceCount: DEV_ENDPOINT_INSTANCE_COUNT,
          maxInstanceCount: DEV_ENDPOINT_MAX_INSTANCE_COUNT,
          targetInvocationsPerInstance: DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE,
          challengerTrafficPercent: DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
          dataCapturePercent: DEV_DATA_CAPTURE_PERCENT,
        },
        training: {
          enabled: DEV_TRAINING_ENABLED,
          scheduleExpression: DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
          instanceType: DEFAULT_TRAINING_INSTANCE_TYPE,
        },
      },
      disasterRecovery: {
        replication: {
          enabled: DEFAULT_REPLICATION_ENABLED,
          destinationRegion: DEFAULT_REPLICATION_DESTINATION_REGION,
          zones: DEFAULT_REPLICATED_ZONES,
          replicationTimeControl: DEFAULT_REPLICATION_TIME_CONTROL,
          storageClass: DEFAULT_REPLICA_STORAGE_CLASS,
        },
        warehouseSnapshots: {
          enabled: DEV_WAREHOUSE_SNAPSHOTS_ENABLED,
          scheduleExpression: DEFAULT_WAREHOUSE_SNAPSHOT_SCHEDULE,
          retentionDays: DEFAULT_WAREHOUSE_SNAPSHOT_RETENTION_DAYS,
        },
      },
    });
  });

  it('builds prod from its documented defaults', () => {
    // Act
    const config = buildStageConfig('prod');

    // Assess
    expect(config.removalPolicy).toBe(PROD_REMOVAL_POLICY);
    expect(config.stream).toEqual({
      capacity: PROD_STREAM_CAPACITY,
      retentionHours: PROD_STREAM_RETENTION_HOURS,
    });
    expect(config.lake.raw).toEqual(PROD_RAW_LIFECYCLE);
    expect(config.lake.quarantine).toEqual(PROD_QUARANTINE_LIFECYCLE);
    expect(config.lake.failures).toEqual(PROD_FAILURES_LIFECYCLE);
    expect(config.lake.accessLogsExpireAfterDays).toBe(PROD_ACCESS_LOGS_EXPIRE_AFTER_DAYS);
    expect(config.validator.maxRecordAgeSeconds).toBe(PROD_MAX_RECORD_AGE_SECONDS);
    expect(config.validator.logRetentionDays).toBe(PROD_LOG_RETENTION_DAYS);
    expect(config.lake.curated).toEqual(PROD_CURATED_LIFECYCLE);
    expect(config.etl).toMatchObject({
      enabled: true,
      numberOfWorkers: PROD_ETL_NUMBER_OF_WORKERS,
      logRetentionDays: PROD_LOG_RETENTION_DAYS,
    });
    expect(config.warehouse).toEqual({
      enabled: PROD_WAREHOUSE_ENABLED,
      baseCapacityRpu: DEFAULT_WAREHOUSE_BASE_CAPACITY_RPU,
      databaseName: DEFAULT_WAREHOUSE_DATABASE_NAME,
    });
    expect(config.quicksight.enabled).toBe(DEFAULT_QUICKSIGHT_ENABLED);
    expect(config.ml).toEqual({
      endpoints: {
        enabled: PROD_ENDPOINTS_ENABLED,
        instanceType: PROD_ENDPOINT_INSTANCE_TYPE,
        instanceCount: PROD_ENDPOINT_INSTANCE_COUNT,
        maxInstanceCount: PROD_ENDPOINT_MAX_INSTANCE_COUNT,
        targetInvocationsPerInstance: DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE,
        challengerTrafficPercent: DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
        dataCapturePercent: PROD_DATA_CAPTURE_PERCENT,
      },
      training: {
        enabled: PROD_TRAINING_ENABLED,
        scheduleExpression: DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
        instanceType: DEFAULT_TRAINING_INSTANCE_TYPE,
      },
    });
  });

  it('replicates nothing by default in either stage, and snapshots the warehouse daily for two weeks in prod only', () => {
    // Act
    const dev = buildStageConfig('dev').disasterRecovery;
    const prod = buildStageConfig('prod').disasterRecovery;

    // Assess
    expect(prod.replication).toEqual({
      enabled: false,
      destinationRegion: null,
      zones: ['raw', 'quarantine', 'failures', 'curated'],
      replicationTimeControl: true,
      storageClass: 'STANDARD',
    });
    expect(dev.replication).toEqual(prod.replication);
    expect(dev.warehouseSnapshots.enabled).toBe(false);
    expect(prod.warehouseSnapshots).toEqual({
      enabled: PROD_WAREHOUSE_SNAPSHOTS_ENABLED,
      scheduleExpression: 'cron(45 2 * * ? *)',
      retentionDays: 14,
    });
    expect(PROD_WAREHOUSE_SNAPSHOTS_ENABLED).toBe(true);
  });

  it('switches replication on into a named region, keeping the other replication defaults', () => {
    // Act
    const { replication } = buildStageConfig('prod', {
      region: 'eu-west-1',
      disasterRecovery: { replication: { enabled: true, destinationRegion: 'eu-central-1', zones: ['raw'] } },
    }).disasterRecovery;

    // Assess
    expect(replication).toEqual({
      enabled: true,
      destinationRegion: 'eu-central-1',
      zones: ['raw'],
      replicationTimeControl: DEFAULT_REPLICATION_TIME_CONTROL,
      storageClass: DEFAULT_REPLICA_STORAGE_CLASS,
    });
  });

  it('switches replication on in an environment-agnostic stage', () => {
    expect(
      buildStageConfig('dev', {
        disasterRecovery: { replication: { enabled: true, destinationRegion: 'us-west-2' } },
      }).disasterRecovery.replication.enabled,
    ).toBe(true);
  });

  it('keeps the endpoints off in dev, and on in prod with two instances of ml.m5.large each, champion only', () => {
    expect(buildStageConfig('dev').ml.endpoints).toMatchObject({
      enabled: false,
      instanceType: 'ml.t2.medium',
    });
    expect(buildStageConfig('prod').ml.endpoints).toMatchObject({
      enabled: true,
      instanceType: 'ml.m5.large',
      instanceCount: 2,
      maxInstanceCount: 4,
      challengerTrafficPercent: 0,
    });
  });

  it('retrains weekly on Monday at 03:00 UTC on ml.m5.xlarge, in prod only', () => {
    for (const stage of STAGE_NAMES) {
      expect(buildStageConfig(stage).ml.training).toEqual({
        enabled: stage === 'prod',
        scheduleExpression: 'cron(0 3 ? * MON *)',
        instanceType: 'ml.m5.xlarge',
      });
    }
  });

  it('switches the endpoints on in dev with a challenger and full capture, one instance being enough there', () => {
    // Act
    const { endpoints } = buildStageConfig('dev', {
      ml: { endpoints: { enabled: true, challengerTrafficPercent: 50, dataCapturePercent: 0 } },
    }).ml;

    // Assess
    expect(endpoints).toMatchObject({
      enabled: true,
      instanceCount: 1,
      challengerTrafficPercent: 50,
      dataCapturePercent: 0,
    });
  });

  it('accepts one instance in prod while its endpoints are off', () => {
    expect(
      buildStageConfig('prod', { ml: { endpoints: { enabled: false, instanceCount: 1 } } }).ml.endpoints
        .instanceCount,
    ).toBe(1);
  });

  it('exports the IoT registry hourly at minute 0 in both stages, because both run the ETL', () => {
    for (const stage of STAGE_NAMES) {
      // Act
      const config = buildStageConfig(stage);

      // Assess
      expect(config.etl.enabled).toBe(true);
      expect(config.registryExport).toEqual({ enabled: true, scheduleExpression: 'cron(0 * * * ? *)' });
    }
  });

  it('keeps weather off in both stages: the default provider is free for non-commercial use only', () => {
    for (const stage of STAGE_NAMES) {
      expect(buildStageConfig(stage).weather).toMatchObject({
        enabled: false,
        providerUrl: 'https://api.open-meteo.com/v1/forecast',
        apiKeySecretName: null,
      });
    }
  });

  it('leaves the registry export out with the ETL, unless the stage keeps it', () => {
    expect(buildStageConfig('dev', { etl: { enabled: false } }).registryExport.enabled).toBe(false);
    expect(
      buildStageConfig('prod', { etl: { enabled: false }, registryExport: { enabled: true } }).registryExport,
    ).toEqual({ enabled: true, scheduleExpression: DEFAULT_REGISTRY_EXPORT_SCHEDULE });
    expect(buildStageConfig('prod', { registryExport: { enabled: false } }).registryExport.enabled).toBe(
      false,
    );
    expect(
      buildStageConfig('dev', { registryExport: { scheduleExpression: 'rate(6 hours)' } }).registryExport,
    ).toEqual({ enabled: true, scheduleExpression: 'rate(6 hours)' });
  });

  it('switches weather on over the registry export, with or without the ETL', () => {
    expect(buildStageConfig('prod', { weather: { enabled: true } }).weather.enabled).toBe(true);
    expect(
      buildStageConfig('dev', {
        etl: { enabled: false },
        registryExport: { enabled: true },
        weather: { enabled: true },
      }).weather.enabled,
    ).toBe(true);
  });

  it('keeps the warehouse off in dev and on in prod, QuickSight off in both, at 8 RPU', () => {
    expect(buildStageConfig('dev').warehouse.enabled).toBe(false);
    expect(buildStageConfig('prod').warehouse.enabled).toBe(true);
    for (const stage of STAGE_NAMES) {
      expect(buildStageConfig(stage).quicksight.enabled).toBe(false);
      expect(buildStageConfig(stage).warehouse.baseCapacityRpu).toBe(8);
    }
  });

  it('switches QuickSight on with a group name, or a group ARN, over the warehouse', () => {
    // Act
    const byName = buildStageConfig('prod', { quicksight: { enabled: true, groupName: 'analysts' } });
    const byArn = buildStageConfig('dev', {
      warehouse: { enabled: true },
      quicksight: {
        enabled: true,
        groupArn: 'arn:aws:quicksight:us-east-1:123456789012:group/default/analysts',
      },
    });

    // Assess
    expect(byName.quicksight).toEqual({
      enabled: true,
      groupArn: null,
      groupName: 'analysts',
      namespace: 'default',
    });
    expect(byArn.quicksight.groupArn).toBe(
      'arn:aws:quicksight:us-east-1:123456789012:group/default/analysts',
    );
  });

  it.each([4, 8, 16, 512, 1024])('accepts a base capacity of %i RPU', (rpu) => {
    expect(buildStageConfig('prod', { warehouse: { baseCapacityRpu: rpu } }).warehouse.baseCapacityRpu).toBe(
      rpu,
    );
  });

  it('runs the ETL hourly at minute 15 in both stages, backfilling with Flex', () => {
    for (const stage of STAGE_NAMES) {
      // Act
      const { etl } = buildStageConfig(stage);

      // Assess
      expect(etl.scheduleExpression).toBe('cron(15 * * * ? *)');
      expect(schedulePeriodHours(etl.scheduleExpression)).toBe(1);
      expect(etl.timeoutMinutes).toBeLessThan(60);
      expect(etl.backfillExecutionClass).toBe('FLEX');
      expect(['G.1X', 'G.2X']).toContain(etl.workerType);
    }
  });

  it('switches the ETL off per stage', () => {
    expect(buildStageConfig('dev', { etl: { enabled: false } }).etl.enabled).toBe(false);
  });

  it.each([
    ['rate(1 hour)', 1],
    ['rate(3 hours)', 3],
    ['rate(120 minutes)', 2],
    ['rate(1 day)', 24],
    ['rate(7 days)', 168],
    ['cron(0 * * * ? *)', 1],
    ['cron(15 0/2 * * ? *)', 2],
    ['cron(5 */6 * * ? *)', 6],
    ['cron(30 3 * * ? *)', 24],
  ])('reads the period of %s as %i hour(s)', (expression, hours) => {
    expect(schedulePeriodHours(expression)).toBe(hours);
  });

  it.each([
    'rate(5 minutes)',
    'rate(90 minutes)',
    'rate(1 hours)',
    'rate(2 hour)',
    'rate(8 days)',
    'cron(0 */5 * * ? *)',
    'cron(60 * * * ? *)',
    'cron(0 * ? * MON *)',
    'cron(0 24 * * ? *)',
    'at(2026-01-01T00:00:00)',
  ])('reads no period from %s', (expression) => {
    expect(schedulePeriodHours(expression)).toBeUndefined();
  });

  it('keeps dev disposable and prod retained', () => {
    expect(buildStageConfig('dev').removalPolicy).toBe('destroy');
    expect(buildStageConfig('prod').removalPolicy).toBe('retain');
  });

  it.each(STAGE_NAMES)('keeps the maximum record age of %s below its stream retention', (stage) => {
    // Act
    const config = buildStageConfig(stage);

    // Assess
    expect(config.validator.maxRecordAgeSeconds).toBeLessThan(config.stream.retentionHours * 3600);
  });

  it('retains prod records as long as the contract accepts readings', () => {
    expect(PROD_STREAM_RETENTION_HOURS * 3600 * 1000).toBe(MAX_READING_AGE_MS);
  });

  it('defaults to the dev stage', () => {
    expect(DEFAULT_STAGE).toBe('dev');
    expect(buildStageConfig().stage).toBe('dev');
    expect(loadStageConfig(new App()).stage).toBe('dev');
  });

  it('reads the stage and its JSON override from context', () => {
    // Prepare
    const app = new App({
      context: {
        stage: 'prod',
        'sdap:prod': '{"onCallEmails":["oncall@example.com"],"validator":{"batchSize":250}}',
      },
    });

    // Act
    const config = loadStageConfig(app);

    // Assess
    expect(config.stage).toBe('prod');
    expect(config.onCallEmails).toEqual(['oncall@example.com']);
    expect(config.validator.batchSize).toBe(250);
    expect(config.validator.retryAttempts).toBe(DEFAULT_RETRY_ATTEMPTS);
  });

  it('ignores the override of another stage', () => {
    // Prepare
    const app = new App({ context: { stage: 'dev', 'sdap:prod': { validator: { batchSize: 250 } } } });

    // Act & Assess
    expect(loadStageConfig(app).validator.batchSize).toBe(DEFAULT_BATCH_SIZE);
  });

  it('replaces the stream capacity whole, so on-demand does not inherit a shard count', () => {
    // Act
    const config = buildStageConfig('dev', { stream: { capacity: { mode: 'on-demand' } } });

    // Assess
    expect(config.stream.capacity).toEqual({ mode: 'on-demand' });
  });

  it('accepts null to switch a lifecycle step off', () => {
    // Act
    const config = buildStageConfig('prod', {
      lake: { raw: { archiveAfterDays: null, expireAfterDays: null } },
    });

    // Assess
    expect(config.lake.raw).toEqual({
      infrequentAccessAfterDays: 30,
      archiveAfterDays: null,
      expireAfterDays: null,
    });
  });

  describe('fails with the key, the value received and what is allowed', () => {
    it('fails when the stage is unknown, naming the known stages', () => {
      expect(errorOf(() => buildStageConfig('qa'))).toBe(
        `context 'stage': received "qa", expected one of the known stages: dev, prod`,
      );
    });

    it('fails when replication is on without a destination region', () => {
      expect(
        errorOf(() => buildStageConfig('prod', { disasterRecovery: { replication: { enabled: true } } })),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.destinationRegion: received null, expected an AWS region name such as eu-west-1 while disasterRecovery.replication.enabled is true (the region of the replicas)`,
      );
    });

    it("fails when the replicas' region is the stage's own", () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', {
            region: 'eu-west-1',
            disasterRecovery: { replication: { enabled: true, destinationRegion: 'eu-west-1' } },
          }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.destinationRegion: received "eu-west-1", expected a region other than the stage's region eu-west-1 (a replica in the same region survives no regional outage)`,
      );
    });

    it('fails when the destination region is not a region name', () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', { disasterRecovery: { replication: { destinationRegion: 'Frankfurt' } } }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.destinationRegion: received "Frankfurt", expected an AWS region name such as eu-west-1, or null`,
      );
    });

    it('fails when a replicated zone is unknown, empty or repeated', () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', { disasterRecovery: { replication: { zones: ['raw', 'archive'] } } }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.zones[1]: received "archive", expected one of raw, quarantine, failures, curated`,
      );
      expect(
        errorOf(() => buildStageConfig('prod', { disasterRecovery: { replication: { zones: [] } } })),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.zones: received [], expected at least one zone from raw, quarantine, failures, curated`,
      );
      expect(
        errorOf(() =>
          buildStageConfig('prod', { disasterRecovery: { replication: { zones: ['raw', 'raw'] } } }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.zones: received ["raw","raw"], expected each zone at most once`,
      );
    });

    it('fails when the replica storage class needs a restore before a read', () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', { disasterRecovery: { replication: { storageClass: 'GLACIER' } } }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.storageClass: received "GLACIER", expected one of STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR`,
      );
    });

    it('fails when Replication Time Control is not a boolean', () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', { disasterRecovery: { replication: { replicationTimeControl: 'yes' } } }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.replication.replicationTimeControl: received "yes", expected true or false`,
      );
    });

    it('fails when the snapshot retention is outside 1..3653 days', () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', { disasterRecovery: { warehouseSnapshots: { retentionDays: 0 } } }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.warehouseSnapshots.retentionDays: received 0, expected a whole number of days from 1 to 3653`,
      );
    });

    it('fails when the snapshot schedule is not a scheduler expression', () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', {
            disasterRecovery: { warehouseSnapshots: { scheduleExpression: 'daily' } },
          }),
        ),
      ).toBe(
        `stage 'prod': disasterRecovery.warehouseSnapshots.scheduleExpression: received "daily", expected an EventBridge Scheduler expression: rate(...) or cron(...)`,
      );
    });

    it('fails when a disaster recovery key is unknown, listing the known keys', () => {
      expect(errorOf(() => buildStageConfig('prod', { disasterRecovery: { pitr: true } }))).toBe(
        `stage 'prod': disasterRecovery.pitr: received true, expected no such key (known keys: replication, warehouseSnapshots)`,
      );
    });

    it('fails when the shard count is below 1', () => {
      // Act
      const message = errorOf(() =>
        buildStageConfig('dev', { stream: { capacity: { mode: 'provisioned', shardCount: 0 } } }),
      );

      // Assess
      expect(message).toBe(
        `stage 'dev': stream.capacity.shardCount: received 0, expected an integer from 1 to 10000`,
      );
    });

    it('fails when the capacity mode is unknown', () => {
      expect(errorOf(() => buildStageConfig('dev', { stream: { capacity: { mode: 'turbo' } } }))).toBe(
        `stage 'dev': stream.capacity.mode: received "turbo", expected {"mode":"on-demand"} or {"mode":"provisioned","shardCount":<integer>}`,
      );
    });

    it('fails when the retention is outside 24..8760 hours', () => {
      expect(errorOf(() => buildStageConfig('dev', { stream: { retentionHours: 12 } }))).toBe(
        `stage 'dev': stream.retentionHours: received 12, expected a whole number of hours from 24 to 8760`,
      );
    });

    it('fails when the maximum record age reaches the stream retention', () => {
      expect(errorOf(() => buildStageConfig('dev', { validator: { maxRecordAgeSeconds: 86_400 } }))).toBe(
        `stage 'dev': validator.maxRecordAgeSeconds: received 86400, expected below the stream retention of 24 h (86400 s), or records expire before reaching the on-failure destination`,
      );
    });

    it('fails when a key is unknown, listing the known keys', () => {
      expect(errorOf(() => buildStageConfig('dev', { stream: { retentonHours: 48 } }))).toBe(
        `stage 'dev': stream.retentonHours: received 48, expected no such key (known keys: capacity, retentionHours)`,
      );
    });

    it('fails when a value has the wrong type', () => {
      expect(errorOf(() => buildStageConfig('prod', { validator: { batchSize: '100' } }))).toBe(
        `stage 'prod': validator.batchSize: received "100", expected an integer from 1 to 10000`,
      );
    });

    it('fails when an on-call address is not an e-mail address', () => {
      expect(errorOf(() => buildStageConfig('prod', { onCallEmails: ['ops@example.com', 'pager'] }))).toBe(
        `stage 'prod': onCallEmails[1]: received "pager", expected an e-mail address`,
      );
    });

    it('fails when the log retention is not one CloudWatch accepts', () => {
      expect(errorOf(() => buildStageConfig('dev', { validator: { logRetentionDays: 10 } }))).toContain(
        `validator.logRetentionDays: received 10, expected one of 1, 3, 5, 7, 14, 30,`,
      );
    });

    it('fails when the storage-class transitions are out of order, reporting every problem', () => {
      // Act
      const message = errorOf(() =>
        buildStageConfig('dev', {
          lake: { raw: { infrequentAccessAfterDays: 30, archiveAfterDays: 45, expireAfterDays: 40 } },
        }),
      );

      // Assess
      expect(message.split('\n')).toEqual([
        `stage 'dev': lake.raw.archiveAfterDays: received 45, expected at least 30 days after infrequentAccessAfterDays (30), i.e. >= 60, or null`,
        `stage 'dev': lake.raw.expireAfterDays: received 40, expected later than the last storage-class transition (day 45), or null`,
      ]);
    });

    it('fails when objects would move to Standard-IA before 30 days', () => {
      expect(
        errorOf(() => buildStageConfig('dev', { lake: { quarantine: { infrequentAccessAfterDays: 7 } } })),
      ).toBe(
        `stage 'dev': lake.quarantine.infrequentAccessAfterDays: received 7, expected null (never) or a whole number of days from 30 to 36500`,
      );
    });

    it('fails when the ETL schedule is not a regular hourly or daily expression', () => {
      expect(errorOf(() => buildStageConfig('dev', { etl: { scheduleExpression: 'rate(5 minutes)' } }))).toBe(
        `stage 'dev': etl.scheduleExpression: received "rate(5 minutes)", expected an EventBridge Scheduler expression firing every N hours or days: rate(N hours), rate(N days), cron(M * * * ? *), cron(M 0/N * * ? *) with N dividing 24, or cron(M H * * ? *)`,
      );
    });

    it('fails when a Glue run may outlast the schedule period', () => {
      expect(errorOf(() => buildStageConfig('prod', { etl: { timeoutMinutes: 60 } }))).toBe(
        `stage 'prod': etl.timeoutMinutes: received 60, expected below the schedule period of 60 minutes (cron(15 * * * ? *)), or a slow run overlaps the next`,
      );
    });

    it('accepts a longer timeout with a longer period', () => {
      expect(
        buildStageConfig('dev', { etl: { scheduleExpression: 'rate(2 hours)', timeoutMinutes: 90 } }).etl
          .timeoutMinutes,
      ).toBe(90);
    });

    it('fails when Flex backfills meet a worker type Flex does not run on', () => {
      expect(errorOf(() => buildStageConfig('dev', { etl: { workerType: 'G.4X' } }))).toBe(
        `stage 'dev': etl.workerType: received "G.4X", expected one of G.1X, G.2X while backfillExecutionClass is FLEX (Flex runs on no other worker type)`,
      );
      expect(
        buildStageConfig('dev', { etl: { workerType: 'G.4X', backfillExecutionClass: 'STANDARD' } }).etl
          .workerType,
      ).toBe('G.4X');
    });

    it('fails when the DQ threshold is not a share from 0 to 1', () => {
      expect(errorOf(() => buildStageConfig('dev', { etl: { dqScoreThreshold: 95 } }))).toBe(
        `stage 'dev': etl.dqScoreThreshold: received 95, expected a number from 0 to 1`,
      );
    });

    it('fails when the backfill concurrency exceeds what an inline Map runs at once', () => {
      expect(errorOf(() => buildStageConfig('dev', { etl: { backfillMaxConcurrency: 41 } }))).toBe(
        `stage 'dev': etl.backfillMaxConcurrency: received 41, expected an integer from 1 to 40`,
      );
    });

    it('fails on the retired features switch, naming ml among the known keys', () => {
      expect(errorOf(() => buildStageConfig('dev', { features: { endpoints: true } }))).toBe(
        `stage 'dev': features: received {"endpoints":true}, expected no such key (known keys: removalPolicy, stream, lake, validator, iotLogging, etl, registryExport, weather, warehouse, quicksight, onCallEmails, ml, disasterRecovery, account, region)`,
      );
    });

    it('fails when a prod-like stage deploys endpoints with fewer than two instances', () => {
      expect(errorOf(() => buildStageConfig('prod', { ml: { endpoints: { instanceCount: 1 } } }))).toBe(
        `stage 'prod': ml.endpoints.instanceCount: received 1, expected at least 2 while removalPolicy is retain (a production stage: with one instance per variant, one instance failure takes the endpoint down)`,
      );
      expect(
        errorOf(() =>
          buildStageConfig('dev', { removalPolicy: 'retain', ml: { endpoints: { enabled: true } } }),
        ),
      ).toContain(
        `stage 'dev': ml.endpoints.instanceCount: received 1, expected at least 2 while removalPolicy is retain`,
      );
    });

    it('switches training off with the endpoints unless the stage sets it', () => {
      expect(buildStageConfig('prod').ml.training.enabled).toBe(true);
      expect(buildStageConfig('prod', { ml: { endpoints: { enabled: false } } }).ml.training.enabled).toBe(
        false,
      );
    });

    it('fails when training is on and the endpoints are off, naming both keys', () => {
      expect(errorOf(() => buildStageConfig('dev', { ml: { training: { enabled: true } } }))).toBe(
        `stage 'dev': ml.training.enabled: received true, expected false while ml.endpoints.enabled is false (the training workflow scores the serving champion and updates its endpoint)`,
      );
    });

    it('fails when the endpoint instance type is not a SageMaker one', () => {
      expect(
        errorOf(() => buildStageConfig('prod', { ml: { endpoints: { instanceType: 'm5.large' } } })),
      ).toBe(
        `stage 'prod': ml.endpoints.instanceType: received "m5.large", expected a SageMaker instance type: ml.<family>.<size>, such as ml.m5.large`,
      );
    });

    it('fails when the instance count is not a whole number from 1 to 100', () => {
      expect(errorOf(() => buildStageConfig('prod', { ml: { endpoints: { instanceCount: 2.5 } } }))).toBe(
        `stage 'prod': ml.endpoints.instanceCount: received 2.5, expected an integer from 1 to 100`,
      );
    });

    it('fails when autoscaling may run fewer instances than the variant starts with', () => {
      expect(errorOf(() => buildStageConfig('prod', { ml: { endpoints: { maxInstanceCount: 1 } } }))).toBe(
        `stage 'prod': ml.endpoints.maxInstanceCount: received 1, expected at least ml.endpoints.instanceCount (2)`,
      );
    });

    it('fails when the scaling target is not a positive whole number of invocations', () => {
      expect(
        errorOf(() => buildStageConfig('prod', { ml: { endpoints: { targetInvocationsPerInstance: 0 } } })),
      ).toBe(
        `stage 'prod': ml.endpoints.targetInvocationsPerInstance: received 0, expected a whole number of invocations a minute from 1 to 1000000`,
      );
    });

    it.each([-1, 51, 12.5])('fails on a challenger share of %s percent', (percent) => {
      expect(
        errorOf(() => buildStageConfig('prod', { ml: { endpoints: { challengerTrafficPercent: percent } } })),
      ).toBe(
        `stage 'prod': ml.endpoints.challengerTrafficPercent: received ${percent}, expected a whole percent from 0 to 50`,
      );
    });

    it('fails when the capture sampling is above 100 percent', () => {
      expect(errorOf(() => buildStageConfig('dev', { ml: { endpoints: { dataCapturePercent: 101 } } }))).toBe(
        `stage 'dev': ml.endpoints.dataCapturePercent: received 101, expected a whole percent from 0 to 100`,
      );
    });

    it('fails when the endpoint switch is not a boolean', () => {
      expect(errorOf(() => buildStageConfig('dev', { ml: { endpoints: { enabled: 'yes' } } }))).toBe(
        `stage 'dev': ml.endpoints.enabled: received "yes", expected true or false`,
      );
    });

    it('fails when the training schedule is not a scheduler expression', () => {
      expect(
        errorOf(() => buildStageConfig('prod', { ml: { training: { scheduleExpression: 'weekly' } } })),
      ).toBe(
        `stage 'prod': ml.training.scheduleExpression: received "weekly", expected an EventBridge Scheduler expression: rate(...) or cron(...)`,
      );
    });

    it('fails when the training instance type is not a SageMaker one', () => {
      expect(errorOf(() => buildStageConfig('prod', { ml: { training: { instanceType: 'ml.m5' } } }))).toBe(
        `stage 'prod': ml.training.instanceType: received "ml.m5", expected a SageMaker instance type: ml.<family>.<size>, such as ml.m5.large`,
      );
    });

    it('fails when an ml key is unknown, listing the known keys', () => {
      expect(errorOf(() => buildStageConfig('dev', { ml: { endpoint: { enabled: true } } }))).toBe(
        `stage 'dev': ml.endpoint: received {"enabled":true}, expected no such key (known keys: endpoints, training)`,
      );
    });

    it('fails once when the ml section is not an object', () => {
      expect(errorOf(() => buildStageConfig('prod', { ml: true }))).toBe(
        `stage 'prod': ml: received true, expected an object with the keys endpoints and training`,
      );
    });

    it('fails when QuickSight is on and the warehouse is off, naming both', () => {
      expect(
        errorOf(() => buildStageConfig('dev', { quicksight: { enabled: true, groupName: 'analysts' } })),
      ).toBe(
        `stage 'dev': quicksight.enabled: received true, expected false while warehouse.enabled is false (the QuickSight datasets read the warehouse)`,
      );
    });

    it('fails when QuickSight is on without a group to share the datasets with', () => {
      expect(errorOf(() => buildStageConfig('prod', { quicksight: { enabled: true } }))).toBe(
        `stage 'prod': quicksight.groupArn: received null, expected a QuickSight group ARN, or quicksight.groupName, while quicksight.enabled is true (the datasets are shared with that group)`,
      );
    });

    it('fails when the QuickSight group ARN is not one', () => {
      expect(
        errorOf(() =>
          buildStageConfig('prod', { quicksight: { groupArn: 'arn:aws:iam::123456789012:group/analysts' } }),
        ),
      ).toBe(
        `stage 'prod': quicksight.groupArn: received "arn:aws:iam::123456789012:group/analysts", expected a QuickSight group ARN (arn:aws:quicksight:<region>:<account>:group/<namespace>/<name>), or null`,
      );
    });

    it.each([0, 6, 12, 2048, 8.5])('fails on a base capacity of %s RPU', (rpu) => {
      expect(errorOf(() => buildStageConfig('prod', { warehouse: { baseCapacityRpu: rpu } }))).toBe(
        `stage 'prod': warehouse.baseCapacityRpu: received ${rpu}, expected 4, or a multiple of 8 from 8 to 1024 (RPUs)`,
      );
    });

    it('fails when the database name is not a Redshift identifier', () => {
      expect(errorOf(() => buildStageConfig('prod', { warehouse: { databaseName: 'Sdap-Prod' } }))).toBe(
        `stage 'prod': warehouse.databaseName: received "Sdap-Prod", expected a lowercase letter, then lowercase letters, digits or underscores (at most 64)`,
      );
    });

    it('fails when the weather provider URL is not https, naming the key', () => {
      expect(
        errorOf(() => buildStageConfig('dev', { weather: { providerUrl: 'http://weather.example/v1' } })),
      ).toBe(
        `stage 'dev': weather.providerUrl: received "http://weather.example/v1", expected an https:// URL`,
      );
    });

    it('fails when the weather lookback is outside 1..744 hours', () => {
      expect(errorOf(() => buildStageConfig('dev', { weather: { lookbackHours: 0 } }))).toBe(
        `stage 'dev': weather.lookbackHours: received 0, expected a whole number of hours from 1 to 744`,
      );
    });

    it('fails when weather is on and the registry export is off, naming both', () => {
      // Prepare
      const expected = (stage: string) =>
        `stage '${stage}': weather.enabled: received true, expected false while registryExport.enabled is false (the weather function reads its sites from the registry export; registryExport.enabled follows etl.enabled unless set)`;

      // Assess
      expect(
        errorOf(() =>
          buildStageConfig('prod', { weather: { enabled: true }, registryExport: { enabled: false } }),
        ),
      ).toBe(expected('prod'));
      expect(
        errorOf(() => buildStageConfig('dev', { weather: { enabled: true }, etl: { enabled: false } })),
      ).toBe(expected('dev'));
    });

    it('fails when the registry export schedule is not a scheduler expression', () => {
      expect(
        errorOf(() => buildStageConfig('dev', { registryExport: { scheduleExpression: 'hourly' } })),
      ).toBe(
        `stage 'dev': registryExport.scheduleExpression: received "hourly", expected an EventBridge Scheduler expression: rate(...) or cron(...)`,
      );
    });

    it('reports a wrong ETL switch once, not again on the registry export that follows it', () => {
      expect(errorOf(() => buildStageConfig('dev', { etl: { enabled: 'yes' } }))).toBe(
        `stage 'dev': etl.enabled: received "yes", expected true or false`,
      );
    });

    it('fails when the registry export switch is not a boolean', () => {
      expect(errorOf(() => buildStageConfig('dev', { registryExport: { enabled: 1 } }))).toBe(
        `stage 'dev': registryExport.enabled: received 1, expected true or false`,
      );
    });

    it('fails when the override is not a JSON object', () => {
      expect(errorOf(() => buildStageConfig('dev', '{"stream":'))).toBe(
        `context 'sdap:dev': received "{\\"stream\\":", expected a JSON object`,
      );
      expect(errorOf(() => buildStageConfig('dev', [1]))).toBe(
        `context 'sdap:dev': received [1], expected a JSON object`,
      );
    });

    it('fails when the account id is malformed', () => {
      expect(errorOf(() => buildStageConfig('prod', { account: '1234' }))).toBe(
        `stage 'prod': account: received "1234", expected a 12-digit AWS account id`,
      );
    });

    it('fails on a __proto__ key instead of polluting the prototype', () => {
      // Act
      const message = errorOf(() => buildStageConfig('dev', JSON.parse('{"__proto__":{"polluted":true}}')));

      // Assess
      expect(message).toContain(`__proto__: received {"polluted":true}, expected no such key`);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });
});
