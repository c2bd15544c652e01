import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALERT_THRESHOLDS, evaluateAlerts } from '../../lambdas/shared/anomaly-rules.ts';
import type { Reading } from '../../lambdas/shared/contract.ts';
import { type GroundTruthRecord, INJECTION_KINDS, writeGroundTruth } from '../../simulator/injections.ts';
import { NO_FAULTS, NO_INJECTIONS, type Run, run, timeOf } from './collect.ts';

/** Rates raised above the defaults where a kind is rare, so that every kind is labelled several times. */
const OPTIONS = {
  seed: 3,
  devices: 80,
  durationHours: 20,
  faults: NO_FAULTS,
  injections: {
    drift: 0.6,
    smoke: 3,
    water_leak: 3,
    hvac_degradation: 0.6,
    camera_degradation: 0.5,
    battery_degradation: 0.3,
  },
} as const;
const injected = run(OPTIONS);
const clean = run({ ...OPTIONS, injections: NO_INJECTIONS });
const truth = injected.sim.groundTruth();
const runStartMs = injected.sim.startMs;
const runEndMs = injected.sim.endMs;

const ms = (iso: string) => Date.parse(iso);
const inSpan = (record: GroundTruthRecord, t: number) => ms(record.start) <= t && t <= ms(record.end);
const readingsIn = (record: GroundTruthRecord) =>
  (injected.byDevice.get(record.deviceId) ?? []).filter((r) => inSpan(record, timeOf(r)));
const cleanById = new Map([...clean.byDevice.values()].flat().map((r) => [r.eventId, r]));
const recordsOf = (kind: GroundTruthRecord['kind']) => truth.filter((record) => record.kind === kind);
const alertsOf = (readings: readonly Reading[]) =>
  new Set(readings.flatMap((r) => evaluateAlerts(r).map((a) => a.rule)));
const numberAt = (reading: Reading | undefined, field: string) =>
  (reading as unknown as Record<string, number> | undefined)?.[field] ?? Number.NaN;

/**
 * What contradicts the labels of a run, compared with the same run without injections: a reading
 * outside every span that differs, a reading after a failure that was sent, a label whose span
 * changes nothing.
 */
function labelProblems(withInjections: Run, withoutInjections: Run): string[] {
  const labels = withInjections.sim.groundTruth();
  const sent = new Map([...withInjections.byDevice.values()].flat().map((r) => [r.eventId, r]));
  const changed = new Set<GroundTruthRecord>();
  const problems: string[] = [];
  for (const [deviceId, readings] of withoutInjections.byDevice) {
    const records = labels.filter((r) => r.deviceId === deviceId);
    const silentFrom = Math.min(
      ...records
        .filter((r) => r.failureAt && r.kind !== 'hvac_degradation')
        .map((r) => ms(r.failureAt as string)),
    );
    for (const expected of readings) {
      const t = timeOf(expected);
      const actual = sent.get(expected.eventId);
      const covering = records.filter((r) => inSpan(r, t));
      const same = JSON.stringify(actual) === JSON.stringify(expected);
      if (t >= silentFrom) {
        if (actual) problems.push(`${deviceId} sent ${expected.timestamp} after failing`);
      } else if (covering.length === 0) {
        if (!same) problems.push(`${deviceId} ${expected.timestamp} altered outside every label`);
      } else if (!same) {
        for (const record of covering) changed.add(record);
      }
    }
  }
  for (const record of labels) {
    if (!changed.has(record))
      problems.push(`${record.kind} of ${record.deviceId} at ${record.start} changes nothing`);
  }
  return problems;
}

/** Alerts raised by readings outside every label of their device. */
function unlabelledAlerts(result: Run): string[] {
  const labels = result.sim.groundTruth();
  return [...result.byDevice].flatMap(([deviceId, readings]) => {
    const records = labels.filter((r) => r.deviceId === deviceId);
    const unlabelled = readings.filter((r) => !records.some((record) => inSpan(record, timeOf(r))));
    return [...alertsOf(unlabelled)].map((rule) => `${rule} on ${deviceId}`);
  });
}

