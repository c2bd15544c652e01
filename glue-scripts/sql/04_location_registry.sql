-- A daily snapshot of the location hierarchy (the IoT registry's thing groups, portfolio -> site
-- -> building -> room): one row per group for every day the window touches, as the run found the
-- export (see 03_device_registry for what a backfill writes).
--
-- The export puts each attribute on the group it describes (a site's city and coordinates, a
-- building's use, each level's own id). A row carries its own attributes and, where it has none,
-- its nearest ancestor's, following parent links up to three levels (the depth of the tree): a
-- room row names its building, site and portfolio and has its site's city and its building's use.
-- Coordinates and the UTC offset are exported as text and typed here (NULL when not a number).
WITH thing_groups AS (
  SELECT
    g.group_name,
    g.group_description,
    g.parent_group_name,
    g.level,
    g.portfolio_id,
    g.site_id,
    g.building_id,
    g.room_id,
    g.city,
    TRY_CAST(g.latitude_deg AS DOUBLE) AS latitude_deg,
    TRY_CAST(g.longitude_deg AS DOUBLE) AS longitude_deg,
    TRY_CAST(g.utc_offset_hours AS DOUBLE) AS utc_offset_hours,
    g.building_use
  FROM (
    SELECT
      r.*,
      -- An export lists a group once; should it not, one row per group keeps the joins below
      -- (and the warehouse's dimension) from fanning out. A total order: reruns keep the same one.
      row_number() OVER (
        PARTITION BY r.group_name
        ORDER BY r.level, r.parent_group_name, r.group_description, r.portfolio_id, r.site_id,
          r.building_id, r.room_id, r.city, r.latitude_deg, r.longitude_deg, r.utc_offset_hours,
          r.building_use
      ) AS copy_rank
    FROM registry_groups AS r
    WHERE r.group_name IS NOT NULL
  ) AS g
  WHERE g.copy_rank = 1
)
SELECT
  l.group_name AS location_id,
  l.level AS location_level,
  l.parent_group_name AS parent_location_id,
  l.group_description AS location_name,
  coalesce(l.portfolio_id, p.portfolio_id, gp.portfolio_id, ggp.portfolio_id) AS portfolio_id,
  coalesce(l.site_id, p.site_id, gp.site_id, ggp.site_id) AS site_id,
  coalesce(l.building_id, p.building_id, gp.building_id, ggp.building_id) AS building_id,
  coalesce(l.room_id, p.room_id, gp.room_id, ggp.room_id) AS room_id,
  coalesce(l.city, p.city, gp.city, ggp.city) AS city,
  coalesce(l.latitude_deg, p.latitude_deg, gp.latitude_deg, ggp.latitude_deg) AS latitude_deg,
  coalesce(l.longitude_deg, p.longitude_deg, gp.longitude_deg, ggp.longitude_deg) AS longitude_deg,
  coalesce(l.utc_offset_hours, p.utc_offset_hours, gp.utc_offset_hours, ggp.utc_offset_hours) AS utc_offset_hours,
  coalesce(l.building_use, p.building_use, gp.building_use, ggp.building_use) AS building_use,
  e.event_date
FROM thing_groups AS l
LEFT JOIN thing_groups AS p ON p.group_name = l.parent_group_name
LEFT JOIN thing_groups AS gp ON gp.group_name = p.parent_group_name
LEFT JOIN thing_groups AS ggp ON ggp.group_name = gp.parent_group_name
CROSS JOIN (SELECT DISTINCT h.event_date FROM etl_hours AS h) AS e
