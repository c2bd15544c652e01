/**
 * `sdap replay` on a twin output: the rebuild of a range from the raw zone leaves every curated
 * table and warehouse table with the checksum it had (idempotency), and names what changed when
 * the raw zone did.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { listKeys } from '../../local/etl/lake-io.ts';
import { startS3StandIn } from '../../local/s3-stand-in.ts';
import { runTwin, type TwinSummary } from '../../local/twin.ts';
import { TWIN_BUCKETS } from '../../local/twin-pipeline.ts';
import { type TwinReplay, twinReplayCommand } from '../../local/twin-replay.ts';

async function replay(args: string[]): Promise<{ code: number; replay?: TwinReplay; errors: string[] }> {
  const lines: string[] = [];
  const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    const code = await twinReplayCommand([...args, '--json'], (line) => lines.push(line));
    const errors = error.mock.calls.map((call) => String(call[0]));
    return lines.length > 0 ? { code, replay: JSON.parse(lines.join('\n')), errors } : { code, errors };
  } finally {
    error.mockRestore();
  }
}

const wholeHour = (iso: string) => new Date(iso).toISOString().replace('.000Z', 'Z');

describe('sdap replay over a twin output', () => {
  let outDir: string;
  let twin: TwinSummary;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'sdap-twin-replay-'));
    twin = await runTwin({
      outDir,
      shards: 1,
      speed: 0,
      simulation: { devices: 12, durationHours: 2, seed: 11, readingsPerMessage: 4 },
    });
  }, 120_000);

  it('leaves every curated table, the predictions and every warehouse table with the same checksum', async () => {
    const { code, replay: result } = await replay(['--out', outDir, '--check']);

    const outputs = result?.outputs ?? [];
    expect(outputs.filter((o) => o.changed).map((o) => o.output)).toEqual([]);
    expect(code).toBe(0);
    expect(result?.batch.window).toEqual(twin.batch?.window);
    expect(outputs.map((o) => o.output)).toEqual(
      expect.arrayContaining([
        'lake/curated_telemetry',
        'lake/predictions',
        'warehouse/fact_telemetry_hourly',
        'warehouse/fact_prediction',
      ]),
    );
    expect(outputs.filter((o) => o.changed).map((o) => o.output)).toEqual([]);
    const facts = outputs.find((o) => o.output === 'warehouse/fact_telemetry_hourly');
    expect(facts?.after?.count).toBe(twin.warehouse?.rows.fact_telemetry_hourly);
    expect(facts?.after?.count).toBeGreaterThan(0);
  }, 90_000);

  it('rebuilds only the requested hour, and changes nothing either', async () => {
    const hour = wholeHour(twin.batch?.window?.from ?? '');

    const { code, replay: result } = await replay(['--out', outDir, '--from', hour, '--check']);

    expect((result?.outputs ?? []).filter((o) => o.changed).map((o) => o.output)).toEqual([]);
    expect(code).toBe(0);
    expect(result?.batch.hoursProcessed).toBe(1);
  }, 90_000);

  it('names the outputs that changed when the raw zone did, and fails --check', async () => {
    // One raw telemetry object gone (as if it had been erased): the hour it held must come out different.
    const stand = await startS3StandIn({
      buckets: Object.values(TWIN_BUCKETS),
      directory: join(outDir, 'lake'),
    });
    try {
      const s3 = createValidatorClients(stand.clientOverrides).s3;
      const [first] = (await listKeys(s3, TWIN_BUCKETS.raw, 'telemetry/')).sort();
      await s3.send(new DeleteObjectCommand({ Bucket: TWIN_BUCKETS.raw, Key: first }));
    } finally {
      await stand.close();
    }

    const { code, replay: result, errors } = await replay(['--out', outDir, '--check']);

    expect(code).toBe(1);
    const changed = (result?.outputs ?? []).filter((o) => o.changed).map((o) => o.output);
    expect(changed).toEqual(
      expect.arrayContaining(['lake/curated_telemetry', 'warehouse/fact_telemetry_hourly']),
    );
    expect(errors.join('\n')).toMatch(
      /sdap replay --check: \d+ output\(s\) changed over the replay: .*lake\/curated_telemetry/,
    );
  }, 90_000);

  it('fails when --to is given without --from, naming the flag', async () => {
    const { code, errors } = await replay(['--out', outDir, '--to', '2026-11-27T10:00:00Z']);

    expect(code).toBe(2);
    expect(errors[0]).toContain("--to: received '2026-11-27T10:00:00Z' without --from");
  });

  it('fails when there is no twin lake, naming the directory and what to do', async () => {
    const { code, errors } = await replay(['--out', join(outDir, 'nothing-here')]);

    expect(code).toBe(2);
    expect(errors[0]).toMatch(/nothing-here: no twin lake there .*run sdap twin first/);
  });
});
