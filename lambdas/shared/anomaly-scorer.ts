/**
 * Scores a batch's feature rows on the anomaly model's SageMaker endpoint, and never fails the
 * batch for it: one `InvokeEndpoint` call per batch (CSV rows in, one score per line out), each call
 * with a timeout, bounded retries with backoff and jitter on the transient errors, and a circuit
 * breaker that stops calling an endpoint that keeps failing. When the endpoint cannot score, the
 * result says "rules-only" and why; the caller keeps its rules' alerts (RELIABILITY.md, item 12).
 *
 * The breaker lives in module scope (one per endpoint name), so it survives from one invocation to
 * the next in a warm Lambda execution environment. Each batch publishes the rows it scored or left
 * to the rules, the reason a batch was not scored, and `HighScoreShare` (see pipeline-names.ts).
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  InvokeEndpointCommand,
  type InvokeEndpointCommandOutput,
  type SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import type { FeatureValue } from './anomaly-features.ts';
import { logger, metrics } from './observability.ts';
import { SCORING_DIMENSIONS, SCORING_METRICS } from './pipeline-names.ts';

/** Why a batch was left to the rules. Stable: the `Reason` dimension of `RulesOnlyBatches`. */
export const RULES_ONLY_REASONS = [
  /** The breaker is open: the endpoint failed too many batches in a row, and is given a rest. */
  'circuit_open',
  'throttled',
  'service_unavailable',
  'model_not_ready',
  'internal_failure',
  /** No answer within the call's timeout. */
  'timeout',
  /** No HTTP answer at all (connection refused or reset). */
  'network_error',
  /** The model refused the rows (SageMaker's ModelError): retrying would not change its mind. */
  'model_error',
  /** The request was refused (unknown endpoint, bad input): retrying would not help either. */
  'validation_error',
  /** Another 4xx, such as access denied. */
  'client_error',
  /** An answer that is not one score per row. */
  'bad_response',
  /** The rows would not fit in the calls' payload limit. */
  'payload_too_large',
  /** The caller could not build the rows (a bug); reported by the validator, not by the scorer. */
  'scoring_error',
] as const;
export type RulesOnlyReason = (typeof RULES_ONLY_REASONS)[number];

export type ScoringResult =
  | {
      readonly outcome: 'scored';
      /** One score per row, in row order. */
      readonly scores: readonly number[];
      /** The production variant that answered (the last call's, when the rows took several). */
      readonly variant: string | undefined;
      /** Calls made, retries included. */
      readonly attempts: number;
      /** Percentage of the rows scoring at or above the threshold. */
      readonly highScoreShare: number;
    }
  | {
      readonly outcome: 'rules-only';
      readonly reason: RulesOnlyReason;
      /** The last error, in words. */
      readonly detail: string;
      readonly attempts: number;
    };

/** A single metric with its own dimensions, as Powertools' `Metrics.singleMetric()` gives it. */
export interface SingleMetricSink {
  singleMetric(): {
    addDimension(name: string, value: string): unknown;
    addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): unknown;
  };
}

/** Time as the scorer sees it: injected in tests, so backoff and cooldown take no real time. */
export interface ScorerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const SYSTEM_CLOCK: ScorerClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Consecutive failed batches that open the breaker. Three batches that each exhausted their
 * retries (up to ~7 s apiece, see {@link DEFAULT_CALL_TIMEOUT_MS}) are an outage, not bad luck.
 */
export const DEFAULT_FAILURE_THRESHOLD = 3;
/**
 * How long an open breaker refuses calls before one batch may try (half-open). 30 s: a variant
 * restarting or an endpoint update takes minutes, and one probe per 30 s costs nothing.
 */
export const DEFAULT_COOLDOWN_MS = 30_000;
/**
 * Per-call timeout. A real-time XGBoost endpoint answers a batch of a few hundred rows in tens of
 * milliseconds; 2 s is ample headroom, and 3 attempts stay near a tenth of the validator's 60 s.
 */
