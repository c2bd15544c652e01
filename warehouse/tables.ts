/**
 * The warehouse's tables: a star schema of dimensions (device, location, site, date, hour) and
 * facts (hourly telemetry, daily device health, energy, anomalies, data quality, predictions).
 * Names are for humans: analysts see these in QuickSight.
 */
import {
  ANOMALY_ALERTS,
  DEVICE_DAILY_HEALTH,
  DEVICE_HOURLY,
  DEVICE_REGISTRY,
  DQ_PARTITION,
  ENERGY_DEVICE_HOURLY,
  ENERGY_SITE_DAILY,
  LOCATION_REGISTRY,
  PREDICTIONS,
} from './curated-tables.ts';
import type { WarehouseColumn, WarehouseTable, WarehouseType } from './spec.ts';

function col(name: string, type: WarehouseType, description: string, maxLength?: number): WarehouseColumn {
  return maxLength === undefined ? { name, type, description } : { name, type, description, maxLength };
}

const HOURLY = 'hourly, after each ETL run (late readings update the hours they belong to)';
const DAILY = 'hourly, after each ETL run: the current day grows until midnight UTC';
const SNAPSHOT = 'daily snapshot of the IoT registry, applied at each ETL run';

/** Columns shared by tables keyed by an hour. */
const hourStart = col('hour_start', 'timestamp', 'Start of the UTC hour the row covers.');
const eventDate = col('event_date', 'date', 'UTC date of the row.');
const deviceId = col('device_id', 'string', 'The device (its IoT thing name).', 64);
const deviceType = col('device_type', 'string', 'thermostat, camera, smart_lock or sensor.', 32);
const siteId = col('site_id', 'string', 'The site the device is installed at (see dim_site).', 32);

/** Day name from a day-of-week number (0 = Sunday), in SQL every dialect runs. */
function dayName(dow: string): string {
  const names = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  return `CASE ${dow} ${names.map((name, index) => `WHEN ${index} THEN '${name}'`).join(' ')} END`;
}

export const DIM_DEVICE: WarehouseTable = {
  name: 'dim_device',
  kind: 'dimension',
  description: 'One row per device: what it is and where it is installed, from the IoT registry.',
  columns: [
    deviceId,
    deviceType,
    col('model', 'string', 'Model name from the registry.', 64),
    col('firmware_version', 'string', 'Firmware the registry lists for the device.', 32),
    col('install_date', 'date', 'Day the device was installed.'),
    col('sensor_kind', 'string', 'For sensors: temperature, humidity, co2, motion, leak or contact.', 32),
    col('reporting_interval_s', 'int', 'Seconds between two readings the device is configured for.'),
    col('expected_readings_per_hour', 'double', 'Readings an hour the device should send (3600 / interval).'),
    col('portfolio_id', 'string', 'The portfolio (top of the location hierarchy).', 32),
    siteId,
    col('building_id', 'string', 'The building within the site.', 32),
    col('room_id', 'string', 'The room within the building.', 48),
    col('snapshot_date', 'date', 'Day of the registry snapshot this row comes from.'),
  ],
  key: ['device_id'],
  distribution: { style: 'all' },
  sortKey: ['device_id'],
  refresh: SNAPSHOT,
  loads: [
    {
      from: DEVICE_REGISTRY,
      expressions: { snapshot_date: '{{event_date}}' },
      newerBy: 'snapshot_date',
    },
  ],
};

export const DIM_LOCATION: WarehouseTable = {
  name: 'dim_location',
  kind: 'dimension',
  description:
    'The location hierarchy, one row per place: portfolio → site → building → room. `parent_location_id` links each place to the one above it.',
  columns: [
    col('location_id', 'string', 'The place (its IoT thing group name).', 64),
    col('location_level', 'string', 'portfolio, site, building or room.', 16),
    col('parent_location_id', 'string', 'The place one level up; empty for a portfolio.', 64),
    col('location_name', 'string', 'Human name of the place.', 128),
    col('portfolio_id', 'string', 'Portfolio id, on portfolio rows.', 32),
    col('site_id', 'string', 'Site id, on site rows.', 32),
    col('building_id', 'string', 'Building id, on building rows.', 32),
    col('room_id', 'string', 'Room id, on room rows (devices point to it).', 48),
    col('city', 'string', 'City, on site rows.', 64),
    col('latitude_deg', 'double', 'Latitude in degrees, on site rows.'),
    col('longitude_deg', 'double', 'Longitude in degrees, on site rows.'),
    col('utc_offset_hours', 'double', 'Local time minus UTC in hours, on site rows.'),
    col('building_use', 'string', 'office, residential, …, on building rows.', 32),
    col('snapshot_date', 'date', 'Day of the registry snapshot this row comes from.'),
  ],
  key: ['location_id'],
  distribution: { style: 'all' },
  sortKey: ['location_id'],
  refresh: SNAPSHOT,
  loads: [
    { from: LOCATION_REGISTRY, expressions: { snapshot_date: '{{event_date}}' }, newerBy: 'snapshot_date' },
  ],
};

