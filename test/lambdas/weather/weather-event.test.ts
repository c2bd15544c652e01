import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LOOKBACK_HOURS,
  MAX_RANGE_HOURS,
  parseLookbackHours,
  rangeOfEvent,
} from '../../../lambdas/weather/weather-event.ts';

const HOUR = 3_600_000;
const event = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../events/weather/${name}.json`, import.meta.url), 'utf8'));
const iso = (range: { fromMs: number; toMs: number }) => [
  new Date(range.fromMs).toISOString(),
  new Date(range.toMs).toISOString(),
];

describe('rangeOfEvent', () => {
  it("covers the lookback's whole hours before the scheduled time's hour, whatever the clock says", () => {
    // Act
    const range = rangeOfEvent(event('scheduled'), Date.parse('2030-01-01T00:00:00Z'));

    // Assess
    expect(DEFAULT_LOOKBACK_HOURS).toBe(24);
    expect(iso(range)).toEqual(['2026-11-26T14:00:00.000Z', '2026-11-27T14:00:00.000Z']);
  });

  it('covers the hours before now for an empty event, and the given lookback', () => {
    expect(iso(rangeOfEvent({}, Date.parse('2026-11-27T09:59:59Z'), 3))).toEqual([
      '2026-11-27T06:00:00.000Z',
      '2026-11-27T09:00:00.000Z',
    ]);
    expect(iso(rangeOfEvent(undefined, Date.parse('2026-11-27T10:00:00Z'), 1))).toEqual([
      '2026-11-27T09:00:00.000Z',
      '2026-11-27T10:00:00.000Z',
    ]);
  });

  it('covers a backfill from `from` to `to`, exclusive', () => {
    expect(rangeOfEvent(event('backfill'), 0)).toEqual({
      fromMs: Date.parse('2026-11-20T00:00:00Z'),
      toMs: Date.parse('2026-11-20T06:00:00Z'),
    });
  });

  it.each([
    [{ from: '2026-11-20T00:00:00Z' }, 'weather event to: received undefined, expected a whole UTC hour'],
    [
      { from: '2026-11-20T00:00:00+01:00', to: '2026-11-21T00:00:00Z' },
      'weather event from: received "2026-11-20T00:00:00+01:00"',
    ],
    [
      { from: '2026-11-20T05:00:00Z', to: '2026-11-20T05:00:00Z' },
      'weather event to: received "2026-11-20T05:00:00Z", expected an hour after from (2026-11-20T05:00:00Z)',
    ],
    [
      { from: '2026-10-01T00:00:00Z', to: '2026-11-20T00:00:00Z' },
      `expected at most ${MAX_RANGE_HOURS} hours after from`,
    ],
    [
      { from: '2026-11-20T00:00:00Z', to: '2026-11-20T01:00:00Z', site: 's01' },
      'weather event site: received "s01", expected only from and to',
    ],
    [
      { scheduledTime: 'yesterday' },
      'weather event scheduledTime: received "yesterday", expected an ISO 8601 date-time',
    ],
    [[1, 2], 'weather event (event): received [1,2], expected an object'],
  ])('fails on %j, naming the field, the value and what is expected', (input, message) => {
    expect(() => rangeOfEvent(input, 0)).toThrow(message);
  });

  it('accepts a range of exactly the maximum', () => {
    const range = rangeOfEvent({ from: '2026-11-01T00:00:00Z', to: '2026-12-02T00:00:00Z' }, 0);
    expect((range.toMs - range.fromMs) / HOUR).toBe(MAX_RANGE_HOURS);
  });
});

describe('parseLookbackHours', () => {
  it('reads whole hours, and defaults when unset', () => {
    expect(parseLookbackHours('X', '48')).toBe(48);
    expect(parseLookbackHours('X', undefined)).toBe(DEFAULT_LOOKBACK_HOURS);
  });

  it('fails naming the variable, the value and the range', () => {
    expect(() => parseLookbackHours('WEATHER_LOOKBACK_HOURS', '1.5')).toThrow(
      "environment variable WEATHER_LOOKBACK_HOURS: received '1.5', expected a whole number of hours from 1 to 744",
    );
  });
});
