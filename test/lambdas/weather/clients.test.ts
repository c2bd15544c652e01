/** The API key's secret (Secrets Manager has no local stand-in here: mocked). */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { readApiKey } from '../../../lambdas/weather/clients.ts';

const secrets = mockClient(SecretsManagerClient);
const SECRET = 'sdap/dev/weather-api-key';

afterEach(() => {
  secrets.reset();
});

describe('readApiKey', () => {
  it('reads a plain secret string', async () => {
    // Prepare
    secrets.on(GetSecretValueCommand, { SecretId: SECRET }).resolves({ SecretString: ' k3y\n' });

    // Act
    const key = await readApiKey(new SecretsManagerClient({ region: 'us-east-1' }), SECRET);

    // Assess
    expect(key).toBe('k3y');
  });

  it('reads the apiKey field of a key/value secret', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"apiKey":"k3y","note":"x"}' });
    await expect(readApiKey(new SecretsManagerClient({ region: 'us-east-1' }), SECRET)).resolves.toBe('k3y');
  });

  it('fails naming the secret when it holds no key', async () => {
    // Prepare
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"key":"k3y"}' });

    // Act
    const result = readApiKey(new SecretsManagerClient({ region: 'us-east-1' }), SECRET);

    // Assess
    await expect(result).rejects.toThrow(
      `secret ${SECRET}: received a JSON object without a string apiKey, expected the API key as the secret string or as {"apiKey": "..."}`,
    );
  });

  it('fails naming the secret when it is empty or binary', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) });
    await expect(readApiKey(new SecretsManagerClient({ region: 'us-east-1' }), SECRET)).rejects.toThrow(
      `secret ${SECRET}: received an empty or binary secret`,
    );
  });
});
