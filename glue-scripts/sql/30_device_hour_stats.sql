-- Per device and event hour: the counts and measures every later table builds on. Only facts of
-- the hour itself are computed here (sequence gaps and reboots inside the hour; first and last
-- values for the hour boundaries), so an hour's row is the same whether it was built alone or in a
-- backfill. Boundaries between hours are resolved over the history view (35_device_hour_windows).
--
-- `metric_value` is each device type's primary measurement: thermostat ambient temperature,
-- camera CPU temperature, lock battery, sensor value. Floating results are rounded to 6 decimals:
-- parallel aggregation may sum in another order, and rounding keeps reruns byte-identical.
WITH ordered AS (
  SELECT
    c.event_date,
    c.event_hour,
    c.device_id,
    c.device_type,
    c.site_id,
    c.timestamp,
    c.seq,
    c.duplicate_copies,
    c.is_late,
    c.arrival_lag_ms,
    c.rssi_dbm,
    c.energy_wh,
    c.hvac_power_w,
    c.hvac_mode,
    c.target_temperature_c,
    c.humidity_pct,
    c.fps,
    c.bitrate_kbps,
    c.motion_detected,
    c.storage_used_pct,
    c.cpu_temperature_c,
    c.uptime_s,
    c.lock_state,
    c.failed_attempts,
    c.door_open,
    c.battery_pct,
    c.unit,
    c.value,
    CASE c.device_type
      WHEN 'thermostat' THEN c.ambient_temperature_c
      WHEN 'camera' THEN c.cpu_temperature_c
      WHEN 'smart_lock' THEN c.battery_pct
      ELSE c.value
    END AS metric_value,
    lag(c.seq) OVER (
      PARTITION BY c.device_id, c.event_date, c.event_hour ORDER BY c.timestamp, c.seq, c.event_id
    ) AS prev_seq,
    lag(c.uptime_s) OVER (
      PARTITION BY c.device_id, c.event_date, c.event_hour ORDER BY c.timestamp, c.seq, c.event_id
    ) AS prev_uptime_s,
    row_number() OVER (
      PARTITION BY c.device_id, c.event_date, c.event_hour ORDER BY c.timestamp, c.seq, c.event_id
    ) AS ordinal
  FROM curated_telemetry AS c
)
SELECT
  o.event_date,
  o.event_hour,
  date_trunc('HOUR', min(o.timestamp)) AS hour_start,
  CAST(unix_seconds(date_trunc('HOUR', min(o.timestamp))) / 3600 AS BIGINT) AS hour_index,
  o.device_id,
  max(o.device_type) AS device_type,
  max(o.site_id) AS site_id,
  count(*) AS readings,
  CAST(sum(o.duplicate_copies) AS BIGINT) AS duplicate_copies,
  count(CASE WHEN o.is_late THEN 1 END) AS late_readings,
  -- On time: accepted by the stream within 300 s of the device's clock (the validator's own
  -- tolerance for clocks running ahead is also five minutes).
  count(CASE WHEN o.arrival_lag_ms <= 300000 THEN 1 END) AS on_time_readings,
  round(percentile(o.arrival_lag_ms, 0.5) / 1000, 3) AS arrival_lag_p50_s,
  round(CAST(max(o.arrival_lag_ms) AS DOUBLE) / 1000, 3) AS arrival_lag_max_s,
  min_by(o.seq, o.ordinal) AS first_seq,
  max_by(o.seq, o.ordinal) AS last_seq,
  CAST(coalesce(sum(CASE WHEN o.seq - o.prev_seq > 1 THEN o.seq - o.prev_seq - 1 END), 0) AS BIGINT) AS seq_gaps,
  count(CASE WHEN o.seq <= o.prev_seq THEN 1 END) AS seq_regressions,
  round(avg(o.metric_value), 6) AS metric_mean,
  round(min(o.metric_value), 6) AS metric_min,
  round(max(o.metric_value), 6) AS metric_max,
  max_by(o.metric_value, o.ordinal) AS metric_last,
  round(avg(o.rssi_dbm), 6) AS rssi_mean_dbm,
  round(sum(o.energy_wh), 6) AS energy_wh,
  round(avg(o.hvac_power_w), 6) AS hvac_power_mean_w,
  count(CASE WHEN o.hvac_mode IS NOT NULL AND o.hvac_mode <> 'off' THEN 1 END) AS hvac_active_readings,
  round(avg(o.target_temperature_c), 6) AS target_temperature_mean_c,
  round(avg(o.humidity_pct), 6) AS humidity_mean_pct,
  round(avg(o.fps), 6) AS fps_mean,
  round(avg(o.bitrate_kbps), 6) AS bitrate_mean_kbps,
  count(CASE WHEN o.motion_detected THEN 1 END) AS motion_readings,
  round(max(o.storage_used_pct), 6) AS storage_used_max_pct,
  round(max(o.cpu_temperature_c), 6) AS cpu_temperature_max_c,
  min_by(o.uptime_s, CASE WHEN o.uptime_s IS NOT NULL THEN o.ordinal END) AS first_uptime_s,
  max_by(o.uptime_s, CASE WHEN o.uptime_s IS NOT NULL THEN o.ordinal END) AS last_uptime_s,
  -- A camera's uptime counter going backwards is a reboot.
  count(CASE WHEN o.uptime_s < o.prev_uptime_s THEN 1 END) AS reboots,
  count(CASE WHEN o.lock_state = 'jammed' THEN 1 END) AS jammed_readings,
  CAST(coalesce(sum(o.failed_attempts), 0) AS BIGINT) AS failed_attempts,
  count(CASE WHEN o.door_open THEN 1 END) AS door_open_readings,
  round(min(o.battery_pct), 6) AS battery_min_pct,
  max_by(o.battery_pct, CASE WHEN o.battery_pct IS NOT NULL THEN o.ordinal END) AS battery_last_pct,
  -- Binary sensors (motion, water leak, smoke) report 1 when triggered.
  count(CASE WHEN o.unit = 'bool' AND o.value = 1 THEN 1 END) AS triggered_readings,
  -- Readings that report a device fault: a jammed lock, a camera delivering no frames, a camera
  -- CPU above 85 °C (the real-time `camera_overheating` rule's threshold).
  count(CASE WHEN o.lock_state = 'jammed' OR o.fps = 0 OR o.cpu_temperature_c > 85 THEN 1 END) AS error_readings
FROM ordered AS o
GROUP BY o.event_date, o.event_hour, o.device_id
