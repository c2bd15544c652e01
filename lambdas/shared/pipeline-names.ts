/**
 * Names shared by the code that runs in Lambda and the infrastructure that deploys it: environment
 * variables, metric names, event shapes and lake prefixes. Defined once so an alarm cannot watch a
 * metric the function never emits.
 */

/** Environment variables the validator reads at cold start. */
export const VALIDATOR_ENV = {
  rawBucket: 'RAW_BUCKET_NAME',
  quarantineBucket: 'QUARANTINE_BUCKET_NAME',
  alertBus: 'ALERT_BUS_NAME',
  criticalAlertTopic: 'CRITICAL_ALERT_TOPIC_ARN',
  /**
   * Optional: the SageMaker endpoint serving the anomaly model. When set, the validator scores every
   * batch's valid readings (and needs {@link VALIDATOR_ENV.curatedBucket}); unset, it runs the rules only.
   */
  anomalyEndpoint: 'ANOMALY_ENDPOINT_NAME',
  /** The curated bucket, whose `device_baselines/` the scoring reads (required with an endpoint). */
  curatedBucket: 'CURATED_BUCKET_NAME',
  /** Optional: how long cached device baselines are used before they are read again (seconds). */
  baselineMaxAgeSeconds: 'BASELINE_MAX_AGE_SECONDS',
} as const;

/** CloudWatch namespace of the pipeline's own (EMF) metrics. */
export const METRICS_NAMESPACE = 'Sdap';
/** Powertools' `service` dimension of the validator's metrics. */
export const VALIDATOR_SERVICE_NAME = 'telemetry-validator';

/** Metrics the validator emits once per invocation, all with unit Count and dimension `service`. */
export const VALIDATOR_METRICS = {
  readingsValid: 'ReadingsValid',
  readingsQuarantined: 'ReadingsQuarantined',
  duplicatesDropped: 'DuplicateReadingsDropped',
  alertsRaised: 'AlertsRaised',
  recordsRetried: 'RecordsRetried',
} as const;

/**
 * Metrics of the validator's anomaly scoring. Each carries the dimension `Model` (the model's name in
 * `ml/models.json`) beside `service`; `RulesOnlyBatches` also `Reason` (why the batch was not scored).
 * `HighScoreShare` is the percentage of a scored batch's rows at or above the model's threshold: a
 * drift alarm watches it.
 */
export const SCORING_METRICS = {
  rowsScored: 'RowsScored',
  rowsRulesOnly: 'RowsRulesOnly',
  rulesOnlyBatches: 'RulesOnlyBatches',
  highScoreShare: 'HighScoreShare',
} as const;
export const SCORING_DIMENSIONS = { model: 'Model', reason: 'Reason' } as const;
/** Times the device baselines of a day could not be read (missing partition or read error); dimension `service`. */
export const BASELINE_METRICS = { unavailable: 'BaselinesUnavailable' } as const;

/**
 * The batch ETL's per-device baselines in the curated bucket:
 * `device_baselines/event_date=YYYY-MM-DD/part-*.parquet`, the rows of day D valid from D+1 00:00
 * to D+2 00:00 UTC (glue-scripts/sql/80_device_baselines.sql).
 */
export const DEVICE_BASELINES_PREFIX = 'device_baselines';

/** EventBridge `source` and `detail-type` of a telemetry alert. */
export const ALERT_EVENT_SOURCE = 'sdap.telemetry';
export const ALERT_DETAIL_TYPE = 'Telemetry Alert';

/**
 * Top-level prefixes in the lake buckets. The raw zone is Hive-partitioned by device type and by the
 * hour the stream accepted the reading (arrival, not device time: each hour's partition closes, so
 * the hourly ETL reads a fixed set of objects; late readings are re-placed by event time there).
 */
export const RAW_PREFIX = 'telemetry';
export const QUARANTINE_PREFIX = 'rejected';
export const RAW_PARTITION_KEYS = ['device_type', 'ingest_date', 'ingest_hour'] as const;

/**
 * Real-time alerts archived in the raw bucket for the batch ETL: `alerts/ingest_date=YYYY-MM-DD/
 * ingest_hour=HH/`, gzip NDJSON, partitioned like the readings by the hour the stream accepted the
 * record that raised them (so an hourly run reads a closed set of objects). Apart from `telemetry/`,
 * so that nothing reading the telemetry table or counting readings ever sees an alert.
 */
export const ALERTS_PREFIX = 'alerts';

/** Environment variables the weather ingest function reads at cold start. */
export const WEATHER_ENV = {
  rawBucket: 'RAW_BUCKET_NAME',
  providerUrl: 'WEATHER_PROVIDER_URL',
  providerName: 'WEATHER_PROVIDER_NAME',
  /** Name or ARN of the secret holding the provider's API key; unset when the provider needs none. */
  apiKeySecretId: 'WEATHER_API_KEY_SECRET_ID',
  lookbackHours: 'WEATHER_LOOKBACK_HOURS',
} as const;

/** Powertools' `service` dimension of the weather ingest function's metrics. */
export const WEATHER_SERVICE_NAME = 'weather-ingest';

/** Metrics the weather ingest function emits once per run, all with unit Count and dimension `service`. */
export const WEATHER_METRICS = {
  hoursFetched: 'WeatherHoursFetched',
  hoursMissing: 'WeatherHoursMissing',
  sitesFailed: 'WeatherSitesFailed',
} as const;

/**
 * Weather in the raw bucket: `weather/weather_date=YYYY-MM-DD/<siteId>.ndjson`, one line per site-hour
 * (UTC dates and hours).
 */
export const WEATHER_PREFIX = 'weather';
export const WEATHER_PARTITION_KEY = 'weather_date';

/**
 * Where the export of the IoT registry lands in the raw bucket: the registry-export function in AWS,
 * the twin locally. The ETL reads both files; the weather function reads the site groups (with their
 * coordinates) from the thing-groups file.
 */
export const IOT_REGISTRY_PREFIX = 'iot-registry';
export const IOT_REGISTRY_THINGS_KEY = `${IOT_REGISTRY_PREFIX}/things.ndjson`;
export const IOT_REGISTRY_THING_GROUPS_KEY = `${IOT_REGISTRY_PREFIX}/thing-groups.ndjson`;
