/**
 * AWS SDK clients, built in one place. In Lambda they use the function's region and role; the twin
 * passes endpoint settings for its local stand-ins. Product code never branches on where it runs:
 * the difference is only this configuration.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SNSClient } from '@aws-sdk/client-sns';

export interface ValidatorClients {
  readonly s3: S3Client;
  readonly eventBridge: EventBridgeClient;
  readonly sns: SNSClient;
}

/** Settings for clients that talk to something other than the AWS endpoints of the current region. */
export interface ClientOverrides {
  readonly region?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
  /** S3 endpoint (path-style addressing, checksums only when the API requires them). */
  readonly s3Endpoint?: string;
  readonly eventBridgeEndpoint?: string;
  readonly snsEndpoint?: string;
  readonly sageMakerRuntimeEndpoint?: string;
}

/**
 * Bounded SDK retries: the event source mapping retries whole records anyway, and a long in-call
 * backoff would only hold the shard longer.
 */
const MAX_ATTEMPTS = 3;

/** Settings every client of a function shares: bounded attempts, and the overrides' region and credentials. */
export function commonClientConfig(
  overrides: ClientOverrides,
  maxAttempts: number,
): Pick<S3ClientConfig, 'maxAttempts' | 'region' | 'credentials'> {
  return {
    maxAttempts,
    ...(overrides.region && { region: overrides.region }),
    ...(overrides.credentials && { credentials: overrides.credentials }),
  };
}

/** An S3 client: with an endpoint override, path-style and checksums only where the API requires them. */
export function createS3Client(overrides: ClientOverrides, maxAttempts: number): S3Client {
  const common = commonClientConfig(overrides, maxAttempts);
  return new S3Client(
    overrides.s3Endpoint
      ? {
          ...common,
          endpoint: overrides.s3Endpoint,
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : common,
  );
}

export function createValidatorClients(overrides: ClientOverrides = {}): ValidatorClients {
  const common = commonClientConfig(overrides, MAX_ATTEMPTS);
  return {
    s3: createS3Client(overrides, MAX_ATTEMPTS),
    eventBridge: new EventBridgeClient({
      ...common,
      ...(overrides.eventBridgeEndpoint && { endpoint: overrides.eventBridgeEndpoint }),
    }),
    sns: new SNSClient({ ...common, ...(overrides.snsEndpoint && { endpoint: overrides.snsEndpoint }) }),
  };
}

/**
 * The SageMaker Runtime client of the anomaly scoring: one attempt per call, because the scorer
 * retries itself (with its own timeout, backoff and circuit breaker); SDK retries underneath would
 * multiply its attempts.
 */
export function createSageMakerRuntimeClient(overrides: ClientOverrides = {}): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient({
    ...commonClientConfig(overrides, 1),
    ...(overrides.sageMakerRuntimeEndpoint && { endpoint: overrides.sageMakerRuntimeEndpoint }),
  });
}
