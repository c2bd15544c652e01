-- Energy model: one example per thermostat-hour of ml_features in the training window whose same
-- hour of the next day is known; the label is that hour's energy_wh. The seasonal-naive forecast
-- of the label is the hour's own energy_wh (the same hour, one day earlier), a feature of the model.
--
-- Split by the time of the hour forecast, never by row: an example is 'holdout' when the hour it
-- forecasts starts at or after split_at, 'train' when that hour ends by split_at. A hold-out
-- forecast is made, as a deployed one would be, from the day before it (which may be a training
-- day): the seasonal-naive forecast is made from the same data.
SELECT
  x.split,
  x.device_id,
  x.hour_start AS example_time,
  x.label,
  x.hour_of_day,
  x.day_of_week,
  x.energy_wh,
  x.energy_wh_rolling_mean_24h,
  x.energy_wh_delta_prev_hour,
  x.hvac_power_mean_w,
  x.metric_mean,
  x.metric_rolling_mean_24h,
  x.outdoor_temperature_c,
  x.relative_humidity_pct,
  x.readings,
  x.completeness
FROM (
  SELECT
    f.*,
    CASE
      WHEN f.hour_start + INTERVAL 25 HOURS <= w.split_at THEN 'train'
      WHEN f.hour_start + INTERVAL 24 HOURS >= w.split_at THEN 'holdout'
    END AS split,
    CAST(n.energy_wh AS DOUBLE) AS label
  FROM ml_features AS f
  CROSS JOIN training_window AS w
  INNER JOIN ml_features AS n
    ON n.device_id = f.device_id
    AND n.hour_start = f.hour_start + INTERVAL 24 HOURS
  WHERE f.device_type = 'thermostat'
    AND f.hour_start >= w.window_start
    AND f.hour_start + INTERVAL 24 HOURS < w.window_end
    AND n.energy_wh IS NOT NULL
) AS x
WHERE x.split IS NOT NULL
