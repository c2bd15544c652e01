-- Every place in the hierarchy (portfolio → site → building → room) with what lies beneath it:
-- devices, energy on the latest day and anomalies in the latest 24 hours. The recursive CTE pairs
-- each place with every place in its subtree (itself included); devices hang off rooms.
WITH RECURSIVE subtree (ancestor_id, location_id) AS (
  SELECT l.location_id, l.location_id FROM analytics.dim_location AS l
  UNION ALL
  SELECT t.ancestor_id, c.location_id
  FROM subtree AS t
  JOIN analytics.dim_location AS c ON c.parent_location_id = t.location_id
),
latest AS (
  SELECT MAX(hour_start) AS latest_hour, CAST(MAX(hour_start) AS DATE) AS latest_date
  FROM analytics.fact_telemetry_hourly
),
device_energy AS (
  SELECT e.device_id, SUM(e.energy_wh) AS energy_wh
  FROM analytics.fact_energy_hourly AS e
  CROSS JOIN latest AS x
  WHERE e.event_date = x.latest_date
  GROUP BY e.device_id
),
device_anomalies AS (
  SELECT a.device_id, COUNT(*) AS anomalies
  FROM analytics.fact_anomaly AS a
  CROSS JOIN latest AS x
  WHERE a.hour_start > x.latest_hour - INTERVAL '24 hours'
  GROUP BY a.device_id
),
device_place AS (
  SELECT d.device_id, r.location_id, COALESCE(e.energy_wh, 0) AS energy_wh, COALESCE(a.anomalies, 0) AS anomalies
  FROM analytics.dim_device AS d
  JOIN analytics.dim_location AS r ON r.location_level = 'room' AND r.room_id = d.room_id
  LEFT JOIN device_energy AS e ON e.device_id = d.device_id
  LEFT JOIN device_anomalies AS a ON a.device_id = d.device_id
)
SELECT
  p.location_id,
  p.location_level,
  p.location_name,
  p.parent_location_id,
  COUNT(dp.device_id) AS devices,
  COALESCE(SUM(dp.energy_wh), 0) / 1000.0 AS energy_kwh_latest_day,
  COALESCE(SUM(dp.anomalies), 0) AS anomalies_last_24h,
  COALESCE(SUM(CASE WHEN dp.anomalies > 0 THEN 1 ELSE 0 END), 0) AS devices_with_anomalies
FROM analytics.dim_location AS p
JOIN subtree AS t ON t.ancestor_id = p.location_id
LEFT JOIN device_place AS dp ON dp.location_id = t.location_id
GROUP BY p.location_id, p.location_level, p.location_name, p.parent_location_id
