-- Planner: the event hours that the readings of newly ingested raw partitions fall in. The runner
-- loads `raw_telemetry` with only the new ingest hours, runs this, and rebuilds from the earliest
-- hour listed to the end of the ingest window (see ../README.md, "Which hours a run rebuilds").
-- Alerts need nothing more: each is written under the ingest hour of the reading that raised it and
-- carries that reading's timestamp, so the readings' event hours are also the alerts' (see
-- 25_anomaly_alerts).
SELECT
  date_trunc('HOUR', try_to_timestamp(r.timestamp)) AS hour_start,
  count(*) AS readings,
  count(CASE WHEN date_trunc('HOUR', try_to_timestamp(r.timestamp)) < date_trunc('HOUR', try_to_timestamp(r.ingest_arrived_at)) THEN 1 END) AS late_readings
FROM raw_telemetry AS r
WHERE r._corrupt_record IS NULL
  AND r.event_id IS NOT NULL
  AND try_to_timestamp(r.timestamp) IS NOT NULL
GROUP BY date_trunc('HOUR', try_to_timestamp(r.timestamp))
