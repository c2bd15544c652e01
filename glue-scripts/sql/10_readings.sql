-- Every raw line the run read, typed. Nothing is dropped here: a line is flagged `is_malformed`
-- when it is not a JSON object of the declared types (the loader sets `_corrupt_record`) or lacks
-- a field the pipeline keys on, so the run summary can count it before the transforms exclude it.
SELECT
  r.schema_version,
  r.event_id,
  r.device_id,
  r.device_type,
  try_to_timestamp(r.timestamp) AS event_ts,
  r.seq,
  r.firmware_version,
  r.rssi_dbm,
  r.ambient_temperature_c,
  r.target_temperature_c,
  r.humidity_pct,
  r.hvac_mode,
  r.hvac_power_w,
  r.energy_wh,
  r.fps,
  r.bitrate_kbps,
  r.motion_detected,
  r.storage_used_pct,
  r.cpu_temperature_c,
  r.uptime_s,
  r.lock_state,
  r.battery_pct,
  r.last_action,
  r.failed_attempts,
  r.door_open,
  r.sensor_kind,
  r.value,
  r.unit,
  try_to_timestamp(r.ingest_arrived_at) AS ingest_arrived_at,
  try_to_timestamp(r.ingest_broker_received_at) AS ingest_broker_received_at,
  r.ingest_shard_id,
  r.ingest_sequence_number,
  r.ingest_date,
  r.ingest_hour,
  CASE
    WHEN r._corrupt_record IS NOT NULL
      OR r.event_id IS NULL
      OR r.device_id IS NULL
      OR r.device_type IS NULL
      OR r.seq IS NULL
      OR try_to_timestamp(r.timestamp) IS NULL
      OR try_to_timestamp(r.ingest_arrived_at) IS NULL
      THEN true
    ELSE false
  END AS is_malformed
FROM raw_telemetry AS r
