/**
 * The report's HTML parts: a figure around each chart or table (marked `data-chart`, and
 * `data-points` when it drew data), its legend, the empty state, tables and the page itself.
 * Every value from the warehouse is escaped here or in the chart renderer, never concatenated raw.
 */
import { escapeHtml } from './format.ts';

/** One legend entry: a series' colour and name, and an optional figure next to it. */
export interface LegendItem {
  readonly name: string;
  readonly color: string;
  /** How the series is drawn. @default 'box' */
  readonly marker?: 'box' | 'line' | 'diamond';
  /** Shown after the name, e.g. the series' total. */
  readonly detail?: string;
}

/** What a figure says around its chart or table. */
export interface FigureText {
  /** The `data-chart` id: stable, a test and the twin's summary refer to it. */
  readonly id: string;
  readonly title: string;
  /** One line under the title: what is measured, from which view or table, in which unit. */
  readonly caption: string;
}

export function legendHtml(items: readonly LegendItem[]): string {
  if (items.length === 0) return '';
  const entries = items.map((item) => {
    const marker = item.marker ?? 'box';
    const detail = item.detail === undefined ? '' : ` <span class="detail">${escapeHtml(item.detail)}</span>`;
    return (
      `<li data-series="${escapeHtml(item.name)}"><span class="swatch ${marker}" style="--swatch: ${escapeHtml(item.color)}" aria-hidden="true"></span>` +
      `<span class="name">${escapeHtml(item.name)}</span>${detail}</li>`
    );
  });
  return `<ul class="legend" aria-label="Legend">${entries.join('')}</ul>`;
}

/** A figure of the page: its id, whether it drew data, its HTML. */
export interface Figure {
  readonly id: string;
  readonly drawn: boolean;
  readonly html: string;
}

/** A figure that drew `points` values. */
export function figureHtml(
  figure: FigureText,
  body: string,
  points: number,
  options: { legend?: readonly LegendItem[]; note?: string } = {},
): Figure {
  const note = options.note === undefined ? '' : `<p class="note">${escapeHtml(options.note)}</p>`;
  const html =
    `<figure class="chart" data-chart="${escapeHtml(figure.id)}" data-points="${points}">` +
    `<figcaption><h3>${escapeHtml(figure.title)}</h3><p>${escapeHtml(figure.caption)}</p></figcaption>` +
    `${legendHtml(options.legend ?? [])}<div class="body">${body}</div>${note}</figure>`;
  return { id: figure.id, drawn: points > 0, html };
}

/**
 * The figure of a query that returned nothing: says so, and what would fill it, instead of
 * leaving a blank box.
 */
export function emptyFigureHtml(figure: FigureText, what: string, hint: string): Figure {
  const html =
    `<figure class="chart empty" data-chart="${escapeHtml(figure.id)}" data-empty="true">` +
    `<figcaption><h3>${escapeHtml(figure.title)}</h3><p>${escapeHtml(figure.caption)}</p></figcaption>` +
    `<p class="empty-state" role="note">No data for ${escapeHtml(what)}. ${escapeHtml(hint)}</p></figure>`;
  return { id: figure.id, drawn: false, html };
}

/** A column of a table: its header, how to print a row's cell, and whether it holds numbers. */
export interface TableColumn<Row> {
  readonly header: string;
  readonly cell: (row: Row) => string;
  readonly numeric?: boolean;
  /** An extra class on the cells, e.g. to indent. */
  readonly className?: (row: Row) => string | undefined;
}

