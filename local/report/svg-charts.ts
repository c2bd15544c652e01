/**
 * Charts as inline SVG strings: vertical columns (stacked or grouped, with an optional marker
 * series on a right-hand axis), lines, and horizontal stacked bars for named categories. No
 * scripts and no fonts to fetch: the page that holds them works offline and prints as it shows.
 *
 * Every text that reaches the SVG goes through `escapeHtml`; every chart carries a `<title>`, a
 * `<desc>` and `role="img"` so a screen reader announces what it shows, and every mark a `<title>`
 * that the browser shows on hover.
 */
import { escapeHtml } from './format.ts';

/** One series of values, one per category; `null` where the series has no value. */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly values: ReadonlyArray<number | null>;
}

/** A category on the horizontal axis. */
export interface Category {
  /** The full name, used in hover text. */
  readonly key: string;
  /** The axis label. */
  readonly label: string;
  /** A second label line, printed under the first where it changes (the day under hours). */
  readonly group?: string;
  /**
   * The category's place in its natural sequence (hours since the epoch, say): when labels must
   * be thinned, those at a multiple of the spacing are kept, so hours are labelled at 00:00, 06:00…
   * @default - the category's index
   */
  readonly position?: number;
}

/** What every chart says about itself. */
interface ChartText {
  /** Unique on the page: the prefix of the ids the accessible name points to. */
  readonly id: string;
  readonly title: string;
  /** A sentence or two a screen reader reads instead of looking at the marks. */
  readonly description: string;
  readonly formatValue: (value: number) => string;
  /** Values are counts: axis ticks fall on whole numbers only. @default false */
  readonly wholeNumbers?: boolean;
}

export interface ColumnChartSpec extends ChartText {
  readonly categories: readonly Category[];
  readonly series: readonly Series[];
  readonly layout: 'stacked' | 'grouped';
  readonly xAxisLabel: string;
  readonly yAxisLabel: string;
  /**
   * Markers on a second, right-hand axis: one series per bar series (same order), drawn at the
   * centre of its bar. Only with the grouped layout.
   */
  readonly overlay?: {
    readonly axisLabel: string;
    readonly formatValue: (value: number) => string;
    readonly series: readonly Series[];
  };
}

export interface LineChartSpec extends ChartText {
  readonly categories: readonly Category[];
  readonly series: readonly Series[];
  readonly xAxisLabel: string;
  readonly yAxisLabel: string;
  /** Fixed value range, e.g. 0-100 for a percentage. @default - from the data, including 0 */
  readonly yDomain?: readonly [number, number];
}

export interface BarChartSpec extends ChartText {
  /** Names on the vertical axis, top to bottom. */
  readonly categories: readonly string[];
  readonly series: readonly Series[];
  readonly categoryAxisLabel: string;
  readonly valueAxisLabel: string;
}

/** A rendered chart and how many values it plots (the page's `data-points`). */
export interface RenderedChart {
  readonly svg: string;
  readonly points: number;
}

const WIDTH = 960;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12"';
const AXIS_COLOR = '#6b7280';
const GRID_COLOR = '#e5e7eb';
const TEXT_COLOR = '#1f2937';
/** Rough width of a 12 px character, for spacing labels (no font metrics without a browser). */
const CHAR_WIDTH = 6.6;

const LABEL_SPACINGS = [1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720];

/** Rounds away binary noise (0.30000000000000004) so ticks print as typed. */
function tidy(value: number): number {
  return Number(value.toPrecision(12));
}

/** Axis bounds and ticks at 1, 2, 2.5 or 5 times a power of ten (whole numbers only for counts). */
export function niceScale(
  min: number,
  max: number,
  options: { targetTicks?: number; wholeNumbers?: boolean } = {},
): { min: number; max: number; ticks: number[] } {
  const targetTicks = options.targetTicks ?? 5;
  let lo = Math.min(min, max);
  let hi = Math.max(min, max);
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo = lo === 0 ? 0 : lo - pad;
    hi += pad;
  }
  const rough = (hi - lo) / targetTicks;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const steps = [1, 2, 2.5, 5, 10]
    .map((m) => m * magnitude)
    .filter((step) => !options.wholeNumbers || (step >= 1 && Number.isInteger(step)));
  const step = steps.find((s) => s >= rough) ?? Math.max(1, Math.ceil(rough));
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let tick = first; tick <= last + step / 2; tick += step) ticks.push(tidy(tick));
  return { min: tidy(first), max: tidy(last), ticks };
}

function attribute(name: string, value: string | number): string {
  return ` ${name}="${typeof value === 'number' ? round(value) : escapeHtml(value)}"`;
}

