/**
 * The warehouse's SQL executed for real: migrations, loads and views, in PostgreSQL (PGlite, for the
 * Redshift-flavoured SQL minus what only Redshift knows) and in DuckDB (the twin's warehouse), from
 * one small fleet whose answers are known.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANOMALY_ALERTS,
  DEVICE_DAILY_HEALTH,
  DEVICE_HOURLY,
  DEVICE_REGISTRY,
  DQ_PARTITION,
  ENERGY_DEVICE_HOURLY,
  ENERGY_SITE_DAILY,
  LOCATION_REGISTRY,
  PREDICTIONS,
} from '../../warehouse/curated-tables.ts';
import { type CuratedPartition, loadPartitions } from '../../warehouse/loader.ts';
import { applyMigrations } from '../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../warehouse/migrations.ts';
import type { CuratedTable } from '../../warehouse/spec.ts';
import { WAREHOUSE_TABLES } from '../../warehouse/tables.ts';
import { WAREHOUSE_VIEWS } from '../../warehouse/views.ts';
import { curatedRow, type Engine, insertingFiller, openDuckDb, openPglite, type Row } from './engines.ts';

const DAY = '2026-11-27';

function place(id: string, level: string, parent: string | null, extra: Row = {}): Row {
  return curatedRow(LOCATION_REGISTRY, {
    location_id: id,
    location_level: level,
    parent_location_id: parent,
    location_name: `${level} ${id}`,
    ...extra,
  });
}

function device(
  id: string,
  type: string,
  site: string,
  building: string,
  room: string,
  firmware = '4.1.0',
): Row {
  return curatedRow(DEVICE_REGISTRY, {
    device_id: id,
    device_type: type,
    model: 'M-1',
    firmware_version: firmware,
    install_date: '2024-05-01',
    reporting_interval_s: 60,
    expected_readings_per_hour: 60,
    portfolio_id: 'p1',
    site_id: site,
    building_id: building,
    room_id: room,
  });
}

function hourly(hour: string, id: string, site: string, values: Row = {}): Row {
  return curatedRow(DEVICE_HOURLY, {
    hour_start: `${DAY} ${hour}:00:00`,
    device_id: id,
    device_type: 'thermostat',
    site_id: site,
    metric_name: 'ambient_temperature_c',
    readings: 60,
    metric_mean: 21,
    metric_last: 21,
    is_anomaly: false,
    error_readings: 0,
    reboots: 0,
    ...values,
  });
}

/** The fleet: three devices in two sites; d2 is anomalous at 10:00, d3 last reported at 09:00. */
function fleet(): Map<string, Row[]> {
  const rows = new Map<string, Row[]>();
  const put = (source: CuratedTable, unit: string, ...list: Row[]) =>
    rows.set(`${source.name} ${unit}`, list);
  put(
    LOCATION_REGISTRY,
    DAY,
    place('portfolio-p1', 'portfolio', null, { portfolio_id: 'p1' }),
    place('site-s01', 'site', 'portfolio-p1', { site_id: 's01', city: 'Mumbai' }),
    place('site-s02', 'site', 'portfolio-p1', { site_id: 's02', city: 'Oslo' }),
    place('building-s01-b1', 'building', 'site-s01', { building_id: 's01-b1' }),
    place('building-s02-b1', 'building', 'site-s02', { building_id: 's02-b1' }),
    place('room-s01-b1-r01', 'room', 'building-s01-b1', { room_id: 's01-b1-r01' }),
    place('room-s01-b1-r02', 'room', 'building-s01-b1', { room_id: 's01-b1-r02' }),
    place('room-s02-b1-r01', 'room', 'building-s02-b1', { room_id: 's02-b1-r01' }),
  );
  put(
    DEVICE_REGISTRY,
    DAY,
    device('d1', 'thermostat', 's01', 's01-b1', 's01-b1-r01'),
    device('d2', 'smart_lock', 's01', 's01-b1', 's01-b1-r02'),
    device('d3', 'sensor', 's02', 's02-b1', 's02-b1-r01'),
  );
  put(DEVICE_HOURLY, `${DAY} 09`, hourly('09', 'd3', 's02'));
  put(
    DEVICE_HOURLY,
    `${DAY} 10`,
    hourly('10', 'd1', 's01'),
    hourly('10', 'd2', 's01', {
      metric_name: 'battery_pct',
      metric_mean: 3,
      metric_zscore: 4.2,
      is_anomaly: true,
    }),
  );
  put(DEVICE_HOURLY, `${DAY} 11`, hourly('11', 'd1', 's01', { metric_last: 22.5 }));
  put(
    ANOMALY_ALERTS,
    `${DAY} 10`,
    curatedRow(ANOMALY_ALERTS, {
      alert_id: 'e1:lock_jammed',
      rule: 'lock_jammed',
      severity: 'security',
      device_id: 'd2',
      device_type: 'smart_lock',
      site_id: 's01',
      event_id: 'e1',
      alert_time: `${DAY} 10:12:00`,
      arrived_at: `${DAY} 10:12:01`,
      message: 'Lock d2 is jammed',
      observed: 'jammed',
      threshold: 'jammed',
    }),
  );
  for (const [hour, energy] of [
    ['10', 100],
    ['11', 120],
  ] as const)
    put(
      ENERGY_DEVICE_HOURLY,
      `${DAY} ${hour}`,
      curatedRow(ENERGY_DEVICE_HOURLY, {
        hour_start: `${DAY} ${hour}:00:00`,
        device_id: 'd1',
        device_type: 'thermostat',
        site_id: 's01',
        readings: 60,
        energy_wh: energy,
      }),
    );
  put(
    ENERGY_SITE_DAILY,
    DAY,
    curatedRow(ENERGY_SITE_DAILY, { site_id: 's01', devices_reporting: 1, energy_wh: 220, weather_hours: 2 }),
  );
  put(
    DEVICE_DAILY_HEALTH,
    DAY,
    ...['d1', 'd2', 'd3'].map((id) =>
      curatedRow(DEVICE_DAILY_HEALTH, {
        device_id: id,
        device_type: 'thermostat',
        site_id: id === 'd3' ? 's02' : 's01',
        hours_reporting: id === 'd1' ? 2 : 1,
        readings: 60,
        battery_last_pct: id === 'd2' ? 3 : null,
        reboots: 0,
        error_readings: 0,
        anomaly_hours: id === 'd2' ? 1 : 0,
        jammed_readings: 0,
      }),
    ),
  );
  for (const hour of ['09', '10', '11'])
    put(
      DQ_PARTITION,
      `${DAY} ${hour}`,
      curatedRow(DQ_PARTITION, {
        hour_start: `${DAY} ${hour}:00:00`,
        device_type: 'thermostat',
        dq_score: 0.97,
      }),
    );
  return rows;
}

