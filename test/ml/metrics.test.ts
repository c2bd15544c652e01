import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MetricInputError,
  meanAbsolutePercentageError,
  median,
  precisionAtK,
  qualityAtThreshold,
  rocAuc,
} from '../../ml/metrics.ts';

describe('qualityAtThreshold', () => {
  it('counts score >= threshold as positive and computes precision, recall and F1 by hand', () => {
    // Prepare: 2 true positives, 1 false positive, 1 false negative, 2 true negatives.
    const scores = [0.9, 0.5, 0.7, 0.2, 0.1, 0.3];
    const labels = [1, 1, 0, 1, 0, 0];

    // Act
    const quality = qualityAtThreshold(scores, labels, 0.5);

    // Assess
    expect(quality).toMatchObject({
      truePositives: 2,
      falsePositives: 1,
      falseNegatives: 1,
      trueNegatives: 2,
    });
    expect(quality.precision).toBeCloseTo(2 / 3, 12);
    expect(quality.recall).toBeCloseTo(2 / 3, 12);
    expect(quality.f1).toBeCloseTo(2 / 3, 12);
  });

  it('gives 0, not NaN, when nothing is predicted or present', () => {
    expect(qualityAtThreshold([0.1, 0.2], [0, 0], 0.5)).toMatchObject({ precision: 0, recall: 0, f1: 0 });
  });

  it('fails when a label is not 0 or 1, naming the index and the value', () => {
    expect(() => qualityAtThreshold([0.1], [2], 0.5)).toThrow(
      new MetricInputError('labels[0]: received 2, expected 0 or 1'),
    );
  });

  it('fails when scores and labels differ in length', () => {
    expect(() => qualityAtThreshold([0.1, 0.2], [1], 0.5)).toThrow(/received 2 and 1 values/);
  });
});

describe('rocAuc', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one and 0.5 for all ties', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
  });

  it('counts a tie between a positive and a negative as one half (hand-computed case)', () => {
    // Pairs (positive, negative): (0.8 vs 0.3) win, (0.8 vs 0.5) win, (0.5 vs 0.3) win, (0.5 vs 0.5) tie.
    expect(rocAuc([0.3, 0.5, 0.5, 0.8], [0, 0, 1, 1])).toBeCloseTo(3.5 / 4, 12);
  });

  it('is NaN without both classes', () => {
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
  });

  it('equals the share of positive-negative pairs ranked correctly, for any input', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.boolean()), { minLength: 2, maxLength: 40 }),
        (rows) => {
          const scores = rows.map(([s]) => s);
          const labels = rows.map(([, l]) => (l ? 1 : 0));
          const positives = scores.filter((_, i) => labels[i] === 1);
          const negatives = scores.filter((_, i) => labels[i] === 0);
          if (positives.length === 0 || negatives.length === 0) return;
          let wins = 0;
          for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
          expect(rocAuc(scores, labels)).toBeCloseTo(wins / (positives.length * negatives.length), 12);
        },
      ),
    );
  });
});

describe('precisionAtK', () => {
  it('takes the k highest scores, ties broken by position', () => {
    expect(precisionAtK([0.9, 0.1, 0.8, 0.8], [1, 1, 0, 1], 2)).toBe(0.5);
    expect(precisionAtK([0.9, 0.1, 0.8, 0.8], [1, 1, 0, 1], 10)).toBe(0.75);
  });

  it('fails when k is not a positive integer', () => {
    expect(() => precisionAtK([0.1], [1], 0)).toThrow('k: received 0, expected an integer >= 1');
  });
});

describe('meanAbsolutePercentageError', () => {
  it('averages |forecast - actual| / actual in percent, leaving out and counting zero actuals', () => {
    // |110-100|/100 = 10 %, |40-50|/50 = 20 %; the zero actual is left out.
    const error = meanAbsolutePercentageError([100, 50, 0], [110, 40, 5]);
    expect(error.mape).toBeCloseTo(15, 12);
    expect(error).toMatchObject({ pairs: 2, zeroActuals: 1 });
  });

  it('is NaN when every actual is zero', () => {
    expect(meanAbsolutePercentageError([0], [1]).mape).toBeNaN();
  });
});

describe('median', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
