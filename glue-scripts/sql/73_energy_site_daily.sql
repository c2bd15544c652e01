-- Energy per site and day, with the day's weather at the site: mean outdoor temperature and
-- heating/cooling degree-hours (bases as in 70_energy_device_hourly) over the hours that have
-- weather, and how many hours that is.
WITH energy AS (
  SELECT
    d.event_date,
    d.site_id,
    count(*) AS devices_reporting,
    round(sum(d.energy_wh), 6) AS energy_wh
  FROM energy_device_daily AS d
  WHERE d.site_id IS NOT NULL
  GROUP BY d.event_date, d.site_id
),
weather_days AS (
  SELECT
    CAST(CAST(x.hour_start AS DATE) AS STRING) AS event_date,
    x.site_id,
    count(x.outdoor_temperature_c) AS weather_hours,
    round(round(sum(x.outdoor_temperature_c), 6) / count(x.outdoor_temperature_c), 6) AS outdoor_temperature_mean_c,
    round(sum(CASE WHEN x.outdoor_temperature_c < 18 THEN 18 - x.outdoor_temperature_c ELSE 0 END), 6) AS heating_degree_hours_c,
    round(sum(CASE WHEN x.outdoor_temperature_c > 24 THEN x.outdoor_temperature_c - 24 ELSE 0 END), 6) AS cooling_degree_hours_c
  FROM weather_hourly AS x
  GROUP BY CAST(CAST(x.hour_start AS DATE) AS STRING), x.site_id
)
SELECT
  e.site_id,
  e.devices_reporting,
  e.energy_wh,
  coalesce(w.weather_hours, 0) AS weather_hours,
  w.outdoor_temperature_mean_c,
  w.heating_degree_hours_c,
  w.cooling_degree_hours_c,
  e.event_date
FROM energy AS e
LEFT JOIN weather_days AS w ON w.event_date = e.event_date AND w.site_id = e.site_id
