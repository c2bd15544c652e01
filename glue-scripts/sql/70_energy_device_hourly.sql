-- Energy per device and hour (devices that report `energyWh`: thermostats), with the site's
-- weather. Degree-hours use an 18 °C base for heating and 24 °C for cooling, the usual building
-- energy bases; NULL when the hour has no weather.
SELECT
  w.hour_start,
  w.device_id,
  w.device_type,
  w.site_id,
  w.readings,
  w.energy_wh,
  w.hvac_power_mean_w,
  w.hvac_active_readings,
  w.metric_mean AS indoor_temperature_mean_c,
  w.target_temperature_mean_c,
  x.outdoor_temperature_c,
  x.relative_humidity_pct,
  CASE
    WHEN x.outdoor_temperature_c < 18 THEN round(18 - x.outdoor_temperature_c, 6)
    WHEN x.outdoor_temperature_c >= 18 THEN CAST(0 AS DOUBLE)
  END AS heating_degree_hours_c,
  CASE
    WHEN x.outdoor_temperature_c > 24 THEN round(x.outdoor_temperature_c - 24, 6)
    WHEN x.outdoor_temperature_c <= 24 THEN CAST(0 AS DOUBLE)
  END AS cooling_degree_hours_c,
  w.event_date,
  w.event_hour
FROM device_hour_windows AS w
CROSS JOIN etl_window AS p
LEFT JOIN weather_hourly AS x ON x.site_id = w.site_id AND x.hour_start = w.hour_start
WHERE w.hour_start >= p.window_start
  AND w.hour_start < p.window_end
  AND w.energy_wh IS NOT NULL
