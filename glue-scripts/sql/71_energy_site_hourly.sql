-- Energy per site and hour: the sum over the site's devices that report energy, with the site's
-- weather (NULL when there is none). Devices unknown to the registry have no site and are left out.
-- A mean is the rounded sum over the count: the inputs carry 6 decimals, so their sum rounded to 6
-- decimals is one double whatever order the engine adds them in, and the mean's own rounding cannot
-- flip on a tie between two runs (avg() over doubles could: a rerun wrote other bytes).
SELECT
  e.hour_start,
  e.site_id,
  count(*) AS devices_reporting,
  round(sum(e.energy_wh), 6) AS energy_wh,
  round(round(sum(e.indoor_temperature_mean_c), 6) / count(e.indoor_temperature_mean_c), 6) AS indoor_temperature_mean_c,
  max(e.outdoor_temperature_c) AS outdoor_temperature_c,
  max(e.relative_humidity_pct) AS relative_humidity_pct,
  max(e.heating_degree_hours_c) AS heating_degree_hours_c,
  max(e.cooling_degree_hours_c) AS cooling_degree_hours_c,
  e.event_date,
  e.event_hour
FROM energy_device_hourly AS e
WHERE e.site_id IS NOT NULL
GROUP BY e.event_date, e.event_hour, e.hour_start, e.site_id
