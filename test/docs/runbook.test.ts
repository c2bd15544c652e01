import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ETL_ALARM_IDS } from '../../lib/monitoring/etl-alarms.ts';
import { INGEST_ALARM_IDS, RUNBOOK_PATH } from '../../lib/monitoring/ingest-alarms.ts';
import { MODEL_ENDPOINT_ALARM_IDS } from '../../lib/monitoring/model-endpoint-alarms.ts';
import { REGISTRY_EXPORT_ALARM_IDS } from '../../lib/monitoring/registry-export-alarms.ts';
import { TRAINING_ALARM_IDS } from '../../lib/monitoring/training-alarms.ts';
import { WAREHOUSE_ALARM_IDS } from '../../lib/monitoring/warehouse-alarms.ts';

const ALARM_IDS: readonly string[] = [
  ...INGEST_ALARM_IDS,
  ...ETL_ALARM_IDS,
  ...WAREHOUSE_ALARM_IDS,
  ...REGISTRY_EXPORT_ALARM_IDS,
  ...MODEL_ENDPOINT_ALARM_IDS,
  ...TRAINING_ALARM_IDS,
];

const SECTIONS = ['**What it means.**', '**How to confirm.**', '**What to do.**', '**How to replay.**'];

describe('on-call runbook', () => {
  it('has an entry for every alarm, with what it means, how to confirm, what to do and how to replay', async () => {
    const text = await readFile(RUNBOOK_PATH, 'utf8');
    const entries = new Map(
      text
        .split(/^## /m)
        .slice(1)
        .map((chunk) => [chunk.split('\n')[0]?.trim() ?? '', chunk] as const),
    );
    const missing = ALARM_IDS.filter((id) => !entries.has(id));
    expect(missing, `alarms without a runbook entry in ${RUNBOOK_PATH}`).toEqual([]);
    for (const id of ALARM_IDS) {
      const absent = SECTIONS.filter((section) => !entries.get(id)?.includes(section));
      expect(absent, `runbook entry '${id}' lacks`).toEqual([]);
    }
  });

  it('has no entry for an alarm that does not exist', async () => {
    const text = await readFile(RUNBOOK_PATH, 'utf8');
    const headings = [...text.matchAll(/^## (.+)$/gm)].map((m) => m[1]?.trim());
    expect(headings.filter((h) => h === undefined || !ALARM_IDS.includes(h))).toEqual([]);
  });
});