export const DEFAULT_CALL_TIMEOUT_MS = 2_000;
/** Calls per batch, the first included. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Backoff before retry n: a random share (full jitter) of min(max, base x 2^(n-1)). */
export const DEFAULT_BACKOFF_BASE_MS = 100;
export const DEFAULT_BACKOFF_MAX_MS = 1_000;
/**
 * The largest request body of one call: InvokeEndpoint takes 6 MB; a little is kept back. A batch
 * of the default 100 records (at most 6,400 readings, ~150 bytes a row) takes one call; only very
 * large batches of compressed messages need more.
 */
export const MAX_CALL_BYTES = 5_500_000;

export interface CircuitBreakerOptions {
  /** @default {@link DEFAULT_FAILURE_THRESHOLD} */
  readonly failureThreshold?: number;
  /** @default {@link DEFAULT_COOLDOWN_MS} */
  readonly cooldownMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Closed: every batch calls, and consecutive failed batches are counted. Open (after
 * `failureThreshold` of them): no batch calls for `cooldownMs`. Half-open (after the cooldown): one
 * batch at a time may call; its success closes the breaker, its failure opens it for another cooldown.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #failures = 0;
  #openedAtMs: number | undefined;
  #trialInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.#cooldownMs = options.cooldownMs ?? DEFAULT_COOLDOWN_MS;
    this.#now = options.now ?? Date.now;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.#openedAtMs === undefined) return 'closed';
    return this.#now() - this.#openedAtMs < this.#cooldownMs ? 'open' : 'half-open';
  }

  /** Consecutive failed batches while closed. */
  get failures(): number {
    return this.#failures;
  }

  /** Whether a batch may call now. In half-open, true for one batch until it reports. */
  tryAcquire(): boolean {
    switch (this.state) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half-open':
        if (this.#trialInFlight) return false;
        this.#trialInFlight = true;
        return true;
    }
  }

  onSuccess(): void {
    this.#failures = 0;
    this.#openedAtMs = undefined;
    this.#trialInFlight = false;
  }

  onFailure(): void {
    if (this.#openedAtMs !== undefined) {
      // The half-open trial failed: another cooldown.
      this.#openedAtMs = this.#now();
      this.#trialInFlight = false;
      return;
    }
    this.#failures++;
    if (this.#failures >= this.#threshold) this.#openedAtMs = this.#now();
  }
}

const breakers = new Map<string, CircuitBreaker>();

/** The execution environment's breaker of an endpoint, created on first use. */
export function circuitBreakerFor(endpointName: string, options?: CircuitBreakerOptions): CircuitBreaker {
  let breaker = breakers.get(endpointName);
  if (!breaker) {
    breaker = new CircuitBreaker(options);
    breakers.set(endpointName, breaker);
  }
  return breaker;
}

export interface AnomalyScorerOptions {
  readonly client: Pick<SageMakerRuntimeClient, 'send'>;
  readonly endpointName: string;
  /** A score at or above it counts towards `HighScoreShare`. */
  readonly threshold: number;
  /** The `Model` dimension of the metrics. @default 'anomaly' */
  readonly modelName?: string;
  /** @default {@link DEFAULT_CALL_TIMEOUT_MS} */
  readonly callTimeoutMs?: number;
  /** @default {@link DEFAULT_MAX_ATTEMPTS} */
  readonly maxAttempts?: number;
  /** @default {@link DEFAULT_BACKOFF_BASE_MS} */
  readonly backoffBaseMs?: number;
  /** @default {@link DEFAULT_BACKOFF_MAX_MS} */
  readonly backoffMaxMs?: number;
  /** @default the module's breaker of `endpointName` ({@link circuitBreakerFor}) */
  readonly breaker?: CircuitBreaker;
  /** @default {@link SYSTEM_CLOCK} */
  readonly clock?: ScorerClock;
  /** Draws the jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** @default the validator's Powertools metrics */
  readonly metrics?: SingleMetricSink;
  /** @default {@link MAX_CALL_BYTES} */
  readonly maxCallBytes?: number;
}

/** The call got no answer within its timeout. */
export class ScoringTimeoutError extends Error {
  override readonly name = 'ScoringTimeoutError';
}

/** The endpoint answered, but not with one score per row. */
export class ScoreResponseError extends Error {
  override readonly name = 'ScoreResponseError';
}

const THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
]);

