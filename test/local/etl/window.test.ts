import { describe, expect, it } from 'vitest';
import type { Selection } from '../../../local/etl/manifest.ts';
import {
  etlWindow,
  hivePartitions,
  plannedWindow,
  selectsKey,
  windowDays,
  windowHours,
  windowInstants,
} from '../../../local/etl/window.ts';

const at = (iso: string) => Date.parse(iso);

describe('etlWindow', () => {
  it('fails when a bound is not a whole UTC hour, naming the bound and the value', () => {
    // Act
    const build = () => etlWindow('2026-11-27T10:30:00Z', '2026-11-27T12:00:00Z');

    // Assess
    expect(build).toThrow(
      'from: received 2026-11-27T10:30:00.000Z, expected a whole UTC hour (mm:ss = 00:00)',
    );
  });

  it('fails when the window is empty or reversed', () => {
    // Act
    const build = () => etlWindow('2026-11-27T12:00:00Z', '2026-11-27T12:00:00Z');

    // Assess
    expect(build).toThrow('to: received 2026-11-27T12:00:00.000Z, expected an hour after from');
  });

  it('fails on text that is not an instant', () => {
    // Act
    const build = () => etlWindow('yesterday', '2026-11-27T12:00:00Z');

    // Assess
    expect(build).toThrow('from: received "yesterday", expected an ISO 8601 instant');
  });
});

describe('windowInstants', () => {
  it('reaches back baselineDays - 1 days before the first day and forward to the end of the last day', () => {
    // Prepare
    const window = etlWindow('2026-11-27T10:00:00Z', '2026-11-28T01:00:00Z');

    // Act
    const instants = windowInstants(window, 7);

    // Assess
    expect(instants).toEqual({
      window_start: at('2026-11-27T10:00:00Z'),
      window_end: at('2026-11-28T01:00:00Z'),
      context_start: at('2026-11-21T00:00:00Z'),
      context_end: at('2026-11-29T00:00:00Z'),
    });
  });

  it('ends the context at the end of the window day when the window ends at midnight', () => {
    // Act
    const instants = windowInstants(etlWindow('2026-11-27T23:00:00Z', '2026-11-28T00:00:00Z'), 1);

    // Assess
    expect(instants.context_start).toBe(at('2026-11-27T00:00:00Z'));
    expect(instants.context_end).toBe(at('2026-11-28T00:00:00Z'));
  });
});

describe('windowHours and windowDays', () => {
  it('list every hour of the window and the days it touches', () => {
    // Act
    const window = etlWindow('2026-11-27T22:00:00Z', '2026-11-28T01:00:00Z');
    const hours = windowHours(window);

    // Assess
    expect(hours.map((h) => `${h.eventDate} ${h.eventHour}`)).toEqual([
      '2026-11-27 22',
      '2026-11-27 23',
      '2026-11-28 00',
    ]);
    expect(hours[0]?.hourIndex).toBe(at('2026-11-27T22:00:00Z') / 3_600_000);
    expect(hours[2]?.dayStartMs).toBe(at('2026-11-28T00:00:00Z'));
    expect(windowDays(window)).toEqual(['2026-11-27', '2026-11-28']);
  });
});

describe('selectsKey', () => {
  const raw: Selection = {
    date: 'ingest_date',
    hour: 'ingest_hour',
    from: 'window_start',
    fromOffsetHours: -1,
    to: 'window_end',
    toOffsetHours: 168,
  };
  const instants = windowInstants(etlWindow('2026-11-27T10:00:00Z', '2026-11-27T12:00:00Z'), 7);
  const rawKey = (date: string, hour: string) =>
    `telemetry/device_type=camera/ingest_date=${date}/ingest_hour=${hour}/part-1.ndjson.gz`;

  it('reads raw ingest hours from an hour before the window to 168 hours after it', () => {
    // Act
    const picked = [
      rawKey('2026-11-27', '08'),
      rawKey('2026-11-27', '09'),
      rawKey('2026-11-27', '11'),
      rawKey('2026-12-04', '11'),
      rawKey('2026-12-04', '12'),
    ].map((key) => selectsKey(raw, instants, key));

    // Assess
    expect(picked).toEqual([false, true, true, true, false]);
  });

  it('skips the window itself with excludeWindow, and reads whole days by date', () => {
    // Prepare
    const context: Selection = {
      date: 'event_date',
      hour: 'event_hour',
      from: 'context_start',
      fromOffsetHours: 0,
      to: 'context_end',
      toOffsetHours: 0,
      excludeWindow: true,
    };
    const days: Selection = {
      date: 'weather_date',
      from: 'context_start',
      fromOffsetHours: 0,
      to: 'context_end',
      toOffsetHours: 0,
    };
    const stats = (hour: string) =>
      `device_hour_stats/event_date=2026-11-27/event_hour=${hour}/part-00000.parquet`;

    // Act
    const contextPicks = ['09', '10', '11', '12'].map((hour) => selectsKey(context, instants, stats(hour)));
    const dayPicks = ['2026-11-20', '2026-11-21', '2026-11-27', '2026-11-28'].map((date) =>
      selectsKey(days, instants, `weather/weather_date=${date}/site-1.ndjson`),
    );

    // Assess
    expect(contextPicks).toEqual([true, false, false, true]);
    expect(dayPicks).toEqual([false, true, true, false]);
  });

  it('does not read keys without the partition values', () => {
    // Act
    const picked = selectsKey(raw, instants, 'telemetry/device_type=camera/stray-object.ndjson.gz');

    // Assess
    expect(picked).toBe(false);
  });
});

describe('plannedWindow', () => {
  it('rebuilds from the earliest touched event hour to the later of the ingest end and the latest hour', () => {
    // Prepare
    const ingest = etlWindow('2026-11-27T12:00:00Z', '2026-11-27T13:00:00Z');

    // Act
    const late = plannedWindow(ingest, [at('2026-11-27T09:00:00Z'), at('2026-11-27T12:00:00Z')]);
    const ahead = plannedWindow(ingest, [at('2026-11-27T13:00:00Z')]);
    const none = plannedWindow(ingest, []);

    // Assess
    expect(late).toEqual(etlWindow('2026-11-27T09:00:00Z', '2026-11-27T13:00:00Z'));
    expect(ahead).toEqual(etlWindow('2026-11-27T12:00:00Z', '2026-11-27T14:00:00Z'));
    expect(none).toEqual(ingest);
  });
});

describe('hivePartitions', () => {
  it('reads the name=value directories of a key, not its file name', () => {
    // Act
    const values = hivePartitions(
      'telemetry/device_type=smart_lock/ingest_date=2026-11-27/ingest_hour=07/a=b.gz',
    );

    // Assess
    expect(values).toEqual({ device_type: 'smart_lock', ingest_date: '2026-11-27', ingest_hour: '07' });
  });
});
