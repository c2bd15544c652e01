-- The fleet from the IoT registry export: one row per thing, with its place and how often it
-- reports. `expected_readings_per_hour` is what completeness is measured against.
SELECT
  t.thing_name AS device_id,
  t.thing_type_name AS device_type,
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
      ORDER BY r.thing_type_name, r.site_id, r.building_id, r.room_id, r.reporting_interval_s
    ) AS copy_rank
  FROM registry_things AS r
  WHERE r.thing_name IS NOT NULL
) AS t
WHERE t.copy_rank = 1
