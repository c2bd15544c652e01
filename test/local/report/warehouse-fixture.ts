/**
 * A small, deterministic DuckDB warehouse for the report and query tests: the migrations of the
 * warehouse spec, then a handful of rows in each table the report reads. Two sites, six devices,
 * four hours; one site's name and one anomaly's message carry markup, to prove it is escaped.
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { duckdbExecutor } from '../../../local/warehouse/twin-warehouse.ts';
import { applyMigrations } from '../../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../../warehouse/migrations.ts';
import { WAREHOUSE_TABLES } from '../../../warehouse/tables.ts';

type Cell = string | number | boolean | null;
type Row = Readonly<Record<string, Cell | undefined>>;

/** A site name that would fetch an image and break the page if it were not escaped. */
export const MARKUP_SITE_NAME = 'Oslo <img src="http://example.invalid/x.png"> & "Annex"';
/** An anomaly message that would run a script if it were not escaped. */
export const MARKUP_MESSAGE = 'Bolt jammed <script>console.error("injected")</script>';

export const HOURS = [
  '2026-11-27 10:00:00',
  '2026-11-27 11:00:00',
  '2026-11-27 12:00:00',
  '2026-11-27 13:00:00',
];

const SITES = [
  { site_id: 's1', site_name: 'Lisbon', city: 'Lisbon', building: 'b1', room: 'r1' },
  { site_id: 's2', site_name: MARKUP_SITE_NAME, city: 'Oslo', building: 'b2', room: 'r2' },
] as const;

const DEVICES = [
  {
    device_id: 'th-1',
    device_type: 'thermostat',
    site: 0,
    metric: 'ambient_temperature_c',
    model: 'Nest T3',
  },
  { device_id: 'cam-1', device_type: 'camera', site: 0, metric: 'fps', model: 'Cam Pro' },
  { device_id: 'sen-1', device_type: 'sensor', site: 0, metric: 'value', model: 'TempSense' },
  {
    device_id: 'th-2',
    device_type: 'thermostat',
    site: 1,
    metric: 'ambient_temperature_c',
    model: 'Nest T3',
  },
  { device_id: 'lock-1', device_type: 'smart_lock', site: 1, metric: 'battery_pct', model: 'Lock 2' },
  { device_id: 'sen-2', device_type: 'sensor', site: 1, metric: 'value', model: 'TempSense' },
] as const;

/** Energy per site and day, watt-hours, and the day's mean outdoor temperature. */
export const SITE_ENERGY = [
  { event_date: '2026-11-26', site_id: 's1', energy_wh: 12_000, outdoor_temperature_mean_c: 14.5 },
  { event_date: '2026-11-27', site_id: 's1', energy_wh: 14_500, outdoor_temperature_mean_c: 12 },
  { event_date: '2026-11-26', site_id: 's2', energy_wh: 9_200, outdoor_temperature_mean_c: -2.5 },
  { event_date: '2026-11-27', site_id: 's2', energy_wh: 10_000, outdoor_temperature_mean_c: -4 },
] as const;

/** What a reader of the report should see, derived from the rows above. */
export const EXPECTED = {
  devices: DEVICES.length,
  /** v_fleet_health_now at 13:00: sen-2 last reported at 10:00; three devices had anomalies or errors. */
  status: { ok: 2, attention: 3, silent: 1 },
  energyKwhBySite: Object.fromEntries(
    SITES.map((site) => [
      site.site_id,
      SITE_ENERGY.filter((row) => row.site_id === site.site_id).reduce((sum, row) => sum + row.energy_wh, 0) /
        1000,
    ]),
  ) as Record<'s1' | 's2', number>,
  anomalies: { realtime: 3, batch: 1 },
};

function literal(value: Cell | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return `'${value.replaceAll("'", "''")}'`;
}

