-- Curated telemetry: one row per reading (de-duplicated on the device's `eventId`, keeping the
-- earliest arrival), typed columns named after the contract's fields, placed by device time.
-- A late reading lands in its event hour, whichever ingest hour carried it.
--
-- Every copy of a reading carries the device's own timestamp, so all copies fall in the same
-- window: filtering to the window first ranks the same copies, and ranks far fewer rows in an
-- hourly run (which reads a week of ingest hours for one event hour). The ranking ends with the
-- stream's own coordinates: a total order, hence the same row on every rerun. The registry is
-- joined before ranking: joined after it, DuckDB took 2.5 times as long on the bench's day. The
-- window bounds come as scalar subqueries: a join with `etl_window` here misled DuckDB's join
-- order (three times as long).
SELECT
  d.schema_version,
  d.event_id,
  d.device_id,
  d.event_ts AS timestamp,
  d.seq,
  d.firmware_version,
  d.rssi_dbm,
  d.ambient_temperature_c,
  d.target_temperature_c,
  d.humidity_pct,
  d.hvac_mode,
  d.hvac_power_w,
  d.energy_wh,
  d.fps,
  d.bitrate_kbps,
  d.motion_detected,
  d.storage_used_pct,
  d.cpu_temperature_c,
  d.uptime_s,
  d.lock_state,
  d.battery_pct,
  d.last_action,
  d.failed_attempts,
  d.door_open,
  d.sensor_kind,
  d.value,
  d.unit,
  d.ingest_arrived_at,
  d.ingest_broker_received_at,
  d.ingest_shard_id,
  d.ingest_sequence_number,
  d.copies - 1 AS duplicate_copies,
  unix_millis(d.ingest_arrived_at) - unix_millis(d.event_ts) AS arrival_lag_ms,
  -- Late: the stream accepted it after its event hour had ended, so it sits in a later raw
  -- partition than the hour it belongs to (the case that makes a run rebuild earlier hours).
  d.ingest_arrived_at >= date_trunc('HOUR', d.event_ts) + INTERVAL 1 HOUR AS is_late,
  d.site_id,
  d.building_id,
  d.room_id,
  CAST(CAST(d.event_ts AS DATE) AS STRING) AS event_date,
  lpad(CAST(hour(d.event_ts) AS STRING), 2, '0') AS event_hour,
  d.device_type
FROM (
  SELECT
    r.*,
    dev.site_id,
    dev.building_id,
    dev.room_id,
    row_number() OVER (
      PARTITION BY r.event_id
      ORDER BY r.ingest_arrived_at, r.ingest_shard_id, r.ingest_sequence_number, r.ingest_date, r.ingest_hour
    ) AS copy_rank,
    count(*) OVER (PARTITION BY r.event_id) AS copies
  FROM readings AS r
  LEFT JOIN devices AS dev ON dev.device_id = r.device_id
  WHERE r.is_malformed = false
    AND r.event_ts >= (SELECT w.window_start FROM etl_window AS w)
    AND r.event_ts < (SELECT w.window_end FROM etl_window AS w)
) AS d
WHERE d.copy_rank = 1