export function tableHtml<Row>(
  caption: string,
  columns: ReadonlyArray<TableColumn<Row>>,
  rows: readonly Row[],
): string {
  const head = columns
    .map(
      (column) => `<th scope="col"${column.numeric ? ' class="num"' : ''}>${escapeHtml(column.header)}</th>`,
    )
    .join('');
  const body = rows
    .map((row) => {
      const cells = columns.map((column) => {
        const classes = [column.numeric ? 'num' : undefined, column.className?.(row)].filter(Boolean);
        const attr = classes.length === 0 ? '' : ` class="${escapeHtml(classes.join(' '))}"`;
        return `<td${attr}>${escapeHtml(column.cell(row))}</td>`;
      });
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('');
  return `<div class="table-wrap"><table><caption class="visually-hidden">${escapeHtml(caption)}</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** A headline figure at the top of the page. */
export interface Headline {
  readonly label: string;
  readonly value: string;
  readonly detail: string;
}

export function headlinesHtml(headlines: readonly Headline[]): string {
  const cards = headlines.map(
    (h) =>
      `<div class="card"><div class="label">${escapeHtml(h.label)}</div><div class="value">${escapeHtml(h.value)}</div><div class="detail">${escapeHtml(h.detail)}</div></div>`,
  );
  return `<section class="headlines" aria-label="Headline figures">${cards.join('')}</section>`;
}

export interface Section {
  readonly id: string;
  readonly title: string;
  readonly intro: string;
  readonly figures: readonly Figure[];
}

function sectionHtml(section: Section): string {
  return (
    `<section id="${escapeHtml(section.id)}" aria-labelledby="${escapeHtml(section.id)}-heading">` +
    `<h2 id="${escapeHtml(section.id)}-heading">${escapeHtml(section.title)}</h2><p class="intro">${escapeHtml(section.intro)}</p>` +
    `${section.figures.map((figure) => figure.html).join('')}</section>`
  );
}

/**
 * Nothing is fetched: the policy forbids every source but inline styles and data: images, so a
 * stray URL in data could not reach the network even if it escaped the escaping.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE = `
:root { color-scheme: light; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --panel: #ffffff; --page: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 4px; }
h3 { font-size: 15px; margin: 0; }
.subtitle, .intro, figcaption p, .note { color: var(--muted); margin: 2px 0 8px; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 0; margin: 8px 0 0; }
nav a { color: #1d4ed8; }
.headlines { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; margin: 16px 0 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 24px; font-weight: 650; }
.card .detail { color: var(--muted); font-size: 12px; }
figure.chart { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; margin: 12px 0; padding: 14px 16px; }
.chart-svg { display: block; max-width: 100%; height: auto; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 0; margin: 4px 0 8px; }
.legend li { display: flex; align-items: center; gap: 6px; }
.legend .detail { color: var(--muted); }
.swatch { display: inline-block; width: 12px; height: 12px; background: var(--swatch); border-radius: 2px; }
.swatch.line { height: 3px; border-radius: 0; }
.swatch.diamond { width: 9px; height: 9px; transform: rotate(45deg); border: 1px solid #111827; border-radius: 0; }
.empty-state { margin: 8px 0 0; padding: 24px; border: 1px dashed #9ca3af; border-radius: 6px; color: var(--muted); text-align: center; background: #fafafa; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.wide { min-width: 11em; }
th { background: #f9fafb; font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nowrap { white-space: nowrap; }
td.indent { padding-left: 28px; }
.sev-critical { color: #b91c1c; font-weight: 600; }
.sev-security { color: #7c2d12; font-weight: 600; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
footer { max-width: 1240px; margin: 32px auto; padding: 0 20px; color: var(--muted); font-size: 12px; }
@media print { body { background: #fff; } figure.chart { break-inside: avoid; } }
`;

/** The whole page: inline style, no script, nothing to fetch. */
export function pageHtml(page: {
  title: string;
  subtitle: string;
  headlines: string;
  sections: readonly Section[];
  footer: string;
}): string {
  const nav = page.sections
    .map((section) => `<li><a href="#${escapeHtml(section.id)}">${escapeHtml(section.title)}</a></li>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<title>${escapeHtml(page.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(page.title)}</h1>
<p class="subtitle">${escapeHtml(page.subtitle)}</p>
<nav aria-label="Sections"><ul>${nav}</ul></nav>
${page.headlines}
</header>
<main>
${page.sections.map(sectionHtml).join('\n')}
</main>
<footer>${escapeHtml(page.footer)}</footer>
</body>
</html>
`;
}
