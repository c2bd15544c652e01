-- Hourly weather per site over the run's context days. Gap records (`gap: true`) carry no values
-- and are dropped, so a missing hour joins as NULL weather, exactly like no weather at all. If a
-- site-hour appears twice, one row is kept by a total order, so reruns pick the same one.
SELECT
  w.site_id,
  w.hour_start,
  w.outdoor_temperature_c,
  w.relative_humidity_pct,
  w.source AS weather_source
FROM (
  SELECT
    x.site_id,
    try_to_timestamp(x.hour) AS hour_start,
    x.outdoor_temperature_c,
    x.relative_humidity_pct,
    x.source,
    row_number() OVER (
      PARTITION BY x.site_id, try_to_timestamp(x.hour)
      ORDER BY x.source, x.outdoor_temperature_c, x.relative_humidity_pct
    ) AS copy_rank
  FROM weather AS x
  CROSS JOIN etl_window AS p
  WHERE x.site_id IS NOT NULL
    AND (x.gap IS NULL OR x.gap = false)
    AND (x.outdoor_temperature_c IS NOT NULL OR x.relative_humidity_pct IS NOT NULL)
    AND try_to_timestamp(x.hour) = date_trunc('HOUR', try_to_timestamp(x.hour))
    AND try_to_timestamp(x.hour) >= p.context_start
    AND try_to_timestamp(x.hour) < p.context_end
) AS w
WHERE w.copy_rank = 1
