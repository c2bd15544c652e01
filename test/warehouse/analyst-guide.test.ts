/** The analyst guide matches the spec, and every example question's SQL runs. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANALYST_GUIDE_PATH, renderAnalystGuide } from '../../warehouse/analyst-guide.ts';
import { applyMigrations } from '../../warehouse/migration-runner.ts';
import { migrationPlan } from '../../warehouse/migrations.ts';
import { WAREHOUSE_TABLES } from '../../warehouse/tables.ts';
import { WAREHOUSE_VIEWS } from '../../warehouse/views.ts';
import { type Engine, openDuckDb, openPglite } from './engines.ts';

describe('the analyst guide', () => {
  it('is the one the spec renders (run npm run analyst-guide when this fails)', () => {
    expect(readFileSync(ANALYST_GUIDE_PATH, 'utf8')).toBe(renderAnalystGuide());
  });

  it('documents every table, view and column', () => {
    const guide = renderAnalystGuide();
    for (const object of [...WAREHOUSE_TABLES, ...WAREHOUSE_VIEWS]) {
      expect(guide).toContain(`### \`analytics.${object.name}\``);
      for (const column of object.columns) expect(guide).toContain(`| \`${column.name}\``);
    }
  });
});

describe.each([
  ['DuckDB', () => openDuckDb()],
  ['PostgreSQL (PGlite)', openPglite],
])('the example questions in %s', (_name, open) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await open();
    await applyMigrations(engine.executor, migrationPlan(engine.dialect));
  }, 60_000);
  afterAll(async () => engine?.close());

  it('run as written', async () => {
    for (const view of WAREHOUSE_VIEWS)
      for (const example of view.examples)
        await expect(engine.executor.query(example.sql), example.question).resolves.toBeDefined();
  });
});
