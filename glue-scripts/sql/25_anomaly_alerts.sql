-- Curated real-time alerts: one row per alert (de-duplicated on `alert_id`, keeping the copy the
-- stream accepted first), for the alerts whose event time lies in the window, placed by event time
-- like the readings that raised them, with the device's site from the registry.
--
-- The validator writes an alert to `alerts/` under the ingest hour of the record that carried its
-- reading, and gives it the reading's timestamp: the raw selection that finds every copy of a
-- reading finds every copy of its alerts, and the event hours the planner finds in the telemetry
-- of newly ingested hours are exactly the event hours of their alerts. The planner therefore reads
-- telemetry only (00_touched_event_hours).
--
-- An alert raised again by a redelivered reading carries the same id and fields; the copies differ
-- only in arrival. The ranking ends with the other fields so that it is a total order all the same.
-- A line without an id, a readable event time or a readable arrival is not an alert the validator
-- wrote, and is left out.
SELECT
  a.alert_id,
  a.rule,
  a.severity,
  a.device_id,
  a.device_type,
  dev.site_id,
  a.event_id,
  a.alert_time,
  a.arrived_at,
  a.message,
  a.observed,
  a.threshold,
  CAST(CAST(a.alert_time AS DATE) AS STRING) AS event_date,
  lpad(CAST(hour(a.alert_time) AS STRING), 2, '0') AS event_hour
FROM (
  SELECT
    r.alert_id,
    r.rule,
    r.severity,
    r.device_id,
    r.device_type,
    r.event_id,
    try_to_timestamp(r.timestamp) AS alert_time,
    try_to_timestamp(r.arrived_at) AS arrived_at,
    r.message,
    r.observed,
    r.threshold,
    row_number() OVER (
      PARTITION BY r.alert_id
      ORDER BY try_to_timestamp(r.arrived_at), r.ingest_date, r.ingest_hour, r.timestamp, r.rule, r.severity,
        r.device_id, r.device_type, r.event_id, r.message, r.observed, r.threshold
    ) AS copy_rank
  FROM raw_alerts AS r
  WHERE r.alert_id IS NOT NULL
    AND try_to_timestamp(r.arrived_at) IS NOT NULL
    AND try_to_timestamp(r.timestamp) >= (SELECT w.window_start FROM etl_window AS w)
    AND try_to_timestamp(r.timestamp) < (SELECT w.window_end FROM etl_window AS w)
) AS a
LEFT JOIN devices AS dev ON dev.device_id = a.device_id
WHERE a.copy_rank = 1
