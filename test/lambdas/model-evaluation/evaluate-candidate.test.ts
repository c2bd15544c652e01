/**
 * The evaluation of a candidate, pure: the hold-out keys and the batch transform outputs as lines,
 * each model's metric (ml/metrics.ts) for candidate, champion and baseline, and the gate
 * (ml/quality-targets.ts). Malformed or out-of-step outputs fail naming the object and the line.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DECISION_THRESHOLD,
  decisionThreshold,
  evaluateCandidate,
  type HoldoutSources,
  ModelEvaluationError,
} from '../../../lambdas/model-evaluation/evaluate-candidate.ts';
import { featureNames, loadModelSpec, type ModelName } from '../../../ml/model-spec.ts';
import { CHAMPION_TOLERANCE, QUALITY_TARGETS } from '../../../ml/quality-targets.ts';

const spec = loadModelSpec();
const KEYS = 's3://artifacts/training/run-1/m/holdout-keys/holdout-keys.csv';
const CANDIDATE = 's3://artifacts/training/run-1/m/scores/candidate/holdout.csv.out';
const CHAMPION = 's3://artifacts/training/run-1/m/scores/champion/holdout.csv.out';
const HOLDOUT = 's3://artifacts/training/run-1/m/holdout/holdout.csv';

/** The hold-out keys of `labels`, one device, hourly from 2026-11-23T00:00Z. */
function keyLines(labels: readonly number[], devices = ['thermostat-1']): string[] {
  return labels.map((label, i) => {
    const device = devices[i % devices.length];
    const hour = new Date(Date.parse('2026-11-23T00:00:00Z') + Math.floor(i / devices.length) * 3_600_000);
    return `${device},${hour.toISOString()},${label.toFixed(1)}`;
  });
}

/** A transform output joined to its input's label, as batch transform writes it. */
const scoreLines = (labels: readonly number[], scores: readonly number[]) =>
  labels.map((label, i) => `${label.toFixed(1)},${scores[i]}`);

function sources(
  labels: readonly number[],
  candidate: readonly number[],
  champion?: readonly number[],
): HoldoutSources {
  return {
    keys: { name: KEYS, lines: keyLines(labels) },
    candidate: { name: CANDIDATE, lines: scoreLines(labels, candidate) },
    ...(champion && { champion: { name: CHAMPION, lines: scoreLines(labels, champion) } }),
  };
}

const evaluate = (model: ModelName, holdout: HoldoutSources) =>
  evaluateCandidate(model, spec.models[model], holdout);

/** 10 positives then 90 negatives. */
const LABELS = [...Array(10).fill(1), ...Array(90).fill(0)];
/** Scores that find `hits` of the 10 positives (0.9) and mark `falseAlarms` negatives (0.8). */
function scoresFinding(hits: number, falseAlarms: number): number[] {
  return LABELS.map((label, i) => (label === 1 ? (i < hits ? 0.9 : 0.1) : i - 10 < falseAlarms ? 0.8 : 0.05));
}

