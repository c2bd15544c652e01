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
 * The calls themselves (CSV, payload limit, timeout, retries, the breaker) are endpoint-client.ts's,
 * shared with the ETL's batch scoring.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { FeatureValue } from './anomaly-features.ts';
import {
  type CircuitBreaker,
  callBodies,
  callWithRetries,
  circuitBreakerFor,
  ENDPOINT_FAILURE_REASONS,
  type EndpointCallOptions,
  featureRowsCsv,
  MAX_CALL_BYTES,
  type ScorerClock,
  SYSTEM_CLOCK,
} from './endpoint-client.ts';
import { logger, metrics } from './observability.ts';
import { SCORING_DIMENSIONS, SCORING_METRICS } from './pipeline-names.ts';

// The endpoint pieces live in endpoint-client.ts (the ETL's batch scoring shares them); re-exported
// here, where the stream's code and tests have always found them.
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  circuitBreakerFor,
  classifyScoringError,
  DEFAULT_COOLDOWN_MS,
  DEFAULT_FAILURE_THRESHOLD,
  featureRowsCsv,
  MAX_CALL_BYTES,
  parseScores,
  ScoreResponseError,
  type ScorerClock,
  ScoringTimeoutError,
  SYSTEM_CLOCK,
} from './endpoint-client.ts';

/**
 * Why a batch was left to the rules. Stable: the `Reason` dimension of `RulesOnlyBatches`. The
 * endpoint's reasons (endpoint-client.ts), and `scoring_error`: the caller could not build the rows
 * (a bug); reported by the validator, not by the scorer.
 */
export const RULES_ONLY_REASONS = [...ENDPOINT_FAILURE_REASONS, 'scoring_error'] as const;
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
    const calls = callBodies(featureRowsCsv(rows), this.#options.maxCallBytes ?? MAX_CALL_BYTES);
    if (!calls) return this.rulesOnly(rows.length, 'payload_too_large', 'a row exceeds the payload limit', 0);
    if (!this.breaker.tryAcquire()) {
      return this.rulesOnly(rows.length, 'circuit_open', `the circuit breaker is ${this.breaker.state}`, 0);
    }
    const scores: number[] = [];
    let variant: string | undefined;
    let attempts = 0;
    for (const call of calls) {
      const answer = await callWithRetries(this.#callOptions(), call.body, call.rows);
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

  /** The endpoint call's policy: this scorer's timeout, attempts, backoff, clock and jitter. */
  #callOptions(): EndpointCallOptions {
    const options = this.#options;
    return {
      client: options.client,
      endpointName: this.endpointName,
      callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      backoffBaseMs: options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS,
      backoffMaxMs: options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS,
      clock: this.#clock,
      ...(options.random && { random: options.random }),
    };
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
