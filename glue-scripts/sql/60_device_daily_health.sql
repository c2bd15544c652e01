-- Daily device health for every day the window touches, over all of that day's hours (this run's
-- and, for the rest of the day, earlier runs'):
--   uptime_pct                = hours with at least one reading / 24
--   battery_trend_pct_per_day = least-squares slope of the hourly last battery level, per day
--                               (NULL with fewer than two hours of battery readings)
--   error_readings            = readings reporting a device fault (see 30_device_hour_stats)
--   anomaly_hours             = hours whose z-score against the device's baseline is |z| >= 3
SELECT
  w.device_id,
  max(w.device_type) AS device_type,
  max(w.site_id) AS site_id,
  count(*) AS hours_reporting,
  round(100 * CAST(count(*) AS DOUBLE) / 24, 4) AS uptime_pct,
  CAST(sum(w.readings) AS BIGINT) AS readings,
  min_by(w.battery_last_pct, CASE WHEN w.battery_last_pct IS NOT NULL THEN w.hour_index END) AS battery_first_pct,
  max_by(w.battery_last_pct, CASE WHEN w.battery_last_pct IS NOT NULL THEN w.hour_index END) AS battery_last_pct,
  round(
    24 * covar_pop(CASE WHEN w.battery_last_pct IS NOT NULL THEN w.hour_index END, w.battery_last_pct)
      / nullif(var_pop(CASE WHEN w.battery_last_pct IS NOT NULL THEN w.hour_index END), 0),
    6
  ) AS battery_trend_pct_per_day,
  CAST(sum(w.error_readings) AS BIGINT) AS error_readings,
  count(CASE WHEN w.is_anomaly THEN 1 END) AS anomaly_hours,
  CAST(sum(w.reboots + w.boundary_reboots) AS BIGINT) AS reboots,
  CAST(sum(w.jammed_readings) AS BIGINT) AS jammed_readings,
  CAST(sum(w.failed_attempts) AS BIGINT) AS failed_attempts,
  CAST(sum(w.triggered_readings) AS BIGINT) AS triggered_readings,
  round(round(sum(w.rssi_mean_dbm), 6) / count(w.rssi_mean_dbm), 6) AS rssi_mean_dbm,
  w.event_date
FROM device_hour_windows AS w
WHERE w.event_date IN (SELECT DISTINCT e.event_date FROM etl_hours AS e)
GROUP BY w.event_date, w.device_id
