/**
 * Text for the warehouse report: escaping of everything that comes from data, and numbers, hours
 * and days written the way a reader expects them (thousands separated, a few significant digits,
 * UTC said once).
 */

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text made safe for HTML and SVG content and for quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const twoDecimals = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/**
 * A number with as many decimals as its size deserves: none from 100 up, one from 10, two below
 * (`1,234`, `56.7`, `8.90`), whole numbers always without decimals. `–` for a missing value.
 */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  // Rounding -0.004 must not print "-0.00".
  const clean = Object.is(value, -0) ? 0 : value;
  if (Number.isInteger(clean)) return integer.format(clean);
  const size = Math.abs(clean);
  const text =
    size >= 100 ? integer.format(clean) : size >= 10 ? oneDecimal.format(clean) : twoDecimals.format(clean);
  return /^-0(\.0+)?$/.test(text) ? text.slice(1) : text;
}

/** A whole count with thousands separated. */
export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return integer.format(Math.round(value));
}

/** A share in [0, 1] as a percentage with one decimal (`97.5 %`). */
export function formatShare(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return `${oneDecimal.format(value * 100)} %`;
}

/** A value with its unit, e.g. `12.5 kWh`, `-3.2 °C`. */
export function withUnit(value: number | null | undefined, unit: string): string {
  const text = formatNumber(value);
  return text === '–' ? text : `${text} ${unit}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Parts of a DuckDB date or timestamp as text (`2026-11-27`, `2026-11-27 13:00:00`, or with a `T`),
 * or undefined when the text is not one.
 */
function dateParts(text: string): { date: string; day: number; month: number; time: string } | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?/.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute] = match;
  return {
    date: `${year}-${month}-${day}`,
    day: Number(day),
    month: Number(month),
    time: hour === undefined ? '' : `${hour}:${minute}`,
  };
}

/** `2026-11-27 13:00` from a timestamp (the report states once that times are UTC). */
export function formatHour(text: string | null | undefined): string {
  if (text === null || text === undefined) return '–';
  const parts = dateParts(text);
  return parts ? `${parts.date} ${parts.time || '00:00'}` : text;
}

/** `27 Nov 13:05` from a timestamp: compact, for table cells (the year is in the page's subtitle). */
export function formatMoment(text: string | null | undefined): string {
  if (text === null || text === undefined || text === '') return '–';
  const parts = dateParts(text);
  return parts ? `${parts.day} ${MONTHS[parts.month - 1]} ${parts.time || '00:00'}` : text;
}

/** `27 Nov` from a date or timestamp: the short label of a day on an axis. */
export function formatDayShort(text: string): string {
  const parts = dateParts(text);
  return parts ? `${parts.day} ${MONTHS[parts.month - 1]}` : text;
}

/** `13:00` from a timestamp: the short label of an hour on an axis. */
export function formatTimeOfDay(text: string): string {
  return dateParts(text)?.time || text;
}

/** The calendar day of a date or timestamp, `2026-11-27`. */
export function dayOf(text: string): string {
  return dateParts(text)?.date ?? text;
}
