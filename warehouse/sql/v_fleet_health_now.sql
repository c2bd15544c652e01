-- Every device and how it is doing as of the latest hour the warehouse holds ("now" is the
-- warehouse's clock, not the wall clock, so a delayed load never makes the whole fleet look silent).
WITH latest AS (
  SELECT MAX(hour_start) AS latest_hour FROM analytics.fact_telemetry_hourly
),
recent AS (
  SELECT
    t.device_id,
    MAX(t.hour_start) AS last_hour_seen,
    SUM(t.readings) AS readings_last_24h,
    SUM(t.error_readings) AS error_readings_last_24h,
    SUM(t.reboots) AS reboots_last_24h
  FROM analytics.fact_telemetry_hourly AS t
  CROSS JOIN latest AS l
  WHERE t.hour_start > l.latest_hour - INTERVAL '24 hours'
  GROUP BY t.device_id
),
last_hour AS (
  SELECT t.device_id, t.battery_last_pct, t.rssi_mean_dbm, t.metric_name, t.metric_last
  FROM analytics.fact_telemetry_hourly AS t
  JOIN recent AS r ON r.device_id = t.device_id AND r.last_hour_seen = t.hour_start
),
anomalies AS (
  SELECT a.device_id, COUNT(*) AS anomalies_last_24h
  FROM analytics.fact_anomaly AS a
  CROSS JOIN latest AS l
  WHERE a.hour_start > l.latest_hour - INTERVAL '24 hours'
  GROUP BY a.device_id
),
seen AS (
  SELECT
    d.device_id,
    r.last_hour_seen,
    CAST((EXTRACT(EPOCH FROM l.latest_hour) - EXTRACT(EPOCH FROM r.last_hour_seen)) / 3600 AS INTEGER) AS hours_since_seen
  FROM analytics.dim_device AS d
  CROSS JOIN latest AS l
  LEFT JOIN recent AS r ON r.device_id = d.device_id
)
SELECT
  d.device_id,
  d.device_type,
  d.model,
  d.firmware_version,
  d.site_id,
  s.site_name,
  d.building_id,
  d.room_id,
  n.last_hour_seen,
  n.hours_since_seen,
  CASE
    WHEN n.last_hour_seen IS NULL THEN 'silent'
    WHEN n.hours_since_seen >= 2 THEN 'silent'
    WHEN COALESCE(a.anomalies_last_24h, 0) > 0 OR COALESCE(r.error_readings_last_24h, 0) > 0 THEN 'attention'
    ELSE 'ok'
  END AS status,
  COALESCE(r.readings_last_24h, 0) AS readings_last_24h,
  COALESCE(r.error_readings_last_24h, 0) AS error_readings_last_24h,
  COALESCE(r.reboots_last_24h, 0) AS reboots_last_24h,
  COALESCE(a.anomalies_last_24h, 0) AS anomalies_last_24h,
  h.metric_name,
  h.metric_last,
  h.battery_last_pct,
  h.rssi_mean_dbm
FROM analytics.dim_device AS d
JOIN seen AS n ON n.device_id = d.device_id
LEFT JOIN recent AS r ON r.device_id = d.device_id
LEFT JOIN last_hour AS h ON h.device_id = d.device_id
LEFT JOIN anomalies AS a ON a.device_id = d.device_id
LEFT JOIN analytics.dim_site AS s ON s.site_id = d.site_id
