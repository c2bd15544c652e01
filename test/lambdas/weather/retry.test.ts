import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, RetriesExhaustedError, withRetries } from '../../../lambdas/weather/retry.ts';

const POLICY = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 300 };

describe('backoffDelayMs', () => {
  it('stays between 0 and the doubling ceiling, capped at the maximum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, r) => {
          // Act
          const delay = backoffDelayMs(attempt, POLICY, () => r);

          // Assess
          const ceiling = Math.min(POLICY.maxDelayMs, POLICY.baseDelayMs * 2 ** (attempt - 1));
          return Number.isInteger(delay) && delay >= 0 && delay < Math.max(1, ceiling);
        },
      ),
    );
  });
});

describe('withRetries', () => {
  it('retries until the operation succeeds', async () => {
    // Prepare
    const sleeps: number[] = [];
    let calls = 0;

    // Act
    const result = await withRetries(
      async () => {
        calls++;
        if (calls < 3) throw new Error('blip');
        return 'ok';
      },
      POLICY,
      () => ({ retry: true }),
      { random: () => 0.999, sleep: async (ms) => void sleeps.push(ms) },
    );

    // Assess
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([99, 199]);
  });

  it('stops at the last attempt and names how many were made', async () => {
    // Prepare
    let calls = 0;

    // Act
    const result = withRetries(
      async () => {
        calls++;
        throw new Error('still down');
      },
      POLICY,
      () => ({ retry: true }),
      { sleep: async () => {} },
    );

    // Assess
    await expect(result).rejects.toThrow(new RetriesExhaustedError(4, new Error('still down')).message);
    await expect(result).rejects.toThrow('still down (4 attempts)');
    expect(calls).toBe(4);
  });

  it('does not retry a failure the caller calls final', async () => {
    // Prepare
    let calls = 0;

    // Act
    const result = withRetries(
      async () => {
        calls++;
        throw new Error('bad request');
      },
      POLICY,
      () => ({ retry: false }),
    );

    // Assess
    await expect(result).rejects.toThrow('bad request (1 attempt)');
    expect(calls).toBe(1);
  });

  it('does not wait past the deadline', async () => {
    // Prepare
    let calls = 0;
    const sleeps: number[] = [];

    // Act
    const result = withRetries(
      async () => {
        calls++;
        throw new Error('down');
      },
      POLICY,
      () => ({ retry: true, afterMs: 250 }),
      { now: () => 1_000, deadlineMs: 1_200, sleep: async (ms) => void sleeps.push(ms) },
    );

    // Assess
    await expect(result).rejects.toThrow('down (1 attempt)');
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });
});
