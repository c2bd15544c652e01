/**
 * The IoT client's retries, through the SDK's real middleware: aws-sdk-client-mock replaces `send`
 * and with it the retry logic, so here a scripted request handler answers the client's HTTP requests
 * in IoT's REST-JSON protocol instead, throttling some of them.
 */
import { IoTClient, type IoTClientConfig } from '@aws-sdk/client-iot';
import { describe, expect, it } from 'vitest';
import { IOT_MAX_ATTEMPTS, iotClientConfig } from '../../../lambdas/registry-export/clients.ts';
import { readRegistry } from '../../../lambdas/registry-export/export-registry.ts';

interface Answer {
  readonly status: number;
  readonly errorType?: string;
  readonly body: unknown;
}

/** Answers each request to a path with the next of that path's scripted answers, recording it. */
class ScriptedIot {
  readonly requests: Array<{ method: string; path: string; query: Record<string, unknown> }> = [];

  constructor(private readonly script: Record<string, Answer[]>) {}

  async handle(request: { method: string; path: string; query?: Record<string, unknown> }) {
    this.requests.push({ method: request.method, path: request.path, query: request.query ?? {} });
    const answer = this.script[request.path]?.shift();
    if (answer === undefined) throw new Error(`no answer scripted for ${request.method} ${request.path}`);
    return {
      response: {
        statusCode: answer.status,
        headers: {
          'content-type': 'application/json',
          ...(answer.errorType && { 'x-amzn-errortype': answer.errorType }),
        },
        body: new TextEncoder().encode(JSON.stringify(answer.body)),
      },
    };
  }
}

const throttled: Answer = {
  status: 400,
  errorType: 'ThrottlingException',
  body: { message: 'Rate exceeded' },
};

function client(handler: ScriptedIot): IoTClient {
  return new IoTClient({
    ...iotClientConfig({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
    requestHandler: handler as unknown as IoTClientConfig['requestHandler'],
  });
}

describe('the IoT client', () => {
  it('retries in adaptive mode: it slows its own sending after a throttle', async () => {
    // Act
    const iot = new IoTClient(iotClientConfig({ region: 'eu-west-1' }));

    // Assess
    expect(await iot.config.maxAttempts()).toBe(IOT_MAX_ATTEMPTS);
    expect(IOT_MAX_ATTEMPTS).toBeGreaterThanOrEqual(5);
    expect(((await iot.config.retryStrategy()) as { mode?: string }).mode).toBe('adaptive');
  });

  it('retries a throttled list call and reads on', async () => {
    // Prepare
    const handler = new ScriptedIot({
      '/thing-groups': [throttled, { status: 200, body: { thingGroups: [] } }],
      '/things': [
        {
          status: 200,
          body: {
            things: [{ thingName: 't-1', thingTypeName: 'lock', attributes: { b: '2', a: '1' }, version: 1 }],
          },
        },
      ],
    });

    // Act
    const read = await readRegistry(client(handler));

    // Assess
    expect(handler.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /thing-groups',
      'GET /thing-groups',
      'GET /things',
    ]);
    expect(handler.requests[0]?.query).toMatchObject({ maxResults: '250' });
    expect(read.calls).toMatchObject({ ListThingGroups: 1, ListThings: 1 });
    // The attribute map keeps the service's order through the SDK's deserialiser.
    expect(JSON.stringify(read.things)).toBe(
      '[{"thingName":"t-1","thingTypeName":"lock","attributes":{"b":"2","a":"1"},"thingGroupNames":[]}]',
    );
  });

  it('fails naming the call when an answer is not one to retry', async () => {
    // Prepare
    const handler = new ScriptedIot({
      '/thing-groups': [
        {
          status: 403,
          errorType: 'UnauthorizedException',
          body: { message: 'not authorized: iot:ListThingGroups' },
        },
      ],
    });

    // Act
    const read = readRegistry(client(handler));

    // Assess
    await expect(read).rejects.toThrow(
      'registry export: ListThingGroups (page 1) failed: UnauthorizedException: not authorized: iot:ListThingGroups (1 attempts).',
    );
    expect(handler.requests).toHaveLength(1);
  });
});
