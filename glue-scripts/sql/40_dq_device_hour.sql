-- Data quality per device and event hour, for every registered device in every hour of the window
-- (a device that sent nothing is the first thing data quality must show) and for any other device
-- that sent or had readings quarantined.
--
-- Components, each in [0, 1], NULL when undefined:
--   completeness       = min(1, received / expected); expected = 3600 / the registry's reporting interval
--   validity           = received / (received + quarantined); quarantined readings count in the hour
--                        the stream accepted them (an unparseable payload has no device time)
--   timeliness         = on-time readings / received (accepted within 300 s of the device clock)
--   sequence_integrity = received / (received + seq_gaps); a gap is a `seq` skipped within the
--                        hour or since the device's previous reading in an earlier hour
-- dq_score = 100 * (0.4 completeness + 0.2 validity + 0.2 timeliness + 0.2 sequence_integrity),
-- the weights of undefined components left out and the rest scaled back to 100.
WITH quarantined AS (
  SELECT
    q.topic_device_id AS device_id,
    date_trunc('HOUR', try_to_timestamp(q.arrived_at)) AS hour_start,
    CAST(sum(CASE WHEN q.reading_count > q.valid_count THEN q.reading_count - q.valid_count ELSE 0 END) AS BIGINT)
      AS quarantined_readings
  FROM quarantine AS q
  CROSS JOIN etl_window AS p
  WHERE q.topic_device_id IS NOT NULL
    AND try_to_timestamp(q.arrived_at) >= p.window_start
    AND try_to_timestamp(q.arrived_at) < p.window_end
  GROUP BY q.topic_device_id, date_trunc('HOUR', try_to_timestamp(q.arrived_at))
),
window_hours AS (
  SELECT w.*
  FROM device_hour_windows AS w
  CROSS JOIN etl_window AS p
  WHERE w.hour_start >= p.window_start AND w.hour_start < p.window_end
),
grid AS (
  SELECT d.device_id, e.hour_start FROM devices AS d CROSS JOIN etl_hours AS e
  UNION
  SELECT h.device_id, h.hour_start FROM window_hours AS h
  UNION
  SELECT q.device_id, q.hour_start FROM quarantined AS q
),
measured AS (
  SELECT
    e.event_date,
    e.event_hour,
    g.hour_start,
    g.device_id,
    coalesce(h.device_type, d.device_type) AS device_type,
    coalesce(h.site_id, d.site_id) AS site_id,
    d.expected_readings_per_hour AS expected_readings,
    coalesce(h.readings, 0) AS received_readings,
    coalesce(q.quarantined_readings, 0) AS quarantined_readings,
    coalesce(h.duplicate_copies, 0) AS duplicate_copies,
    coalesce(h.late_readings, 0) AS late_readings,
    coalesce(h.on_time_readings, 0) AS on_time_readings,
    coalesce(h.seq_gaps, 0) + coalesce(h.boundary_seq_gaps, 0) AS seq_gaps,
    h.arrival_lag_p50_s,
    h.arrival_lag_max_s
  FROM grid AS g
  INNER JOIN etl_hours AS e ON e.hour_start = g.hour_start
  LEFT JOIN window_hours AS h ON h.device_id = g.device_id AND h.hour_start = g.hour_start
  LEFT JOIN devices AS d ON d.device_id = g.device_id
  LEFT JOIN quarantined AS q ON q.device_id = g.device_id AND q.hour_start = g.hour_start
),
components AS (
  SELECT
    m.*,
    CASE WHEN m.expected_readings > 0 THEN least(CAST(1 AS DOUBLE), m.received_readings / m.expected_readings) END AS completeness,
    CASE
      WHEN m.received_readings + m.quarantined_readings > 0
        THEN CAST(m.received_readings AS DOUBLE) / (m.received_readings + m.quarantined_readings)
    END AS validity,
    CASE WHEN m.received_readings > 0 THEN CAST(m.on_time_readings AS DOUBLE) / m.received_readings END AS timeliness,
    CASE
      WHEN m.received_readings > 0 THEN CAST(m.received_readings AS DOUBLE) / (m.received_readings + m.seq_gaps)
    END AS sequence_integrity
  FROM measured AS m
)
SELECT
  c.hour_start,
  c.device_id,
  c.device_type,
  c.site_id,
  round(c.expected_readings, 6) AS expected_readings,
  c.received_readings,
  c.quarantined_readings,
  c.duplicate_copies,
  c.late_readings,
  c.on_time_readings,
  c.seq_gaps,
  c.arrival_lag_p50_s,
  c.arrival_lag_max_s,
  round(c.completeness, 6) AS completeness,
  round(c.validity, 6) AS validity,
  round(c.timeliness, 6) AS timeliness,
  round(c.sequence_integrity, 6) AS sequence_integrity,
  round(
    100 * (
      0.4 * coalesce(c.completeness, 0) + 0.2 * coalesce(c.validity, 0)
      + 0.2 * coalesce(c.timeliness, 0) + 0.2 * coalesce(c.sequence_integrity, 0)
    ) / nullif(
      CASE WHEN c.completeness IS NULL THEN 0 ELSE 0.4 END + CASE WHEN c.validity IS NULL THEN 0 ELSE 0.2 END
      + CASE WHEN c.timeliness IS NULL THEN 0 ELSE 0.2 END + CASE WHEN c.sequence_integrity IS NULL THEN 0 ELSE 0.2 END,
      0
    ),
    2
  ) AS dq_score,
  c.event_date,
  c.event_hour
FROM components AS c
