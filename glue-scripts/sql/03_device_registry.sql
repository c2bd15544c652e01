-- A daily snapshot of the device registry: one row per registered device for every day the
-- window touches, as the run found the export (the `devices` view). The export has no history, so
-- a day's snapshot is the registry of the last run that rebuilt the day: a backfill of an old day
-- writes today's registry for it.
SELECT
  d.device_id,
  d.device_type,
  d.model,
  d.firmware_version,
  d.install_date,
  d.sensor_kind,
  d.reporting_interval_s,
  d.expected_readings_per_hour,
  d.portfolio_id,
  d.site_id,
  d.building_id,
  d.room_id,
  e.event_date
FROM devices AS d
CROSS JOIN (SELECT DISTINCT h.event_date FROM etl_hours AS h) AS e
