/**
 * Names the failure-scoring function shares with the infrastructure that deploys and invokes it and
 * with the twin: environment variables, error names, the variant it calls, and how a model's version
 * is written. Defined once so the workflow cannot retry an error the function never throws.
 */
import { createHash } from 'node:crypto';

/** Powertools' `service` dimension of the function's logs and metrics. */
export const FAILURE_SCORING_SERVICE_NAME = 'failure-scoring';

/** Where the ETL writes the features (glue-scripts/sql/pipeline.json, step 90_ml_features.sql). */
export const ML_FEATURES_PREFIX = 'ml_features/';

/** Environment variables the function reads at cold start. */
export const FAILURE_SCORING_ENV = {
  /** The curated bucket: `ml_features/` is read, `predictions/` rewritten. */
  curatedBucket: 'CURATED_BUCKET_NAME',
  /** The SageMaker endpoint serving the failure model. */
  endpointName: 'FAILURE_ENDPOINT_NAME',
  /** The production variant every call targets (see {@link SCORING_VARIANT}). */
  endpointVariant: 'FAILURE_ENDPOINT_VARIANT',
  /** The version of the model that variant serves, written into every prediction ({@link modelVersionOf}). */
  modelVersion: 'FAILURE_MODEL_VERSION',
} as const;

/** Metrics the function emits once per invocation (unit Count, dimension `service`), beside SCORING_METRICS. */
export const FAILURE_SCORING_METRICS = {
  partitionsWritten: 'PredictionPartitionsWritten',
} as const;

/**
 * The variant the batch scores with: always the champion. A challenger gets a share of the stream's
 * traffic for its A/B comparison; the ETL's predictions come from one model, so a rerun of a window
 * writes the same scores and every row names the model that made it.
 */
export const SCORING_VARIANT = 'champion';

/**
 * The error names (`errorType`) the function fails with. Step Functions retries an unavailable
 * endpoint (throttling, an endpoint being updated or scaled, a timeout) once more after a pause;
 * the others would only repeat.
 */
export const FAILURE_SCORING_ERRORS = {
  /** The endpoint gave no scores after the call's retries, for a reason that may pass. */
  endpointUnavailable: 'PredictionEndpointUnavailableError',
  /** The endpoint refused the rows (ModelError, ValidationError, access denied, a bad answer). */
  endpointRefused: 'PredictionEndpointRefusedError',
  /** An `ml_features` file whose rows are not what the model needs. */
  badFeatures: 'FeatureTableError',
  /** An event the function cannot act on. */
  invalidEvent: 'InvalidScoringEventError',
} as const;

/** Hex digits of the model's SHA-256 that make its version: 64 bits, unambiguous among a registry's models. */
export const MODEL_VERSION_HEX_DIGITS = 16;

/**
 * A model's version as predictions name it: the first {@link MODEL_VERSION_HEX_DIGITS} hex digits of
 * the SHA-256 of its XGBoost JSON, the hash `ml/models/runs.ndjson` and the model registry record
 * for it, so a prediction leads to the run that trained its model.
 */
export function modelVersionOf(modelJson: Uint8Array | string): string {
  return createHash('sha256').update(modelJson).digest('hex').slice(0, MODEL_VERSION_HEX_DIGITS);
}
