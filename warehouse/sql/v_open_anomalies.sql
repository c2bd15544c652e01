-- Anomalies still open: a device and rule that fired within the 24 hours up to the latest hour the
-- warehouse holds, one row per device and rule with how often and when it fired.
WITH latest AS (
  SELECT MAX(hour_start) AS latest_hour FROM analytics.fact_telemetry_hourly
),
recent AS (
  SELECT
    a.*,
    ROW_NUMBER() OVER (PARTITION BY a.device_id, a.rule ORDER BY a.detected_at DESC, a.anomaly_id DESC) AS recency,
    COUNT(*) OVER (PARTITION BY a.device_id, a.rule) AS occurrences,
    MIN(a.detected_at) OVER (PARTITION BY a.device_id, a.rule) AS first_detected_at
  FROM analytics.fact_anomaly AS a
  CROSS JOIN latest AS l
  WHERE a.hour_start > l.latest_hour - INTERVAL '24 hours'
)
SELECT
  r.device_id,
  r.device_type,
  r.site_id,
  s.site_name,
  d.room_id,
  r.rule,
  r.source,
  r.severity,
  r.occurrences,
  r.first_detected_at,
  r.detected_at AS last_detected_at,
  r.message AS last_message
FROM recent AS r
LEFT JOIN analytics.dim_device AS d ON d.device_id = r.device_id
LEFT JOIN analytics.dim_site AS s ON s.site_id = r.site_id
WHERE r.recency = 1
