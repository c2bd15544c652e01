-- One feature row per device and event hour with data, for the ML models. Every feature is
-- computed from the device's readings of that hour and of the hours before it, its registry
-- entry, the hour's data quality and the site's weather: nothing from later hours, and no label
-- (the injected-anomaly ground truth is joined by the training job on device_id and hour_start).
-- The rule-based `is_anomaly` flag is left out for the same reason. The columns are documented in
-- ../README.md.
SELECT
  w.hour_start,
  w.device_id,
  w.device_type,
  w.site_id,
  CAST(hour(w.hour_start) AS INT) AS hour_of_day,
  -- ISO day of week (Monday = 1): 1970-01-01, hour index 0, was a Thursday.
  CAST((floor(w.hour_index / 24) + 3) % 7 + 1 AS INT) AS day_of_week,
  w.readings,
  w.readings_rolling_mean_24h,
  w.readings_delta_prev_hour,
  w.metric_mean,
  w.metric_min,
  w.metric_max,
  w.metric_rolling_mean_24h,
  w.metric_rolling_stddev_24h,
  w.metric_zscore,
  w.metric_delta_prev_hour,
  w.energy_wh,
  w.energy_wh_rolling_mean_24h,
  w.energy_wh_delta_prev_hour,
  w.hvac_power_mean_w,
  w.rssi_mean_dbm,
  w.battery_last_pct,
  w.battery_min_pct,
  w.fps_mean,
  w.cpu_temperature_max_c,
  w.error_readings,
  w.reboots + w.boundary_reboots AS reboots,
  w.failed_attempts,
  w.triggered_readings,
  q.seq_gaps,
  q.completeness,
  q.dq_score,
  w.arrival_lag_p50_s,
  x.outdoor_temperature_c,
  x.relative_humidity_pct,
  w.event_date,
  w.event_hour
FROM device_hour_windows AS w
CROSS JOIN etl_window AS p
LEFT JOIN dq_device_hour AS q ON q.device_id = w.device_id AND q.hour_start = w.hour_start
LEFT JOIN weather_hourly AS x ON x.site_id = w.site_id AND x.hour_start = w.hour_start
WHERE w.hour_start >= p.window_start AND w.hour_start < p.window_end