export const DIM_SITE: WarehouseTable = {
  name: 'dim_site',
  kind: 'dimension',
  description: 'One row per site: the place devices and energy are reported by.',
  columns: [
    siteId,
    col('site_name', 'string', 'Human name of the site.', 128),
    col('city', 'string', 'City the site is in.', 64),
    col('latitude_deg', 'double', 'Latitude in degrees.'),
    col('longitude_deg', 'double', 'Longitude in degrees.'),
    col('utc_offset_hours', 'double', 'Local time minus UTC in hours.'),
    col('parent_location_id', 'string', 'The portfolio the site belongs to (a dim_location id).', 64),
    col('snapshot_date', 'date', 'Day of the registry snapshot this row comes from.'),
  ],
  key: ['site_id'],
  distribution: { style: 'all' },
  sortKey: ['site_id'],
  refresh: SNAPSHOT,
  loads: [
    {
      from: LOCATION_REGISTRY,
      where: "s.location_level = 'site'",
      expressions: { site_name: 's.location_name', snapshot_date: '{{event_date}}' },
      newerBy: 'snapshot_date',
    },
  ],
};

export const DIM_DATE: WarehouseTable = {
  name: 'dim_date',
  kind: 'dimension',
  description: 'One row per UTC day the warehouse holds data for.',
  columns: [
    eventDate,
    col('year', 'int', 'Calendar year.'),
    col('month', 'int', 'Month of the year, 1-12.'),
    col('day_of_month', 'int', 'Day of the month, 1-31.'),
    col('day_of_week', 'int', 'Day of the week, 0 = Sunday … 6 = Saturday.'),
    col('day_name', 'string', 'Monday, Tuesday, …', 16),
    col('week_start', 'date', 'The Monday starting the ISO week.'),
    col('is_weekend', 'boolean', 'Saturday or Sunday.'),
  ],
  key: ['event_date'],
  distribution: { style: 'all' },
  sortKey: ['event_date'],
  refresh: DAILY,
  loads: [
    {
      from: DEVICE_DAILY_HEALTH,
      expressions: {
        event_date: '{{event_date}}',
        year: 'CAST(EXTRACT(YEAR FROM {{event_date}}) AS INTEGER)',
        month: 'CAST(EXTRACT(MONTH FROM {{event_date}}) AS INTEGER)',
        day_of_month: 'CAST(EXTRACT(DAY FROM {{event_date}}) AS INTEGER)',
        day_of_week: 'CAST(EXTRACT(DOW FROM {{event_date}}) AS INTEGER)',
        day_name: dayName('CAST(EXTRACT(DOW FROM {{event_date}}) AS INTEGER)'),
        week_start: "CAST(DATE_TRUNC('week', {{event_date}}) AS DATE)",
        is_weekend: 'EXTRACT(DOW FROM {{event_date}}) IN (0, 6)',
      },
    },
  ],
};

export const DIM_HOUR: WarehouseTable = {
  name: 'dim_hour',
  kind: 'dimension',
  description: 'One row per UTC hour the warehouse holds data for.',
  columns: [
    hourStart,
    eventDate,
    col('hour_of_day', 'int', 'Hour of the UTC day, 0-23.'),
    col('day_of_week', 'int', 'Day of the week, 0 = Sunday … 6 = Saturday.'),
    col('is_weekend', 'boolean', 'Saturday or Sunday.'),
  ],
  key: ['hour_start'],
  distribution: { style: 'all' },
  sortKey: ['hour_start'],
  refresh: HOURLY,
  loads: [
    {
      from: DQ_PARTITION,
      expressions: {
        hour_start: '{{hour_start}}',
        event_date: '{{event_date}}',
        hour_of_day: 'CAST(EXTRACT(HOUR FROM {{hour_start}}) AS INTEGER)',
        day_of_week: 'CAST(EXTRACT(DOW FROM {{hour_start}}) AS INTEGER)',
        is_weekend: 'EXTRACT(DOW FROM {{hour_start}}) IN (0, 6)',
      },
    },
  ],
};

