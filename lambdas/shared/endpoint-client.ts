/**
 * Calling a model's SageMaker real-time endpoint with CSV rows, the pieces every caller shares: the
 * rows as the built-in XGBoost container reads them, request bodies within InvokeEndpoint's payload
 * limit, one call with a timeout, bounded retries with backoff and jitter on the errors worth another
 * try, the answer's scores, and a circuit breaker for callers that must stop calling an endpoint
 * that keeps failing.
 *
 * What a caller does when the endpoint cannot score is its own policy: the stream's anomaly scorer
 * (anomaly-scorer.ts) falls back to its rules and never fails a batch; the ETL's failure scoring
 * (lambdas/failure-scoring/) fails its step, naming the reason. Both classify errors here, so a
 * reason means the same thing in the stream's metrics and the ETL's error.
 */

import {
  InvokeEndpointCommand,
  type InvokeEndpointCommandOutput,
  type SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

/** Why rows were not scored. Stable: metric dimensions and error messages name them. */
export const ENDPOINT_FAILURE_REASONS = [
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
] as const;
export type EndpointFailureReason = (typeof ENDPOINT_FAILURE_REASONS)[number];

/** A value of a CSV row; null is a missing value (an empty field). */
export type CsvValue = number | null;

/** Time as a caller sees it: injected in tests, so backoff and cooldown take no real time. */
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
 * retries are an outage, not bad luck.
 */
export const DEFAULT_FAILURE_THRESHOLD = 3;
/**
 * How long an open breaker refuses calls before one batch may try (half-open). 30 s: a variant
 * restarting or an endpoint update takes minutes, and one probe per 30 s costs nothing.
 */
export const DEFAULT_COOLDOWN_MS = 30_000;
/**
 * The largest request body of one call: InvokeEndpoint takes 6 MB for a real-time endpoint; a
 * little is kept back.
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

/** What an error means for the rows: the reason it names, and whether a retry may succeed. */
export function classifyScoringError(error: unknown): { reason: EndpointFailureReason; retryable: boolean } {
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
export function featureRowsCsv(rows: readonly (readonly CsvValue[])[]): string[] {
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

/** One request body: CSV lines joined by newlines, and how many rows it carries. */
export interface CallBody {
  readonly body: string;
  readonly rows: number;
}

/**
 * Lines grouped, in order, into request bodies of at most `maxBytes` (UTF-8, a newline counted per
 * line); undefined when one line alone is larger.
 */
export function callBodies(
  lines: readonly string[],
  maxBytes: number = MAX_CALL_BYTES,
): CallBody[] | undefined {
  const out: CallBody[] = [];
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

/** How to call an endpoint: the client, the endpoint, and the call's timeout and retry policy. */
export interface EndpointCallOptions {
  readonly client: Pick<SageMakerRuntimeClient, 'send'>;
  readonly endpointName: string;
  /**
   * The production variant every call goes to (`TargetVariant`). @default - none: SageMaker routes
   * each call by the variants' weights
   */
  readonly targetVariant?: string;
  /** No answer within this long fails the attempt (and aborts its request). */
  readonly callTimeoutMs: number;
  /** Attempts per call, the first included. */
  readonly maxAttempts: number;
  /** Backoff before retry n: a random share (full jitter) of min(max, base x 2^(n-1)). */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** @default {@link SYSTEM_CLOCK} */
  readonly clock?: ScorerClock;
  /** Draws the jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** One body's outcome: its scores, or why there are none. Attempts count retries too. */
export type CallOutcome =
  | { readonly scores: number[]; readonly variant: string | undefined; readonly attempts: number }
  | {
      readonly failure: { readonly reason: EndpointFailureReason; readonly detail: string };
      readonly attempts: number;
    };

/**
 * Scores one request body of `rows` lines: an attempt, and on a retryable error another after a
 * jittered backoff, up to `maxAttempts`. Never throws: a failure says its reason and the last error.
 */
export async function callWithRetries(
  options: EndpointCallOptions,
  body: string,
  rows: number,
): Promise<CallOutcome> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  for (let attempt = 1; ; attempt++) {
    try {
      const output = await invokeOnce(options, body);
      return {
        scores: parseScores(output.Body, rows),
        variant: output.InvokedProductionVariant,
        attempts: attempt,
      };
    } catch (error) {
      const { reason, retryable } = classifyScoringError(error);
      if (!retryable || attempt >= options.maxAttempts) {
        const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        return { failure: { reason, detail }, attempts: attempt };
      }
      const cap = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** (attempt - 1));
      await clock.sleep((options.random ?? Math.random)() * cap);
    }
  }
}

/** One call, abandoned (and its request aborted) after the timeout. */
async function invokeOnce(options: EndpointCallOptions, body: string): Promise<InvokeEndpointCommandOutput> {
  const timeoutMs = options.callTimeoutMs;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ScoringTimeoutError(`no answer from ${options.endpointName} within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      options.client.send(
        new InvokeEndpointCommand({
          EndpointName: options.endpointName,
          ...(options.targetVariant !== undefined && { TargetVariant: options.targetVariant }),
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
