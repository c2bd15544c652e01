/**
 * Nothing lost, nothing doubled, under injected faults (RELIABILITY.md, "Proofs we want"): the twin
 * with its batch stage runs under each fault of the matrix (bench/faults.ts) — S3 `503 SlowDown` at
 * 5 % and 20 %, the validator killed after k writes, Kinesis throttling, an endpoint outage — and on
 * every seed conservation holds, curated telemetry and the warehouse's facts hold no duplicate, and
 * every valid reading reaches them.
 *
 * One seed per fault by default; `SDAP_FAULT_SEEDS=10` widens the run to ten (`npm run bench` runs
 * the same matrix over ten seeds and prints it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_CASES, FAULT_FLEET, type FaultCase, runFaultCase } from '../../bench/faults.ts';
import { runTwin } from '../../local/twin.ts';

const SEED_COUNT = Number(process.env.SDAP_FAULT_SEEDS ?? 1);
if (!Number.isInteger(SEED_COUNT) || SEED_COUNT < 1) {
  throw new Error(`SDAP_FAULT_SEEDS must be a positive integer, got '${process.env.SDAP_FAULT_SEEDS}'`);
}
const SEEDS = Array.from({ length: SEED_COUNT }, (_, i) => i + 1);
/** A run with the batch stage takes 12-30 s on two busy cores. */
const RUN_TIMEOUT_MS = 120_000;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdap-faults-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const byId = (id: string) => FAULT_CASES.find((c) => c.id === id) as FaultCase;

describe('twin: nothing lost, nothing doubled under injected faults', () => {
  for (const faultCase of FAULT_CASES) {
    for (const seed of SEEDS) {
      it(
        `holds with ${faultCase.label} (seed ${seed})`,
        async () => {
          const run = await runFaultCase(
            faultCase,
            seed,
            await mkdtemp(join(dir, `${faultCase.id}-${seed}-`)),
          );

          expect(run.problems, JSON.stringify({ ...run, downstream: undefined })).toEqual([]);
          expect(run.injected).toBeGreaterThan(0);
          expect(run.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
          expect(run.downstream.curated.duplicates).toBe(0);
          expect(run.downstream.curated.rawNotCurated).toBe(0);
          expect(Object.values(run.downstream.warehouse.duplicateKeys).every((n) => n === 0)).toBe(true);
          expect(run.downstream.warehouse.readingsCounted).toBe(run.outcome.valid);
          if (faultCase === byId('handler-crash')) {
            // A crash fails the whole batch: the retry rewrites what the killed invocation wrote.
            expect(run.validator.functionErrors).toBe(run.injected);
          }
          if (faultCase === byId('endpoint-outage')) expect(run.rowsRulesOnly).toBeGreaterThan(0);
        },
        RUN_TIMEOUT_MS,
      );
    }
  }

  it(
    'retries whole records when the SDK gives up, and still loses nothing (half of all calls failing)',
    async () => {
      const summary = await runTwin({
        outDir: await mkdtemp(join(dir, 'half-')),
        shards: 2,
        speed: 0,
        // The streaming path is under test here; the matrix above runs the batch stage.
        batch: false,
        emulatorsInChildProcesses: false,
        // Half the fleet of the matrix: at this rate every batch is retried several times.
        simulation: { ...FAULT_FLEET, devices: 15, seed: 4 },
        inject: { s3PutErrorRate: 0.5, alertErrorRate: 0.5 },
      });
      expect(summary.validator.retries).toBeGreaterThan(0);
      expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
      expect(summary.alerts.injectedCriticalEventsAlerted).toBe(summary.alerts.injectedCriticalEvents);
    },
    RUN_TIMEOUT_MS,
  );
});