describe('evaluateCandidate', () => {
  describe('the anomaly model (F1 at its decision threshold)', () => {
    it('fails a candidate that meets the target but falls more than the tolerance behind the champion', async () => {
      // Prepare: candidate 9 of 10, 1 false alarm (F1 0.9); champion 9 of 10, no false alarm (F1 ~0.947).
      const holdout = sources(LABELS, scoresFinding(9, 1), scoresFinding(9, 0));

      // Act
      const evaluation = await evaluate('anomaly', holdout);

      // Assess
      expect(evaluation).toMatchObject({
        model: 'anomaly',
        metric: 'f1',
        rows: 100,
        positives: 10,
        decisionThreshold: DEFAULT_DECISION_THRESHOLD,
        passed: false,
      });
      expect(evaluation.candidate).toBeCloseTo(0.9, 10);
      expect(evaluation.champion).toBeCloseTo(18 / 19, 10);
      expect(evaluation.reason).toBe(
        "the candidate's F1 0.9 falls more than 0.01 behind the champion's 0.9474",
      );
    });

    it('passes when the candidate matches the champion', async () => {
      // Act
      const evaluation = await evaluate('anomaly', sources(LABELS, scoresFinding(9, 1), scoresFinding(9, 1)));

      // Assess
      expect(evaluation.passed).toBe(true);
      expect(evaluation.reason).toBe(
        "the candidate's F1 0.9 meets the target >= 0.8, stays within 0.01 of the champion's 0.9",
      );
      expect(evaluation.details.candidate).toMatchObject({
        truePositives: 9,
        falsePositives: 1,
        falseNegatives: 1,
      });
    });

    it('fails a candidate below the target, whatever the champion', async () => {
      // Act: 6 of 10 found, 2 false alarms: F1 = 12 / 18.
      const evaluation = await evaluate('anomaly', sources(LABELS, scoresFinding(6, 2), scoresFinding(3, 5)));

      // Assess
      expect(evaluation.passed).toBe(false);
      expect(evaluation.candidate).toBeCloseTo(2 / 3, 10);
      expect(evaluation.reason).toBe("the candidate's F1 0.6667 misses the target >= 0.8");
    });

    it('judges a candidate alone when the endpoint has no champion yet', async () => {
      // Act
      const evaluation = await evaluate('anomaly', sources(LABELS, scoresFinding(10, 0)));

      // Assess
      expect(evaluation).toMatchObject({ candidate: 1, champion: null, passed: true });
      expect(evaluation.details.champion).toBeNull();
      expect(evaluation.reason).toBe(
        "the candidate's F1 1 meets the target >= 0.8, has no champion to compare with",
      );
    });

    it("uses the model's own threshold when models.json gives one", async () => {
      // Prepare: scores of 0.3 for every positive, 0.2 for every negative.
      const definition = { ...spec.models.anomaly, threshold: 0.25 } as typeof spec.models.anomaly;
      const scores = LABELS.map((label) => (label === 1 ? 0.3 : 0.2));

      // Act
      const evaluation = await evaluateCandidate('anomaly', definition, sources(LABELS, scores));

      // Assess
      expect(decisionThreshold(definition)).toBe(0.25);
      expect(decisionThreshold(spec.models.failure)).toBe(DEFAULT_DECISION_THRESHOLD);
      expect(evaluation).toMatchObject({ decisionThreshold: 0.25, candidate: 1, passed: true });
    });
  });

  describe('the failure model (ROC-AUC)', () => {
    it('ranks failures above healthy hours and reports the precision among as many top scores', async () => {
      // Prepare: every positive above every negative but one.
      const scores = LABELS.map((label, i) => (label === 1 ? 0.5 + i / 100 : i === 99 ? 0.95 : 0.1));

      // Act
      const evaluation = await evaluate('failure', sources(LABELS, scores));

      // Assess
      expect(evaluation.metric).toBe('rocAuc');
      expect(evaluation.candidate).toBeCloseTo(1 - 10 / 900, 10);
      expect(evaluation.details.candidate).toEqual({
        rocAuc: evaluation.candidate,
        precisionAtK: 0.9,
        k: 10,
      });
      expect(evaluation.passed).toBe(true);
    });

    it('fails a hold-out without a failure: ROC-AUC is undefined', async () => {
      // Act
      const evaluation = await evaluate('failure', sources(Array(5).fill(0), [0.1, 0.2, 0.3, 0.4, 0.5]));

      // Assess
      expect(evaluation).toMatchObject({ candidate: null, passed: false, positives: 0 });
      expect(evaluation.reason).toBe(
        "the candidate's ROC-AUC is undefined on the hold-out (it needs positive and negative labels)",
      );
    });
  });

  describe('the energy model (MAPE of device-day totals, against seasonal-naive)', () => {
    const features = featureNames(spec.models.energy);
    const energyColumn = 1 + features.indexOf('energy_wh');
    /** Two thermostats, 48 hours each (two forecast days), labels 100 Wh an hour. */
    const labels = Array(96).fill(100);
    const keys = keyLines(labels, ['thermostat-1', 'thermostat-2']);
    const holdoutLines = (seasonalNaive: (i: number) => number | null) =>
      labels.map((label, i) => {
        const row = Array(features.length + 1).fill('');
        row[0] = label.toFixed(1);
        const value = seasonalNaive(i);
        row[energyColumn] = value === null ? '' : String(value);
        return row.join(',');
      });
    const energySources = (
      candidate: number[],
      baseline: (i: number) => number | null,
      champion?: number[],
    ) => ({
      keys: { name: KEYS, lines: keys },
      candidate: { name: CANDIDATE, lines: scoreLines(labels, candidate) },
      ...(champion && { champion: { name: CHAMPION, lines: scoreLines(labels, champion) } }),
      holdout: { name: HOLDOUT, lines: holdoutLines(baseline) },
    });

    it('passes a forecast that beats seasonal-naive on day totals', async () => {
      // Prepare: the candidate is 5 % high; seasonal-naive 20 % low.
      const candidate = labels.map(() => 105);

      // Act
      const evaluation = await evaluate(
        'energy',
        energySources(candidate, () => 80),
      );

      // Assess
      expect(evaluation).toMatchObject({
        metric: 'mape',
        higherIsBetter: false,
        baselineMethod: 'seasonal-naive',
      });
      expect(evaluation.candidate).toBeCloseTo(5, 10);
      expect(evaluation.baseline).toBeCloseTo(20, 10);
      // 2 thermostats x the days their 48 forecast hours fall on (the next day of each hour).
      expect(evaluation.details.candidate).toMatchObject({ deviceDays: 4, zeroActualDays: 0 });
      expect(evaluation.passed).toBe(true);
      expect(evaluation.reason).toBe(
        "the candidate's MAPE 5 beats seasonal-naive (20), has no champion to compare with",
      );
    });

    it('errors in opposite directions within a day cancel in its total', async () => {
      // Act: hourly errors of +-50 %.
      const evaluation = await evaluate(
        'energy',
        energySources(
          labels.map((_, i) => (i % 4 < 2 ? 150 : 50)),
          () => 80,
        ),
      );

      // Assess
      expect(evaluation.candidate).toBeCloseTo(0, 10);
    });

    it('fails a forecast that does not beat seasonal-naive, a missing value forecasting 0 Wh', async () => {
      // Act: seasonal-naive is exact except for missing values in the first four hours.
      const evaluation = await evaluate(
        'energy',
        energySources(
          labels.map(() => 110),
          (i) => (i < 4 ? null : 100),
        ),
      );

      // Assess
      expect(evaluation.candidate).toBeCloseTo(10, 10);
      expect(evaluation.baseline).toBeLessThan(10);
      expect(evaluation.passed).toBe(false);
      expect(evaluation.reason).toMatch(/^the candidate's MAPE 10 does not beat seasonal-naive \(/);
    });

    it(`fails a candidate more than ${CHAMPION_TOLERANCE.mape} point behind the champion`, async () => {
      // Act
      const evaluation = await evaluate(
        'energy',
        energySources(
          labels.map(() => 105),
          () => 80,
          labels.map(() => 103),
        ),
      );

      // Assess
      expect(evaluation.champion).toBeCloseTo(3, 10);
      expect(evaluation.passed).toBe(false);
      expect(evaluation.reason).toBe("the candidate's MAPE 5 falls more than 1 behind the champion's 3");
    });
  });

  describe('its inputs', () => {
    it('fails on a malformed transform output line, naming the object and the line', async () => {
      // Prepare
      const holdout = sources([1, 0, 0], [0.9, 0.1, 0.2]);
      const lines = ['1.0,0.9', 'NaN', '0.0,0.2'];

      // Act & Assess
      await expect(
        evaluate('failure', { ...holdout, candidate: { name: CANDIDATE, lines } }),
      ).rejects.toThrow(
        new ModelEvaluationError(
          `${CANDIDATE} line 2: received 'NaN', expected label,score (two numbers: the transform output joined to its input label)`,
        ),
      );
    });

    it('fails on an output out of step with the hold-out, naming both objects', async () => {
      // Prepare: the champion's output lists the rows in another order.
      const holdout = sources([1, 0, 0], [0.9, 0.1, 0.2]);
      const champion = { name: CHAMPION, lines: ['0.0,0.3', '1.0,0.9', '0.0,0.1'] };

      // Act & Assess
      await expect(evaluate('failure', { ...holdout, champion })).rejects.toThrow(
        `${CHAMPION} line 1: received label 0.0, expected 1 as on line 1 of ${KEYS}: the output is out of step with the hold-out`,
      );
    });

    it('fails when an output has fewer lines than the hold-out', async () => {
      // Prepare
      const holdout = sources([1, 0, 0], [0.9, 0.1, 0.2]);

      // Act & Assess
      await expect(
        evaluate('failure', { ...holdout, candidate: { name: CANDIDATE, lines: ['1.0,0.9', '0.0,0.1'] } }),
      ).rejects.toThrow(`${CANDIDATE}: ends after line 2, but ${KEYS} has more lines`);
    });

    it('fails on a malformed key and on an empty hold-out', async () => {
      // Prepare
      const holdout = sources([1, 0], [0.9, 0.1]);

      // Act & Assess
      await expect(
        evaluate('failure', {
          ...holdout,
          keys: { name: KEYS, lines: ['thermostat-1,yesterday,1.0', 'x,y,0'] },
        }),
      ).rejects.toThrow(
        `${KEYS} line 1: received 'thermostat-1,yesterday,1.0', expected device_id,example_time,label`,
      );
      await expect(evaluate('failure', sources([], []))).rejects.toThrow(
        `${KEYS}: received no lines, expected one per hold-out row`,
      );
    });

    it('fails on a binary label other than 0 or 1', async () => {
      await expect(evaluate('anomaly', sources([1, 2, 0], [0.9, 0.8, 0.1]))).rejects.toThrow(
        new ModelEvaluationError('anomaly hold-out: labels[1]: received 2, expected 0 or 1'),
      );
    });

    it('reads async line sources (the Lambda streams S3 objects) and Windows line ends', async () => {
      // Prepare
      async function* lines(values: string[]) {
        yield* values;
      }

      // Act
      const evaluation = await evaluate('failure', {
        keys: { name: KEYS, lines: lines(keyLines([1, 0]).map((line) => `${line}\r`)) },
        candidate: { name: CANDIDATE, lines: lines(['1.0,0.7\r', '0.0,0.2\r']) },
      });

      // Assess
      expect(evaluation).toMatchObject({ rows: 2, candidate: 1 });
    });

    it('needs the hold-out channel for a model judged against seasonal-naive', async () => {
      expect(QUALITY_TARGETS.energy.baseline).toBe('seasonal-naive');
      await expect(evaluate('energy', sources([100], [100]))).rejects.toThrow(
        'energy: the hold-out channel is needed for the seasonal-naive baseline',
      );
    });
  });
});
