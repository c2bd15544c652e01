-- Energy of each site's thermostats per UTC day, next to the weather that drove it.
SELECT
  e.event_date,
  e.site_id,
  s.site_name,
  s.city,
  e.devices_reporting,
  e.energy_wh / 1000.0 AS energy_kwh,
  CASE WHEN e.devices_reporting > 0 THEN e.energy_wh / 1000.0 / e.devices_reporting END AS energy_kwh_per_device,
  e.outdoor_temperature_mean_c,
  e.heating_degree_hours_c,
  e.cooling_degree_hours_c
FROM analytics.fact_site_energy_daily AS e
LEFT JOIN analytics.dim_site AS s ON s.site_id = e.site_id
