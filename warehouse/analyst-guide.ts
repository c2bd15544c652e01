/**
 * The analyst guide (`docs/analyst-guide.md`), rendered from the warehouse spec so that every
 * table, view and column it lists is the one the warehouse has. `npm run analyst-guide` rewrites
 * it; a test fails when the committed file is stale.
 *
 *   node --import tsx warehouse/analyst-guide.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sqlType } from './ddl.ts';
import { WAREHOUSE_SCHEMA, type WarehouseColumn, type WarehouseTable } from './spec.ts';
import { WAREHOUSE_TABLES } from './tables.ts';
import { WAREHOUSE_VIEWS } from './views.ts';

/** Where the guide is committed. */
export const ANALYST_GUIDE_PATH = fileURLToPath(new URL('../docs/analyst-guide.md', import.meta.url));

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function columnTable(columns: readonly WarehouseColumn[], key: readonly string[] = []): string[] {
  return [
    '| column | type | meaning |',
    '|---|---|---|',
    ...columns.map(
      (column) =>
        `| \`${column.name}\`${key.includes(column.name) ? ' (key)' : ''} | ${sqlType('redshift', column).toLowerCase()} | ${escapeCell(column.description)} |`,
    ),
  ];
}

/** Joins a fact to the dimensions it shares a column with, for the diagram. */
function relationships(tables: readonly WarehouseTable[]): string[] {
  const dimensions = tables.filter((table) => table.kind === 'dimension');
  const lines: string[] = [];
  for (const fact of tables.filter((table) => table.kind === 'fact'))
    for (const dimension of dimensions) {
      const key = dimension.key[0] as string;
      if (dimension.key.length === 1 && fact.columns.some((column) => column.name === key))
        lines.push(`  ${dimension.name} ||--o{ ${fact.name} : ${key}`);
    }
  lines.push('  dim_location ||--o{ dim_location : parent_location_id');
  lines.push('  dim_location ||--o{ dim_device : room_id');
  return lines;
}

export function renderAnalystGuide(): string {
  const facts = WAREHOUSE_TABLES.filter((table) => table.kind === 'fact');
  const dimensions = WAREHOUSE_TABLES.filter((table) => table.kind === 'dimension');
  const lines = [
    '# Analyst guide: the telemetry warehouse',
    '',
    '<!-- Rendered from warehouse/*.ts by `npm run analyst-guide`; edit the spec, not this file. -->',
    '',
    `Everything lives in the \`${WAREHOUSE_SCHEMA}\` schema: Redshift Serverless in AWS (QuickSight has one`,
    'dataset per view below), and `out/twin/warehouse.duckdb` in the local twin, where',
    '`sdap query "SELECT …"` answers (for example `sdap query "SELECT * FROM analytics.v_fleet_health_now LIMIT 5"`).',
    'The same tables, views and SQL exist in both.',
    '',
    '## What to trust',
    '',
    '- **Times are UTC.** `hour_start` is the start of a UTC hour, `event_date` a UTC day. `dim_site.utc_offset_hours` converts to local time.',
    '- **Device time, not arrival time.** A reading counts in the hour its device stamped it, even when it arrived late.',
    "- **Nothing is counted twice.** Devices and the network resend readings; the batch ETL keeps one copy of each reading (by its `eventId`), and every load MERGEs on the table's key, so reloading an hour changes nothing.",
    '- **Late data updates the past.** When a reading arrives hours late, the ETL rebuilds its hour (and the days and rolling windows that include it), and the next load updates those rows in place. A batch anomaly the late data clears disappears.',
    '- **"Now" is the warehouse\'s latest hour.** Views that speak of the last 24 hours or 7 days count back from the latest hour (or day) loaded, not from the wall clock, so a delayed load never makes the fleet look silent.',
    '- **Refresh.** The ETL runs hourly and loads the warehouse when it finishes; the current hour appears after it ends. Registry changes (new devices, moves) arrive with the daily registry snapshot.',
    '',
    '## The star',
    '',
    '```mermaid',
    'erDiagram',
    ...relationships(WAREHOUSE_TABLES),
    '```',
    '',
    '## Views: start here',
    '',
  ];
  for (const view of WAREHOUSE_VIEWS) {
    lines.push(`### \`${WAREHOUSE_SCHEMA}.${view.name}\``, '', view.description, '');
    lines.push(...columnTable(view.columns), '');
    for (const example of view.examples)
      lines.push(`*${example.question}*`, '', '```sql', example.sql, '```', '');
  }
  for (const [title, tables] of [
    ['Facts', facts],
    ['Dimensions', dimensions],
  ] as const) {
    lines.push(`## ${title}`, '');
    for (const table of tables) {
      lines.push(
        `### \`${WAREHOUSE_SCHEMA}.${table.name}\``,
        '',
        table.description,
        '',
        `- **One row per:** ${table.key.join(' + ')}`,
        `- **Refreshed:** ${table.refresh}`,
        `- **From the curated lake:** ${
          table.loads.length === 0
            ? 'not loaded yet'
            : [...new Set(table.loads.map((load) => `\`${load.from.name}\``))].join(', ')
        }`,
        '',
        ...columnTable(table.columns, table.key),
        '',
      );
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = renderAnalystGuide();
  if (process.argv.includes('--check')) {
    const committed = (() => {
      try {
        return readFileSync(ANALYST_GUIDE_PATH, 'utf8');
      } catch {
        return '';
      }
    })();
    if (committed !== text) {
      console.error('docs/analyst-guide.md is stale: run npm run analyst-guide');
      process.exitCode = 1;
    } else console.log('docs/analyst-guide.md is up to date');
  } else {
    writeFileSync(ANALYST_GUIDE_PATH, text);
    console.log('wrote docs/analyst-guide.md');
  }
}