/** What an error means for the batch: the reason it names, and whether a retry may succeed. */
export function classifyScoringError(error: unknown): { reason: RulesOnlyReason; retryable: boolean } {
  if (error instanceof ScoringTimeoutError) return { reason: 'timeout', retryable: true };
  if (error instanceof ScoreResponseError) return { reason: 'bad_response', retryable: false };
  const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = $metadata?.httpStatusCode;
  switch (name) {
    case 'ModelError':
      return { reason: 'model_error', retryable: false };
    case 'ValidationError':
      return { reason: 'validation_error', retryable: false };
    case 'ModelNotReadyException':
      return { reason: 'model_not_ready', retryable: true };
    case 'ServiceUnavailable':
      return { reason: 'service_unavailable', retryable: true };
    case 'InternalFailure':
    case 'InternalDependencyException':
      return { reason: 'internal_failure', retryable: true };
  }
  if ((name && THROTTLING_ERRORS.has(name)) || status === 429)
    return { reason: 'throttled', retryable: true };
  if (status === 503) return { reason: 'service_unavailable', retryable: true };
  if (status !== undefined && status >= 500) return { reason: 'internal_failure', retryable: true };
  if (status !== undefined) return { reason: 'client_error', retryable: false };
  return { reason: 'network_error', retryable: true };
}

/**
 * Rows as the XGBoost container reads CSV: one line per row, no header, an empty field for a
 * missing value. A number is written as JavaScript writes it, the shortest text that reads back to
 * the same double, which Python's float() (the container) reads exactly; XGBoost then rounds it to
 * float32 as the TypeScript scorer does.
 */
export function featureRowsCsv(rows: readonly (readonly FeatureValue[])[]): string[] {
  return rows.map((row) =>
    row.map((value) => (value === null || !Number.isFinite(value) ? '' : String(value))).join(','),
  );
}

/** The scores of an answer: one per line (or, from containers before 2022, comma-separated). */
export function parseScores(body: Uint8Array | undefined, expected: number): number[] {
  const text = body ? new TextDecoder().decode(body).trim() : '';
  const scores = text === '' ? [] : text.split(/[\n,]/).map((field) => Number(field.trim()));
  if (scores.length !== expected || scores.some((score) => !Number.isFinite(score))) {
    throw new ScoreResponseError(
      `received ${scores.length} scores (${JSON.stringify(text.slice(0, 80))}), expected ${expected} numbers`,
    );
  }
  return scores;
}

/** Lines grouped into request bodies of at most `maxBytes`; undefined when one line alone is larger. */
function bodies(lines: readonly string[], maxBytes: number): { body: string; rows: number }[] | undefined {
  const out: { body: string; rows: number }[] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = Buffer.byteLength(line) + 1;
    if (size > maxBytes) return undefined;
    if (bytes + size > maxBytes && current.length > 0) {
      out.push({ body: current.join('\n'), rows: current.length });
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += size;
  }
  if (current.length > 0) out.push({ body: current.join('\n'), rows: current.length });
  return out;
}

export class AnomalyScorer {
  readonly endpointName: string;
  readonly threshold: number;
  readonly breaker: CircuitBreaker;
  readonly #options: AnomalyScorerOptions;
  readonly #clock: ScorerClock;

