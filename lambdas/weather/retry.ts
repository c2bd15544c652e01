/**
 * Bounded retries with exponential backoff and full jitter: attempt n waits a random time between 0
 * and min(maxDelayMs, baseDelayMs * 2^(n-1)), so that many callers retrying the same outage spread
 * out instead of arriving together.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included (1 = no retry). */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * 3 attempts, waits up to 0.5 s then 1 s: a provider blip is ridden out within seconds, and a
 * provider that stays down costs a site at most three request timeouts.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 5_000 };

/** What to do with a failure: try again (after at least `afterMs`, if given) or give up. */
export interface RetryDecision {
  readonly retry: boolean;
  readonly afterMs?: number;
}

export interface RetryHooks {
  /** @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** @default Date.now */
  readonly now?: () => number;
  /** No attempt starts, and no wait ends, after this time (epoch ms). @default no deadline */
  readonly deadlineMs?: number;
}

/** The failure of the last attempt, with the number of attempts made. */
export class RetriesExhaustedError extends Error {
  override readonly name = 'RetriesExhaustedError';

  constructor(
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(
      `${cause instanceof Error ? cause.message : String(cause)} (${attempts} attempt${attempts === 1 ? '' : 's'})`,
    );
  }
}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The wait before attempt `attempt + 1`, after `attempt` failed attempts (full jitter). */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Runs `operation` until it succeeds, `decide` says the failure is final, the attempts are spent or
 * the deadline would pass. Throws {@link RetriesExhaustedError} wrapping the last failure.
 */
export async function withRetries<T>(
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  decide: (error: unknown) => RetryDecision,
  hooks: RetryHooks = {},
): Promise<T> {
  const sleep = hooks.sleep ?? timer;
  const random = hooks.random ?? Math.random;
  const now = hooks.now ?? Date.now;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      const decision = decide(error);
      if (!decision.retry || attempt >= policy.maxAttempts) throw new RetriesExhaustedError(attempt, error);
      const delayMs = Math.min(
        policy.maxDelayMs,
        Math.max(decision.afterMs ?? 0, backoffDelayMs(attempt, policy, random)),
      );
      if (hooks.deadlineMs !== undefined && now() + delayMs >= hooks.deadlineMs) {
        throw new RetriesExhaustedError(attempt, error);
      }
      await sleep(delayMs);
    }
  }
}
