-- Window functions over each device's hourly history (this run's hours and the loaded context):
-- rolling 24-hour statistics, a baseline of the 24 hours before each hour (the hour itself
-- excluded, so an outlier cannot hide in its own baseline), the z-score against it, deltas from
-- the previous hour, and the sequence gap or reboot across the boundary with the previous hour
-- that had data. Frames are on `hour_index` (hours since the epoch), so a missing hour shortens
-- the frame instead of shifting it.
--
-- A z-score needs at least 6 baseline hours and a non-zero spread; |z| >= 3 marks the hour
-- anomalous. A delta needs the previous hour itself, not merely the previous hour with data.
SELECT
  x.*,
  CASE
    WHEN x.metric_baseline_hours >= 6 AND x.metric_baseline_stddev_24h > 0
      THEN round((x.metric_mean - x.metric_baseline_mean_24h) / x.metric_baseline_stddev_24h, 6)
  END AS metric_zscore,
  CASE
    WHEN x.metric_baseline_hours >= 6 AND x.metric_baseline_stddev_24h > 0
      AND abs((x.metric_mean - x.metric_baseline_mean_24h) / x.metric_baseline_stddev_24h) >= 3
      THEN true
    ELSE false
  END AS is_anomaly,
  CASE WHEN x.prev_hour_index = x.hour_index - 1 THEN round(x.metric_mean - x.prev_metric_mean, 6) END AS metric_delta_prev_hour,
  CASE WHEN x.prev_hour_index = x.hour_index - 1 THEN x.readings - x.prev_readings END AS readings_delta_prev_hour,
  CASE WHEN x.prev_hour_index = x.hour_index - 1 THEN round(x.energy_wh - x.prev_energy_wh, 6) END AS energy_wh_delta_prev_hour,
  CASE WHEN x.first_seq - x.prev_last_seq > 1 THEN x.first_seq - x.prev_last_seq - 1 ELSE 0 END AS boundary_seq_gaps,
  CASE WHEN x.first_uptime_s < x.prev_last_uptime_s THEN 1 ELSE 0 END AS boundary_reboots
FROM (
  SELECT
    h.*,
    lag(h.hour_index) OVER (PARTITION BY h.device_id ORDER BY h.hour_index) AS prev_hour_index,
    lag(h.last_seq) OVER (PARTITION BY h.device_id ORDER BY h.hour_index) AS prev_last_seq,
    lag(h.last_uptime_s) OVER (PARTITION BY h.device_id ORDER BY h.hour_index) AS prev_last_uptime_s,
    lag(h.metric_mean) OVER (PARTITION BY h.device_id ORDER BY h.hour_index) AS prev_metric_mean,
    lag(h.readings) OVER (PARTITION BY h.device_id ORDER BY h.hour_index) AS prev_readings,
    lag(h.energy_wh) OVER (PARTITION BY h.device_id ORDER BY h.hour_index) AS prev_energy_wh,
    round(avg(h.metric_mean) OVER (
      PARTITION BY h.device_id ORDER BY h.hour_index RANGE BETWEEN 23 PRECEDING AND CURRENT ROW
    ), 6) AS metric_rolling_mean_24h,
    round(stddev_samp(h.metric_mean) OVER (
      PARTITION BY h.device_id ORDER BY h.hour_index RANGE BETWEEN 23 PRECEDING AND CURRENT ROW
    ), 6) AS metric_rolling_stddev_24h,
    round(avg(h.readings) OVER (
      PARTITION BY h.device_id ORDER BY h.hour_index RANGE BETWEEN 23 PRECEDING AND CURRENT ROW
    ), 6) AS readings_rolling_mean_24h,
    round(avg(h.energy_wh) OVER (
      PARTITION BY h.device_id ORDER BY h.hour_index RANGE BETWEEN 23 PRECEDING AND CURRENT ROW
    ), 6) AS energy_wh_rolling_mean_24h,
    avg(h.metric_mean) OVER (
      PARTITION BY h.device_id ORDER BY h.hour_index RANGE BETWEEN 24 PRECEDING AND 1 PRECEDING
    ) AS metric_baseline_mean_24h,
    stddev_samp(h.metric_mean) OVER (
      PARTITION BY h.device_id ORDER BY h.hour_index RANGE BETWEEN 24 PRECEDING AND 1 PRECEDING
    ) AS metric_baseline_stddev_24h,
    count(h.metric_mean) OVER (
      PARTITION BY h.device_id ORDER BY h.hour_index RANGE BETWEEN 24 PRECEDING AND 1 PRECEDING
    ) AS metric_baseline_hours
  FROM device_hour_history AS h
) AS x
