/**
 * The weather lines in the lake, as the ETL reads them: `weather/weather_date=YYYY-MM-DD/<siteId>.ndjson`
 * in the raw bucket, one line per site and UTC hour, sorted by hour.
 *
 * A line is either a value:
 * `{"siteId":"s01","hour":"2026-11-27T13:00:00Z","outdoorTemperatureC":7.5,"relativeHumidityPct":80,"source":"open-meteo"}`
 * or a gap, for an hour the provider could not give:
 * `{"siteId":"s01","hour":"2026-11-27T14:00:00Z","gap":true,"reason":"HTTP 503 Service Unavailable (3 attempts)"}`.
 *
 * Keys and content are deterministic (fields in this order, lines sorted by hour), so a rerun
 * overwrites an object with the same bytes.
 */
import * as z from 'zod';
import { WEATHER_PARTITION_KEY, WEATHER_PREFIX } from './pipeline-names.ts';

export const HOUR_MS = 3_600_000;

/** An hour as the lines spell it: UTC, whole hour, seconds and `Z`. */
export const WEATHER_HOUR_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/;
/** Site ids become object names: letters, digits, `_` and `-` only. */
export const SITE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Plausible outdoor air temperatures on Earth (records: -89.2 °C and 56.7 °C). A value outside is a
 * provider fault and is recorded as a gap.
 */
export const OUTDOOR_TEMPERATURE_RANGE_C = { min: -90, max: 60 } as const;

const siteId = z.string().regex(SITE_ID_PATTERN, { error: 'a site id of letters, digits, _ or -' });
const hour = z
  .string()
  .regex(WEATHER_HOUR_PATTERN, { error: 'a whole UTC hour such as 2026-11-27T13:00:00Z' });

export const weatherValueLineSchema = z.strictObject({
  siteId,
  hour,
  outdoorTemperatureC: z.number().min(OUTDOOR_TEMPERATURE_RANGE_C.min).max(OUTDOOR_TEMPERATURE_RANGE_C.max),
  relativeHumidityPct: z.number().min(0).max(100),
  source: z.string().min(1),
});
export const weatherGapLineSchema = z.strictObject({
  siteId,
  hour,
  gap: z.literal(true),
  reason: z.string().min(1),
});
export const weatherLineSchema = z.union([weatherValueLineSchema, weatherGapLineSchema]);

export type WeatherValueLine = z.infer<typeof weatherValueLineSchema>;
export type WeatherGapLine = z.infer<typeof weatherGapLineSchema>;
export type WeatherLine = WeatherValueLine | WeatherGapLine;

export function isGap(line: WeatherLine): line is WeatherGapLine {
  return 'gap' in line;
}

/** `2026-11-27T13:00:00Z` for the hour starting at `hourMs`. */
export function formatHour(hourMs: number): string {
  return `${new Date(hourMs).toISOString().slice(0, 13)}:00:00Z`;
}

/** The UTC date (`YYYY-MM-DD`) an hour belongs to: its partition. */
export function weatherDateOf(hourMs: number): string {
  return new Date(hourMs).toISOString().slice(0, 10);
}

/** The object holding a site's weather of one UTC date. */
export function weatherObjectKey(date: string, site: string): string {
  return `${WEATHER_PREFIX}/${WEATHER_PARTITION_KEY}=${date}/${site}.ndjson`;
}

/** A value line, fields in the contract's order. */
export function valueLine(
  site: string,
  hourMs: number,
  outdoorTemperatureC: number,
  relativeHumidityPct: number,
  source: string,
): WeatherValueLine {
  return { siteId: site, hour: formatHour(hourMs), outdoorTemperatureC, relativeHumidityPct, source };
}

/** A gap line, fields in the contract's order. */
export function gapLine(site: string, hourMs: number, reason: string): WeatherGapLine {
  return { siteId: site, hour: formatHour(hourMs), gap: true, reason };
}

/** NDJSON text of `lines`, sorted by hour, fields in the contract's order. */
export function serialiseWeatherLines(lines: readonly WeatherLine[]): string {
  return [...lines]
    .sort((a, b) => (a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : 0))
    .map((line) =>
      JSON.stringify(
        isGap(line)
          ? gapLine(line.siteId, Date.parse(line.hour), line.reason)
          : valueLine(
              line.siteId,
              Date.parse(line.hour),
              line.outdoorTemperatureC,
              line.relativeHumidityPct,
              line.source,
            ),
      ),
    )
    .map((text) => `${text}\n`)
    .join('');
}

/**
 * Parses a weather object. Throws on the first invalid line, naming the line number, the field,
 * the value and what is expected.
 */
export function parseWeatherLines(text: string): WeatherLine[] {
  const lines: WeatherLine[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new Error(`weather line ${index + 1}: received ${raw.slice(0, 80)}, expected a JSON object`);
    }
    const result = weatherLineSchema.safeParse(json);
    if (!result.success) {
      throw new Error(
        `weather line ${index + 1}: received ${raw.slice(0, 160)}, expected a value line (siteId, hour, outdoorTemperatureC, relativeHumidityPct, source) or a gap line (siteId, hour, gap: true, reason)`,
      );
    }
    lines.push(result.data);
  }
  return lines;
}