  constructor(options: AnomalyScorerOptions) {
    this.#options = options;
    this.endpointName = options.endpointName;
    this.threshold = options.threshold;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.breaker = options.breaker ?? circuitBreakerFor(options.endpointName, { now: this.#clock.now });
  }

  /** Scores the rows, or says why it could not. Never throws. */
  async score(rows: readonly (readonly FeatureValue[])[]): Promise<ScoringResult> {
    if (rows.length === 0) {
      return { outcome: 'scored', scores: [], variant: undefined, attempts: 0, highScoreShare: 0 };
    }
    const calls = bodies(featureRowsCsv(rows), this.#options.maxCallBytes ?? MAX_CALL_BYTES);
    if (!calls) return this.rulesOnly(rows.length, 'payload_too_large', 'a row exceeds the payload limit', 0);
    if (!this.breaker.tryAcquire()) {
      return this.rulesOnly(rows.length, 'circuit_open', `the circuit breaker is ${this.breaker.state}`, 0);
    }
    const scores: number[] = [];
    let variant: string | undefined;
    let attempts = 0;
    for (const call of calls) {
      const answer = await this.#callWithRetries(call.body, call.rows);
      attempts += answer.attempts;
      if ('failure' in answer) {
        this.breaker.onFailure();
        return this.rulesOnly(rows.length, answer.failure.reason, answer.failure.detail, attempts);
      }
      scores.push(...answer.scores);
      variant = answer.variant;
    }
    this.breaker.onSuccess();
    const high = scores.filter((score) => score >= this.threshold).length;
    const highScoreShare = (100 * high) / scores.length;
    this.#publish((sink) => sink.addMetric(SCORING_METRICS.rowsScored, MetricUnit.Count, scores.length));
    this.#publish((sink) =>
      sink.addMetric(SCORING_METRICS.highScoreShare, MetricUnit.Percent, highScoreShare),
    );
    return { outcome: 'scored', scores, variant, attempts, highScoreShare };
  }

  async #callWithRetries(
    body: string,
    rows: number,
  ): Promise<
    | { scores: number[]; variant: string | undefined; attempts: number }
    | { failure: { reason: RulesOnlyReason; detail: string }; attempts: number }
  > {
    const maxAttempts = this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      try {
        const output = await this.#invoke(body);
        return {
          scores: parseScores(output.Body, rows),
          variant: output.InvokedProductionVariant,
          attempts: attempt,
        };
      } catch (error) {
        const { reason, retryable } = classifyScoringError(error);
        if (!retryable || attempt >= maxAttempts) {
          const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          return { failure: { reason, detail }, attempts: attempt };
        }
        await this.#clock.sleep(this.#backoffMs(attempt));
      }
    }
  }

  #backoffMs(attempt: number): number {
    const base = this.#options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
    const max = this.#options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
    return (this.#options.random ?? Math.random)() * Math.min(max, base * 2 ** (attempt - 1));
  }

  /** One call, abandoned (and its request aborted) after the timeout. */
  async #invoke(body: string): Promise<InvokeEndpointCommandOutput> {
    const timeoutMs = this.#options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new ScoringTimeoutError(`no answer from ${this.endpointName} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([
        this.#options.client.send(
          new InvokeEndpointCommand({
            EndpointName: this.endpointName,
            ContentType: 'text/csv',
            Accept: 'text/csv',
            Body: new TextEncoder().encode(body),
          }),
          { abortSignal: controller.signal },
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Leaves `rows` rows to the rules: logs why (except for an open breaker, which would log every
   * batch) and publishes the rows and the batch's reason. The validator also calls it when it could
   * not build the rows (`scoring_error`).
   */
  rulesOnly(rows: number, reason: RulesOnlyReason, detail: string, attempts = 0): ScoringResult {
    if (reason !== 'circuit_open') {
      logger.warn('anomaly scoring unavailable: the batch keeps its rules alerts only', {
        endpoint: this.endpointName,
        reason,
        detail,
        attempts,
        breaker: this.breaker.state,
      });
    }
    this.#publish((sink) => sink.addMetric(SCORING_METRICS.rowsRulesOnly, MetricUnit.Count, rows));
    this.#publish((sink) => sink.addMetric(SCORING_METRICS.rulesOnlyBatches, MetricUnit.Count, 1), reason);
    return { outcome: 'rules-only', reason, detail, attempts };
  }

  /** One metric with the `Model` dimension (and `Reason` when given), published at once. */
  #publish(
    add: (sink: ReturnType<SingleMetricSink['singleMetric']>) => void,
    reason?: RulesOnlyReason,
  ): void {
    const sink = (this.#options.metrics ?? metrics).singleMetric();
    sink.addDimension(SCORING_DIMENSIONS.model, this.#options.modelName ?? 'anomaly');
    if (reason) sink.addDimension(SCORING_DIMENSIONS.reason, reason);
    add(sink);
  }
}

/** Scores a reading counts as anomalous at or above `threshold`: the rows' indices. */
export function highScoring(scores: readonly number[], threshold: number): number[] {
  return scores.flatMap((score, index) => (score >= threshold ? [index] : []));
}
