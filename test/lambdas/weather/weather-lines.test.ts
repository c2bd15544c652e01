/** The lines' contract (lambdas/shared/weather-record.ts) and how a run builds and merges them. */
import { describe, expect, it } from 'vitest';
import {
  gapLine,
  parseWeatherLines,
  serialiseWeatherLines,
  valueLine,
  weatherObjectKey,
} from '../../../lambdas/shared/weather-record.ts';
import { linesForSite, mergeWeatherLines } from '../../../lambdas/weather/ingest-weather.ts';

const H0 = Date.parse('2026-11-27T13:00:00Z');
const HOUR = 3_600_000;

describe('weather lines', () => {
  it('spell the contract exactly, one per line, sorted by hour', () => {
    // Act
    const text = serialiseWeatherLines([
      gapLine('s01', H0 + HOUR, 'HTTP 503 Service Unavailable (3 attempts)'),
      valueLine('s01', H0, 7.5, 80, 'open-meteo'),
    ]);

    // Assess
    expect(text).toBe(
      '{"siteId":"s01","hour":"2026-11-27T13:00:00Z","outdoorTemperatureC":7.5,"relativeHumidityPct":80,"source":"open-meteo"}\n' +
        '{"siteId":"s01","hour":"2026-11-27T14:00:00Z","gap":true,"reason":"HTTP 503 Service Unavailable (3 attempts)"}\n',
    );
    expect(parseWeatherLines(text)).toHaveLength(2);
  });

  it('live under the weather date partition, one object per site', () => {
    expect(weatherObjectKey('2026-11-27', 's01')).toBe('weather/weather_date=2026-11-27/s01.ndjson');
  });

  it('fail to parse when a line breaks the contract, naming the line', () => {
    expect(() =>
      parseWeatherLines('{"siteId":"s01","hour":"2026-11-27T13:30:00Z","gap":true,"reason":"x"}\n'),
    ).toThrow('weather line 1: received {"siteId":"s01","hour":"2026-11-27T13:30:00Z"');
  });
});

describe('linesForSite', () => {
  it('records a gap, with the reason, for each hour without a usable value', () => {
    // Prepare
    const hours = [
      { hourMs: H0, outdoorTemperatureC: 7.5, relativeHumidityPct: 80 },
      { hourMs: H0 + HOUR, outdoorTemperatureC: null, relativeHumidityPct: 80 },
      { hourMs: H0 + 2 * HOUR, outdoorTemperatureC: 7, relativeHumidityPct: null },
      { hourMs: H0 + 3 * HOUR, outdoorTemperatureC: 99, relativeHumidityPct: 80 },
      { hourMs: H0 + 4 * HOUR, outdoorTemperatureC: 7, relativeHumidityPct: 120 },
    ];

    // Act
    const lines = linesForSite('s01', { fromMs: H0, toMs: H0 + 6 * HOUR }, { hours }, 'p');

    // Assess
    expect(lines.map((line) => ('gap' in line ? line.reason : line.outdoorTemperatureC))).toEqual([
      7.5,
      'no outdoor temperature from the provider',
      'no relative humidity from the provider',
      'outdoor temperature 99 °C outside -90..60 °C',
      'relative humidity 120 % outside 0..100 %',
      "hour missing from the provider's answer",
    ]);
  });
});

describe('mergeWeatherLines', () => {
  it('lets a value replace a gap or a value, a gap replace only a gap, and keeps hours not covered', () => {
    // Prepare
    const existing = [
      valueLine('s01', H0, 1, 50, 'p'),
      gapLine('s01', H0 + HOUR, 'old'),
      valueLine('s01', H0 + 2 * HOUR, 3, 50, 'p'),
      gapLine('s01', H0 + 3 * HOUR, 'old'),
    ];
    const fresh = [
      gapLine('s01', H0, 'new'),
      valueLine('s01', H0 + HOUR, 2, 60, 'p'),
      valueLine('s01', H0 + 2 * HOUR, 3.5, 55, 'p'),
    ];

    // Act
    const merged = mergeWeatherLines(existing, fresh);

    // Assess
    expect(merged).toEqual([
      valueLine('s01', H0, 1, 50, 'p'),
      valueLine('s01', H0 + HOUR, 2, 60, 'p'),
      valueLine('s01', H0 + 2 * HOUR, 3.5, 55, 'p'),
      gapLine('s01', H0 + 3 * HOUR, 'old'),
    ]);
    expect(mergeWeatherLines(existing, [gapLine('s01', H0 + 3 * HOUR, 'new')]).at(-1)).toEqual(
      gapLine('s01', H0 + 3 * HOUR, 'new'),
    );
  });
});
