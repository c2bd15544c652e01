-- The fleet from the IoT registry export: one row per thing, with its place, what it is and how
-- often it reports. `expected_readings_per_hour` is what completeness is measured against. Every
-- attribute is a string in the export; `install_date` is typed here (YYYY-MM-DD, NULL otherwise).
-- The one place that de-duplicates things: every later step joins or copies this view.
SELECT
  t.thing_name AS device_id,
  t.thing_type_name AS device_type,
  t.model,
  t.firmware_version,
  TRY_CAST(t.install_date AS DATE) AS install_date,
  t.sensor_kind,
  t.portfolio_id,
  t.site_id,
  t.building_id,
  t.room_id,
  TRY_CAST(t.reporting_interval_s AS INT) AS reporting_interval_s,
  CASE
    WHEN TRY_CAST(t.reporting_interval_s AS INT) > 0 THEN CAST(3600 AS DOUBLE) / TRY_CAST(t.reporting_interval_s AS INT)
  END AS expected_readings_per_hour
FROM (
  SELECT
    r.*,
    -- An export lists a thing once; should it not, one row per device keeps joins from fanning out.
    row_number() OVER (
      PARTITION BY r.thing_name
      ORDER BY r.thing_type_name, r.site_id, r.building_id, r.room_id, r.reporting_interval_s,
        r.portfolio_id, r.model, r.firmware_version, r.install_date, r.sensor_kind
    ) AS copy_rank
  FROM registry_things AS r
  WHERE r.thing_name IS NOT NULL
) AS t
WHERE t.copy_rank = 1