function round(value: number): string {
  return String(Math.round(value * 10) / 10);
}

function text(x: number, y: number, content: string, extra = ''): string {
  return `<text${attribute('x', x)}${attribute('y', y)} fill="${TEXT_COLOR}"${extra}>${escapeHtml(content)}</text>`;
}

function tooltip(content: string): string {
  return `<title>${escapeHtml(content)}</title>`;
}

function svgOpen(spec: ChartText, height: number): string {
  const titleId = `${spec.id}-title`;
  const descId = `${spec.id}-desc`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" role="img"${attribute('viewBox', `0 0 ${WIDTH} ${height}`)}` +
    `${attribute('width', WIDTH)}${attribute('height', height)}${attribute('aria-label', spec.title)}` +
    `${attribute('aria-labelledby', `${titleId} ${descId}`)} ${FONT}>` +
    `<title${attribute('id', titleId)}>${escapeHtml(spec.title)}</title>` +
    `<desc${attribute('id', descId)}>${escapeHtml(spec.description)}</desc>`
  );
}

/** Shortens a label to `max` characters, with an ellipsis. */
function clip(label: string, max: number): string {
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}

interface Plot {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Horizontal grid lines and tick labels of a vertical value axis. */
function valueAxis(
  plot: Plot,
  scale: { min: number; max: number; ticks: number[] },
  format: (value: number) => string,
  side: 'left' | 'right',
): string {
  const y = (value: number) =>
    plot.top + plot.height - ((value - scale.min) / (scale.max - scale.min)) * plot.height;
  return scale.ticks
    .map((tick) => {
      const at = y(tick);
      const grid =
        side === 'left'
          ? `<line${attribute('x1', plot.left)}${attribute('x2', plot.left + plot.width)}${attribute('y1', at)}${attribute('y2', at)} stroke="${tick === 0 ? AXIS_COLOR : GRID_COLOR}"/>`
          : '';
      const label =
        side === 'left'
          ? text(plot.left - 6, at + 4, format(tick), ' text-anchor="end"')
          : text(plot.left + plot.width + 6, at + 4, format(tick), ' text-anchor="start"');
      return grid + label;
    })
    .join('');
}

/** Category labels under the plot, thinned so they do not overlap, the group line where it changes. */
function categoryAxis(
  plot: Plot,
  categories: readonly Category[],
  centre: (index: number) => number,
): string {
  const widest = Math.max(...categories.map((c) => Math.max(c.label.length, c.group?.length ?? 0)), 1);
  const slot = plot.width / Math.max(categories.length, 1);
  const needed = Math.ceil(((widest + 2) * CHAR_WIDTH) / slot);
  // Spacings that divide a day (and whole days), so hourly labels land on round hours.
  const every = LABEL_SPACINGS.find((spacing) => spacing >= needed) ?? needed;
  let lastGroup: string | undefined;
  const parts: string[] = [];
  categories.forEach((category, index) => {
    if ((category.position ?? index) % every !== 0) return;
    const x = centre(index);
    const base = plot.top + plot.height;
    parts.push(
      `<line${attribute('x1', x)}${attribute('x2', x)}${attribute('y1', base)}${attribute('y2', base + 4)} stroke="${AXIS_COLOR}"/>`,
    );
    parts.push(text(x, base + 16, category.label, ' text-anchor="middle"'));
    if (category.group !== undefined && category.group !== lastGroup) {
      parts.push(text(x, base + 30, category.group, ' text-anchor="middle" font-weight="600"'));
      lastGroup = category.group;
    }
  });
  return parts.join('');
}

function axisTitles(plot: Plot, height: number, x: string, y: string, right?: string): string {
  const middle = plot.top + plot.height / 2;
  return (
    text(plot.left + plot.width / 2, height - 8, x, ' text-anchor="middle" font-weight="600"') +
    text(
      0,
      0,
      y,
      ` text-anchor="middle" font-weight="600" transform="translate(14 ${round(middle)}) rotate(-90)"`,
    ) +
    (right === undefined
      ? ''
      : text(
          0,
          0,
          right,
          ` text-anchor="middle" font-weight="600" transform="translate(${WIDTH - 12} ${round(middle)}) rotate(90)"`,
        ))
  );
}

function present(values: ReadonlyArray<number | null>): number[] {
  return values.filter((value): value is number => value !== null && Number.isFinite(value));
}

/** Vertical columns over categories (days, hours): stacked, or grouped side by side. */
export function columnChart(spec: ColumnChartSpec): RenderedChart {
  const height = 320;
  const overlay = spec.layout === 'grouped' ? spec.overlay : undefined;
  const plot: Plot = { left: 72, top: 16, width: WIDTH - 72 - (overlay ? 72 : 24), height: height - 16 - 72 };
  const n = spec.categories.length;
  const totals = spec.categories.map((_, index) =>
    spec.layout === 'stacked'
      ? spec.series.reduce((sum, series) => sum + Math.max(0, series.values[index] ?? 0), 0)
      : Math.max(0, ...spec.series.map((series) => series.values[index] ?? 0)),
  );
  const scale = niceScale(0, Math.max(...totals, 0), { wholeNumbers: spec.wholeNumbers ?? false });
  const y = (value: number) =>
    plot.top + plot.height - ((value - scale.min) / (scale.max - scale.min)) * plot.height;
  const band = plot.width / Math.max(n, 1);
  const inner = band * 0.8;
  const groups = spec.layout === 'grouped' ? Math.max(spec.series.length, 1) : 1;
  const barWidth = Math.max(1, inner / groups);
  const barX = (index: number, seriesIndex: number) =>
    plot.left + index * band + (band - inner) / 2 + (spec.layout === 'grouped' ? seriesIndex * barWidth : 0);

  const marks: string[] = [];
  let points = 0;
  spec.categories.forEach((category, index) => {
    let base = 0;
    spec.series.forEach((series, seriesIndex) => {
      const value = series.values[index];
      if (value === null || value === undefined || !Number.isFinite(value)) return;
      points++;
      const from = spec.layout === 'stacked' ? base : 0;
      const to = from + Math.max(0, value);
      if (spec.layout === 'stacked') base = to;
      const top = y(to);
      marks.push(
        `<rect${attribute('x', barX(index, seriesIndex))}${attribute('y', top)}${attribute('width', Math.max(1, barWidth - (groups > 1 ? 1 : 0)))}` +
          `${attribute('height', Math.max(0, y(from) - top))}${attribute('fill', series.color)}>` +
          `${tooltip(`${series.name}, ${category.key}: ${spec.formatValue(value)}`)}</rect>`,
      );
    });
  });

  let right = '';
  if (overlay) {
    const values = overlay.series.flatMap((series) => present(series.values));
    const overlayScale = niceScale(Math.min(...values, 0), Math.max(...values, 0));
    const oy = (value: number) =>
      plot.top +
      plot.height -
      ((value - overlayScale.min) / (overlayScale.max - overlayScale.min)) * plot.height;
    right = valueAxis(plot, overlayScale, overlay.formatValue, 'right');
    overlay.series.forEach((series, seriesIndex) => {
      const centres: string[] = [];
      spec.categories.forEach((category, index) => {
        const value = series.values[index];
        if (value === null || value === undefined || !Number.isFinite(value)) return;
        points++;
        const cx = barX(index, seriesIndex) + barWidth / 2;
        const cy = oy(value);
        centres.push(`${round(cx)},${round(cy)}`);
        marks.push(
          `<path${attribute('d', `M${round(cx)} ${round(cy - 5)}l5 5l-5 5l-5 -5z`)}${attribute('fill', series.color)} stroke="#111827" stroke-width="1">` +
            `${tooltip(`${series.name}, ${category.key}: ${overlay.formatValue(value)}`)}</path>`,
        );
      });
      if (centres.length > 1)
        marks.push(
          `<polyline${attribute('points', centres.join(' '))} fill="none"${attribute('stroke', series.color)} stroke-width="1" stroke-dasharray="3 3"/>`,
        );
    });
  }

  const svg =
    svgOpen(spec, height) +
    valueAxis(plot, scale, spec.formatValue, 'left') +
    right +
    marks.join('') +
    categoryAxis(plot, spec.categories, (index) => plot.left + (index + 0.5) * band) +
    axisTitles(plot, height, spec.xAxisLabel, spec.yAxisLabel, overlay?.axisLabel) +
    '</svg>';
  return { svg, points };
}

/** Lines over categories (hours), one per series; a missing value breaks the line. */
export function lineChart(spec: LineChartSpec): RenderedChart {
  const height = 300;
  const plot: Plot = { left: 72, top: 16, width: WIDTH - 72 - 24, height: height - 16 - 72 };
  const all = spec.series.flatMap((series) => present(series.values));
  const scale = spec.yDomain
    ? niceScale(spec.yDomain[0], spec.yDomain[1])
    : niceScale(Math.min(0, ...all), Math.max(0, ...all));
  const y = (value: number) =>
    plot.top + plot.height - ((value - scale.min) / (scale.max - scale.min)) * plot.height;
  const step = plot.width / Math.max(spec.categories.length, 1);
  const x = (index: number) => plot.left + (index + 0.5) * step;

  // Dense series (a week of hours) read as lines; their points stay for hovering, smaller.
  const radius = spec.categories.length > 48 ? 2 : 3.5;
  const marks: string[] = [];
  let points = 0;
  for (const series of spec.series) {
    const runs: string[][] = [[]];
    series.values.forEach((value, index) => {
      if (value === null || !Number.isFinite(value)) {
        runs.push([]);
        return;
      }
      (runs.at(-1) as string[]).push(`${round(x(index))},${round(y(value))}`);
    });
    for (const run of runs.filter((r) => r.length > 1))
      marks.push(
        `<polyline${attribute('points', run.join(' '))} fill="none"${attribute('stroke', series.color)} stroke-width="2" stroke-linejoin="round"/>`,
      );
    series.values.forEach((value, index) => {
      if (value === null || !Number.isFinite(value)) return;
      points++;
      const category = spec.categories[index];
      marks.push(
        `<circle${attribute('cx', x(index))}${attribute('cy', y(value))}${attribute('r', radius)}${attribute('fill', series.color)} stroke="#ffffff" stroke-width="1">` +
          `${tooltip(`${series.name}, ${category?.key ?? ''}: ${spec.formatValue(value)}`)}</circle>`,
      );
    });
  }

  const svg =
    svgOpen(spec, height) +
    valueAxis(plot, scale, spec.formatValue, 'left') +
    marks.join('') +
    categoryAxis(plot, spec.categories, x) +
    axisTitles(plot, height, spec.xAxisLabel, spec.yAxisLabel) +
    '</svg>';
  return { svg, points };
}

/** The longest category name a horizontal bar chart prints before clipping it. */
const MAX_CATEGORY_CHARS = 28;

/** Horizontal bars, one row per named category (device types, sites), series stacked left to right. */
export function barChart(spec: BarChartSpec): RenderedChart {
  const row = 28;
  const labelChars = Math.min(MAX_CATEGORY_CHARS, Math.max(...spec.categories.map((c) => c.length), 4));
  const left = Math.round(labelChars * CHAR_WIDTH) + 48;
  const height = 16 + spec.categories.length * row + 56;
  const plot: Plot = { left, top: 16, width: WIDTH - left - 56, height: spec.categories.length * row };
  const totals = spec.categories.map((_, index) =>
    spec.series.reduce((sum, series) => sum + Math.max(0, series.values[index] ?? 0), 0),
  );
  const scale = niceScale(0, Math.max(...totals, 0), { wholeNumbers: spec.wholeNumbers ?? false });
  const x = (value: number) => plot.left + ((value - scale.min) / (scale.max - scale.min)) * plot.width;

  const parts: string[] = [];
  for (const tick of scale.ticks) {
    const at = x(tick);
    parts.push(
      `<line${attribute('x1', at)}${attribute('x2', at)}${attribute('y1', plot.top)}${attribute('y2', plot.top + plot.height)} stroke="${tick === 0 ? AXIS_COLOR : GRID_COLOR}"/>`,
      text(at, plot.top + plot.height + 16, spec.formatValue(tick), ' text-anchor="middle"'),
    );
  }
  let points = 0;
  spec.categories.forEach((category, index) => {
    const top = plot.top + index * row + 5;
    const middle = top + (row - 10) / 2 + 4;
    parts.push(
      `<g>${tooltip(category)}${text(plot.left - 8, middle, clip(category, MAX_CATEGORY_CHARS), ' text-anchor="end"')}</g>`,
    );
    let base = 0;
    for (const series of spec.series) {
      const value = series.values[index];
      if (value === null || value === undefined || !Number.isFinite(value)) continue;
      points++;
      const from = x(base);
      base += Math.max(0, value);
      parts.push(
        `<rect${attribute('x', from)}${attribute('y', top)}${attribute('width', Math.max(0, x(base) - from))}${attribute('height', row - 10)}${attribute('fill', series.color)}>` +
          `${tooltip(`${category}, ${series.name}: ${spec.formatValue(value)}`)}</rect>`,
      );
    }
    parts.push(text(x(base) + 6, middle, spec.formatValue(totals[index] ?? 0), ' font-weight="600"'));
  });
  const middle = plot.top + plot.height / 2;
  parts.push(
    text(
      plot.left + plot.width / 2,
      height - 8,
      spec.valueAxisLabel,
      ' text-anchor="middle" font-weight="600"',
    ),
    text(
      0,
      0,
      spec.categoryAxisLabel,
      ` text-anchor="middle" font-weight="600" transform="translate(14 ${round(middle)}) rotate(-90)"`,
    ),
  );
  return { svg: `${svgOpen(spec, height)}${parts.join('')}</svg>`, points };
}
