-- Failure model: one example per device-hour of ml_features in the training window.
--
-- Label: 1 when the device's labelled failure (failure_at) falls within the 24 hours after the
-- hour ends, else 0. Hours that do not end before the failure are left out: the device has failed
-- (or fails within the hour) and there is nothing left to predict.
--
-- Split by time, never by row: an hour is 'train' only when its whole label horizon (the hour and
-- the 24 hours after it) ends by split_at, so no training label looks into the hold-out period;
-- the hours whose horizon straddles split_at are left out (purged). Hours from split_at on are
-- 'holdout'.
SELECT
  x.split,
  x.device_id,
  x.hour_start AS example_time,
  x.label,
  CASE WHEN x.device_type = 'thermostat' THEN 1 ELSE 0 END AS is_thermostat,
  CASE WHEN x.device_type = 'camera' THEN 1 ELSE 0 END AS is_camera,
  CASE WHEN x.device_type = 'smart_lock' THEN 1 ELSE 0 END AS is_smart_lock,
  CASE WHEN x.device_type = 'sensor' THEN 1 ELSE 0 END AS is_sensor,
  x.readings,
  x.readings_rolling_mean_24h,
  x.readings_delta_prev_hour,
  x.metric_mean,
  x.metric_rolling_mean_24h,
  x.metric_rolling_stddev_24h,
  x.metric_zscore,
  x.metric_delta_prev_hour,
  x.hvac_power_mean_w,
  x.energy_wh,
  x.energy_wh_rolling_mean_24h,
  x.rssi_mean_dbm,
  x.battery_last_pct,
  x.battery_min_pct,
  x.fps_mean,
  x.cpu_temperature_max_c,
  x.error_readings,
  x.reboots,
  x.failed_attempts,
  x.seq_gaps,
  x.completeness,
  x.dq_score,
  x.arrival_lag_p50_s,
  x.outdoor_temperature_c
FROM (
  SELECT
    f.*,
    CASE
      WHEN f.hour_start + INTERVAL 25 HOURS <= w.split_at THEN 'train'
      WHEN f.hour_start >= w.split_at THEN 'holdout'
    END AS split,
    CAST(
      CASE WHEN d.failure_at IS NOT NULL AND d.failure_at < f.hour_start + INTERVAL 25 HOURS THEN 1 ELSE 0 END
      AS DOUBLE
    ) AS label,
    d.failure_at
  FROM ml_features AS f
  CROSS JOIN training_window AS w
  LEFT JOIN (
    SELECT l.device_id, min(l.failure_at) AS failure_at
    FROM labels AS l
    WHERE l.failure_at IS NOT NULL
    GROUP BY l.device_id
  ) AS d ON d.device_id = f.device_id
  WHERE f.hour_start >= w.window_start
    AND f.hour_start < w.window_end
) AS x
WHERE x.split IS NOT NULL
  AND (x.failure_at IS NULL OR x.hour_start + INTERVAL 1 HOUR <= x.failure_at)
