/**
 * The crashing runtime behind the "handler killed after k writes" fault: a chosen invocation dies
 * right after its k-th S3 write (the writes before it happened), rejects as Lambda reports a killed
 * runtime, and nothing it still tries to send leaves; concurrent invocations keep their own counts.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createCrashingRuntime } from '../../local/lambda-runtime.ts';

/** An S3 client whose requests never leave the process: each PUT is recorded and answered 200. */
function recordingS3(): { client: S3Client; written: string[] } {
  const written: string[] = [];
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    () => async (args) => {
      written.push((args.input as { Key: string }).Key);
      return { output: { $metadata: { httpStatusCode: 200 } }, response: {} };
    },
    { step: 'initialize', name: 'recordingS3', priority: 'low' },
  );
  return { client, written };
}

const put = (client: S3Client, key: string) =>
  client.send(new PutObjectCommand({ Bucket: 'raw', Key: key, Body: 'x' }));

describe('crashing runtime', () => {
  it('kills a chosen invocation after its k-th write: earlier writes land, later ones never leave', async () => {
    const runtime = createCrashingRuntime({ afterWrites: 2, everyNth: 1, seed: 1 });
    const { client, written } = recordingS3();
    client.middlewareStack.add(runtime.middleware, { step: 'initialize', name: 'crash' });
    let refused: unknown;

    const outcome = await runtime
      .invoke(async () => {
        await put(client, 'a');
        await put(client, 'b');
        refused = await put(client, 'c').catch((error: unknown) => error);
        return 'done';
      })
      .catch((error: unknown) => error);

    expect(outcome).toMatchObject({ name: 'Runtime.ExitError' });
    expect((outcome as Error).message).toMatch(/Runtime exited with error: signal: killed/);
    // Let the abandoned handler finish its last step.
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(written).toEqual(['a', 'b']);
    expect(refused).toMatchObject({ name: 'Runtime.ExitError' });
    expect(runtime.stats).toEqual({ invocations: 1, crashes: 1, callsRefusedAfterCrash: 1 });
  });

  it('crashes every n-th invocation only, and keeps concurrent invocations apart', async () => {
    const runtime = createCrashingRuntime({ afterWrites: 1, everyNth: 2, seed: 1 });
    const { client } = recordingS3();
    client.middlewareStack.add(runtime.middleware, { step: 'initialize', name: 'crash' });
    const invocation = (key: string) =>
      runtime.invoke(async () => {
        await put(client, `${key}-1`);
        await put(client, `${key}-2`);
        return key;
      });

    const outcomes = await Promise.allSettled([invocation('one'), invocation('two'), invocation('three')]);

    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runtime.stats.crashes).toBe(1);
  });

  it('draws the crashing invocations from the seed', async () => {
    const crashes = async (seed: number) => {
      const runtime = createCrashingRuntime({ afterWrites: 1, rate: 0.5, seed });
      const { client } = recordingS3();
      client.middlewareStack.add(runtime.middleware, { step: 'initialize', name: 'crash' });
      const outcomes = [];
      for (let i = 0; i < 40; i++) {
        outcomes.push(
          await runtime
            .invoke(() => put(client, `k${i}`))
            .then(
              () => 0,
              () => 1,
            ),
        );
      }
      return outcomes;
    };

    const first = await crashes(7);

    expect(await crashes(7)).toEqual(first);
    expect(first.filter((c) => c === 1).length).toBeGreaterThan(5);
    expect(first.filter((c) => c === 0).length).toBeGreaterThan(5);
  });

  it('fails when k is not a positive integer, naming the value', () => {
    expect(() => createCrashingRuntime({ afterWrites: 0, rate: 1, seed: 1 })).toThrow(
      'handler crash afterWrites: received 0, expected an integer >= 1',
    );
  });
});
