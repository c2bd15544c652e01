-- Data quality per curated partition (event hour and device type): the device-hour counts summed,
-- then the same components and score as 40_dq_device_hour computed from the sums. Completeness
-- caps each device at its expected count, so one chatty device cannot hide a silent one.
WITH sums AS (
  SELECT
    d.event_date,
    d.event_hour,
    d.hour_start,
    d.device_type,
    count(CASE WHEN d.expected_readings > 0 THEN 1 END) AS devices_expected,
    count(CASE WHEN d.received_readings > 0 THEN 1 END) AS devices_reporting,
    -- Sums of doubles rounded before use: the engine's summation order varies between runs, and the
    -- last bits with it; rounded, a rerun computes the same completeness (and writes the same bytes).
    round(sum(CASE WHEN d.expected_readings > 0 THEN d.expected_readings END), 6) AS expected_readings,
    round(
      sum(CASE WHEN d.expected_readings > 0 THEN least(CAST(d.received_readings AS DOUBLE), d.expected_readings) END),
      6
    ) AS received_of_expected,
    CAST(sum(d.received_readings) AS BIGINT) AS received_readings,
    CAST(sum(d.quarantined_readings) AS BIGINT) AS quarantined_readings,
    CAST(sum(d.duplicate_copies) AS BIGINT) AS duplicate_copies,
    CAST(sum(d.late_readings) AS BIGINT) AS late_readings,
    CAST(sum(d.on_time_readings) AS BIGINT) AS on_time_readings,
    CAST(sum(d.seq_gaps) AS BIGINT) AS seq_gaps,
    min(d.dq_score) AS device_dq_score_min,
    round(round(sum(d.dq_score), 6) / count(d.dq_score), 2) AS device_dq_score_mean
  FROM dq_device_hour AS d
  GROUP BY d.event_date, d.event_hour, d.hour_start, d.device_type
),
components AS (
  SELECT
    s.*,
    CASE WHEN s.expected_readings > 0 THEN s.received_of_expected / s.expected_readings END AS completeness,
    CASE
      WHEN s.received_readings + s.quarantined_readings > 0
        THEN CAST(s.received_readings AS DOUBLE) / (s.received_readings + s.quarantined_readings)
    END AS validity,
    CASE WHEN s.received_readings > 0 THEN CAST(s.on_time_readings AS DOUBLE) / s.received_readings END AS timeliness,
    CASE
      WHEN s.received_readings > 0 THEN CAST(s.received_readings AS DOUBLE) / (s.received_readings + s.seq_gaps)
    END AS sequence_integrity
  FROM sums AS s
)
SELECT
  c.hour_start,
  c.device_type,
  c.devices_expected,
  c.devices_reporting,
  round(c.expected_readings, 6) AS expected_readings,
  c.received_readings,
  c.quarantined_readings,
  c.duplicate_copies,
  c.late_readings,
  c.on_time_readings,
  c.seq_gaps,
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
  c.device_dq_score_min,
  c.device_dq_score_mean,
  c.event_date,
  c.event_hour
FROM components AS c
