-- Anomaly model: one example per curated reading of the training window, with the baseline of its
-- device valid at the reading's time (device_baselines: the 7 days before the reading's day) and
-- the device's previous reading.
--
-- Label: 1 when the reading lies in [start_time, end_time] of one of its device's labelled
-- incidents, else 0. Readings inside a degradation label are left out: a device wearing out
-- towards failure is the failure model's task, and counting its readings as normal or anomalous
-- would blur both. Labels of one device never overlap, so a reading meets at most one label.
--
-- The features are those of ml/models.json, in its order; the stream computes the same values
-- from the reading, the cached baseline and the device's previous reading
-- (lambdas/shared/anomaly-features.ts), and a test compares both on twin data.
WITH signals AS (
  SELECT
    t.*,
    CASE t.device_type
      WHEN 'thermostat' THEN t.ambient_temperature_c
      WHEN 'camera' THEN t.cpu_temperature_c
      WHEN 'smart_lock' THEN t.battery_pct
      ELSE t.value
    END AS metric_value,
    -- The value a stuck device freezes and a drifting one shifts; binary sensors' values are states.
    CASE
      WHEN t.device_type = 'thermostat' THEN t.ambient_temperature_c
      WHEN t.device_type = 'camera' THEN CAST(t.bitrate_kbps AS DOUBLE)
      WHEN t.device_type = 'sensor' AND t.sensor_kind IN ('temperature', 'humidity', 'co2') THEN t.value
    END AS signal
  FROM curated_telemetry AS t
  WHERE t.timestamp < (SELECT w0.window_end FROM training_window AS w0)
),
previous AS (
  SELECT
    s.*,
    lag(s.signal) OVER (PARTITION BY s.device_id ORDER BY s.timestamp, s.event_id) AS prev_signal,
    lag(s.timestamp) OVER (PARTITION BY s.device_id ORDER BY s.timestamp, s.event_id) AS prev_time
  FROM signals AS s
),
linked AS (
  SELECT
    p.*,
    p.signal IS NOT NULL
      AND p.prev_signal IS NOT NULL
      AND p.prev_time >= p.timestamp - INTERVAL 1 HOUR AS has_prev
  FROM previous AS p
),
runs AS (
  SELECT
    l.*,
    -- A run of equal signals breaks at a different value, a gap over an hour or a missing signal.
    sum(CASE WHEN l.has_prev AND l.signal = l.prev_signal THEN 0 ELSE 1 END)
      OVER (PARTITION BY l.device_id ORDER BY l.timestamp, l.event_id ROWS UNBOUNDED PRECEDING) AS run_id
  FROM linked AS l
),
x AS (
  SELECT
    r.*,
    CASE WHEN r.has_prev THEN r.signal - r.prev_signal END AS signal_delta_prev,
    CASE
      WHEN r.has_prev
        THEN row_number() OVER (PARTITION BY r.device_id, r.run_id ORDER BY r.timestamp, r.event_id) - 1
    END AS signal_repeats,
    b.metric_mean AS baseline_metric_mean,
    b.metric_stddev AS baseline_metric_stddev,
    b.baseline_hours,
    b.rssi_mean_dbm AS baseline_rssi_mean_dbm,
    l.kind AS label_kind
  FROM runs AS r
  LEFT JOIN device_baselines AS b
    ON b.device_id = r.device_id
    AND r.timestamp >= b.valid_from
    AND r.timestamp < b.valid_until
  LEFT JOIN labels AS l
    ON l.device_id = r.device_id
    AND r.timestamp >= l.start_time
    AND r.timestamp <= l.end_time
)
SELECT
  CASE WHEN x.timestamp < w.split_at THEN 'train' ELSE 'holdout' END AS split,
  x.device_id,
  x.timestamp AS example_time,
  CAST(CASE WHEN x.label_kind IS NULL THEN 0 ELSE 1 END AS DOUBLE) AS label,
  CASE WHEN x.device_type = 'thermostat' THEN 1 ELSE 0 END AS is_thermostat,
  CASE WHEN x.device_type = 'camera' THEN 1 ELSE 0 END AS is_camera,
  CASE WHEN x.device_type = 'smart_lock' THEN 1 ELSE 0 END AS is_smart_lock,
  CASE WHEN x.device_type = 'sensor' THEN 1 ELSE 0 END AS is_sensor,
  CAST(hour(x.timestamp) AS INT) AS hour_of_day,
  x.metric_value,
  x.metric_value - x.baseline_metric_mean AS metric_deviation,
  CASE
    WHEN x.baseline_metric_stddev > 0 THEN (x.metric_value - x.baseline_metric_mean) / x.baseline_metric_stddev
  END AS metric_zscore,
  x.baseline_metric_stddev,
  x.baseline_hours,
  x.rssi_dbm,
  x.rssi_dbm - x.baseline_rssi_mean_dbm AS rssi_deviation_dbm,
  x.battery_pct,
  x.hvac_power_w,
  x.energy_wh,
  x.fps,
  x.bitrate_kbps,
  x.failed_attempts,
  CASE WHEN x.lock_state = 'jammed' THEN 1 ELSE 0 END AS lock_jammed,
  CASE WHEN x.sensor_kind IN ('smoke', 'water_leak') AND x.value = 1 THEN 1 ELSE 0 END AS sensor_alarm,
  CASE WHEN x.device_type = 'thermostat' THEN x.ambient_temperature_c - x.target_temperature_c END AS temperature_gap_c,
  -- The wrong side of the target for what the HVAC does: heating (or idle in cool mode) above it,
  -- idle in heat mode (or cooling) below it. The HVAC follows the room, a drifting sensor does not.
  CASE
    WHEN x.device_type = 'thermostat' AND x.hvac_mode = 'heat' AND x.hvac_power_w > 0
      THEN x.ambient_temperature_c - x.target_temperature_c
    WHEN x.device_type = 'thermostat' AND x.hvac_mode = 'heat'
      THEN x.target_temperature_c - x.ambient_temperature_c
    WHEN x.device_type = 'thermostat' AND x.hvac_mode = 'cool' AND x.hvac_power_w > 0
      THEN x.target_temperature_c - x.ambient_temperature_c
    WHEN x.device_type = 'thermostat' AND x.hvac_mode = 'cool'
      THEN x.ambient_temperature_c - x.target_temperature_c
  END AS hvac_control_error_c,
  CASE WHEN x.hvac_mode = 'heat' THEN 1 ELSE 0 END AS hvac_heating,
  CASE WHEN x.hvac_mode = 'cool' THEN 1 ELSE 0 END AS hvac_cooling,
  x.signal_delta_prev,
  x.signal_repeats
FROM x
CROSS JOIN training_window AS w
WHERE x.timestamp >= w.window_start
  AND (x.label_kind IS NULL OR x.label_kind NOT IN ('hvac_degradation', 'camera_degradation', 'battery_degradation'))
