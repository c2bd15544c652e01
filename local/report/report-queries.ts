/**
 * Every query the warehouse report runs, by name, in one place. They read the analyst views and
 * the fact tables only (schema `analytics`), so the report shows what an analyst would see.
 * DuckDB SQL: the report runs on the twin's warehouse file. Counts are cast to INTEGER so they come
 * back as numbers (DuckDB's BIGINT arrives as text).
 */

/** Days of energy the report charts, ending at the latest day in the warehouse. */
export const ENERGY_DAYS = 31;
/** Hours of anomalies and data quality the report charts, ending at the latest hour. */
export const CHART_HOURS = 7 * 24;
/** Rows of the open-anomalies table. */
export const OPEN_ANOMALY_ROWS = 15;
/** Rows of the devices-at-risk table. */
export const AT_RISK_ROWS = 20;
/** Rows of the location table (sites, each followed by its buildings). */
export const LOCATION_ROWS = 40;

export const REPORT_QUERIES = {
  /** The hours the warehouse holds telemetry for, and the size of the registry. */
  coverage: `
SELECT
  (SELECT MIN(hour_start) FROM analytics.fact_telemetry_hourly) AS first_hour,
  (SELECT MAX(hour_start) FROM analytics.fact_telemetry_hourly) AS latest_hour,
  (SELECT CAST(COUNT(*) AS INTEGER) FROM analytics.dim_device) AS devices_registered`,

  /** Devices by status, per device type and site, as of the latest hour. */
  fleetStatus: `
SELECT
  COALESCE(f.device_type, 'unknown') AS device_type,
  COALESCE(f.site_id, 'unknown') AS site_id,
  COALESCE(f.site_name, f.site_id, 'unknown') AS site_name,
  f.status,
  CAST(COUNT(*) AS INTEGER) AS devices
FROM analytics.v_fleet_health_now AS f
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 4`,

  /** Energy per site and day over the last days, with the outdoor temperature. */
  energyBySiteDay: `
WITH latest AS (SELECT MAX(event_date) AS latest_date FROM analytics.v_energy_by_site_day)
SELECT
  CAST(e.event_date AS VARCHAR) AS event_date,
  e.site_id,
  COALESCE(e.site_name, e.site_id) AS site_name,
  CAST(e.devices_reporting AS INTEGER) AS devices_reporting,
  e.energy_kwh,
  e.outdoor_temperature_mean_c
FROM analytics.v_energy_by_site_day AS e
CROSS JOIN latest AS l
WHERE e.event_date > l.latest_date - INTERVAL ${ENERGY_DAYS} DAY
ORDER BY e.event_date, e.site_id`,

  /** Anomalies per hour and source (realtime, batch) over the last hours. */
  anomaliesByHour: `
WITH latest AS (SELECT MAX(hour_start) AS latest_hour FROM analytics.fact_anomaly)
SELECT
  CAST(a.hour_start AS VARCHAR) AS hour_start,
  a.source,
  CAST(COUNT(*) AS INTEGER) AS anomalies
FROM analytics.fact_anomaly AS a
CROSS JOIN latest AS l
WHERE a.hour_start > l.latest_hour - INTERVAL ${CHART_HOURS} HOUR
GROUP BY 1, 2
ORDER BY 1, 2`,

  /** The open anomalies, worst first, with how many there are in all. */
  openAnomalies: `
SELECT
  o.severity,
  o.rule,
  o.source,
  o.device_id,
  o.device_type,
  COALESCE(o.site_name, o.site_id) AS site_name,
  o.room_id,
  CAST(o.occurrences AS INTEGER) AS occurrences,
  CAST(o.first_detected_at AS VARCHAR) AS first_detected_at,
  CAST(o.last_detected_at AS VARCHAR) AS last_detected_at,
  o.last_message,
  CAST(COUNT(*) OVER () AS INTEGER) AS total_open
FROM analytics.v_open_anomalies AS o
ORDER BY
  CASE o.severity WHEN 'critical' THEN 0 WHEN 'security' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
  o.occurrences DESC, o.last_detected_at DESC, o.device_id, o.rule
LIMIT ${OPEN_ANOMALY_ROWS}`,

  /**
   * Data quality per device type and hour. The ETL writes `dq_score` on a 0-100 scale and
   * `completeness` as a 0-1 share (glue-scripts/sql/41_dq_partition.sql).
   */
  dataQuality: `
WITH latest AS (SELECT MAX(hour_start) AS latest_hour FROM analytics.fact_data_quality_hourly)
SELECT
  CAST(q.hour_start AS VARCHAR) AS hour_start,
  q.device_type,
  q.dq_score,
  q.completeness
FROM analytics.fact_data_quality_hourly AS q
CROSS JOIN latest AS l
WHERE q.hour_start > l.latest_hour - INTERVAL ${CHART_HOURS} HOUR
ORDER BY 1, 2`,

  /** The devices most at risk, with how many are at risk in all. */
  devicesAtRisk: `
SELECT
  r.device_id,
  r.device_type,
  r.model,
  COALESCE(s.site_name, r.site_id) AS site_name,
  r.room_id,
  r.risk_score,
  r.reasons,
  r.failure_probability,
  r.battery_min_pct_7d,
  CAST(r.reboots_7d AS INTEGER) AS reboots_7d,
  CAST(r.error_readings_7d AS INTEGER) AS error_readings_7d,
  r.reporting_share_7d,
  CAST(r.anomaly_hours_7d AS INTEGER) AS anomaly_hours_7d,
  CAST(COUNT(*) OVER () AS INTEGER) AS total_at_risk
FROM analytics.v_devices_at_risk AS r
LEFT JOIN analytics.dim_site AS s ON s.site_id = r.site_id
ORDER BY r.risk_score DESC, r.failure_probability DESC NULLS LAST, r.device_id
LIMIT ${AT_RISK_ROWS}`,

  /** Sites (most anomalies first), each followed by its buildings. */
  locationRollup: `
WITH places AS (
  SELECT
    r.*,
    CASE WHEN r.location_level = 'site' THEN r.location_id ELSE r.parent_location_id END AS site_location_id
  FROM analytics.v_location_rollup AS r
  WHERE r.location_level IN ('site', 'building')
)
SELECT
  p.location_level,
  p.location_id,
  COALESCE(p.location_name, p.location_id) AS location_name,
  CAST(p.devices AS INTEGER) AS devices,
  p.energy_kwh_latest_day,
  CAST(p.anomalies_last_24h AS INTEGER) AS anomalies_last_24h,
  CAST(p.devices_with_anomalies AS INTEGER) AS devices_with_anomalies,
  CAST(COUNT(*) OVER () AS INTEGER) AS total_places
FROM places AS p
LEFT JOIN places AS s ON s.location_id = p.site_location_id AND s.location_level = 'site'
ORDER BY
  s.anomalies_last_24h DESC NULLS LAST, p.site_location_id,
  CASE p.location_level WHEN 'site' THEN 0 ELSE 1 END, p.anomalies_last_24h DESC, p.location_id
LIMIT ${LOCATION_ROWS}`,
} as const satisfies Record<string, string>;

export type ReportQueryName = keyof typeof REPORT_QUERIES;
