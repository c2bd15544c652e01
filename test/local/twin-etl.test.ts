/**
 * `sdap etl` on a twin's output: the batch stage rerun over the lake a twin run left, replacing the
 * hours' curated output with the same bytes.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { BatchSummary } from '../../local/etl/batch-stage.ts';
import { runTwin, type TwinSummary } from '../../local/twin.ts';
import { twinEtlCommand } from '../../local/twin-etl.ts';

async function rerun(args: string[]): Promise<{ code: number; summary?: BatchSummary }> {
  const lines: string[] = [];
  const code = await twinEtlCommand([...args, '--json'], (line) => lines.push(line));
  return code === 0 ? { code, summary: JSON.parse(lines.join('\n')) } : { code };
}

describe('sdap etl over a twin output', () => {
  let outDir: string;
  let twin: TwinSummary;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'sdap-twin-etl-'));
    twin = await runTwin({
      outDir,
      shards: 1,
      speed: 0,
      simulation: { devices: 12, durationHours: 2, seed: 5, readingsPerMessage: 4 },
    });
  }, 120_000);

  it('rebuilds every hour of the lake with the same output as the twin run', async () => {
    const { code, summary } = await rerun(['--out', outDir]);

    expect(code).toBe(0);
    expect(summary?.window).toEqual(twin.batch?.window);
    expect(summary?.outputChecksum).toBe(twin.batch?.outputChecksum);
    expect(summary?.curatedRows).toBe(twin.outcome.valid);
  }, 60_000);

  it("scores the rebuilt hours with the committed failure model, as the twin's batch stage did, into the warehouse", async () => {
    const { code, summary } = await rerun(['--out', outDir]);

    expect(code).toBe(0);
    expect(twin.batch?.predictions).toMatchObject({ status: 'written', model: { name: 'failure' } });
    const written = twin.batch?.predictions?.status === 'written' ? twin.batch.predictions : undefined;
    expect(written?.rowsScored).toBeGreaterThan(0);
    expect(twin.warehouse?.rows.fact_prediction).toBe(written?.rowsScored);
    expect(summary?.predictions).toEqual({ ...written });
    expect(
      (summary as { warehouse?: { rows: Record<string, number> } }).warehouse?.rows.fact_prediction,
    ).toBe(written?.rowsScored);
  }, 60_000);

  it('rebuilds only the requested hour', async () => {
    const from = twin.batch?.window?.from ?? '';
    const hour = new Date(from).toISOString().replace('.000Z', 'Z');

    const { code, summary } = await rerun(['--out', outDir, '--from', hour]);

    expect(code).toBe(0);
    expect(summary?.hoursProcessed).toBe(1);
    expect(summary?.curatedRows).toBeLessThan(twin.outcome.valid);
  }, 60_000);

  it('fails when there is no twin lake, naming the directory and what to do', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);

    const { code } = await rerun(['--out', join(outDir, 'nothing-here')]);

    expect(code).toBe(2);
    expect(error.mock.calls[0]?.[0]).toMatch(/nothing-here: no twin lake there .*run sdap twin first/);
    error.mockRestore();
  });

  it('fails when --to is given without --from', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);

    const { code } = await rerun(['--out', outDir, '--to', '2026-11-27T10:00:00Z']);

    expect(code).toBe(2);
    expect(error.mock.calls[0]?.[0]).toContain("--to: received '2026-11-27T10:00:00Z' without --from");
    error.mockRestore();
  });
});
