-- Energy per device and day, for every day the window touches, over all of that day's hours.
SELECT
  w.device_id,
  max(w.device_type) AS device_type,
  max(w.site_id) AS site_id,
  count(*) AS hours_reporting,
  round(sum(w.energy_wh), 6) AS energy_wh,
  round(max(w.energy_wh), 6) AS peak_hour_energy_wh,
  CAST(sum(w.hvac_active_readings) AS BIGINT) AS hvac_active_readings,
  round(round(sum(w.metric_mean), 6) / count(w.metric_mean), 6) AS indoor_temperature_mean_c,
  w.event_date
FROM device_hour_windows AS w
WHERE w.energy_wh IS NOT NULL
  AND w.event_date IN (SELECT DISTINCT e.event_date FROM etl_hours AS e)
GROUP BY w.event_date, w.device_id
