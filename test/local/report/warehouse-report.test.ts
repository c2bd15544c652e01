/**
 * The warehouse report, opened in a real browser (Debian's chromium through playwright-core) with
 * the network cut off: every chart draws from a small fixture warehouse, nothing is fetched, the
 * console stays clean, data with markup stays text, and an empty warehouse shows empty states.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_CHART_IDS, writeWarehouseReport } from '../../../local/report/warehouse-report.ts';
import {
  EXPECTED,
  emptyWarehouse,
  fixtureWarehouse,
  MARKUP_MESSAGE,
  MARKUP_SITE_NAME,
} from './warehouse-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const directories: string[] = [];
let browser: Browser | undefined;

function tempDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'sdap-report-'));
  directories.push(directory);
  return directory;
}

/** What the page did while it loaded: requests other than the file, console errors and warnings, page errors. */
interface PageLog {
  readonly requests: string[];
  readonly console: string[];
  readonly pageErrors: string[];
}

/** Opens the report with every request but the file itself aborted, and records what happened. */
async function openReport(path: string): Promise<{ page: Page; log: PageLog }> {
  if (!browser) throw new Error('the browser did not start (see beforeAll)');
  const fileUrl = pathToFileURL(path).href;
  const log: PageLog = { requests: [], console: [], pageErrors: [] };
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  await page.route('**', async (route) => {
    const url = route.request().url();
    if (url === fileUrl) return route.continue();
    log.requests.push(url);
    return route.abort();
  });
  page.on('request', (request) => {
    if (request.url() !== fileUrl && !log.requests.includes(request.url())) log.requests.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning')
      log.console.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => log.pageErrors.push(error.message));
  await page.goto(fileUrl, { waitUntil: 'load' });
  return { page, log };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: the report tests open the page in Debian's chromium (apt-get install chromium); playwright's own browser download is not used`,
    );
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

describe('writeWarehouseReport', () => {
  it('draws every chart and table from the warehouse, offline and without console errors', async () => {
    // Prepare
    const directory = tempDirectory();
    const warehouse = await fixtureWarehouse(join(directory, 'warehouse.duckdb'));

    // Act
    let report: Awaited<ReturnType<typeof writeWarehouseReport>>;
    try {
      report = await writeWarehouseReport(warehouse.connection, join(directory, 'report', 'warehouse.html'));
    } finally {
      warehouse.close();
    }
    const { page, log } = await openReport(report.path);

    // Assess
    expect(report.path).toBe(join(directory, 'report', 'warehouse.html'));
    expect(report.charts).toEqual([...REPORT_CHART_IDS]);
    for (const id of REPORT_CHART_IDS) {
      const chart = page.locator(`[data-chart="${id}"]`);
      expect(await chart.count(), `chart ${id} on the page`).toBe(1);
      expect(Number(await chart.getAttribute('data-points')), `data-points of ${id}`).toBeGreaterThan(0);
      expect(await chart.getAttribute('data-empty'), `${id} is not empty`).toBeNull();
      expect((await chart.locator('h3').textContent())?.trim(), `title of ${id}`).not.toBe('');
      const drawing = chart.locator('svg[role="img"], table');
      expect(await drawing.count(), `${id} holds a chart or a table`).toBe(1);
      expect(await drawing.isVisible(), `${id} is visible`).toBe(true);
    }
    for (const svg of await page.locator('svg').all()) {
      expect(await svg.getAttribute('aria-label')).toBeTruthy();
      expect((await svg.locator('title').first().textContent())?.trim()).toBeTruthy();
    }
    expect(log.requests, 'requests the page attempted').toEqual([]);
    expect(log.console, 'console errors and warnings').toEqual([]);
    expect(log.pageErrors, 'page errors').toEqual([]);

    const screenshot = join(directory, 'report', 'warehouse.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = readFileSync(screenshot);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE), 'the screenshot is a PNG').toBe(true);
    expect(png.length).toBeGreaterThan(10_000);
  });

  it('shows the figures a reader checks: site energy totals, device statuses, anomaly counts', async () => {
    // Prepare
    const directory = tempDirectory();
    const warehouse = await fixtureWarehouse(join(directory, 'warehouse.duckdb'));

    // Act
    const report = await writeWarehouseReport(
      warehouse.connection,
      join(directory, 'warehouse.html'),
    ).finally(() => warehouse.close());
    const { page } = await openReport(report.path);

    // Assess
    const energy = page.locator('[data-chart="energy-by-site-day"]');
    const lisbon = energy.locator('.legend li', { hasText: 'Lisbon' });
    expect(await lisbon.textContent()).toContain(`${EXPECTED.energyKwhBySite.s1.toFixed(1)} kWh`);
    const oslo = energy.locator('.legend li', { hasText: 'Oslo' });
    expect(await oslo.textContent()).toContain(`${EXPECTED.energyKwhBySite.s2.toFixed(1)} kWh`);
    // Two sites over two days: four bars and four temperature markers.
    expect(await energy.getAttribute('data-points')).toBe('8');

    const byType = page.locator('[data-chart="fleet-status-by-type"]');
    for (const [status, devices] of Object.entries(EXPECTED.status))
      expect(await byType.locator('.legend li', { hasText: status }).locator('.detail').textContent()).toBe(
        `${devices} ${devices === 1 ? 'device' : 'devices'}`,
      );
    expect(
      await page.locator('.headlines .card', { hasText: 'Devices' }).locator('.value').textContent(),
    ).toBe(String(EXPECTED.devices));

    const anomalies = page.locator('[data-chart="anomalies-by-hour"]');
    for (const [source, count] of Object.entries(EXPECTED.anomalies))
      expect(
        await anomalies.locator('.legend li', { hasText: source }).locator('.detail').textContent(),
      ).toBe(`${count} ${count === 1 ? 'anomaly' : 'anomalies'}`);
    // The critical lock alert heads the open anomalies.
    expect(await page.locator('[data-chart="open-anomalies"] tbody tr').first().textContent()).toContain(
      'lock_jammed',
    );
  });

  it('prints markup from the data as text', async () => {
    // Prepare
    const directory = tempDirectory();
    const warehouse = await fixtureWarehouse(join(directory, 'warehouse.duckdb'));

    // Act
    const report = await writeWarehouseReport(
      warehouse.connection,
      join(directory, 'warehouse.html'),
    ).finally(() => warehouse.close());
    const { page, log } = await openReport(report.path);

    // Assess
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('[data-chart="open-anomalies"]').textContent()).toContain(MARKUP_MESSAGE);
    expect(await page.locator('[data-chart="location-rollup"]').textContent()).toContain(MARKUP_SITE_NAME);
    expect(log.requests).toEqual([]);
    expect(log.console).toEqual([]);
  });

  it('shows an empty state for every chart of an empty warehouse', async () => {
    // Prepare
    const directory = tempDirectory();
    const warehouse = await emptyWarehouse(join(directory, 'warehouse.duckdb'));

    // Act
    const report = await writeWarehouseReport(
      warehouse.connection,
      join(directory, 'warehouse.html'),
    ).finally(() => warehouse.close());
    const { page, log } = await openReport(report.path);

    // Assess
    expect(report.charts).toEqual([]);
    for (const id of REPORT_CHART_IDS) {
      const chart = page.locator(`[data-chart="${id}"]`);
      expect(await chart.count(), `chart ${id} on the page`).toBe(1);
      expect(await chart.getAttribute('data-empty'), `${id} is marked empty`).toBe('true');
      expect(await chart.getAttribute('data-points'), `${id} has no data-points`).toBeNull();
      const state = chart.locator('.empty-state');
      expect(await state.isVisible(), `${id} shows its empty state`).toBe(true);
      expect(await state.textContent()).toMatch(/^No data for /);
    }
    expect(await page.locator('svg').count()).toBe(0);
    expect(log.requests).toEqual([]);
    expect(log.console).toEqual([]);
    expect(log.pageErrors).toEqual([]);
    await page.screenshot({ path: join(directory, 'warehouse.png'), fullPage: true });
    expect(readFileSync(join(directory, 'warehouse.png')).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  });
});
