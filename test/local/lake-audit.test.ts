/**
 * Reading a twin's lake back: what lands in the failure destination is attributed to the message
 * it came from, whether the topic rule wrapped it or a producer put it on the stream directly.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { readLake } from '../../local/lake-audit.ts';
import { type S3StandIn, startS3StandIn } from '../../local/s3-stand-in.ts';

const BUCKETS = { raw: 'audit-raw', quarantine: 'audit-quarantine', failures: 'audit-failures' };

function failureObject(records: readonly Buffer[]): string {
  const event = {
    Records: records.map((data, n) => ({
      kinesis: { data: data.toString('base64'), sequenceNumber: String(n), partitionKey: 'p' },
    })),
  };
  return JSON.stringify({
    requestContext: {
      requestId: 'r',
      functionArn: 'f',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 11,
    },
    version: '1.0',
    timestamp: '2026-11-27T10:00:00.000Z',
    payload: JSON.stringify(event),
  });
}

describe('readLake', () => {
  let s3: S3StandIn;

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: Object.values(BUCKETS) });
  });
  afterAll(() => s3.close());

  it('attributes dead-lettered records to their device payload, wrapped by the rule or put directly', async () => {
    // Prepare
    const client = createValidatorClients(s3.clientOverrides).s3;
    const devicePayload = Buffer.from('{"eventId":"e-1"}');
    const wrapped = Buffer.from(
      JSON.stringify({
        payload: devicePayload.toString('base64'),
        topic: 'dt/sdap/thermostat-1/telemetry',
        deviceId: 'thermostat-1',
        receivedAtMs: 1,
      }),
    );
    const direct = Buffer.from('not an envelope, not even JSON');
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKETS.failures,
        Key: 'aws/lambda/m/1.json',
        Body: failureObject([wrapped, direct]),
      }),
    );

    // Act
    const lake = await readLake(client, BUCKETS);

    // Assess
    expect(lake.deadLettered).toEqual([
      { deviceId: 'thermostat-1', payload: devicePayload, source: 'event-source-mapping' },
      { deviceId: '', payload: direct, source: 'event-source-mapping' },
    ]);
  }, 30_000);
});
