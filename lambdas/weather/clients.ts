/**
 * The weather function's AWS clients. In Lambda they use the function's region and role; the twin
 * and the tests point S3 at their stand-in through the same overrides as the validator's clients.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type ClientOverrides, commonClientConfig, createS3Client } from '../shared/aws-clients.ts';

export interface WeatherClients {
  readonly s3: S3Client;
  readonly secrets: SecretsManagerClient;
}

/** Bounded SDK retries: a failed run is retried whole (it is idempotent), and the next run covers it too. */
const MAX_ATTEMPTS = 3;

export function createWeatherClients(overrides: ClientOverrides = {}): WeatherClients {
  return {
    s3: createS3Client(overrides, MAX_ATTEMPTS),
    secrets: new SecretsManagerClient(commonClientConfig(overrides, MAX_ATTEMPTS)),
  };
}

/**
 * The provider's API key from Secrets Manager: the secret string itself, or the `apiKey` field when the
 * secret is a JSON object (the console's key/value form). Fails naming the secret when it holds neither.
 */
export async function readApiKey(secrets: SecretsManagerClient, secretId: string): Promise<string> {
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
  const text = out.SecretString?.trim() ?? '';
  let key = text;
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const apiKey = (parsed as { apiKey?: unknown } | undefined)?.apiKey;
    key = typeof apiKey === 'string' ? apiKey.trim() : '';
  }
  if (key === '') {
    throw new Error(
      `secret ${secretId}: received ${text === '' ? 'an empty or binary secret' : 'a JSON object without a string apiKey'}, expected the API key as the secret string or as {"apiKey": "..."}`,
    );
  }
  return key;
}