function partitionsOf(rows: Map<string, Row[]>): CuratedPartition[] {
  const sources = [
    LOCATION_REGISTRY,
    DEVICE_REGISTRY,
    DEVICE_HOURLY,
    ANOMALY_ALERTS,
    ENERGY_DEVICE_HOURLY,
    ENERGY_SITE_DAILY,
    DEVICE_DAILY_HEALTH,
    DQ_PARTITION,
    PREDICTIONS,
  ];
  return [...rows.keys()].map((key) => {
    const [name, eventDate, eventHour] = key.split(' ') as [string, string, string | undefined];
    const source = sources.find((candidate) => candidate.name === name) as CuratedTable;
    return { source, unit: eventHour === undefined ? { eventDate } : { eventDate, eventHour } };
  });
}

const keyOf = (partition: CuratedPartition) =>
  `${partition.source.name} ${partition.unit.eventDate}${partition.unit.eventHour === undefined ? '' : ` ${partition.unit.eventHour}`}`;

async function load(engine: Engine, rows: Map<string, Row[]>, only?: (key: string) => boolean) {
  const partitions = partitionsOf(rows).filter((partition) => only?.(keyOf(partition)) ?? true);
  return loadPartitions(
    engine.executor,
    engine.dialect,
    partitions,
    insertingFiller((partition) => rows.get(keyOf(partition)) ?? []),
  );
}

/** Every table's rows in key order, as text: equal snapshots mean equal warehouses. */
async function snapshot(engine: Engine): Promise<string> {
  const parts: string[] = [];
  for (const table of WAREHOUSE_TABLES) {
    const rows = await engine.executor.query(
      `SELECT * FROM analytics.${table.name} ORDER BY ${table.key.join(', ')}`,
    );
    parts.push(`${table.name}: ${JSON.stringify(rows)}`);
  }
  return parts.join('\n');
}