/** INSERTs rows into a warehouse table; columns not given are NULL, unknown columns fail. */
export async function insertRows(
  connection: DuckDBConnection,
  tableName: string,
  rows: readonly Row[],
): Promise<void> {
  const table = WAREHOUSE_TABLES.find((t) => t.name === tableName);
  if (!table) throw new Error(`the warehouse has no table ${tableName}`);
  const names = table.columns.map((column) => column.name);
  for (const row of rows) {
    const unknown = Object.keys(row).filter((name) => !names.includes(name));
    if (unknown.length > 0) throw new Error(`${tableName} has no column ${unknown.join(', ')}`);
  }
  if (rows.length === 0) return;
  const values = rows.map((row) => `(${names.map((name) => literal(row[name])).join(', ')})`);
  await connection.run(
    `INSERT INTO analytics.${tableName} (${names.join(', ')}) VALUES ${values.join(', ')}`,
  );
}

export interface FixtureWarehouse {
  readonly connection: DuckDBConnection;
  close(): void;
}

/** A DuckDB warehouse at `path` with the schema only (the migrations), no rows. */
export async function emptyWarehouse(path: string): Promise<FixtureWarehouse> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  await applyMigrations(duckdbExecutor(connection), migrationPlan('duckdb'));
  return {
    connection,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** A DuckDB warehouse at `path` with the fixture rows. */
export async function fixtureWarehouse(path: string): Promise<FixtureWarehouse> {
  const warehouse = await emptyWarehouse(path);
  const { connection } = warehouse;
  await insertRows(connection, 'dim_location', [
    { location_id: 'p1', location_level: 'portfolio', location_name: 'Test portfolio', portfolio_id: 'p1' },
    ...SITES.flatMap((site) => [
      {
        location_id: site.site_id,
        location_level: 'site',
        parent_location_id: 'p1',
        location_name: site.site_name,
        site_id: site.site_id,
        city: site.city,
      },
      {
        location_id: site.building,
        location_level: 'building',
        parent_location_id: site.site_id,
        location_name: `Building ${site.building}`,
        building_id: site.building,
      },
      {
        location_id: site.room,
        location_level: 'room',
        parent_location_id: site.building,
        location_name: `Room ${site.room}`,
        room_id: site.room,
      },
    ]),
  ]);
  await insertRows(
    connection,
    'dim_site',
    SITES.map((site) => ({
      site_id: site.site_id,
      site_name: site.site_name,
      city: site.city,
      parent_location_id: 'p1',
      snapshot_date: '2026-11-27',
    })),
  );
  await insertRows(
    connection,
    'dim_device',
    DEVICES.map((device) => {
      const site = SITES[device.site];
      return {
        device_id: device.device_id,
        device_type: device.device_type,
        model: device.model,
        firmware_version: '1.0.0',
        reporting_interval_s: 60,
        expected_readings_per_hour: 60,
        portfolio_id: 'p1',
        site_id: site.site_id,
        building_id: site.building,
        room_id: site.room,
        snapshot_date: '2026-11-27',
      };
    }),
  );
  await insertRows(
    connection,
    'fact_telemetry_hourly',
    DEVICES.flatMap((device) =>
      // sen-2 falls silent after its first hour.
      (device.device_id === 'sen-2' ? HOURS.slice(0, 1) : HOURS).map((hour) => ({
        hour_start: hour,
        event_date: '2026-11-27',
        device_id: device.device_id,
        device_type: device.device_type,
        site_id: SITES[device.site].site_id,
        metric_name: device.metric,
        readings: 60,
        metric_mean: 20,
        metric_last: 20.5,
        is_anomaly: device.device_id === 'th-1' && hour === HOURS[3],
        battery_last_pct: device.device_id === 'sen-1' ? 15 : null,
        rssi_mean_dbm: -60,
        error_readings: device.device_id === 'lock-1' && hour === HOURS[2] ? 2 : 0,
        reboots: 0,
      })),
    ),
  );
  await insertRows(
    connection,
    'fact_site_energy_daily',
    SITE_ENERGY.map((row) => ({ ...row, devices_reporting: 1, weather_hours: 24 })),
  );
  await insertRows(
    connection,
    'fact_energy_hourly',
    ['th-1', 'th-2'].flatMap((deviceId, index) =>
      HOURS.map((hour) => ({
        hour_start: hour,
        event_date: '2026-11-27',
        device_id: deviceId,
        device_type: 'thermostat',
        site_id: SITES[index]?.site_id ?? null,
        readings: 60,
        energy_wh: 500,
      })),
    ),
  );
  await insertRows(connection, 'fact_anomaly', [
    {
      anomaly_id: 'alert-1',
      source: 'realtime',
      rule: 'lock_jammed',
      severity: 'critical',
      device_id: 'lock-1',
      device_type: 'smart_lock',
      site_id: 's2',
      detected_at: '2026-11-27 12:10:00',
      hour_start: HOURS[2] ?? null,
      event_date: '2026-11-27',
      event_id: 'e-1',
      message: MARKUP_MESSAGE,
      observed: 'jammed',
      threshold: 'unlocked',
    },
    ...['11', '12'].map((hour, index) => ({
      anomaly_id: `alert-${index + 2}`,
      source: 'realtime',
      rule: 'battery_low',
      severity: 'warning',
      device_id: 'sen-1',
      device_type: 'sensor',
      site_id: 's1',
      detected_at: `2026-11-27 ${hour}:20:00`,
      hour_start: `2026-11-27 ${hour}:00:00`,
      event_date: '2026-11-27',
      message: 'Battery at 15 %',
    })),
    {
      anomaly_id: 'th-1:ambient_temperature_c:2026-11-27 13:00:00',
      source: 'batch',
      rule: 'hourly_zscore',
      severity: 'warning',
      device_id: 'th-1',
      device_type: 'thermostat',
      site_id: 's1',
      detected_at: HOURS[3] ?? null,
      hour_start: HOURS[3] ?? null,
      event_date: '2026-11-27',
      message: "Hourly ambient_temperature_c far from the device's 24-hour baseline",
      metric_zscore: 3.4,
    },
  ]);
  await insertRows(
    connection,
    'fact_data_quality_hourly',
    HOURS.flatMap((hour, index) =>
      ['camera', 'sensor', 'smart_lock', 'thermostat'].map((type) => {
        // The sensors lose sen-2 after the first hour: half the readings they should send.
        const completeness = type === 'sensor' && index > 0 ? 0.5 : 0.98;
        return {
          hour_start: hour,
          event_date: '2026-11-27',
          device_type: type,
          devices_expected: type === 'camera' ? 1 : 2,
          devices_reporting: type === 'sensor' && index > 0 ? 1 : 2,
          completeness,
          validity: 1,
          timeliness: 1,
          sequence_integrity: 1,
          dq_score: Math.round(100 * (0.4 * completeness + 0.6) * 100) / 100,
        };
      }),
    ),
  );
  await insertRows(
    connection,
    'fact_device_health_daily',
    DEVICES.flatMap((device) =>
      ['2026-11-26', '2026-11-27'].map((day) => {
        const today = day === '2026-11-27';
        const hours = today ? (device.device_id === 'sen-2' ? 1 : 4) : 24;
        return {
          event_date: day,
          device_id: device.device_id,
          device_type: device.device_type,
          site_id: SITES[device.site].site_id,
          hours_reporting: hours,
          uptime_pct: (100 * hours) / 24,
          readings: 60 * hours,
          battery_last_pct: device.device_id === 'sen-1' ? 15 : null,
          error_readings: device.device_id === 'lock-1' && today ? 2 : 0,
          anomaly_hours: device.device_id === 'th-1' && today ? 1 : 0,
          reboots: 0,
          jammed_readings: device.device_id === 'lock-1' && today ? 1 : 0,
        };
      }),
    ),
  );
  await insertRows(connection, 'fact_prediction', [
    {
      hour_start: HOURS[3] ?? null,
      event_date: '2026-11-27',
      device_id: 'lock-1',
      device_type: 'smart_lock',
      site_id: 's2',
      model_name: 'failure-xgb',
      model_version: '1',
      failure_probability: 0.72,
      scored_at: '2026-11-27 13:05:00',
    },
  ]);
  return warehouse;
}