export const FACT_TELEMETRY_HOURLY: WarehouseTable = {
  name: 'fact_telemetry_hourly',
  kind: 'fact',
  description:
    "One row per device and hour: the hour's readings of the device's main metric, its 24-hour baseline and whether the hour was anomalous.",
  columns: [
    hourStart,
    eventDate,
    deviceId,
    deviceType,
    siteId,
    col(
      'metric_name',
      'string',
      'The metric summarised: ambient_temperature_c, fps, battery_pct or value.',
      48,
    ),
    col('readings', 'bigint', 'Distinct readings received for the hour (duplicates removed).'),
    col('metric_mean', 'double', 'Mean of the metric over the hour.'),
    col('metric_min', 'double', 'Lowest value of the metric in the hour.'),
    col('metric_max', 'double', 'Highest value of the metric in the hour.'),
    col('metric_last', 'double', 'Last value of the metric in the hour.'),
    col('metric_rolling_mean_24h', 'double', 'Mean of the hourly means over the last 24 hours.'),
    col('metric_baseline_mean_24h', 'double', 'Mean of the 24 hours before this one (the baseline).'),
    col('metric_baseline_stddev_24h', 'double', 'Standard deviation of the baseline hours.'),
    col(
      'metric_zscore',
      'double',
      'How many baseline standard deviations the hour is from the baseline mean.',
    ),
    col('is_anomaly', 'boolean', 'True when |z-score| is at least 3 with at least 6 baseline hours.'),
    col('energy_wh', 'double', 'Energy used in the hour, watt-hours (thermostats).'),
    col('rssi_mean_dbm', 'double', 'Mean Wi-Fi signal strength, dBm.'),
    col('battery_last_pct', 'double', 'Battery level at the last reading of the hour, percent.'),
    col('error_readings', 'bigint', 'Readings reporting a device error.'),
    col('reboots', 'bigint', 'Reboots seen in the hour (uptime going back).'),
  ],
  key: ['device_id', 'hour_start'],
  distribution: { style: 'key', column: 'device_id' },
  sortKey: ['hour_start', 'device_id'],
  refresh: HOURLY,
  loads: [
    { from: DEVICE_HOURLY, expressions: { event_date: '{{event_date}}' }, owns: { column: 'hour_start' } },
  ],
};

export const FACT_DEVICE_HEALTH_DAILY: WarehouseTable = {
  name: 'fact_device_health_daily',
  kind: 'fact',
  description: 'One row per device and day: how well the device worked that day.',
  columns: [
    eventDate,
    deviceId,
    deviceType,
    siteId,
    col('hours_reporting', 'bigint', 'Hours of the day with at least one reading.'),
    col('uptime_pct', 'double', 'Share of the day the device reported, percent.'),
    col('readings', 'bigint', 'Distinct readings received that day.'),
    col('battery_first_pct', 'double', 'Battery level at the first reading of the day, percent.'),
    col('battery_last_pct', 'double', 'Battery level at the last reading of the day, percent.'),
    col('battery_trend_pct_per_day', 'double', 'Battery change over the day, percentage points a day.'),
    col('error_readings', 'bigint', 'Readings reporting a device error.'),
    col('anomaly_hours', 'bigint', 'Hours flagged anomalous by the batch z-score test.'),
    col('reboots', 'bigint', 'Reboots seen that day.'),
    col('jammed_readings', 'bigint', 'Smart-lock readings reporting a jammed bolt.'),
    col('failed_attempts', 'bigint', 'Failed unlock attempts reported that day.'),
    col(
      'triggered_readings',
      'bigint',
      'Sensor readings in the triggered state (motion, leak, contact open).',
    ),
    col('rssi_mean_dbm', 'double', 'Mean Wi-Fi signal strength, dBm.'),
  ],
  key: ['device_id', 'event_date'],
  distribution: { style: 'key', column: 'device_id' },
  sortKey: ['event_date', 'device_id'],
  refresh: DAILY,
  loads: [
    {
      from: DEVICE_DAILY_HEALTH,
      expressions: { event_date: '{{event_date}}' },
      owns: { column: 'event_date' },
    },
  ],
};

