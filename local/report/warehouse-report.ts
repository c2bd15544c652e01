/**
 * The twin's warehouse report: one self-contained HTML page (inline CSS and SVG, no script, nothing
 * fetched) built only from the warehouse's views and tables, through the named queries of
 * `report-queries.ts`. It shows fleet health, energy by site and day, anomalies over time, data
 * quality, the devices at risk and the location rollup. A chart whose query returns nothing says
 * so; it is never a blank box.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  dayOf,
  formatCount,
  formatDayShort,
  formatHour,
  formatMoment,
  formatNumber,
  formatShare,
  formatTimeOfDay,
  withUnit,
} from './format.ts';
import {
  emptyFigureHtml,
  type Figure,
  type FigureText,
  figureHtml,
  type Headline,
  headlinesHtml,
  type LegendItem,
  pageHtml,
  type Section,
  tableHtml,
} from './html.ts';
import {
  AT_RISK_ROWS,
  CHART_HOURS,
  ENERGY_DAYS,
  OPEN_ANOMALY_ROWS,
  REPORT_QUERIES,
  type ReportQueryName,
} from './report-queries.ts';
import { barChart, type Category, columnChart, lineChart, type Series } from './svg-charts.ts';

/** The `data-chart` ids of the report's figures, in page order. */
export const REPORT_CHART_IDS = [
  'fleet-status-by-type',
  'fleet-status-by-site',
  'energy-by-site-day',
  'anomalies-by-hour',
  'open-anomalies',
  'dq-score-by-type',
  'dq-completeness-by-type',
  'devices-at-risk',
  'location-rollup',
] as const;
export type ReportChartId = (typeof REPORT_CHART_IDS)[number];

/** What `writeWarehouseReport` wrote. */
export interface WarehouseReport {
  /** Absolute path of the HTML file. */
  readonly path: string;
  /** Ids of the figures that drew data (a subset of {@link REPORT_CHART_IDS}); empty ones are left out. */
  readonly charts: string[];
}

/** Sites the fleet chart shows, those with the most devices needing attention first. */
export const MAX_SITES_IN_FLEET_CHART = 12;
/** Sites the energy chart shows by name (one colour each); the rest are shown as their mean. */
export const MAX_SITES_IN_ENERGY_CHART = 8;

const STATUS_ORDER = ['ok', 'attention', 'silent'];
const STATUS_COLORS: Readonly<Record<string, string>> = {
  ok: '#009E73',
  attention: '#E69F00',
  silent: '#D55E00',
};
const SOURCE_COLORS: Readonly<Record<string, string>> = { realtime: '#0072B2', batch: '#CC79A7' };
/** Okabe-Ito colours (told apart with the common colour-vision deficiencies), then a few more. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#8C6D31', '#6A3D9A'];
const OTHER_COLOR = '#9CA3AF';
const NEUTRAL_COLOR = '#ffffff';

const FILL_HINT = 'The warehouse fills when the batch stage of the twin loads it (npm start or sdap twin).';

type Value = string | number | boolean | null;
type Row = Readonly<Record<string, Value>>;
type Results = Readonly<Record<ReportQueryName, readonly Row[]>>;

function text(value: Value | undefined): string {
  return value === null || value === undefined ? '' : String(value);
}

/** `Lisbon · r1`: where a device is, in one cell. */
function placeOf(row: Row): string {
  return [text(row.site_name), text(row.room_id)].filter((part) => part !== '').join(' · ');
}

/** `1 device`, `3 devices`. */
function plural(count: number, one: string, many: string): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

