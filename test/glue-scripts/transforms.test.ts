/**
 * The transforms on the fixture lake (test/fixtures/etl/README.md), with the values worked out by
 * hand from the fixture. One DuckDB session runs the pipeline once; each test reads the views.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEtlSession,
  type EtlSession,
  type PipelineResult,
  planTouchedHours,
  runPipeline,
} from '../../local/etl/duckdb-runner.ts';
import { localSourceFiles } from '../../local/etl/local-lake.ts';
import { loadPipeline, type Pipeline } from '../../local/etl/manifest.ts';
import { etlWindow, plannedWindow } from '../../local/etl/window.ts';
import { FIXTURE_WINDOW, fixtureObjects, writeLocalLake } from '../local/etl/fixture-lake.ts';

const HISTORY_FIXTURE = new URL('../fixtures/etl/device-hour-history.json', import.meta.url);

let pipeline: Pipeline;
let session: EtlSession;
let workDir: string;
let lakeDir: string;
let result: PipelineResult;
const window = etlWindow(FIXTURE_WINDOW.from, FIXTURE_WINDOW.to);

/** Rows of a query, BIGINTs (strings from DuckDB) left as they are. */
async function query(sql: string): Promise<Record<string, unknown>[]> {
  return (await session.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

beforeAll(async () => {
  pipeline = await loadPipeline();
  session = await createEtlSession(pipeline);
  workDir = await mkdtemp(join(tmpdir(), 'sdap-transforms-'));
  lakeDir = join(workDir, 'lake');
  await writeLocalLake(lakeDir, await fixtureObjects());
  result = await runPipeline(session, pipeline, {
    window,
    files: await localSourceFiles(pipeline, window, lakeDir),
    outDir: join(workDir, 'out'),
  });
});

afterAll(async () => {
  session?.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('curated telemetry', () => {
  it('keeps one row per eventId: the copy that arrived first', async () => {
    // Act
    const counts = await query(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids, sum(duplicate_copies) AS dropped FROM curated_telemetry`,
    );
    const kept = await query(
      `SELECT ingest_shard_id, ingest_arrived_at, duplicate_copies FROM curated_telemetry WHERE device_id = 'thermo-1' AND seq = 2`,
    );

    // Assess: 34 lines - 2 malformed - 1 duplicate = 31 readings.
    expect(counts).toEqual([{ n: '31', ids: '31', dropped: '1' }]);
    expect(kept).toEqual([
      {
        ingest_shard_id: 'shardId-000000000000',
        ingest_arrived_at: '2026-11-27 10:10:02',
        duplicate_copies: '1',
      },
    ]);
    expect(result.summary).toMatchObject({ raw_lines_read: 34, malformed_lines: 2, duplicates_removed: 1 });
  });

  it('places a late reading in its event hour and flags it', async () => {
    // Act
    const late = await query(
      `SELECT event_date, event_hour, is_late, arrival_lag_ms FROM curated_telemetry WHERE device_id = 'thermo-1' AND seq = 6`,
    );

    // Assess: device time 10:50, accepted 12:05.
    expect(late).toEqual([
      { event_date: '2026-11-27', event_hour: '10', is_late: true, arrival_lag_ms: '4500000' },
    ]);
    expect(result.summary.late_readings).toBe(1);
  });

  it('reads device time with an offset as the UTC instant', async () => {
    // Act
    const rows = await query(
      `SELECT timestamp FROM curated_telemetry WHERE device_id = 'thermo-1' AND seq = 3`,
    );

    // Assess: sent as 11:20+01:00.
    expect(rows).toEqual([{ timestamp: '2026-11-27 10:20:00' }]);
  });

  it("writes one Parquet file per partition of event date, hour and device type, in the run's window", () => {
    // Act
    const keys = result.outputs.filter((o) => o.table === 'curated_telemetry').map((o) => o.key);

    // Assess
    expect(keys).toEqual([
      'curated_telemetry/event_date=2026-11-27/event_hour=10/device_type=camera/part-00000.parquet',
      'curated_telemetry/event_date=2026-11-27/event_hour=10/device_type=smart_lock/part-00000.parquet',
      'curated_telemetry/event_date=2026-11-27/event_hour=10/device_type=thermostat/part-00000.parquet',
      'curated_telemetry/event_date=2026-11-27/event_hour=11/device_type=camera/part-00000.parquet',
      'curated_telemetry/event_date=2026-11-27/event_hour=11/device_type=smart_lock/part-00000.parquet',
      'curated_telemetry/event_date=2026-11-27/event_hour=11/device_type=thermostat/part-00000.parquet',
    ]);
  });
});

describe('the planner', () => {
  it('rebuilds from the event hour of a late reading to the end of the ingest window', async () => {
    // Prepare: ingest hour 12 holds only thermo-1's reading from 10:50.
    const ingest = etlWindow('2026-11-27T12:00:00Z', '2026-11-27T13:00:00Z');
    const files = await localSourceFiles(pipeline, ingest, lakeDir, { planner: true });

    // Act
    const touched = await planTouchedHours(session, pipeline, ingest, files);
    const rebuild = plannedWindow(
      ingest,
      touched.map((t) => t.hourStartMs),
    );

    // Assess
    expect(touched).toEqual([
      { hourStartMs: Date.parse('2026-11-27T10:00:00Z'), readings: 1, lateReadings: 1 },
    ]);
    expect(rebuild).toEqual(etlWindow('2026-11-27T10:00:00Z', '2026-11-27T13:00:00Z'));
  });
});

describe('data quality', () => {
  it('scores each device-hour from completeness, validity, timeliness and sequence gaps', async () => {
    // Act
    const rows = await query(
      `SELECT device_id, event_hour, expected_readings, received_readings, quarantined_readings, seq_gaps,
              completeness, validity, timeliness, sequence_integrity, dq_score
       FROM dq_device_hour WHERE device_id IN ('thermo-1', 'thermo-2') ORDER BY device_id, event_hour`,
    );

    // Assess
    expect(rows).toEqual([
      // 5 of 6 expected; 1 of 5 late; seq 4 missing: 100 * (0.4*5/6 + 0.2*1 + 0.2*0.8 + 0.2*5/6) = 86.
      {
        device_id: 'thermo-1',
        event_hour: '10',
        expected_readings: 6,
        received_readings: '5',
        quarantined_readings: '0',
        seq_gaps: '1',
        completeness: 0.833333,
        validity: 1,
        timeliness: 0.8,
        sequence_integrity: 0.833333,
        dq_score: 86,
      },
      // seq 7 follows seq 6 of the hour before: no gap across the boundary.
      {
        device_id: 'thermo-1',
        event_hour: '11',
        expected_readings: 6,
        received_readings: '6',
        quarantined_readings: '0',
        seq_gaps: '0',
        completeness: 1,
        validity: 1,
        timeliness: 1,
        sequence_integrity: 1,
        dq_score: 100,
      },
      {
        device_id: 'thermo-2',
        event_hour: '10',
        expected_readings: 6,
        received_readings: '6',
        quarantined_readings: '0',
        seq_gaps: '0',
        completeness: 1,
        validity: 1,
        timeliness: 1,
        sequence_integrity: 1,
        dq_score: 100,
      },
      // Silent, with 2 readings quarantined: completeness 0, validity 0, nothing else defined.
      {
        device_id: 'thermo-2',
        event_hour: '11',
        expected_readings: 6,
        received_readings: '0',
        quarantined_readings: '2',
        seq_gaps: '0',
        completeness: 0,
        validity: 0,
        timeliness: null,
        sequence_integrity: null,
        dq_score: 0,
      },
    ]);
  });

  it('scores each curated partition from the summed counts', async () => {
    // Act
    const rows = await query(
      `SELECT event_hour, devices_expected, devices_reporting, completeness, validity, timeliness, sequence_integrity, dq_score
       FROM dq_partition WHERE device_type = 'thermostat' ORDER BY event_hour`,
    );

    // Assess
    expect(rows).toEqual([
      // 11 of 12 expected, 10 of 11 on time, 1 gap: 100 * (0.4*11/12 + 0.2 + 0.2*10/11 + 0.2*11/12) = 93.18.
      {
        event_hour: '10',
        devices_expected: '2',
        devices_reporting: '2',
        completeness: 0.916667,
        validity: 1,
        timeliness: 0.909091,
        sequence_integrity: 0.916667,
        dq_score: 93.18,
      },
      // 6 of 12 expected, 6 valid of 8: 100 * (0.4*0.5 + 0.2*0.75 + 0.2 + 0.2) = 75.
      {
        event_hour: '11',
        devices_expected: '2',
        devices_reporting: '1',
        completeness: 0.5,
        validity: 0.75,
        timeliness: 1,
        sequence_integrity: 1,
        dq_score: 75,
      },
    ]);
  });

  it('summarises the distribution of device-hour scores', () => {
    // Assess: 6 device-hours at 100, one at 86, one at 0.
    expect(result.summary).toMatchObject({
      device_hours_scored: 8,
      dq_score_min: 0,
      dq_score_max: 100,
      dq_score_mean: 85.75,
      dq_score_below_50: 1,
      dq_score_80_to_95: 1,
      dq_score_95_and_above: 6,
    });
  });
});

describe('hourly device aggregates', () => {
  it('computes rolling statistics and deltas over the device history', async () => {
    // Act
    const rows = await query(
      `SELECT device_id, event_hour, metric_mean, metric_rolling_mean_24h, metric_rolling_stddev_24h,
              metric_delta_prev_hour, reboots, error_readings
       FROM device_hourly WHERE event_hour = '11' ORDER BY device_id`,
    );

    // Assess
    expect(rows).toEqual([
      // CPU 54..57 after 50..53; a reboot and a 0 fps reading in the hour.
      {
        device_id: 'cam-1',
        event_hour: '11',
        metric_mean: 55.5,
        metric_rolling_mean_24h: 53.5,
        metric_rolling_stddev_24h: 2.828427,
        metric_delta_prev_hour: 4,
        reboots: '1',
        error_readings: '1',
      },
      {
        device_id: 'lock-1',
        event_hour: '11',
        metric_mean: 78,
        metric_rolling_mean_24h: 78.75,
        metric_rolling_stddev_24h: 1.06066,
        metric_delta_prev_hour: -1.5,
        reboots: '0',
        error_readings: '0',
      },
      // 22 (mean of 20, 21, 22, 23, 24) then 20: rolling mean 21, sample deviation sqrt(2).
      {
        device_id: 'thermo-1',
        event_hour: '11',
        metric_mean: 20,
        metric_rolling_mean_24h: 21,
        metric_rolling_stddev_24h: Number(Math.SQRT2.toFixed(6)),
        metric_delta_prev_hour: -2,
        reboots: '0',
        error_readings: '0',
      },
    ]);
  });

  it("scores an hour against the device's own baseline of the hours before it", async () => {
    // Prepare: 7 hours at 10, 11, 9, 10, 11, 9, 10, then 16 (see the fixture file).
    const history = JSON.parse(await readFile(HISTORY_FIXTURE, 'utf8')) as Array<
      Record<string, number | string>
    >;
    const values = history
      .map(
        (h) =>
          `('${h.device_id}', ${h.hour_index}, ${h.metric_mean}, ${h.readings}, ${h.first_seq}, ${h.last_seq})`,
      )
      .join(', ');
    await session.connection.run(
      `CREATE OR REPLACE TEMP TABLE device_hour_history AS
       SELECT device_id, CAST(hour_index AS BIGINT) AS hour_index, CAST(metric_mean AS DOUBLE) AS metric_mean,
              CAST(readings AS BIGINT) AS readings, CAST(NULL AS DOUBLE) AS energy_wh,
              CAST(first_seq AS BIGINT) AS first_seq, CAST(last_seq AS BIGINT) AS last_seq,
              CAST(NULL AS INTEGER) AS first_uptime_s, CAST(NULL AS INTEGER) AS last_uptime_s
       FROM (VALUES ${values}) AS v(device_id, hour_index, metric_mean, readings, first_seq, last_seq)`,
    );

    // Act: the temp table shadows the pipeline's own history while it exists.
    const rows = await query(
      `SELECT hour_index, metric_baseline_hours, round(metric_baseline_mean_24h, 6) AS baseline_mean,
              round(metric_baseline_stddev_24h, 6) AS baseline_stddev, metric_zscore, is_anomaly, boundary_seq_gaps
       FROM (${pipeline.sql.get('35_device_hour_windows.sql')}) AS w WHERE hour_index >= 493997 ORDER BY hour_index`,
    ).finally(() => session.connection.run('DROP TABLE temp.device_hour_history'));

    // Assess: the 6th hour has 5 baseline hours (no z); the 8th: (16 - 10) / sqrt(4/6) = 7.348469.
    expect(rows).toEqual([
      {
        hour_index: '493997',
        metric_baseline_hours: '5',
        baseline_mean: 10.2,
        baseline_stddev: 0.83666,
        metric_zscore: null,
        is_anomaly: false,
        boundary_seq_gaps: '0',
      },
      {
        hour_index: '493998',
        metric_baseline_hours: '6',
        baseline_mean: 10,
        baseline_stddev: 0.894427,
        metric_zscore: 0,
        is_anomaly: false,
        boundary_seq_gaps: '0',
      },
      {
        hour_index: '493999',
        metric_baseline_hours: '7',
        baseline_mean: 10,
        baseline_stddev: 0.816497,
        metric_zscore: 7.348469,
        is_anomaly: true,
        boundary_seq_gaps: '3',
      },
    ]);
  });
});

describe('daily device health', () => {
  it('reports uptime, battery trend, errors and reboots per device-day', async () => {
    // Act
    const rows = await query(
      `SELECT device_id, hours_reporting, uptime_pct, battery_trend_pct_per_day, error_readings, reboots
       FROM device_daily_health ORDER BY device_id`,
    );

    // Assess: the lock's last battery level falls 1.5 points an hour: -36 a day.
    expect(rows).toEqual([
      {
        device_id: 'cam-1',
        hours_reporting: '2',
        uptime_pct: 8.3333,
        battery_trend_pct_per_day: null,
        error_readings: '1',
        reboots: '1',
      },
      {
        device_id: 'lock-1',
        hours_reporting: '2',
        uptime_pct: 8.3333,
        battery_trend_pct_per_day: -36,
        error_readings: '1',
        reboots: '0',
      },
      {
        device_id: 'thermo-1',
        hours_reporting: '2',
        uptime_pct: 8.3333,
        battery_trend_pct_per_day: null,
        error_readings: '0',
        reboots: '0',
      },
      {
        device_id: 'thermo-2',
        hours_reporting: '1',
        uptime_pct: 4.1667,
        battery_trend_pct_per_day: null,
        error_readings: '0',
        reboots: '0',
      },
    ]);
  });
});

describe('energy', () => {
  it('totals energy per device and site, hourly and daily, with the weather where there is some', async () => {
    // Act
    const deviceHourly = await query(
      `SELECT device_id, event_hour, energy_wh FROM energy_device_hourly ORDER BY device_id, event_hour`,
    );
    const siteHourly = await query(
      `SELECT site_id, event_hour, energy_wh, outdoor_temperature_c, heating_degree_hours_c
       FROM energy_site_hourly ORDER BY site_id, event_hour`,
    );
    const siteDaily = await query(
      `SELECT site_id, energy_wh, weather_hours, outdoor_temperature_mean_c FROM energy_site_daily ORDER BY site_id`,
    );
    const deviceDaily = await query(
      `SELECT device_id, energy_wh FROM energy_device_daily ORDER BY device_id`,
    );

    // Assess: thermo-1 5 x 10 Wh then 6 x 12 Wh; thermo-2 6 x 5 Wh; site-a's 11:00 weather is a gap.
    expect(deviceHourly).toEqual([
      { device_id: 'thermo-1', event_hour: '10', energy_wh: 50 },
      { device_id: 'thermo-1', event_hour: '11', energy_wh: 72 },
      { device_id: 'thermo-2', event_hour: '10', energy_wh: 30 },
    ]);
    expect(siteHourly).toEqual([
      {
        site_id: 'site-a',
        event_hour: '10',
        energy_wh: 50,
        outdoor_temperature_c: 7.5,
        heating_degree_hours_c: 10.5,
      },
      {
        site_id: 'site-a',
        event_hour: '11',
        energy_wh: 72,
        outdoor_temperature_c: null,
        heating_degree_hours_c: null,
      },
      {
        site_id: 'site-b',
        event_hour: '10',
        energy_wh: 30,
        outdoor_temperature_c: null,
        heating_degree_hours_c: null,
      },
    ]);
    expect(siteDaily).toEqual([
      { site_id: 'site-a', energy_wh: 122, weather_hours: '1', outdoor_temperature_mean_c: 7.5 },
      { site_id: 'site-b', energy_wh: 30, weather_hours: '0', outdoor_temperature_mean_c: null },
    ]);
    expect(deviceDaily).toEqual([
      { device_id: 'thermo-1', energy_wh: 122 },
      { device_id: 'thermo-2', energy_wh: 30 },
    ]);
  });
});

describe('registry snapshots', () => {
  it('list every registered device once for each day of the window, with its attributes typed', async () => {
    // Act
    const rows = await query(`SELECT * FROM device_registry ORDER BY event_date, device_id`);

    // Assess: cam-1's install date is not a date in the export, so it is NULL.
    const device = (
      device_id: string,
      device_type: string,
      model: string,
      firmware_version: string,
      install_date: string | null,
      reporting_interval_s: number,
      site: 'a' | 'b',
    ) => ({
      device_id,
      device_type,
      model,
      firmware_version,
      install_date,
      sensor_kind: null,
      reporting_interval_s,
      expected_readings_per_hour: 3600 / reporting_interval_s,
      portfolio_id: 'p1',
      site_id: `site-${site}`,
      building_id: `site-${site}-b1`,
      room_id: `site-${site}-b1-r1`,
      event_date: '2026-11-27',
    });
    expect(rows).toEqual([
      device('cam-1', 'camera', 'CAM-2K', '5.1.0-rc.2', null, 900, 'b'),
      device('lock-1', 'smart_lock', 'LK-10', '1.9.0', '2025-01-01', 1200, 'a'),
      device('thermo-1', 'thermostat', 'TH-300', '4.1.0', '2023-08-14', 600, 'a'),
      device('thermo-2', 'thermostat', 'TH-300', '4.0.2', '2024-02-29', 600, 'b'),
    ]);
    expect(result.outputs.filter((o) => o.table === 'device_registry').map((o) => o.key)).toEqual([
      'device_registry/event_date=2026-11-27/part-00000.parquet',
    ]);
  });

  it("list every location once per day, with its ancestors' ids and place where it has none", async () => {
    // Act
    const rows = await query(`SELECT * FROM location_registry ORDER BY event_date, location_id`);

    // Assess: building-site-b-b1 is exported twice and kept once.
    const oslo = { city: 'Oslo', latitude_deg: 59.95, longitude_deg: 10.8, utc_offset_hours: 1 };
    const mumbai = { city: 'Mumbai', latitude_deg: 19.1, longitude_deg: 72.9, utc_offset_hours: 5.5 };
    const none = { city: null, latitude_deg: null, longitude_deg: null, utc_offset_hours: null };
    const day = { event_date: '2026-11-27' };
    expect(rows).toEqual([
      {
        location_id: 'building-site-a-b1',
        location_level: 'building',
        parent_location_id: 'site-site-a',
        location_name: 'Oslo building 1',
        portfolio_id: 'p1',
        site_id: 'site-a',
        building_id: 'site-a-b1',
        room_id: null,
        ...oslo,
        building_use: 'office',
        ...day,
      },
      {
        location_id: 'building-site-b-b1',
        location_level: 'building',
        parent_location_id: 'site-site-b',
        location_name: 'Mumbai building 1',
        portfolio_id: 'p1',
        site_id: 'site-b',
        building_id: 'site-b-b1',
        room_id: null,
        ...mumbai,
        building_use: 'residential',
        ...day,
      },
      {
        location_id: 'portfolio-p1',
        location_level: 'portfolio',
        parent_location_id: null,
        location_name: 'Fixture portfolio',
        portfolio_id: 'p1',
        site_id: null,
        building_id: null,
        room_id: null,
        ...none,
        building_use: null,
        ...day,
      },
      {
        location_id: 'room-site-a-b1-r1',
        location_level: 'room',
        parent_location_id: 'building-site-a-b1',
        location_name: 'Oslo, site-a-b1, Lobby',
        portfolio_id: 'p1',
        site_id: 'site-a',
        building_id: 'site-a-b1',
        room_id: 'site-a-b1-r1',
        ...oslo,
        building_use: 'office',
        ...day,
      },
      {
        location_id: 'room-site-b-b1-r1',
        location_level: 'room',
        parent_location_id: 'building-site-b-b1',
        location_name: 'Mumbai, site-b-b1, Flat 1',
        portfolio_id: 'p1',
        site_id: 'site-b',
        building_id: 'site-b-b1',
        room_id: 'site-b-b1-r1',
        ...mumbai,
        building_use: 'residential',
        ...day,
      },
      {
        location_id: 'site-site-a',
        location_level: 'site',
        parent_location_id: 'portfolio-p1',
        location_name: 'Oslo',
        portfolio_id: 'p1',
        site_id: 'site-a',
        building_id: null,
        room_id: null,
        ...oslo,
        building_use: null,
        ...day,
      },
      {
        location_id: 'site-site-b',
        location_level: 'site',
        parent_location_id: 'portfolio-p1',
        location_name: 'Mumbai',
        portfolio_id: 'p1',
        site_id: 'site-b',
        building_id: null,
        room_id: null,
        ...mumbai,
        building_use: null,
        ...day,
      },
    ]);
  });

  it('write one snapshot per day the window touches', async () => {
    // Prepare: a window across midnight, in a session of its own (the other tests read this one's views).
    const overnight = etlWindow('2026-11-27T23:00:00Z', '2026-11-28T01:00:00Z');
    const own = await createEtlSession(pipeline);

    // Act
    let run: PipelineResult;
    try {
      run = await runPipeline(own, pipeline, {
        window: overnight,
        files: await localSourceFiles(pipeline, overnight, lakeDir),
        outDir: join(workDir, 'overnight'),
      });
    } finally {
      own.close();
    }

    // Assess: the registry is the same on both days; the alerts of the 27th are outside the window.
    expect(
      run.outputs
        .filter((o) => ['device_registry', 'location_registry', 'anomaly_alerts'].includes(o.table))
        .map((o) => [o.key, o.rows]),
    ).toEqual([
      ['device_registry/event_date=2026-11-27/part-00000.parquet', 4],
      ['device_registry/event_date=2026-11-28/part-00000.parquet', 4],
      ['location_registry/event_date=2026-11-27/part-00000.parquet', 7],
      ['location_registry/event_date=2026-11-28/part-00000.parquet', 7],
    ]);
  });
});

describe('anomaly alerts', () => {
  it('keep one row per alert id, the copy the stream accepted first, placed by event time', async () => {
    // Act
    const rows = await query(`SELECT * FROM anomaly_alerts ORDER BY alert_time, alert_id`);

    // Assess: lock-1's alert arrived twice (10:41:02, and again at 11:02); thermo-2's alert is from
    // 09:58, before the window; a truncated line is not an alert.
    expect(rows).toEqual([
      {
        alert_id: '30e1cad6-0000-4000-8000-000000000003:lock_jammed',
        rule: 'lock_jammed',
        severity: 'security',
        device_id: 'lock-1',
        device_type: 'smart_lock',
        site_id: 'site-a',
        event_id: '30e1cad6-0000-4000-8000-000000000003',
        alert_time: '2026-11-27 10:41:00',
        arrived_at: '2026-11-27 10:41:02',
        message: 'Lock lock-1 is jammed',
        observed: 'jammed',
        threshold: 'jammed',
        event_date: '2026-11-27',
        event_hour: '10',
      },
      {
        alert_id: '1192ba0c-0000-4000-8000-000000000008:camera_no_frames',
        rule: 'camera_no_frames',
        severity: 'warning',
        device_id: 'cam-1',
        device_type: 'camera',
        site_id: 'site-b',
        event_id: '1192ba0c-0000-4000-8000-000000000008',
        alert_time: '2026-11-27 11:47:00',
        arrived_at: '2026-11-27 11:47:02',
        message: 'Camera cam-1 reports no frames',
        observed: '0',
        threshold: '0',
        event_date: '2026-11-27',
        event_hour: '11',
      },
    ]);
  });

  it("write one Parquet file per event hour with alerts, in the run's window", () => {
    // Act
    const files = result.outputs.filter((o) => o.table === 'anomaly_alerts').map((o) => [o.key, o.rows]);

    // Assess
    expect(files).toEqual([
      ['anomaly_alerts/event_date=2026-11-27/event_hour=10/part-00000.parquet', 1],
      ['anomaly_alerts/event_date=2026-11-27/event_hour=11/part-00000.parquet', 1],
    ]);
  });
});

describe('ML features', () => {
  it('carry no label and nothing the rule-based anomaly flag decides', async () => {
    // Act
    const columns = (await query('DESCRIBE ml_features')).map((row) => String(row.column_name));

    // Assess
    expect(columns.filter((c) => /label|anomaly|ground_truth|injected/.test(c))).toEqual([]);
    expect(columns).toEqual(
      expect.arrayContaining(['hour_of_day', 'day_of_week', 'metric_zscore', 'dq_score']),
    );
  });

  it('of an hour do not change when later hours are missing (no look-ahead)', async () => {
    // Prepare
    const hourTen = `SELECT * FROM ml_features WHERE event_hour = '10' ORDER BY device_id`;
    const withLaterHours = await query(hourTen);
    const files = await localSourceFiles(pipeline, window, lakeDir);
    const withoutHour11 = {
      ...files,
      raw_telemetry: (files.raw_telemetry ?? []).filter((path) => !path.includes('ingest_hour=11')),
    };

    // Act
    await runPipeline(session, pipeline, { window, files: withoutHour11, outDir: join(workDir, 'no-11') });
    const withoutLaterHours = await query(hourTen);

    // Assess
    expect(withLaterHours).toHaveLength(4);
    expect(withoutLaterHours).toEqual(withLaterHours);
  });

  it('and every other table still build with no weather at all, the weather columns NULL', async () => {
    // Prepare
    const files = { ...(await localSourceFiles(pipeline, window, lakeDir)), weather: [] };

    // Act
    await runPipeline(session, pipeline, { window, files, outDir: join(workDir, 'no-weather') });
    const weather = await query(
      `SELECT count(outdoor_temperature_c) AS with_weather, count(*) AS n, sum(energy_wh) AS energy FROM energy_site_hourly`,
    );
    const features = await query(
      `SELECT count(relative_humidity_pct) AS with_weather, count(*) AS n FROM ml_features`,
    );

    // Assess
    expect(weather).toEqual([{ with_weather: '0', n: '3', energy: 152 }]);
    expect(features).toEqual([{ with_weather: '0', n: '7' }]);
  });
});