export const FACT_ENERGY_HOURLY: WarehouseTable = {
  name: 'fact_energy_hourly',
  kind: 'fact',
  description: 'One row per thermostat and hour: energy used, indoor and outdoor conditions.',
  columns: [
    hourStart,
    eventDate,
    deviceId,
    deviceType,
    siteId,
    col('readings', 'bigint', 'Readings the hour is computed from.'),
    col('energy_wh', 'double', 'Energy used in the hour, watt-hours.'),
    col('hvac_power_mean_w', 'double', 'Mean HVAC power draw, watts.'),
    col('hvac_active_readings', 'bigint', 'Readings with the HVAC running.'),
    col('indoor_temperature_mean_c', 'double', 'Mean indoor temperature, °C.'),
    col('target_temperature_mean_c', 'double', 'Mean set-point, °C.'),
    col('outdoor_temperature_c', 'double', 'Outdoor temperature at the site for the hour, °C.'),
    col('relative_humidity_pct', 'double', 'Outdoor relative humidity, percent.'),
    col('heating_degree_hours_c', 'double', 'Degrees the outdoor temperature is below 18 °C, for the hour.'),
    col('cooling_degree_hours_c', 'double', 'Degrees the outdoor temperature is above 18 °C, for the hour.'),
  ],
  key: ['device_id', 'hour_start'],
  distribution: { style: 'key', column: 'device_id' },
  sortKey: ['hour_start', 'device_id'],
  refresh: HOURLY,
  loads: [
    {
      from: ENERGY_DEVICE_HOURLY,
      expressions: { event_date: '{{event_date}}' },
      owns: { column: 'hour_start' },
    },
  ],
};

export const FACT_SITE_ENERGY_DAILY: WarehouseTable = {
  name: 'fact_site_energy_daily',
  kind: 'fact',
  description: 'One row per site and day: energy of all its thermostats and the weather that drove it.',
  columns: [
    eventDate,
    siteId,
    col('devices_reporting', 'bigint', 'Thermostats that reported energy that day.'),
    col('energy_wh', 'double', 'Energy used by the thermostats of the site, watt-hours.'),
    col('weather_hours', 'bigint', 'Hours of the day with an outdoor observation.'),
    col('outdoor_temperature_mean_c', 'double', 'Mean outdoor temperature, °C.'),
    col('heating_degree_hours_c', 'double', 'Heating degree-hours of the day (base 18 °C).'),
    col('cooling_degree_hours_c', 'double', 'Cooling degree-hours of the day (base 18 °C).'),
  ],
  key: ['site_id', 'event_date'],
  distribution: { style: 'auto' },
  sortKey: ['event_date', 'site_id'],
  refresh: DAILY,
  loads: [
    {
      from: ENERGY_SITE_DAILY,
      expressions: { event_date: '{{event_date}}' },
      owns: { column: 'event_date' },
    },
  ],
};

/** The `model_name` of the failure model's rows in fact_prediction (its name in ml/models.json). */
export const FAILURE_MODEL_NAME = 'failure';

/** `source` values of fact_anomaly. */
export const ANOMALY_SOURCES = { realtime: 'realtime', batch: 'batch' } as const;

export const FACT_ANOMALY: WarehouseTable = {
  name: 'fact_anomaly',
  kind: 'fact',
  description:
    'One row per anomaly: real-time alerts raised by the stream validator, and hours the batch ETL found far from the device baseline.',
  columns: [
    col('anomaly_id', 'string', 'Unique id: the alert id, or device:metric:hour for a batch finding.', 160),
    col('source', 'string', 'realtime (stream rules) or batch (hourly z-score test).', 16),
    col('rule', 'string', 'The rule that fired, e.g. lock_jammed, battery_low, hourly_zscore.', 48),
    col('severity', 'string', 'critical, security, warning or info.', 16),
    deviceId,
    deviceType,
    siteId,
    col('detected_at', 'timestamp', 'Device time of the reading that raised it (batch: start of the hour).'),
    hourStart,
    eventDate,
    col('event_id', 'string', 'The reading that raised it (real-time only).', 64),
    col('message', 'string', 'What happened, in words.', 512),
    col('observed', 'string', 'The value that broke the rule (real-time only).', 64),
    col('threshold', 'string', 'The limit it broke (real-time only).', 64),
    col('metric_zscore', 'double', 'Distance from the baseline in standard deviations (batch only).'),
  ],
  key: ['anomaly_id'],
  distribution: { style: 'key', column: 'device_id' },
  sortKey: ['hour_start', 'device_id'],
  refresh: HOURLY,
  loads: [
    {
      from: ANOMALY_ALERTS,
      expressions: {
        anomaly_id: 's.alert_id',
        source: `'${ANOMALY_SOURCES.realtime}'`,
        detected_at: 's.alert_time',
        hour_start: '{{hour_start}}',
        event_date: '{{event_date}}',
        metric_zscore: 'CAST(NULL AS DOUBLE PRECISION)',
      },
      owns: { column: 'hour_start', where: `source = '${ANOMALY_SOURCES.realtime}'` },
    },
    {
      from: DEVICE_HOURLY,
      where: 's.is_anomaly',
      expressions: {
        anomaly_id: "s.device_id || ':' || s.metric_name || ':' || CAST(s.hour_start AS VARCHAR(32))",
        source: `'${ANOMALY_SOURCES.batch}'`,
        rule: "'hourly_zscore'",
        severity: "'warning'",
        detected_at: 's.hour_start',
        event_date: '{{event_date}}',
        event_id: 'CAST(NULL AS VARCHAR(64))',
        message: "'Hourly ' || s.metric_name || ' far from the device''s 24-hour baseline'",
        observed: 'CAST(NULL AS VARCHAR(64))',
        threshold: 'CAST(NULL AS VARCHAR(64))',
      },
      owns: { column: 'hour_start', where: `source = '${ANOMALY_SOURCES.batch}'` },
    },
  ],
};

