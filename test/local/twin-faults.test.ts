/**
 * Nothing lost under transient failures: the twin injects S3 `503 SlowDown` answers on the
 * validator's PUTs and 500s on its alert calls, and conservation must hold on every seed.
 * `SDAP_FAULT_SEEDS=10` widens the run to ten seeds per rate (the RELIABILITY.md proof).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTwin } from '../../local/twin.ts';

const SEEDS = Array.from({ length: Number(process.env.SDAP_FAULT_SEEDS ?? 2) }, (_, i) => i + 1);

async function twinWithFaults(seed: number, s3PutErrorRate: number, alertErrorRate: number) {
  return runTwin({
    outDir: await mkdtemp(join(tmpdir(), `sdap-faults-${seed}-`)),
    shards: 2,
    speed: 0,
    // The streaming path is under test here; the batch stage has its own tests.
    batch: false,
    simulation: {
      devices: 30,
      durationHours: 1,
      seed,
      readingsPerMessage: 2,
      injections: { smoke: 30, water_leak: 30 },
    },
    inject: { s3PutErrorRate, alertErrorRate },
  });
}

describe('twin conservation under injected transient failures', () => {
  for (const rate of [0.05, 0.2]) {
    for (const seed of SEEDS) {
      it(`holds with ${rate * 100} % of S3 PUTs and alert calls failing (seed ${seed})`, async () => {
        const summary = await twinWithFaults(seed, rate, rate);
        expect(
          summary.injected.s3PutErrors,
          JSON.stringify({ ...summary.published, ...summary.validator }),
        ).toBeGreaterThan(0);
        expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
      }, 120_000);
    }
  }

  it('retries whole records when the SDK gives up, and still loses nothing (half of all calls failing)', async () => {
    const summary = await twinWithFaults(4, 0.5, 0.5);
    expect(summary.validator.retries).toBeGreaterThan(0);
    expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
    expect(summary.alerts.injectedCriticalEventsAlerted).toBe(summary.alerts.injectedCriticalEvents);
  }, 180_000);
});