const num = (value: unknown) => (value === null || value === undefined ? value : Number(value));

describe.each([
  ['PostgreSQL (PGlite)', openPglite],
  ['DuckDB', () => openDuckDb()],
])('the warehouse in %s', (_name, open) => {
  let engine: Engine;
  let afterFirstLoad: string;

  beforeAll(async () => {
    engine = await open();
    await applyMigrations(engine.executor, migrationPlan(engine.dialect));
    await load(engine, fleet());
    afterFirstLoad = await snapshot(engine);
  }, 60_000);
  afterAll(async () => engine?.close());

  it('applies the migrations once: a second run changes nothing', async () => {
    const again = await applyMigrations(engine.executor, migrationPlan(engine.dialect));
    expect(again).toEqual({ applied: [], viewsRecreated: false });
    const versions = await engine.executor.query(
      'SELECT version FROM analytics.schema_migrations ORDER BY version',
    );
    expect(versions.map((row) => Number(row.version))).toEqual([0, 1]);
  });

  it('completes a migration that failed part-way when it runs again', async () => {
    const scratch = await open();
    try {
      let calls = 0;
      const flaky = {
        query: scratch.executor.query,
        async transaction(statements: readonly string[]) {
          if (++calls === 4) throw new Error('connection lost');
          await scratch.executor.transaction(statements);
        },
      };
      await expect(applyMigrations(flaky, migrationPlan(scratch.dialect))).rejects.toThrow('connection lost');
      await applyMigrations(scratch.executor, migrationPlan(scratch.dialect));
      for (const table of WAREHOUSE_TABLES)
        await expect(
          scratch.executor.query(`SELECT COUNT(*) AS n FROM analytics.${table.name}`),
        ).resolves.toHaveLength(1);
      const versions = await scratch.executor.query(
        'SELECT version FROM analytics.schema_migrations ORDER BY version',
      );
      expect(versions.map((row) => Number(row.version))).toEqual([0, 1]);
    } finally {
      await scratch.close();
    }
  });

  it('fails when an applied migration was edited, naming it and what to do', async () => {
    const plan = migrationPlan(engine.dialect);
    const edited = {
      ...plan,
      versioned: plan.versioned.map((m) => ({ ...m, steps: [...m.steps, ['SELECT 1']] })),
    };
    await expect(applyMigrations(engine.executor, edited)).rejects.toThrow(
      /migration 1 \(star schema: dimensions and facts\) was applied with checksum [0-9a-f]{64}.*add a new migration/,
    );
  });

  it('gives every view exactly the columns its spec documents', async () => {
    for (const view of WAREHOUSE_VIEWS)
      expect(await engine.columns(`SELECT * FROM analytics.${view.name} LIMIT 0`), view.name).toEqual(
        view.columns.map((column) => column.name),
      );
  });

  it('loads each fact once per business key, and a second load of the same partitions changes nothing', async () => {
    const counts = await engine.executor.query(
      'SELECT (SELECT COUNT(*) FROM analytics.fact_telemetry_hourly) AS telemetry, (SELECT COUNT(*) FROM analytics.fact_anomaly) AS anomalies, (SELECT COUNT(*) FROM analytics.dim_device) AS devices, (SELECT COUNT(*) FROM analytics.dim_site) AS sites, (SELECT COUNT(*) FROM analytics.dim_hour) AS hours, (SELECT COUNT(*) FROM analytics.dim_date) AS days',
    );
    expect(Object.fromEntries(Object.entries(counts[0] ?? {}).map(([k, v]) => [k, num(v)]))).toEqual({
      telemetry: 4,
      anomalies: 2,
      devices: 3,
      sites: 2,
      hours: 3,
      days: 1,
    });
    await load(engine, fleet());
    expect(await snapshot(engine)).toBe(afterFirstLoad);
  });

  it('keeps one row when the curated partition holds a row twice', async () => {
    const rows = fleet();
    const hour = rows.get(`device_hourly ${DAY} 11`) ?? [];
    rows.set(`device_hourly ${DAY} 11`, [...hour, ...hour]);
    await load(engine, rows, (key) => key === `device_hourly ${DAY} 11`);
    expect(await snapshot(engine)).toBe(afterFirstLoad);
  });

  it('updates the right facts when a late reading changes an hour, and drops a batch anomaly it clears', async () => {
    const rows = fleet();
    rows.set(`device_hourly ${DAY} 10`, [
      hourly('10', 'd1', 's01', { metric_mean: 21.4, readings: 61 }),
      hourly('10', 'd2', 's01', {
        metric_name: 'battery_pct',
        metric_mean: 3.5,
        metric_zscore: 1.1,
        is_anomaly: false,
      }),
    ]);
    await load(engine, rows, (key) => key === `device_hourly ${DAY} 10`);
    const telemetry = await engine.executor.query(
      `SELECT device_id, readings, metric_mean FROM analytics.fact_telemetry_hourly WHERE hour_start = TIMESTAMP '${DAY} 10:00:00' ORDER BY device_id`,
    );
    expect(telemetry.map((row) => [row.device_id, num(row.readings), num(row.metric_mean)])).toEqual([
      ['d1', 61, 21.4],
      ['d2', 60, 3.5],
    ]);
    const untouched = await engine.executor.query(
      `SELECT metric_last FROM analytics.fact_telemetry_hourly WHERE hour_start = TIMESTAMP '${DAY} 11:00:00'`,
    );
    expect(untouched.map((row) => num(row.metric_last))).toEqual([22.5]);
    const anomalies = await engine.executor.query('SELECT anomaly_id, source FROM analytics.fact_anomaly');
    expect(anomalies).toEqual([{ anomaly_id: 'e1:lock_jammed', source: 'realtime' }]);
    await load(engine, fleet(), (key) => key === `device_hourly ${DAY} 10`);
    expect(await snapshot(engine)).toBe(afterFirstLoad);
  });

  it('keeps the newest registry snapshot when an older day is loaded after it', async () => {
    const newer = new Map([
      [`device_registry 2026-11-28`, [device('d1', 'thermostat', 's01', 's01-b1', 's01-b1-r01', '5.0.0')]],
    ]);
    await load(engine, newer);
    await load(engine, fleet(), (key) => key === `device_registry ${DAY}`);
    const rows = await engine.executor.query(
      "SELECT firmware_version, CAST(snapshot_date AS VARCHAR) AS snapshot FROM analytics.dim_device WHERE device_id = 'd1'",
    );
    expect(rows).toEqual([{ firmware_version: '5.0.0', snapshot: '2026-11-28' }]);
  });

  it('fails a partition as a whole, naming it, and leaves the warehouse as it was', async () => {
    const before = await snapshot(engine);
    const rows = fleet();
    rows.set(`device_hourly ${DAY} 11`, [
      hourly('11', 'd1', 's01', { metric_last: 99 }),
      hourly('11', 'd9', 's01', { hour_start: 'not a time' }),
    ]);
    await expect(load(engine, rows, (key) => key === `device_hourly ${DAY} 11`)).rejects.toThrow(
      `warehouse load of device_hourly/event_date=${DAY}/event_hour=11 failed, nothing of it was applied`,
    );
    expect(await snapshot(engine)).toBe(before);
  });

  it('answers the analyst views from the loaded facts', async () => {
    const health = await engine.executor.query(
      'SELECT device_id, status, hours_since_seen, anomalies_last_24h FROM analytics.v_fleet_health_now ORDER BY device_id',
    );
    expect(
      health.map((row) => [
        row.device_id,
        row.status,
        num(row.hours_since_seen),
        num(row.anomalies_last_24h),
      ]),
    ).toEqual([
      ['d1', 'ok', 0, 0],
      ['d2', 'attention', 1, 2],
      ['d3', 'silent', 2, 0],
    ]);
    const open = await engine.executor.query(
      'SELECT device_id, rule, occurrences FROM analytics.v_open_anomalies ORDER BY rule',
    );
    expect(open.map((row) => [row.device_id, row.rule, num(row.occurrences)])).toEqual([
      ['d2', 'hourly_zscore', 1],
      ['d2', 'lock_jammed', 1],
    ]);
    const energy = await engine.executor.query(
      'SELECT site_id, site_name, energy_kwh FROM analytics.v_energy_by_site_day',
    );
    expect(energy.map((row) => [row.site_id, row.site_name, num(row.energy_kwh)])).toEqual([
      ['s01', 'site site-s01', 0.22],
    ]);
  });

  it('rolls devices, energy and anomalies up the location hierarchy', async () => {
    const rollup = await engine.executor.query(
      'SELECT location_id, devices, energy_kwh_latest_day, anomalies_last_24h, devices_with_anomalies FROM analytics.v_location_rollup ORDER BY location_id',
    );
    expect(
      rollup.map((row) => [
        row.location_id,
        num(row.devices),
        num(row.energy_kwh_latest_day),
        num(row.anomalies_last_24h),
        num(row.devices_with_anomalies),
      ]),
    ).toEqual([
      ['building-s01-b1', 2, 0.22, 2, 1],
      ['building-s02-b1', 1, 0, 0, 0],
      ['portfolio-p1', 3, 0.22, 2, 1],
      ['room-s01-b1-r01', 1, 0.22, 0, 0],
      ['room-s01-b1-r02', 1, 0, 2, 1],
      ['room-s02-b1-r01', 1, 0, 0, 0],
      ['site-s01', 2, 0.22, 2, 1],
      ['site-s02', 1, 0, 0, 0],
    ]);
  });

  it('lists devices at risk with their reasons', async () => {
    const risk = await engine.executor.query(
      'SELECT device_id, risk_score, reasons FROM analytics.v_devices_at_risk ORDER BY device_id',
    );
    expect(risk.map((row) => [row.device_id, num(row.risk_score), row.reasons])).toEqual([
      ['d2', 3, 'low battery; low uptime; anomalies; '],
      ['d3', 1, 'low uptime; '],
    ]);
  });

  // Last: it adds predictions, which the views above do not expect.
  it("loads the failure model's predictions per device and hour, drops a device a rescored hour no longer holds, and flags its risk", async () => {
    // Prepare
    const prediction = (hour: string, id: string, probability: number, scoredAt: string) =>
      curatedRow(PREDICTIONS, {
        hour_start: `${DAY} ${hour}:00:00`,
        device_id: id,
        device_type: 'thermostat',
        site_id: 's01',
        model_name: 'failure',
        model_version: '0123456789abcdef',
        failure_probability: probability,
        scored_at: scoredAt,
      });
    const rows = new Map<string, Row[]>([
      [
        `predictions ${DAY} 10`,
        [prediction('10', 'd1', 0.9, `${DAY} 12:00:00`), prediction('10', 'd2', 0.2, `${DAY} 12:00:00`)],
      ],
      [`predictions ${DAY} 11`, [prediction('11', 'd1', 0.7, `${DAY} 12:00:00`)]],
    ]);
    const facts = () =>
      engine.executor.query(
        'SELECT device_id, CAST(hour_start AS VARCHAR(32)) AS hour_start, model_name, failure_probability FROM analytics.fact_prediction ORDER BY hour_start, device_id',
      );

    // Act
    await load(engine, rows);
    const first = await facts();
    await load(engine, rows);
    const again = await facts();
    const risk = await engine.executor.query(
      "SELECT device_id, risk_score, reasons, failure_probability FROM analytics.v_devices_at_risk WHERE device_id = 'd1'",
    );
    // A later window rescored hour 10: d1 has no features in it any more.
    rows.set(`predictions ${DAY} 10`, [prediction('10', 'd2', 0.3, `${DAY} 13:00:00`)]);
    await load(engine, rows, (key) => key === `predictions ${DAY} 10`);
    const rescored = await facts();

    // Assess
    const shape = (list: readonly Record<string, unknown>[]) =>
      list.map((row) => [
        row.device_id,
        String(row.hour_start).slice(11, 13),
        row.model_name,
        num(row.failure_probability),
      ]);
    expect(shape(first)).toEqual([
      ['d1', '10', 'failure', 0.9],
      ['d2', '10', 'failure', 0.2],
      ['d1', '11', 'failure', 0.7],
    ]);
    expect(again).toEqual(first);
    expect(
      risk.map((row) => [row.device_id, num(row.risk_score), row.reasons, num(row.failure_probability)]),
    ).toEqual([['d1', 2, 'predicted failure; ', 0.7]]);
    expect(shape(rescored)).toEqual([
      ['d2', '10', 'failure', 0.3],
      ['d1', '11', 'failure', 0.7],
    ]);
  });
});