export const FACT_DATA_QUALITY_HOURLY: WarehouseTable = {
  name: 'fact_data_quality_hourly',
  kind: 'fact',
  description: 'One row per device type and hour: how complete, valid, timely and in order the data was.',
  columns: [
    hourStart,
    eventDate,
    deviceType,
    col('devices_expected', 'bigint', 'Devices of the type in the registry.'),
    col('devices_reporting', 'bigint', 'Devices of the type that reported in the hour.'),
    col('expected_readings', 'double', 'Readings the registry says should have arrived.'),
    col('received_readings', 'bigint', 'Distinct readings that arrived.'),
    col('quarantined_readings', 'bigint', 'Readings rejected by the validator in the hour.'),
    col('duplicate_copies', 'bigint', 'Extra copies of readings removed by de-duplication.'),
    col('late_readings', 'bigint', 'Readings that arrived after their hour was first processed.'),
    col('seq_gaps', 'bigint', 'Readings missing according to the devices’ sequence numbers.'),
    col('completeness', 'double', 'received / expected, 0-1.'),
    col('validity', 'double', 'valid / (valid + quarantined), 0-1.'),
    col('timeliness', 'double', 'on-time / received, 0-1.'),
    col('sequence_integrity', 'double', '1 - gaps / expected sequence numbers, 0-1.'),
    col('dq_score', 'double', 'Overall data-quality score, 0-100 (the ETL gate alarms below its threshold).'),
    col('device_dq_score_min', 'double', 'Worst single device’s score in the hour, 0-100.'),
  ],
  key: ['device_type', 'hour_start'],
  distribution: { style: 'auto' },
  sortKey: ['hour_start', 'device_type'],
  refresh: HOURLY,
  loads: [
    { from: DQ_PARTITION, expressions: { event_date: '{{event_date}}' }, owns: { column: 'hour_start' } },
  ],
};

export const FACT_PREDICTION: WarehouseTable = {
  name: 'fact_prediction',
  kind: 'fact',
  description:
    'One row per device, hour and model: the probability the device fails within 24 hours (filled by the failure-prediction model).',
  columns: [
    hourStart,
    eventDate,
    deviceId,
    deviceType,
    siteId,
    col('model_name', 'string', 'The model that scored the hour.', 64),
    col('model_version', 'string', 'Its version (model package version or artefact hash).', 64),
    col('failure_probability', 'double', 'Probability of failure within the next 24 hours, 0-1.'),
    col('scored_at', 'timestamp', 'When the model scored the hour.'),
  ],
  key: ['device_id', 'hour_start', 'model_name'],
  distribution: { style: 'key', column: 'device_id' },
  sortKey: ['hour_start', 'device_id'],
  refresh:
    'hourly, after each ETL run, in stages that deploy the failure model (late readings re-score the hours they belong to)',
  loads: [
    {
      from: PREDICTIONS,
      expressions: { event_date: '{{event_date}}' },
      // A rescored hour replaces the model's rows of that hour: a device no longer scored drops out.
      owns: { column: 'hour_start', where: `model_name = '${FAILURE_MODEL_NAME}'`, key: 'device_id' },
    },
  ],
};

/** Every table, dimensions first (the order migrations create them in). */
export const WAREHOUSE_TABLES: readonly WarehouseTable[] = [
  DIM_DEVICE,
  DIM_LOCATION,
  DIM_SITE,
  DIM_DATE,
  DIM_HOUR,
  FACT_TELEMETRY_HOURLY,
  FACT_DEVICE_HEALTH_DAILY,
  FACT_ENERGY_HOURLY,
  FACT_SITE_ENERGY_DAILY,
  FACT_ANOMALY,
  FACT_DATA_QUALITY_HOURLY,
  FACT_PREDICTION,
];
