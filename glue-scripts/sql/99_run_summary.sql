-- One row of figures about the run, for its log, metrics and the twin's summary. `raw_lines_read`
-- and `malformed_lines` cover every raw line read (the window and its late-arrival range);
-- `duplicates_removed` counts the extra copies of readings whose event time is in the window.
SELECT
  r.raw_lines_read,
  r.malformed_lines,
  v.valid_readings_in_window,
  c.curated_rows,
  v.valid_readings_in_window - c.curated_rows AS duplicates_removed,
  c.late_readings,
  c.devices_reporting,
  h.hours,
  q.device_hours_scored,
  q.dq_score_min,
  q.dq_score_p10,
  q.dq_score_p50,
  q.dq_score_mean,
  q.dq_score_max,
  q.dq_score_below_50,
  q.dq_score_50_to_80,
  q.dq_score_80_to_95,
  q.dq_score_95_and_above
FROM (
  SELECT count(*) AS raw_lines_read, count(CASE WHEN x.is_malformed THEN 1 END) AS malformed_lines FROM readings AS x
) AS r
CROSS JOIN (
  SELECT count(*) AS valid_readings_in_window
  FROM readings AS x
  WHERE x.is_malformed = false
    AND x.event_ts >= (SELECT w.window_start FROM etl_window AS w)
    AND x.event_ts < (SELECT w.window_end FROM etl_window AS w)
) AS v
CROSS JOIN (
  SELECT count(*) AS curated_rows, count(CASE WHEN t.is_late THEN 1 END) AS late_readings, count(DISTINCT t.device_id) AS devices_reporting
  FROM curated_telemetry AS t
) AS c
CROSS JOIN (SELECT count(*) AS hours FROM etl_hours) AS h
CROSS JOIN (
  SELECT
    count(d.dq_score) AS device_hours_scored,
    min(d.dq_score) AS dq_score_min,
    round(percentile(d.dq_score, 0.1), 2) AS dq_score_p10,
    round(percentile(d.dq_score, 0.5), 2) AS dq_score_p50,
    round(avg(d.dq_score), 2) AS dq_score_mean,
    max(d.dq_score) AS dq_score_max,
    count(CASE WHEN d.dq_score < 50 THEN 1 END) AS dq_score_below_50,
    count(CASE WHEN d.dq_score >= 50 AND d.dq_score < 80 THEN 1 END) AS dq_score_50_to_80,
    count(CASE WHEN d.dq_score >= 80 AND d.dq_score < 95 THEN 1 END) AS dq_score_80_to_95,
    count(CASE WHEN d.dq_score >= 95 THEN 1 END) AS dq_score_95_and_above
  FROM dq_device_hour AS d
) AS q
