/**
 * Injected faults of S3, EventBridge and SNS: exactly the records whose writes failed are reported
 * in `batchItemFailures`, nothing else, and every reading is accounted for.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { telemetryTopic } from '../../../lambdas/shared/contract.ts';
import { createHandler } from '../../../lambdas/validator/handler.ts';
import { processKinesisBatch, type ValidatorDeps } from '../../../lambdas/validator/process-batch.ts';
import { applyTelemetryRule } from '../../../local/iot-rule.ts';
import { buildKinesisEvent } from '../../../local/kinesis-event.ts';
import { makeReading } from '../../support/readings.ts';

const ARRIVAL_MS = Date.parse('2026-11-27T09:30:00.000Z');
const DEVICE_TIME = '2026-11-27T09:29:59.000Z';
const context = { functionName: 'validator', awsRequestId: 'test' } as unknown as Context;
const s3 = mockClient(S3Client);
const eventBridge = mockClient(EventBridgeClient);
const sns = mockClient(SNSClient);
const deps: ValidatorDeps = {
  rawBucket: 'raw',
  quarantineBucket: 'quarantine',
  alertBusName: 'alerts',
  criticalAlertTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
  clients: { s3: new S3Client({}), eventBridge: new EventBridgeClient({}), sns: new SNSClient({}) },
};

function streamEvent(payloads: Array<{ deviceId: string; body: unknown }>): KinesisStreamEvent {
  return buildKinesisEvent(
    payloads.map(({ deviceId, body }, i) => {
      const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      const out = applyTelemetryRule(telemetryTopic(deviceId), bytes, ARRIVAL_MS);
      if (!out) throw new Error('topic did not match');
      return {
        ...out,
        sequenceNumber: `4960000000000000000000${i}`,
        approximateArrivalMs: ARRIVAL_MS,
        shardId: 'shardId-000000000001',
      };
    }),
    {
      streamArn: 'arn:aws:kinesis:us-east-1:111122223333:stream/t',
      region: 'us-east-1',
      executionRoleArn: 'arn:aws:iam::111122223333:role/v',
    },
  );
}

const serviceUnavailable = () =>
  Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable', $fault: 'server' });

beforeEach(() => {
  s3.reset();
  eventBridge.reset();
  sns.reset();
  s3.on(PutObjectCommand).resolves({});
  eventBridge.on(PutEventsCommand).callsFake(async (input: { Entries: PutEventsRequestEntry[] }) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map(() => ({ EventId: 'ok' })),
  }));
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
});

describe('validator under injected faults', () => {
  it('reports exactly the records whose raw partition failed to write', async () => {
    // Prepare: thermostats (records 0, 2) share a partition; the camera (record 1) has its own.
    s3.on(PutObjectCommand, { Bucket: 'raw' }).callsFake(async (input: { Key: string }) => {
      if (input.Key.includes('device_type=thermostat')) throw serviceUnavailable();
      return {};
    });
    const event = streamEvent([
      { deviceId: 't1', body: makeReading('thermostat', 1, DEVICE_TIME, 't1') },
      { deviceId: 'c1', body: makeReading('camera', 2, DEVICE_TIME, 'c1') },
      { deviceId: 't2', body: makeReading('thermostat', 3, DEVICE_TIME, 't2') },
    ]);

    // Act
    const response = await createHandler(() => deps)(event, context);

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      '49600000000000000000000',
      '49600000000000000000002',
    ]);
  });

  it('reports a record whose quarantine write failed, and not its neighbours', async () => {
    // Prepare
    s3.on(PutObjectCommand, { Bucket: 'quarantine' }).rejects(serviceUnavailable());
    const event = streamEvent([
      { deviceId: 's1', body: makeReading('sensor', 1, DEVICE_TIME, 's1') },
      { deviceId: 's2', body: '{{not json' },
    ]);

    // Act
    const response = await createHandler(() => deps)(event, context);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '49600000000000000000001' }]);
  });

  it('reports the record whose alert EventBridge rejected in a partly failed PutEvents', async () => {
    // Prepare: two locks jammed (security alerts); EventBridge fails the second entry only.
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'ok' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });
    const jammed = (n: number, id: string) => ({
      ...makeReading('smart_lock', n, DEVICE_TIME, id),
      lockState: 'jammed',
    });
    const event = streamEvent([
      { deviceId: 'l1', body: jammed(1, 'l1') },
      { deviceId: 'l2', body: jammed(2, 'l2') },
    ]);

    // Act
    const outcome = await processKinesisBatch(event, deps);

    // Assess
    expect(outcome.response.batchItemFailures).toEqual([{ itemIdentifier: '49600000000000000000001' }]);
    expect(outcome.failed[0]?.error).toContain('InternalFailure');
  });

  it('reports the records whose alerts object failed to write, and not their neighbours', async () => {
    // Prepare: two jammed locks (records 0, 2) raise alerts into one alerts object; the camera
    // (record 1) raises none. The readings' own raw objects are written.
    s3.on(PutObjectCommand, { Bucket: 'raw' }).callsFake(async (input: { Key: string }) => {
      if (input.Key.startsWith('alerts/')) throw serviceUnavailable();
      return {};
    });
    const jammed = (n: number, id: string) => ({
      ...makeReading('smart_lock', n, DEVICE_TIME, id),
      lockState: 'jammed',
    });
    const event = streamEvent([
      { deviceId: 'l1', body: jammed(1, 'l1') },
      { deviceId: 'c1', body: makeReading('camera', 2, DEVICE_TIME, 'c1') },
      { deviceId: 'l2', body: jammed(3, 'l2') },
    ]);

    // Act
    const outcome = await processKinesisBatch(event, deps);

    // Assess
    expect(outcome.response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      '49600000000000000000000',
      '49600000000000000000002',
    ]);
    expect(outcome.failed[0]?.error).toContain('ServiceUnavailable');
    const alertPuts = s3
      .commandCalls(PutObjectCommand)
      .map((call) => call.args[0].input.Key ?? '')
      .filter((key) => key.startsWith('alerts/'));
    expect(alertPuts).toEqual([
      expect.stringMatching(
        /^alerts\/ingest_date=2026-11-27\/ingest_hour=09\/part-[0-9a-f]{32}\.ndjson\.gz$/,
      ),
    ]);
  });

  it('reports the record whose critical alert SNS failed to publish', async () => {
    // Prepare
    sns.on(PublishCommand).rejects(serviceUnavailable());
    const leak = {
      ...makeReading('sensor', 5, DEVICE_TIME, 'leak-1'),
      sensorKind: 'water_leak',
      value: 1,
      unit: 'bool',
    };
    const event = streamEvent([
      { deviceId: 'x1', body: makeReading('camera', 4, DEVICE_TIME, 'x1') },
      { deviceId: 'leak-1', body: leak },
    ]);

    // Act
    const response = await createHandler(() => deps)(event, context);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '49600000000000000000001' }]);
  });

  it('never throws and accounts for every reading when every write fails', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(serviceUnavailable());
    eventBridge.on(PutEventsCommand).rejects(serviceUnavailable());
    const event = streamEvent([
      {
        deviceId: 'a',
        body: {
          schemaVersion: 1,
          readings: [1, 2, 3].map((n) => makeReading('camera', n, DEVICE_TIME, 'a')),
        },
      },
      { deviceId: 'b', body: 'garbage' },
      { deviceId: 'c', body: { ...makeReading('smart_lock', 9, DEVICE_TIME, 'c'), failedAttempts: 12 } },
    ]);

    // Act
    const outcome = await processKinesisBatch(event, deps);

    // Assess
    expect(outcome.response.batchItemFailures).toHaveLength(3);
    expect(outcome.readings).toBe(outcome.valid + outcome.quarantined + outcome.duplicatesDropped);
    expect(outcome).toMatchObject({ records: 3, readings: 5, valid: 4, quarantined: 1 });
  });
});
