/**
 * The curated tables the warehouse loads, with the columns of their Parquet files in file order
 * (Hive partition columns are in the key, not the file). The batch ETL's SQL decides these columns,
 * except for `predictions`, which the ETL's scoring step writes from this very list;
 * `test/local/warehouse/twin-warehouse.test.ts` runs the ETL (and the scoring) and fails when this
 * list is stale.
 */
import type { CuratedColumn, CuratedTable, WarehouseType } from './spec.ts';

/** `name type, name type, …` → columns; keeps the lists below readable. */
function columns(spec: string): CuratedColumn[] {
  return spec
    .split(',')
    .map((part) => part.trim().split(/\s+/))
    .map(([name, type]) => ({ name: name as string, type: type as WarehouseType }));
}

export const DEVICE_HOURLY: CuratedTable = {
  name: 'device_hourly',
  prefix: 'device_hourly/',
  scope: 'hour',
  columns:
    columns(`hour_start timestamp, device_id string, device_type string, site_id string, metric_name string,
    readings bigint, metric_mean double, metric_min double, metric_max double, metric_last double,
    metric_rolling_mean_24h double, metric_rolling_stddev_24h double, metric_baseline_mean_24h double,
    metric_baseline_stddev_24h double, metric_baseline_hours bigint, metric_zscore double, is_anomaly boolean,
    metric_delta_prev_hour double, readings_rolling_mean_24h double, readings_delta_prev_hour bigint,
    energy_wh double, energy_wh_rolling_mean_24h double, energy_wh_delta_prev_hour double, rssi_mean_dbm double,
    battery_last_pct double, error_readings bigint, reboots bigint`),
};

export const DEVICE_DAILY_HEALTH: CuratedTable = {
  name: 'device_daily_health',
  prefix: 'device_daily_health/',
  scope: 'day',
  columns:
    columns(`device_id string, device_type string, site_id string, hours_reporting bigint, uptime_pct double,
    readings bigint, battery_first_pct double, battery_last_pct double, battery_trend_pct_per_day double,
    error_readings bigint, anomaly_hours bigint, reboots bigint, jammed_readings bigint, failed_attempts bigint,
    triggered_readings bigint, rssi_mean_dbm double`),
};

export const ENERGY_DEVICE_HOURLY: CuratedTable = {
  name: 'energy_device_hourly',
  prefix: 'energy_device_hourly/',
  scope: 'hour',
  columns:
    columns(`hour_start timestamp, device_id string, device_type string, site_id string, readings bigint,
    energy_wh double, hvac_power_mean_w double, hvac_active_readings bigint, indoor_temperature_mean_c double,
    target_temperature_mean_c double, outdoor_temperature_c double, relative_humidity_pct double,
    heating_degree_hours_c double, cooling_degree_hours_c double`),
};

export const ENERGY_SITE_DAILY: CuratedTable = {
  name: 'energy_site_daily',
  prefix: 'energy_site_daily/',
  scope: 'day',
  columns: columns(`site_id string, devices_reporting bigint, energy_wh double, weather_hours bigint,
    outdoor_temperature_mean_c double, heating_degree_hours_c double, cooling_degree_hours_c double`),
};

export const DQ_PARTITION: CuratedTable = {
  name: 'dq_partition',
  prefix: 'dq_partition/',
  scope: 'hour',
  columns:
    columns(`hour_start timestamp, device_type string, devices_expected bigint, devices_reporting bigint,
    expected_readings double, received_readings bigint, quarantined_readings bigint, duplicate_copies bigint,
    late_readings bigint, on_time_readings bigint, seq_gaps bigint, completeness double, validity double,
    timeliness double, sequence_integrity double, dq_score double, device_dq_score_min double,
    device_dq_score_mean double`),
};

export const ANOMALY_ALERTS: CuratedTable = {
  name: 'anomaly_alerts',
  prefix: 'anomaly_alerts/',
  scope: 'hour',
  columns: columns(`alert_id string, rule string, severity string, device_id string, device_type string,
    site_id string, event_id string, alert_time timestamp, arrived_at timestamp, message string, observed string,
    threshold string`),
};

export const DEVICE_REGISTRY: CuratedTable = {
  name: 'device_registry',
  prefix: 'device_registry/',
  scope: 'day',
  columns: columns(`device_id string, device_type string, model string, firmware_version string,
    install_date date, sensor_kind string, reporting_interval_s int, expected_readings_per_hour double,
    portfolio_id string, site_id string, building_id string, room_id string`),
};

export const LOCATION_REGISTRY: CuratedTable = {
  name: 'location_registry',
  prefix: 'location_registry/',
  scope: 'day',
  columns:
    columns(`location_id string, location_level string, parent_location_id string, location_name string,
    portfolio_id string, site_id string, building_id string, room_id string, city string, latitude_deg double,
    longitude_deg double, utc_offset_hours double, building_use string`),
};

/**
 * The failure model's predictions, one row per device-hour of `ml_features` the ETL's scoring step
 * scored (lambdas/failure-scoring/): the probability that the device fails within 24 hours, the model
 * and version that said so, and `scored_at`, the end of the scored hour (when the 24-hour horizon starts).
 */
export const PREDICTIONS: CuratedTable = {
  name: 'predictions',
  prefix: 'predictions/',
  scope: 'hour',
  columns: columns(`hour_start timestamp, device_id string, device_type string, site_id string,
    model_name string, model_version string, failure_probability double, scored_at timestamp`),
};

/** Every curated table the warehouse reads. */
export const CURATED_TABLES: readonly CuratedTable[] = [
  DEVICE_REGISTRY,
  LOCATION_REGISTRY,
  DEVICE_HOURLY,
  DEVICE_DAILY_HEALTH,
  ENERGY_DEVICE_HOURLY,
  ENERGY_SITE_DAILY,
  DQ_PARTITION,
  ANOMALY_ALERTS,
  PREDICTIONS,
];