describe('ground truth', () => {
  it('labels every kind, with ISO spans inside the run and a failure time for each degradation', () => {
    expect(new Set(truth.map((r) => r.kind))).toEqual(new Set(INJECTION_KINDS));
    for (const record of truth) {
      expect(new Date(ms(record.start)).toISOString()).toBe(record.start);
      expect(ms(record.start)).toBeGreaterThanOrEqual(runStartMs);
      expect(ms(record.end)).toBeGreaterThanOrEqual(ms(record.start));
      expect(ms(record.end)).toBeLessThan(runEndMs);
      expect(record.failureAt !== undefined).toBe(record.kind.endsWith('_degradation'));
      if (record.failureAt) expect(ms(record.failureAt)).toBeLessThanOrEqual(runEndMs);
    }
    expect(injected.sim.summary().injections.smoke).toBe(recordsOf('smoke').length);
  });

  it('marks exactly the readings it alters: outside the spans, readings equal those of a run without injections', () => {
    expect(labelProblems(injected, clean)).toEqual([]);
  });

  it('keeps labels exact and alerts labelled for other seeds, sizes and batching', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 20, max: 60 }),
        fc.constantFrom(1, 7),
        (seed, devices, readingsPerMessage) => {
          const options = { seed, devices, readingsPerMessage, durationHours: 6, faults: NO_FAULTS };
          const withInjections = run(options);
          expect(labelProblems(withInjections, run({ ...options, injections: NO_INJECTIONS }))).toEqual([]);
          expect(unlabelledAlerts(withInjections)).toEqual([]);
        },
      ),
      // Each run is a whole simulation: report the first counterexample rather than shrink it.
      { numRuns: 3, endOnFailure: true },
    );
  });

  it('writes ground-truth.ndjson', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sdap-truth-'));
    try {
      const path = await writeGroundTruth(truth, directory);
      expect(path).toBe(join(directory, 'ground-truth.ndjson'));
      const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
      expect(lines.map((line) => JSON.parse(line))).toEqual(truth);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('injected events', () => {
  it('reports smoke and leaks as 1 within their span, and 0 everywhere else', () => {
    for (const kind of ['smoke', 'water_leak'] as const) {
      const records = recordsOf(kind);
      expect(records.length).toBeGreaterThan(0);
      for (const record of records) {
        const inside = readingsIn(record);
        expect(inside.length).toBeGreaterThan(0);
        expect(inside.every((r) => r.deviceType === 'sensor' && r.sensorKind === kind && r.value === 1)).toBe(
          true,
        );
      }
      for (const [deviceId, readings] of injected.byDevice) {
        const spans = records.filter((r) => r.deviceId === deviceId);
        for (const r of readings) {
          if (
            r.deviceType === 'sensor' &&
            r.sensorKind === kind &&
            !spans.some((s) => inSpan(s, timeOf(r)))
          ) {
            expect(r.value).toBe(0);
          }
        }
      }
    }
  });

  it('fires the alert each label expects, within its span', () => {
    const expecting = truth.filter((record) => record.details.expectedAlert !== undefined);
    expect(expecting.length).toBeGreaterThan(0);
    for (const record of expecting) {
      expect([record.kind, alertsOf(readingsIn(record)).has(record.details.expectedAlert as never)]).toEqual([
        record.kind,
        true,
      ]);
    }
  });

  it('reports a burst of failed unlocks at or above the alert threshold in the report that ends it', () => {
    for (const record of recordsOf('failed_unlock_burst')) {
      const inside = readingsIn(record);
      const report = inside.find((r) => timeOf(r) === ms(record.end));
      expect(report?.deviceType).toBe('smart_lock');
      if (report?.deviceType !== 'smart_lock') continue;
      expect(report.failedAttempts).toBeGreaterThanOrEqual(record.details.attempts as number);
      expect(report.failedAttempts).toBeGreaterThanOrEqual(ALERT_THRESHOLDS.failedUnlockBurst);
      // The burst happened between two reports: no earlier report inside the span.
      expect(inside).toEqual([report]);
    }
  });

  it('reports a jammed lock for its whole span', () => {
    for (const record of recordsOf('lock_jammed')) {
      const inside = readingsIn(record);
      expect(inside.length).toBeGreaterThan(0);
      expect(inside.every((r) => r.deviceType === 'smart_lock' && r.lockState === 'jammed')).toBe(true);
    }
  });

  it('sends nothing during a dropout, leaving a gap in seq of the readings lost', () => {
    for (const record of recordsOf('dropout')) {
      expect(readingsIn(record)).toEqual([]);
      const readings = injected.byDevice.get(record.deviceId) ?? [];
      const before = readings.filter((r) => timeOf(r) < ms(record.start)).at(-1);
      const after = readings.find((r) => timeOf(r) > ms(record.end));
      if (before && after) expect(after.seq - before.seq - 1).toBe(record.details.readingsLost);
    }
  });

  it('spikes one reading, repeats one value while stuck, and drifts linearly away', () => {
    for (const record of recordsOf('spike')) {
      const [spiked] = readingsIn(record);
      expect(timeOf(spiked as Reading)).toBe(ms(record.start));
      const field = record.details.field as string;
      expect(numberAt(spiked, field)).not.toBe(numberAt(cleanById.get(spiked?.eventId ?? ''), field));
    }
    for (const record of recordsOf('stuck')) {
      const inside = readingsIn(record);
      expect(inside.length).toBeGreaterThan(1);
      for (const field of record.details.fields as string[]) {
        expect(new Set(inside.map((r) => numberAt(r, field))).size).toBe(1);
      }
    }
    for (const record of recordsOf('drift')) {
      const field = record.details.field as string;
      const last = readingsIn(record).at(-1) as Reading;
      const progress = (timeOf(last) - ms(record.start)) / (ms(record.end) - ms(record.start));
      const offset = numberAt(last, field) - numberAt(cleanById.get(last.eventId), field);
      expect(Math.abs(offset - (record.details.driftAtEnd as number) * progress)).toBeLessThan(0.2);
    }
  });
});

describe('degradation to failure', () => {
  it('makes the HVAC draw ever more power for the same temperature gap, then deliver nothing', () => {
    const records = recordsOf('hvac_degradation');
    expect(records.length).toBeGreaterThan(0);
    let observed = 0;
    for (const record of records) {
      const start = ms(record.start);
      const failure = ms(record.failureAt as string);
      // Before the failure the room is the same as in the clean run, so the ratio of the two powers
      // is the extra power drawn for the very same indoor/outdoor gap.
      const ratios = readingsIn(record).flatMap((r) => {
        const before = cleanById.get(r.eventId);
        if (r.deviceType !== 'thermostat' || before?.deviceType !== 'thermostat' || timeOf(r) >= failure)
          return [];
        return before.hvacPowerW > 0
          ? [{ u: (timeOf(r) - start) / (failure - start), ratio: r.hvacPowerW / before.hvacPowerW }]
          : [];
      });
      const early = ratios.filter((x) => x.u < 0.25);
      const late = ratios.filter((x) => x.u > 0.75);
      if (early.length > 0 && late.length > 0) {
        observed++;
        const mean = (xs: typeof ratios) => xs.reduce((a, x) => a + x.ratio, 0) / xs.length;
        expect(mean(late)).toBeGreaterThan(mean(early) + 0.2);
        expect(Math.max(...late.map((x) => x.ratio))).toBeLessThanOrEqual(
          (record.details.powerFactorAtFailure as number) + 0.01,
        );
      }
      const afterFailure = (injected.byDevice.get(record.deviceId) ?? []).filter((r) => timeOf(r) >= failure);
      expect(afterFailure.length).toBeGreaterThan(0);
      for (const r of afterFailure) {
        if (r.deviceType === 'thermostat' && r.hvacMode !== 'fan') expect(r.hvacPowerW).toBe(0);
      }
    }
    expect(observed).toBeGreaterThan(0);
  });

  it('heats a failing camera past the overheating threshold, reboots it ever more often, then silences it', () => {
    const records = recordsOf('camera_degradation');
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      const inside = readingsIn(record).filter((r) => r.deviceType === 'camera');
      const drops = inside.slice(1).filter((r, i) => r.uptimeS < (inside[i]?.uptimeS ?? 0)).length;
      expect(drops).toBe((record.details.reboots as string[]).length);
      const last = inside.at(-1);
      expect(last?.deviceType === 'camera' && last.cpuTemperatureC).toBeGreaterThan(
        ALERT_THRESHOLDS.cameraOverheatC,
      );
      const all = injected.byDevice.get(record.deviceId) ?? [];
      expect(all.filter((r) => timeOf(r) >= ms(record.failureAt as string))).toEqual([]);
    }
  });

  it('drains a failing battery ever faster to empty, then silences the device', () => {
    const records = recordsOf('battery_degradation');
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      const battery = readingsIn(record).map((r) =>
        r.deviceType === 'sensor' || r.deviceType === 'smart_lock' ? r.batteryPct : 0,
      );
      expect(battery.at(-1)).toBeLessThan(ALERT_THRESHOLDS.lowBatteryPct);
      const half = Math.floor(battery.length / 2);
      const dropFirstHalf = (battery[0] ?? 0) - (battery[half] ?? 0);
      const dropSecondHalf = (battery[half] ?? 0) - (battery.at(-1) ?? 0);
      expect(dropSecondHalf).toBeGreaterThan(dropFirstHalf);
      const all = injected.byDevice.get(record.deviceId) ?? [];
      expect(all.filter((r) => timeOf(r) >= ms(record.failureAt as string))).toEqual([]);
    }
  });
});

describe('alerts', () => {
  it('come only from labelled injections', () => {
    expect(unlabelledAlerts(injected)).toEqual([]);
  });
});
