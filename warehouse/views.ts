/**
 * The views analysts start from, one per question they ask. The SQL is in `warehouse/sql/`, written
 * once in the common ground of Redshift, PostgreSQL and DuckDB; the columns and descriptions are here
 * (a test runs every view and compares its columns with these).
 */
import { readFileSync } from 'node:fs';
import type { WarehouseColumn, WarehouseType, WarehouseView } from './spec.ts';

function col(name: string, type: WarehouseType, description: string): WarehouseColumn {
  return { name, type, description };
}

const device = col('device_id', 'string', 'The device (its IoT thing name).');
const deviceType = col('device_type', 'string', 'thermostat, camera, smart_lock or sensor.');
const site = col('site_id', 'string', 'The site.');
const siteName = col('site_name', 'string', 'Human name of the site.');
const room = col('room_id', 'string', 'The room the device is in.');

export const V_FLEET_HEALTH_NOW: WarehouseView = {
  name: 'v_fleet_health_now',
  description:
    'Every device and its state as of the latest hour in the warehouse: when it last reported, its last values and what went wrong in the last 24 hours.',
  columns: [
    device,
    deviceType,
    col('model', 'string', 'Model name.'),
    col('firmware_version', 'string', 'Firmware the registry lists.'),
    site,
    siteName,
    col('building_id', 'string', 'The building.'),
    room,
    col('last_hour_seen', 'timestamp', 'Latest hour with a reading in the last 24 hours (empty if none).'),
    col('hours_since_seen', 'int', 'Hours between that hour and the latest hour in the warehouse.'),
    col(
      'status',
      'string',
      'ok, attention (errors or anomalies in 24 h) or silent (nothing for 2 h or more).',
    ),
    col('readings_last_24h', 'bigint', 'Readings in the last 24 hours.'),
    col('error_readings_last_24h', 'bigint', 'Readings reporting a device error in the last 24 hours.'),
    col('reboots_last_24h', 'bigint', 'Reboots in the last 24 hours.'),
    col('anomalies_last_24h', 'bigint', 'Anomalies (real-time and batch) in the last 24 hours.'),
    col('metric_name', 'string', "The device's main metric."),
    col('metric_last', 'double', 'Its last value.'),
    col('battery_last_pct', 'double', 'Last battery level, percent (battery devices).'),
    col('rssi_mean_dbm', 'double', 'Wi-Fi signal in the last hour seen, dBm.'),
  ],
  examples: [
    {
      question: 'Which devices have gone silent, by site?',
      sql: "SELECT site_name, COUNT(*) AS silent FROM analytics.v_fleet_health_now WHERE status = 'silent' GROUP BY site_name ORDER BY silent DESC",
    },
    {
      question: 'How much of the fleet is healthy right now?',
      sql: 'SELECT status, COUNT(*) AS devices FROM analytics.v_fleet_health_now GROUP BY status ORDER BY status',
    },
  ],
};

export const V_ENERGY_BY_SITE_DAY: WarehouseView = {
  name: 'v_energy_by_site_day',
  description:
    "Energy of each site's thermostats per UTC day, with the outdoor temperature and degree-hours.",
  columns: [
    col('event_date', 'date', 'UTC day.'),
    site,
    siteName,
    col('city', 'string', 'City of the site.'),
    col('devices_reporting', 'bigint', 'Thermostats that reported energy that day.'),
    col('energy_kwh', 'double', 'Energy used, kWh.'),
    col('energy_kwh_per_device', 'double', 'Energy per reporting thermostat, kWh.'),
    col('outdoor_temperature_mean_c', 'double', 'Mean outdoor temperature, °C.'),
    col('heating_degree_hours_c', 'double', 'Heating degree-hours (base 18 °C).'),
    col('cooling_degree_hours_c', 'double', 'Cooling degree-hours (base 18 °C).'),
  ],
  examples: [
    {
      question: 'Which sites used the most energy yesterday?',
      sql: 'SELECT site_name, energy_kwh FROM analytics.v_energy_by_site_day WHERE event_date = CURRENT_DATE - 1 ORDER BY energy_kwh DESC',
    },
    {
      question: 'Does energy follow heating demand at each site?',
      sql: 'SELECT site_name, event_date, energy_kwh, heating_degree_hours_c FROM analytics.v_energy_by_site_day ORDER BY site_name, event_date',
    },
  ],
};

