-- Devices showing signs of trouble over the last 7 days the warehouse holds, with a score and the
-- reasons behind it. The failure probability comes from the prediction model once it is deployed.
WITH latest AS (
  SELECT MAX(event_date) AS latest_date FROM analytics.fact_device_health_daily
),
fleet_hours AS (
  -- Hours the fleet reported each day: a device is compared with its fleet, so a day the warehouse
  -- holds only part of does not make every device look down.
  SELECT f.event_date, MAX(f.hours_reporting) AS hours
  FROM analytics.fact_device_health_daily AS f
  GROUP BY f.event_date
),
week AS (
  SELECT
    h.device_id,
    SUM(h.reboots) AS reboots_7d,
    SUM(h.error_readings) AS error_readings_7d,
    SUM(h.anomaly_hours) AS anomaly_hours_7d,
    SUM(h.jammed_readings) AS jammed_readings_7d,
    CAST(SUM(h.hours_reporting) AS DOUBLE PRECISION) / SUM(f.hours) AS reporting_share_7d,
    MIN(h.battery_last_pct) AS battery_min_pct_7d
  FROM analytics.fact_device_health_daily AS h
  JOIN fleet_hours AS f ON f.event_date = h.event_date
  CROSS JOIN latest AS l
  WHERE h.event_date > CAST(l.latest_date - INTERVAL '7 days' AS DATE)
  GROUP BY h.device_id
),
predicted AS (
  SELECT p.device_id, p.failure_probability
  FROM (
    SELECT
      q.device_id,
      q.failure_probability,
      ROW_NUMBER() OVER (PARTITION BY q.device_id ORDER BY q.hour_start DESC, q.scored_at DESC) AS recency
    FROM analytics.fact_prediction AS q
  ) AS p
  WHERE p.recency = 1
),
signals AS (
  SELECT
    w.*,
    p.failure_probability,
    CASE WHEN w.battery_min_pct_7d < 20 THEN 1 ELSE 0 END AS low_battery,
    CASE WHEN w.reboots_7d >= 3 THEN 1 ELSE 0 END AS reboots,
    CASE WHEN w.error_readings_7d > 0 THEN 1 ELSE 0 END AS errors,
    CASE WHEN w.reporting_share_7d < 0.9 THEN 1 ELSE 0 END AS low_uptime,
    CASE WHEN w.anomaly_hours_7d > 0 OR w.jammed_readings_7d > 0 THEN 1 ELSE 0 END AS anomalies,
    CASE WHEN p.failure_probability >= 0.5 THEN 2 ELSE 0 END AS predicted_failure
  FROM week AS w
  LEFT JOIN predicted AS p ON p.device_id = w.device_id
)
SELECT
  g.device_id,
  d.device_type,
  d.model,
  d.site_id,
  d.room_id,
  g.low_battery + g.reboots + g.errors + g.low_uptime + g.anomalies + g.predicted_failure AS risk_score,
  CASE WHEN g.low_battery = 1 THEN 'low battery; ' ELSE '' END
    || CASE WHEN g.reboots = 1 THEN 'repeated reboots; ' ELSE '' END
    || CASE WHEN g.errors = 1 THEN 'error readings; ' ELSE '' END
    || CASE WHEN g.low_uptime = 1 THEN 'low uptime; ' ELSE '' END
    || CASE WHEN g.anomalies = 1 THEN 'anomalies; ' ELSE '' END
    || CASE WHEN g.predicted_failure = 2 THEN 'predicted failure; ' ELSE '' END AS reasons,
  g.failure_probability,
  g.battery_min_pct_7d,
  g.reboots_7d,
  g.error_readings_7d,
  g.reporting_share_7d,
  g.anomaly_hours_7d
FROM signals AS g
LEFT JOIN analytics.dim_device AS d ON d.device_id = g.device_id
WHERE g.low_battery + g.reboots + g.errors + g.low_uptime + g.anomalies + g.predicted_failure > 0
