-- Per-device baselines for the real-time path: for each day the window touches, the statistics of
-- the device's hourly primary metric over the 7 days ending with that day (hours with data only),
-- valid for the following day. `metric_low`/`metric_high` are mean -/+ 3 standard deviations: a
-- reading outside them is unusual for this device, whatever is usual for its type.
WITH days AS (
  SELECT DISTINCT e.event_date, e.day_start FROM etl_hours AS e
),
stats AS (
  SELECT
    d.event_date,
    d.day_start,
    h.device_id,
    max(h.device_type) AS device_type,
    max(h.site_id) AS site_id,
    count(h.metric_mean) AS baseline_hours,
    avg(h.metric_mean) AS metric_mean,
    stddev_samp(h.metric_mean) AS metric_stddev,
    avg(CAST(h.readings AS DOUBLE)) AS readings_per_hour_mean,
    avg(h.energy_wh) AS energy_wh_per_hour_mean,
    avg(h.rssi_mean_dbm) AS rssi_mean_dbm
  FROM days AS d
  INNER JOIN device_hour_history AS h
    ON h.hour_start >= d.day_start - INTERVAL 6 DAYS
    AND h.hour_start < d.day_start + INTERVAL 1 DAY
  GROUP BY d.event_date, d.day_start, h.device_id
)
SELECT
  s.device_id,
  s.device_type,
  s.site_id,
  CASE s.device_type
    WHEN 'thermostat' THEN 'ambient_temperature_c'
    WHEN 'camera' THEN 'cpu_temperature_c'
    WHEN 'smart_lock' THEN 'battery_pct'
    ELSE 'value'
  END AS metric_name,
  s.baseline_hours,
  round(s.metric_mean, 6) AS metric_mean,
  round(s.metric_stddev, 6) AS metric_stddev,
  round(s.metric_mean - 3 * s.metric_stddev, 6) AS metric_low,
  round(s.metric_mean + 3 * s.metric_stddev, 6) AS metric_high,
  round(s.readings_per_hour_mean, 6) AS readings_per_hour_mean,
  round(s.energy_wh_per_hour_mean, 6) AS energy_wh_per_hour_mean,
  round(s.rssi_mean_dbm, 6) AS rssi_mean_dbm,
  s.day_start + INTERVAL 1 DAY AS valid_from,
  s.day_start + INTERVAL 2 DAYS AS valid_until,
  s.event_date
FROM stats AS s
