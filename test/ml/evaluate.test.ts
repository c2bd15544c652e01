import { describe, expect, it } from 'vitest';
import { evaluateAnomaly, evaluateEnergy, evaluateFailure, type ScoredRow } from '../../ml/evaluate.ts';
import { meetsTarget, passesGate } from '../../ml/quality-targets.ts';

const row = (deviceId: string, time: string, label: number, score: number, baseline: number): ScoredRow => ({
  deviceId,
  time,
  label,
  score,
  baseline,
});

describe('evaluateAnomaly', () => {
  it('puts the model at its threshold next to the rules-only detector on the same readings', () => {
    // Prepare: the model finds 3 of 4 anomalies with one false alarm; the rules find 1 with none.
    const rows = [
      row('d1', 't1', 1, 0.9, 1),
      row('d1', 't2', 1, 0.8, 0),
      row('d1', 't3', 1, 0.7, 0),
      row('d1', 't4', 1, 0.2, 0),
      row('d2', 't1', 0, 0.6, 0),
      row('d2', 't2', 0, 0.1, 0),
    ];

    // Act
    const quality = evaluateAnomaly(rows, 0.5);

    // Assess
    expect(quality).toMatchObject({ rows: 6, positives: 4, threshold: 0.5 });
    expect(quality.model.precision).toBeCloseTo(0.75, 12);
    expect(quality.model.recall).toBeCloseTo(0.75, 12);
    expect(quality.rulesOnly).toEqual({ precision: 1, recall: 0.25, f1: 0.4 });
    expect(quality.targetMet).toBe(false); // F1 0.75 < 0.80
  });
});

describe('evaluateFailure', () => {
  it('ranks devices by their riskiest hour and measures the warning lead time to the failure', () => {
    // Prepare: d1 fails at 12:00 and is warned at the end of its 08:00 hour (09:00): 3 h ahead.
    const rows = [
      row('d1', '2026-01-01T07:00:00.000Z', 1, 0.45, 0),
      row('d1', '2026-01-01T08:00:00.000Z', 1, 0.7, 0),
      row('d1', '2026-01-01T09:00:00.000Z', 1, 0.9, 1),
      row('d2', '2026-01-01T07:00:00.000Z', 0, 0.2, 1),
      row('d2', '2026-01-01T08:00:00.000Z', 0, 0.4, 0),
      row('d3', '2026-01-01T08:00:00.000Z', 0, 0.1, 0),
    ];
    const failures = new Map([['d1', '2026-01-01T12:00:00.000Z']]);

    // Act
    const quality = evaluateFailure(rows, failures, 0.5);

    // Assess: every positive hour outscores every negative one.
    expect(quality.model.rocAuc).toBe(1);
    expect(quality).toMatchObject({
      devices: 3,
      failedDevices: 1,
      k: 1,
      deviceHours: 6,
      positiveDeviceHours: 3,
    });
    expect(quality.model.precisionAtK).toBe(1);
    expect(quality.model.medianLeadTimeHours).toBe(3);
    expect(quality.model.failuresWarned).toBe(1);
    // Rules: d1 and d2 both raised an alert in some hour; the first in position wins the tie.
    expect(quality.rulesOnly.precisionAtK).toBe(1);
    expect(quality.targetMet).toBe(true);
  });
});

describe('evaluateEnergy', () => {
  it('sums hourly forecasts into thermostat-days and site-days of the forecast day and compares MAPE with seasonal-naive', () => {
    // Prepare: two thermostats of one site forecasting all 24 hours of 2026-01-02, and a third
    // with only two of its hours (a partial day: left out).
    const day = (device: string, label: number, score: number, baseline: number) =>
      Array.from({ length: 24 }, (_, h) =>
        row(
          device,
          `2026-01-01T${String(h).padStart(2, '0')}:00:00.000Z`,
          label / 24,
          score / 24,
          baseline / 24,
        ),
      );
    const rows = [
      ...day('t1', 100, 100, 80),
      ...day('t2', 100, 90, 200),
      row('t3', '2026-01-01T10:00:00.000Z', 1, 50, 1),
      row('t3', '2026-01-01T11:00:00.000Z', 1, 50, 1),
    ];

    // Act
    const quality = evaluateEnergy(rows, () => 'site-1');

    // Assess: t1 100 vs 100 (0 %), t2 100 vs 90 (10 %): 5 %; naive t1 80 (20 %), t2 200 (100 %): 60 %.
    expect(quality).toMatchObject({ thermostatHours: 50, completeThermostatHours: 48 });
    expect(quality.thermostatDays.pairs).toBe(2);
    expect(quality.thermostatDays.model).toBeCloseTo(5, 10);
    expect(quality.thermostatDays.seasonalNaive).toBeCloseTo(60, 10);
    // The site: 200 actual, 190 forecast (5 %), 280 naive (40 %).
    expect(quality.siteDays).toMatchObject({ pairs: 1 });
    expect(quality.siteDays.model).toBeCloseTo(5, 10);
    expect(quality.siteDays.seasonalNaive).toBeCloseTo(40, 10);
    expect(quality.targetMet).toBe(true);
  });
});

describe('quality targets and the gate', () => {
  it('needs anomaly F1 >= 0.80 and above rules-only', () => {
    expect(meetsTarget('anomaly', 0.85, 0.4)).toBe(true);
    expect(meetsTarget('anomaly', 0.79, 0.4)).toBe(false);
    expect(meetsTarget('anomaly', 0.85, 0.9)).toBe(false);
  });

  it('needs energy MAPE below seasonal-naive', () => {
    expect(meetsTarget('energy', 9, 12)).toBe(true);
    expect(meetsTarget('energy', 13, 12)).toBe(false);
  });

  it('refuses a candidate that falls behind the champion by more than the tolerance', () => {
    expect(passesGate('failure', 0.9, 0.905)).toBe(true);
    expect(passesGate('failure', 0.9, 0.95)).toBe(false);
    expect(passesGate('energy', 10.5, 10)).toBe(true);
    expect(passesGate('energy', 12, 10)).toBe(false);
    expect(passesGate('failure', 0.8, undefined)).toBe(false);
    expect(passesGate('failure', 0.9, undefined)).toBe(true);
  });
});