export const V_OPEN_ANOMALIES: WarehouseView = {
  name: 'v_open_anomalies',
  description:
    'Anomalies still open: each device and rule that fired in the 24 hours up to the latest hour in the warehouse.',
  columns: [
    device,
    deviceType,
    site,
    siteName,
    room,
    col('rule', 'string', 'The rule that fired.'),
    col('source', 'string', 'realtime or batch.'),
    col('severity', 'string', 'Severity of the latest occurrence.'),
    col('occurrences', 'bigint', 'Times it fired in the 24 hours.'),
    col('first_detected_at', 'timestamp', 'First occurrence in the 24 hours.'),
    col('last_detected_at', 'timestamp', 'Latest occurrence.'),
    col('last_message', 'string', 'Message of the latest occurrence.'),
  ],
  examples: [
    {
      question: 'What needs a visit today, worst first?',
      sql: "SELECT site_name, room_id, device_id, rule, occurrences FROM analytics.v_open_anomalies ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'security' THEN 1 ELSE 2 END, occurrences DESC",
    },
  ],
};

export const V_DEVICES_AT_RISK: WarehouseView = {
  name: 'v_devices_at_risk',
  description:
    'Devices showing signs of trouble over the latest 7 days in the warehouse, scored, with the reasons and (once the model is deployed) the predicted failure probability.',
  columns: [
    device,
    deviceType,
    col('model', 'string', 'Model name.'),
    site,
    room,
    col('risk_score', 'int', 'Number of warning signs; a predicted failure counts twice.'),
    col('reasons', 'string', 'The warning signs, separated by semicolons.'),
    col('failure_probability', 'double', 'Latest predicted probability of failure within 24 hours, 0-1.'),
    col('battery_min_pct_7d', 'double', 'Lowest end-of-day battery level in the 7 days, percent.'),
    col('reboots_7d', 'bigint', 'Reboots in the 7 days.'),
    col('error_readings_7d', 'bigint', 'Error readings in the 7 days.'),
    col(
      'reporting_share_7d',
      'double',
      'Share of the hours the fleet reported in which this device reported, 0-1.',
    ),
    col('anomaly_hours_7d', 'bigint', 'Hours flagged anomalous in the 7 days.'),
  ],
  examples: [
    {
      question: 'Which devices should maintenance look at first?',
      sql: 'SELECT device_id, site_id, risk_score, reasons FROM analytics.v_devices_at_risk ORDER BY risk_score DESC, device_id',
    },
  ],
};

export const V_LOCATION_ROLLUP: WarehouseView = {
  name: 'v_location_rollup',
  description:
    'Every place in the hierarchy (portfolio, site, building, room) with the devices beneath it, their energy on the latest day and their anomalies in the latest 24 hours.',
  columns: [
    col('location_id', 'string', 'The place.'),
    col('location_level', 'string', 'portfolio, site, building or room.'),
    col('location_name', 'string', 'Human name of the place.'),
    col('parent_location_id', 'string', 'The place one level up.'),
    col('devices', 'bigint', 'Devices anywhere beneath the place.'),
    col('energy_kwh_latest_day', 'double', 'Their energy on the latest day, kWh.'),
    col('anomalies_last_24h', 'bigint', 'Their anomalies in the latest 24 hours.'),
    col('devices_with_anomalies', 'bigint', 'Devices beneath the place with at least one anomaly.'),
  ],
  examples: [
    {
      question: 'Which buildings have the most anomalies?',
      sql: "SELECT location_name, anomalies_last_24h FROM analytics.v_location_rollup WHERE location_level = 'building' ORDER BY anomalies_last_24h DESC",
    },
  ],
};

export const WAREHOUSE_VIEWS: readonly WarehouseView[] = [
  V_FLEET_HEALTH_NOW,
  V_ENERGY_BY_SITE_DAY,
  V_OPEN_ANOMALIES,
  V_DEVICES_AT_RISK,
  V_LOCATION_ROLLUP,
];

/** The SELECT of a view, as written in `warehouse/sql/<name>.sql` (comments kept). */
export function viewSql(view: WarehouseView): string {
  return readFileSync(new URL(`./sql/${view.name}.sql`, import.meta.url), 'utf8').trim();
}
