-- Hourly device aggregates with their window functions (see 35_device_hour_windows), for the
-- hours of the run's window.
SELECT
  w.hour_start,
  w.device_id,
  w.device_type,
  w.site_id,
  CASE w.device_type
    WHEN 'thermostat' THEN 'ambient_temperature_c'
    WHEN 'camera' THEN 'cpu_temperature_c'
    WHEN 'smart_lock' THEN 'battery_pct'
    ELSE 'value'
  END AS metric_name,
  w.readings,
  w.metric_mean,
  w.metric_min,
  w.metric_max,
  w.metric_last,
  w.metric_rolling_mean_24h,
  w.metric_rolling_stddev_24h,
  round(w.metric_baseline_mean_24h, 6) AS metric_baseline_mean_24h,
  round(w.metric_baseline_stddev_24h, 6) AS metric_baseline_stddev_24h,
  w.metric_baseline_hours,
  w.metric_zscore,
  w.is_anomaly,
  w.metric_delta_prev_hour,
  w.readings_rolling_mean_24h,
  w.readings_delta_prev_hour,
  w.energy_wh,
  w.energy_wh_rolling_mean_24h,
  w.energy_wh_delta_prev_hour,
  w.rssi_mean_dbm,
  w.battery_last_pct,
  w.error_readings,
  w.reboots + w.boundary_reboots AS reboots,
  w.event_date,
  w.event_hour
FROM device_hour_windows AS w
CROSS JOIN etl_window AS p
WHERE w.hour_start >= p.window_start AND w.hour_start < p.window_end