/** A number from a cell: DuckDB's JSON rows carry BIGINT and DECIMAL as text. */
function num(value: Value | undefined): number | null {
  if (value === null || value === undefined || value === '') return null;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

function colorOf(index: number): string {
  return PALETTE[index % PALETTE.length] as string;
}

async function runQueries(connection: DuckDBConnection): Promise<Results> {
  const results: Partial<Record<ReportQueryName, readonly Row[]>> = {};
  for (const [name, sql] of Object.entries(REPORT_QUERIES) as Array<[ReportQueryName, string]>) {
    try {
      const reader = await connection.runAndReadAll(sql);
      results[name] = reader.getRowObjectsJson() as Row[];
    } catch (error) {
      throw new Error(
        `warehouse report: query '${name}' failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return results as Results;
}

/** Categories in order of first appearance. */
function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Every hour from `first` to `last` (DuckDB timestamps as text), so quiet hours show as zero. */
function hourRange(first: string, last: string): string[] {
  const start = Date.parse(`${first.replace(' ', 'T')}Z`);
  const end = Date.parse(`${last.replace(' ', 'T')}Z`);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return [first];
  const hours: string[] = [];
  for (let at = start; at <= end; at += 3_600_000)
    hours.push(new Date(at).toISOString().slice(0, 19).replace('T', ' '));
  return hours;
}

function hourCategory(hour: string): Category {
  return {
    key: `${formatHour(hour)} UTC`,
    label: formatTimeOfDay(hour),
    group: formatDayShort(hour),
    position: Math.round(Date.parse(`${hour.replace(' ', 'T')}Z`) / 3_600_000),
  };
}

function statusesOf(rows: readonly Row[]): string[] {
  const found = distinct(rows.map((row) => text(row.status)));
  return [
    ...STATUS_ORDER.filter((s) => found.includes(s)),
    ...found.filter((s) => !STATUS_ORDER.includes(s)),
  ];
}

function statusSeries(
  statuses: readonly string[],
  categories: readonly string[],
  count: (category: string, status: string) => number,
): Series[] {
  return statuses.map((status) => ({
    name: status,
    color: STATUS_COLORS[status] ?? OTHER_COLOR,
    values: categories.map((category) => count(category, status)),
  }));
}

/** One entry per status with its devices across the whole fleet. */
function statusLegend(rows: readonly Row[], statuses: readonly string[]): LegendItem[] {
  return statuses.map((status) => ({
    name: status,
    color: STATUS_COLORS[status] ?? OTHER_COLOR,
    detail: plural(
      rows.filter((row) => row.status === status).reduce((sum, row) => sum + (num(row.devices) ?? 0), 0),
      'device',
      'devices',
    ),
  }));
}

function fleetFigures(rows: readonly Row[]): Figure[] {
  const byType: FigureText = {
    id: 'fleet-status-by-type',
    title: 'Fleet health by device type',
    caption:
      'Devices per type by status as of the latest hour in the warehouse: ok, attention (errors or anomalies in 24 h), silent (nothing for 2 h or more). Source: analytics.v_fleet_health_now.',
  };
  const bySite: FigureText = {
    id: 'fleet-status-by-site',
    title: 'Fleet health by site',
    caption:
      'Devices per site by status, sites with the most silent or attention devices first. Source: analytics.v_fleet_health_now.',
  };
  if (rows.length === 0)
    return [
      emptyFigureHtml(
        byType,
        'fleet health by device type: analytics.v_fleet_health_now has no devices',
        FILL_HINT,
      ),
      emptyFigureHtml(bySite, 'fleet health by site: analytics.v_fleet_health_now has no devices', FILL_HINT),
    ];
  const statuses = statusesOf(rows);
  const count = (match: (row: Row) => boolean, status: string) =>
    rows
      .filter((row) => match(row) && row.status === status)
      .reduce((sum, row) => sum + (num(row.devices) ?? 0), 0);

  const types = distinct(rows.map((row) => text(row.device_type))).sort();
  const typeSeries = statusSeries(statuses, types, (type, status) =>
    count((row) => row.device_type === type, status),
  );
  const typeChart = barChart({
    id: byType.id,
    title: byType.title,
    description: `Horizontal stacked bars, one per device type: ${types
      .map(
        (type, i) => `${type} ${typeSeries.map((s) => `${s.name} ${formatCount(s.values[i])}`).join(', ')}`,
      )
      .join('; ')}.`,
    categories: types,
    series: typeSeries,
    categoryAxisLabel: 'Device type',
    valueAxisLabel: 'Devices (count)',
    formatValue: formatCount,
    wholeNumbers: true,
  });

  const sites = new Map<string, { name: string; devices: number; trouble: number }>();
  for (const row of rows) {
    const id = text(row.site_id);
    const site = sites.get(id) ?? { name: text(row.site_name), devices: 0, trouble: 0 };
    site.devices += num(row.devices) ?? 0;
    if (row.status !== 'ok') site.trouble += num(row.devices) ?? 0;
    sites.set(id, site);
  }
  const ranked = [...sites.entries()].sort(
    ([a, x], [b, y]) => y.trouble - x.trouble || y.devices - x.devices || a.localeCompare(b),
  );
  const shown = ranked.slice(0, MAX_SITES_IN_FLEET_CHART);
  const others = ranked.slice(MAX_SITES_IN_FLEET_CHART).map(([id]) => id);
  const siteLabels = shown.map(([id, site]) => labelOfSite(id, site.name, shown));
  const siteSeries = statusSeries(statuses, siteLabels, (label, status) => {
    const id = shown[siteLabels.indexOf(label)]?.[0];
    return count((row) => row.site_id === id, status);
  });
  const siteChart = barChart({
    id: bySite.id,
    title: bySite.title,
    description: `Horizontal stacked bars, one per site: ${siteLabels
      .map(
        (site, i) => `${site} ${siteSeries.map((s) => `${s.name} ${formatCount(s.values[i])}`).join(', ')}`,
      )
      .join('; ')}.`,
    categories: siteLabels,
    series: siteSeries,
    categoryAxisLabel: 'Site',
    valueAxisLabel: 'Devices (count)',
    formatValue: formatCount,
    wholeNumbers: true,
  });
  const otherIds = new Set(others);
  const rest = statuses
    .map((status) => `${formatCount(count((row) => otherIds.has(text(row.site_id)), status))} ${status}`)
    .join(', ');
  return [
    figureHtml(byType, typeChart.svg, typeChart.points, { legend: statusLegend(rows, statuses) }),
    figureHtml(bySite, siteChart.svg, siteChart.points, {
      legend: statusLegend(rows, statuses),
      ...(others.length > 0 && {
        note: `Showing the ${MAX_SITES_IN_FLEET_CHART} sites with the most devices needing attention; the other ${plural(others.length, 'site', 'sites')}: ${rest}.`,
      }),
    }),
  ];
}

/** A site's label: its name, with its id when another shown site has the same name. */
function labelOfSite(
  id: string,
  name: string,
  shown: ReadonlyArray<readonly [string, { name: string }]>,
): string {
  const clash = shown.some(([other, site]) => other !== id && site.name === name);
  return clash ? `${name} (${id})` : name;
}

function energyFigure(rows: readonly Row[]): Figure {
  const figure: FigureText = {
    id: 'energy-by-site-day',
    title: 'Energy by site and day',
    caption: `Energy used by each site's thermostats per UTC day (bars, kWh, left axis) and the day's mean outdoor temperature (diamonds, °C, right axis), last ${ENERGY_DAYS} days. Source: analytics.v_energy_by_site_day.`,
  };
  if (rows.length === 0)
    return emptyFigureHtml(
      figure,
      'energy by site and day: analytics.v_energy_by_site_day has no rows',
      FILL_HINT,
    );
  const days = distinct(rows.map((row) => text(row.event_date))).sort();
  const totals = new Map<string, { name: string; kwh: number }>();
  for (const row of rows) {
    const id = text(row.site_id);
    const site = totals.get(id) ?? { name: text(row.site_name), kwh: 0 };
    site.kwh += num(row.energy_kwh) ?? 0;
    totals.set(id, site);
  }
  const ranked = [...totals.entries()].sort(([a, x], [b, y]) => y.kwh - x.kwh || a.localeCompare(b));
  const shown = ranked.slice(0, MAX_SITES_IN_ENERGY_CHART);
  const others = ranked.slice(MAX_SITES_IN_ENERGY_CHART);
  const byDay = new Map(days.map((day) => [day, rows.filter((row) => row.event_date === day)]));
  /** The sites' mean on the day, over those with a value. */
  const cell = (
    siteIds: ReadonlySet<string>,
    day: string,
    column: 'energy_kwh' | 'outdoor_temperature_mean_c',
  ) => {
    const values = (byDay.get(day) ?? [])
      .filter((row) => siteIds.has(text(row.site_id)))
      .map((row) => num(row[column]))
      .filter((v): v is number => v !== null);
    return values.length === 0 ? null : values.reduce((sum, v) => sum + v, 0) / values.length;
  };
  const dayCount = plural(days.length, 'day', 'days');
  const series: Series[] = shown.map(([id, site], index) => ({
    name: labelOfSite(id, site.name, shown),
    color: colorOf(index),
    values: days.map((day) => cell(new Set([id]), day, 'energy_kwh')),
  }));
  const temperature: Series[] = shown.map(([id, site], index) => ({
    name: `${labelOfSite(id, site.name, shown)} outdoor temperature`,
    color: colorOf(index),
    values: days.map((day) => cell(new Set([id]), day, 'outdoor_temperature_mean_c')),
  }));
  const legend: LegendItem[] = series.map((s, index) => ({
    name: s.name,
    color: s.color,
    detail: `${withUnit(shown[index]?.[1].kwh, 'kWh')} in ${dayCount}`,
  }));
  if (others.length > 0) {
    const ids = new Set(others.map(([id]) => id));
    const name = `mean of the ${plural(others.length, 'other site', 'other sites')}`;
    series.push({ name, color: OTHER_COLOR, values: days.map((day) => cell(ids, day, 'energy_kwh')) });
    const meanTotal = others.reduce((sum, [, site]) => sum + site.kwh, 0) / others.length;
    legend.push({
      name,
      color: OTHER_COLOR,
      detail: `${withUnit(meanTotal, 'kWh')} per site in ${dayCount}`,
    });
  }
  legend.push({
    name: 'outdoor temperature, mean of the day (°C, right axis)',
    color: NEUTRAL_COLOR,
    marker: 'diamond',
  });
  const chart = columnChart({
    id: figure.id,
    title: figure.title,
    description: `Grouped bars of kWh per site for each day from ${days[0]} to ${days.at(-1)}, with the mean outdoor temperature as markers. Totals: ${legend
      .slice(0, series.length)
      .map((item) => `${item.name} ${item.detail}`)
      .join(', ')}.`,
    categories: days.map((day) => ({ key: day, label: formatDayShort(day), group: day.slice(0, 4) })),
    series,
    layout: 'grouped',
    xAxisLabel: 'Day (UTC)',
    yAxisLabel: 'Energy (kWh)',
    formatValue: formatNumber,
    overlay: {
      axisLabel: 'Outdoor temperature (°C)',
      formatValue: (value) => `${formatNumber(value)} °C`,
      series: temperature,
    },
  });
  return figureHtml(figure, chart.svg, chart.points, {
    legend,
    ...(others.length > 0 && {
      note: `Showing the ${MAX_SITES_IN_ENERGY_CHART} sites that used the most energy, and the mean of the other ${others.length} (without temperature).`,
    }),
  });
}

function anomalyFigures(hourly: readonly Row[], open: readonly Row[]): Figure[] {
  const overTime: FigureText = {
    id: 'anomalies-by-hour',
    title: 'Anomalies per hour',
    caption: `Anomalies per UTC hour, stacked by where they were found: realtime (stream rules) and batch (hourly z-score test), last ${CHART_HOURS / 24} days. Source: analytics.fact_anomaly.`,
  };
  const table: FigureText = {
    id: 'open-anomalies',
    title: 'Open anomalies',
    caption: `Device and rule pairs that fired in the 24 hours up to the latest hour, worst first (top ${OPEN_ANOMALY_ROWS}). Source: analytics.v_open_anomalies.`,
  };
  const figures: Figure[] = [];
  if (hourly.length === 0) {
    figures.push(
      emptyFigureHtml(overTime, 'anomalies over time: analytics.fact_anomaly has no rows', FILL_HINT),
    );
  } else {
    const hours = hourRange(text(hourly[0]?.hour_start), text(hourly.at(-1)?.hour_start));
    const found = distinct(hourly.map((row) => text(row.source)));
    const sources = [
      ...['realtime', 'batch'].filter((s) => found.includes(s)),
      ...found.filter((s) => !(s in SOURCE_COLORS)),
    ];
    const series: Series[] = sources.map((source, index) => ({
      name: source,
      color: SOURCE_COLORS[source] ?? colorOf(index + 4),
      values: hours.map((hour) =>
        hourly
          .filter((row) => row.hour_start === hour && row.source === source)
          .reduce((sum, row) => sum + (num(row.anomalies) ?? 0), 0),
      ),
    }));
    const total = (s: Series) => s.values.reduce<number>((sum, v) => sum + (v ?? 0), 0);
    const chart = columnChart({
      id: overTime.id,
      title: overTime.title,
      description: `Stacked bars of anomalies for each hour from ${formatHour(hours[0])} to ${formatHour(hours.at(-1))} UTC: ${series
        .map((s) => `${s.name} ${formatCount(total(s))}`)
        .join(', ')} in all.`,
      categories: hours.map(hourCategory),
      series,
      layout: 'stacked',
      xAxisLabel: 'Hour (UTC)',
      yAxisLabel: 'Anomalies (count)',
      formatValue: formatCount,
      wholeNumbers: true,
    });
    figures.push(
      figureHtml(overTime, chart.svg, chart.points, {
        legend: series.map((s) => ({
          name: s.name,
          color: s.color,
          detail: plural(total(s), 'anomaly', 'anomalies'),
        })),
      }),
    );
  }
  if (open.length === 0) {
    figures.push(
      emptyFigureHtml(
        table,
        'open anomalies: analytics.v_open_anomalies has no rows (nothing fired in the latest 24 hours)',
        FILL_HINT,
      ),
    );
  } else {
    const totalOpen = num(open[0]?.total_open) ?? open.length;
    figures.push(
      figureHtml(
        table,
        tableHtml(
          table.title,
          [
            {
              header: 'Severity',
              cell: (r: Row) => text(r.severity),
              className: (r: Row) => `sev-${text(r.severity)}`,
            },
            { header: 'Rule', cell: (r: Row) => text(r.rule) },
            { header: 'Source', cell: (r: Row) => text(r.source) },
            { header: 'Device', cell: (r: Row) => `${text(r.device_id)} (${text(r.device_type)})` },
            { header: 'Site · room', cell: (r: Row) => placeOf(r) },
            { header: 'Times', cell: (r: Row) => formatCount(num(r.occurrences)), numeric: true },
            {
              header: 'Latest (UTC)',
              cell: (r: Row) => formatMoment(text(r.last_detected_at)),
              className: () => 'nowrap',
            },
            { header: 'Latest message', cell: (r: Row) => text(r.last_message), className: () => 'wide' },
          ],
          open,
        ),
        open.length,
        {
          note:
            totalOpen > open.length
              ? `Showing ${open.length} of ${formatCount(totalOpen)} open anomalies.`
              : `${plural(totalOpen, 'open anomaly', 'open anomalies')}.`,
        },
      ),
    );
  }
  return figures;
}

function dataQualityFigures(rows: readonly Row[]): Figure[] {
  const score: FigureText = {
    id: 'dq-score-by-type',
    title: 'Data-quality score by device type',
    caption: `Overall data-quality score per device type and UTC hour, 0-100 (completeness 40 %, validity, timeliness and sequence integrity 20 % each), last ${CHART_HOURS / 24} days. Source: analytics.fact_data_quality_hourly.`,
  };
  const completeness: FigureText = {
    id: 'dq-completeness-by-type',
    title: 'Completeness by device type',
    caption:
      'Readings received as a share of the readings the registry expects, per device type and UTC hour, percent. Source: analytics.fact_data_quality_hourly.',
  };
  if (rows.length === 0)
    return [
      emptyFigureHtml(score, 'data quality: analytics.fact_data_quality_hourly has no rows', FILL_HINT),
      emptyFigureHtml(
        completeness,
        'completeness: analytics.fact_data_quality_hourly has no rows',
        FILL_HINT,
      ),
    ];
  const hours = distinct(rows.map((row) => text(row.hour_start))).sort();
  const types = distinct(rows.map((row) => text(row.device_type))).sort();
  const seriesOf = (value: (row: Row) => number | null): Series[] =>
    types.map((type, index) => ({
      name: type,
      color: colorOf(index),
      values: hours.map((hour) => {
        const row = rows.find((r) => r.hour_start === hour && r.device_type === type);
        return row === undefined ? null : value(row);
      }),
    }));
  const legendOf = (series: readonly Series[], format: (v: number | null) => string): LegendItem[] =>
    series.map((s) => {
      const values = s.values.filter((v): v is number => v !== null);
      const mean = values.length === 0 ? null : values.reduce((sum, v) => sum + v, 0) / values.length;
      return { name: s.name, color: s.color, marker: 'line', detail: `mean ${format(mean)}` };
    });
  const categories = hours.map(hourCategory);
  const scoreSeries = seriesOf((row) => num(row.dq_score));
  const scoreChart = lineChart({
    id: score.id,
    title: score.title,
    description: `Lines of the data-quality score (0-100) per device type for each hour from ${formatHour(hours[0])} to ${formatHour(hours.at(-1))} UTC.`,
    categories,
    series: scoreSeries,
    xAxisLabel: 'Hour (UTC)',
    yAxisLabel: 'DQ score (0-100)',
    yDomain: [0, 100],
    formatValue: formatNumber,
  });
  const shareSeries = seriesOf((row) => {
    const share = num(row.completeness);
    return share === null ? null : share * 100;
  });
  const shareChart = lineChart({
    id: completeness.id,
    title: completeness.title,
    description: `Lines of completeness (percent of expected readings) per device type for each hour from ${formatHour(hours[0])} to ${formatHour(hours.at(-1))} UTC.`,
    categories,
    series: shareSeries,
    xAxisLabel: 'Hour (UTC)',
    yAxisLabel: 'Completeness (%)',
    yDomain: [0, 100],
    formatValue: (value) => `${formatNumber(value)} %`,
  });
  return [
    figureHtml(score, scoreChart.svg, scoreChart.points, { legend: legendOf(scoreSeries, formatNumber) }),
    figureHtml(completeness, shareChart.svg, shareChart.points, {
      legend: legendOf(shareSeries, (v) => (v === null ? '–' : `${formatNumber(v)} %`)),
    }),
  ];
}

function riskFigure(rows: readonly Row[]): Figure {
  const figure: FigureText = {
    id: 'devices-at-risk',
    title: 'Devices at risk',
    caption: `Devices with warning signs over the latest 7 days, highest risk score first (top ${AT_RISK_ROWS}). Source: analytics.v_devices_at_risk.`,
  };
  if (rows.length === 0)
    return emptyFigureHtml(
      figure,
      'devices at risk: analytics.v_devices_at_risk has no rows (no device shows a warning sign)',
      FILL_HINT,
    );
  const total = num(rows[0]?.total_at_risk) ?? rows.length;
  return figureHtml(
    figure,
    tableHtml(
      figure.title,
      [
        { header: 'Device', cell: (r: Row) => `${text(r.device_id)} (${text(r.device_type)})` },
        { header: 'Site · room', cell: (r: Row) => placeOf(r) },
        { header: 'Risk score', cell: (r: Row) => formatCount(num(r.risk_score)), numeric: true },
        {
          header: 'Reasons',
          cell: (r: Row) => text(r.reasons).replace(/;\s*$/, ''),
          className: () => 'wide',
        },
        { header: 'Failure prob.', cell: (r: Row) => formatShare(num(r.failure_probability)), numeric: true },
        {
          header: 'Min battery (%)',
          cell: (r: Row) => formatNumber(num(r.battery_min_pct_7d)),
          numeric: true,
        },
        { header: 'Reboots', cell: (r: Row) => formatCount(num(r.reboots_7d)), numeric: true },
        { header: 'Errors', cell: (r: Row) => formatCount(num(r.error_readings_7d)), numeric: true },
        { header: 'Reporting', cell: (r: Row) => formatShare(num(r.reporting_share_7d)), numeric: true },
        { header: 'Anomaly hours', cell: (r: Row) => formatCount(num(r.anomaly_hours_7d)), numeric: true },
      ],
      rows,
    ),
    rows.length,
    {
      note:
        total > rows.length
          ? `Showing ${rows.length} of ${formatCount(total)} devices at risk.`
          : `${plural(total, 'device', 'devices')} at risk.`,
    },
  );
}

function locationFigure(rows: readonly Row[]): Figure {
  const figure: FigureText = {
    id: 'location-rollup',
    title: 'Sites and buildings',
    caption:
      'Each site (most anomalies first) followed by its buildings: devices beneath it, their energy on the latest day and their anomalies in the latest 24 hours. Source: analytics.v_location_rollup.',
  };
  if (rows.length === 0)
    return emptyFigureHtml(
      figure,
      'sites and buildings: analytics.v_location_rollup has no site or building rows',
      FILL_HINT,
    );
  const total = num(rows[0]?.total_places) ?? rows.length;
  return figureHtml(
    figure,
    tableHtml(
      figure.title,
      [
        {
          header: 'Place',
          cell: (r: Row) => text(r.location_name),
          className: (r: Row) => (r.location_level === 'building' ? 'indent' : undefined),
        },
        { header: 'Level', cell: (r: Row) => text(r.location_level) },
        { header: 'Id', cell: (r: Row) => text(r.location_id), className: () => 'nowrap' },
        { header: 'Devices', cell: (r: Row) => formatCount(num(r.devices)), numeric: true },
        {
          header: 'Energy, latest day (kWh)',
          cell: (r: Row) => formatNumber(num(r.energy_kwh_latest_day)),
          numeric: true,
        },
        {
          header: 'Anomalies, 24 h',
          cell: (r: Row) => formatCount(num(r.anomalies_last_24h)),
          numeric: true,
        },
        {
          header: 'Devices with anomalies',
          cell: (r: Row) => formatCount(num(r.devices_with_anomalies)),
          numeric: true,
        },
      ],
      rows,
    ),
    rows.length,
    total > rows.length
      ? { note: `Showing ${rows.length} of ${formatCount(total)} sites and buildings.` }
      : {},
  );
}

function headlines(results: Results): Headline[] {
  const fleet = results.fleetStatus;
  const devices = fleet.reduce((sum, row) => sum + (num(row.devices) ?? 0), 0);
  const byStatus = (status: string) =>
    fleet.filter((row) => row.status === status).reduce((sum, row) => sum + (num(row.devices) ?? 0), 0);
  const energy = results.energyBySiteDay;
  const latestDay = energy
    .map((row) => text(row.event_date))
    .sort()
    .at(-1);
  const latestEnergy = energy.filter((row) => row.event_date === latestDay);
  const anomalies = results.anomaliesByHour.reduce((sum, row) => sum + (num(row.anomalies) ?? 0), 0);
  const openTotal = num(results.openAnomalies[0]?.total_open) ?? 0;
  const dq = results.dataQuality;
  const latestHour = dq
    .map((row) => text(row.hour_start))
    .sort()
    .at(-1);
  const latestScores = dq
    .filter((row) => row.hour_start === latestHour)
    .map((row) => num(row.dq_score))
    .filter((v): v is number => v !== null);
  return [
    {
      label: 'Devices',
      value: devices === 0 ? '–' : formatCount(devices),
      detail:
        devices === 0
          ? 'no devices in the warehouse'
          : `${formatCount(byStatus('ok'))} ok · ${formatCount(byStatus('attention'))} attention · ${formatCount(byStatus('silent'))} silent`,
    },
    {
      label: 'Energy, latest day',
      value:
        latestDay === undefined
          ? '–'
          : withUnit(
              latestEnergy.reduce((sum, r) => sum + (num(r.energy_kwh) ?? 0), 0),
              'kWh',
            ),
      detail:
        latestDay === undefined ? 'no energy data' : `${dayOf(latestDay)}, ${latestEnergy.length} sites`,
    },
    {
      label: 'Anomalies',
      value: formatCount(anomalies),
      detail: `${formatCount(openTotal)} open in the latest 24 hours`,
    },
    {
      label: 'Data quality, latest hour',
      value:
        latestScores.length === 0
          ? '–'
          : `${formatNumber(latestScores.reduce((sum, v) => sum + v, 0) / latestScores.length)} / 100`,
      detail:
        latestHour === undefined
          ? 'no data-quality rows'
          : `mean over device types, ${formatHour(latestHour)} UTC`,
    },
  ];
}

/**
 * Writes the warehouse report for the DuckDB warehouse open on `connection` (schema `analytics`,
 * created by the warehouse migrations) to `outFile`, creating its directory. Only reads.
 *
 * @returns the absolute path written and the ids of the figures that drew data
 */
export async function writeWarehouseReport(
  connection: DuckDBConnection,
  outFile: string,
): Promise<{ path: string; charts: string[] }> {
  const results = await runQueries(connection);
  const coverage = results.coverage[0] ?? {};
  const first =
    coverage.first_hour === null || coverage.first_hour === undefined ? undefined : text(coverage.first_hour);
  const latest =
    coverage.latest_hour === null || coverage.latest_hour === undefined
      ? undefined
      : text(coverage.latest_hour);
  const registered = num(coverage.devices_registered) ?? 0;

  const sections: Section[] = [
    {
      id: 'fleet',
      title: 'Fleet health',
      intro: 'How every registered device is doing as of the latest hour the warehouse holds.',
      figures: fleetFigures(results.fleetStatus),
    },
    {
      id: 'energy',
      title: 'Energy',
      intro: "What the sites' thermostats used each day, next to the weather that drove it.",
      figures: [energyFigure(results.energyBySiteDay)],
    },
    {
      id: 'anomalies',
      title: 'Anomalies',
      intro:
        'Real-time alerts from the stream validator and hours the batch ETL found far from a device’s baseline.',
      figures: anomalyFigures(results.anomaliesByHour, results.openAnomalies),
    },
    {
      id: 'data-quality',
      title: 'Data quality',
      intro: 'How complete, valid, timely and in order the data was, per device type and hour.',
      figures: dataQualityFigures(results.dataQuality),
    },
    {
      id: 'risk',
      title: 'Devices at risk and locations',
      intro:
        'Where maintenance should look first, and how devices, energy and anomalies add up per site and building.',
      figures: [riskFigure(results.devicesAtRisk), locationFigure(results.locationRollup)],
    },
  ];
  const subtitle =
    first === undefined || latest === undefined
      ? `The warehouse holds no telemetry yet (${formatCount(registered)} devices registered). All times are UTC.`
      : `Warehouse data from ${formatHour(first)} to ${formatHour(latest)} UTC (the latest hour is "now" for every view); ${formatCount(registered)} devices registered. All times are UTC.`;
  const html = pageHtml({
    title: 'sdap warehouse report',
    subtitle,
    headlines: headlinesHtml(headlines(results)),
    sections,
    footer:
      'Built from the warehouse views and tables in schema analytics (the same SQL analysts run in QuickSight on Redshift). Hover a bar or point for its value.',
  });

  const path = resolve(outFile);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, html);
  const charts = sections
    .flatMap((section) => section.figures)
    .filter((figure) => figure.drawn)
    .map((figure) => figure.id);
  return { path, charts };
}
