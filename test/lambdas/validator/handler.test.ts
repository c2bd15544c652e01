/**
 * The validator handler against the real S3 API (s3rver) and the twin's alert sink, which speaks
 * EventBridge's and SNS's APIs as the SDK sends them.
 */
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorClients } from '../../../lambdas/shared/aws-clients.ts';
import { telemetryTopic } from '../../../lambdas/shared/contract.ts';
import { createHandler } from '../../../lambdas/validator/handler.ts';
import type { ValidatorDeps } from '../../../lambdas/validator/process-batch.ts';
import { type AlertsSink, startAlertsSink } from '../../../local/alerts-sink.ts';
import { applyTelemetryRule } from '../../../local/iot-rule.ts';
import { buildKinesisEvent } from '../../../local/kinesis-event.ts';
import { type S3StandIn, startS3StandIn } from '../../../local/s3-stand-in.ts';
import { makeReading } from '../../support/readings.ts';

const RAW = 'raw-bucket';
const QUARANTINE = 'quarantine-bucket';
const ARRIVAL_MS = Date.parse('2026-11-27T17:05:00.000Z');
const DEVICE_TIME = '2026-11-27T17:04:58.000Z';
const context = { functionName: 'validator', awsRequestId: 'test' } as unknown as Context;

let s3: S3StandIn;
let sink: AlertsSink;
let deps: ValidatorDeps;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: [RAW, QUARANTINE] });
  sink = await startAlertsSink();
  deps = {
    rawBucket: RAW,
    quarantineBucket: QUARANTINE,
    alertBusName: 'alerts',
    criticalAlertTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
    clients: createValidatorClients({ ...sink.clientOverrides, ...s3.clientOverrides }),
  };
});
afterAll(async () => {
  await Promise.all([s3.close(), sink.close()]);
});
/** Stream records as the topic rule would put them, one per message. */
function streamEvent(
  messages: Array<{ deviceId: string; payload: string | Buffer }>,
  firstSeq = 100,
): KinesisStreamEvent {
  return buildKinesisEvent(
    messages.map(({ deviceId, payload }, i) => {
      const out = applyTelemetryRule(telemetryTopic(deviceId), Buffer.from(payload), ARRIVAL_MS - 1000);
      if (!out) throw new Error('topic did not match the rule');
      return {
        data: out.data,
        partitionKey: out.partitionKey,
        sequenceNumber: String(firstSeq + i),
        approximateArrivalMs: ARRIVAL_MS,
        shardId: 'shardId-000000000000',
      };
    }),
    {
      streamArn: 'arn:aws:kinesis:us-east-1:111122223333:stream/telemetry',
      region: 'us-east-1',
      executionRoleArn: 'arn:aws:iam::111122223333:role/validator',
    },
  );
}

async function listKeys(client: S3Client, bucket: string): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function readObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
}

describe('validator handler', () => {
  it('writes valid readings to the raw zone, quarantines the rest, and retries nothing', async () => {
    // Prepare
    const thermostat = makeReading('thermostat', 1, DEVICE_TIME, 'thermo-1');
    const smoke = {
      ...makeReading('sensor', 2, DEVICE_TIME, 'smoke-1'),
      sensorKind: 'smoke',
      value: 1,
      unit: 'bool',
    };
    const batch = {
      schemaVersion: 1,
      readings: [
        makeReading('camera', 3, DEVICE_TIME, 'cam-1'),
        makeReading('camera', 4, DEVICE_TIME, 'cam-1'),
      ],
    };
    const event = streamEvent([
      { deviceId: 'thermo-1', payload: JSON.stringify(thermostat) },
      { deviceId: 'smoke-1', payload: JSON.stringify(smoke) },
      { deviceId: 'cam-1', payload: JSON.stringify(batch) },
      { deviceId: 'lock-9', payload: 'not json at all' },
    ]);
    const handler = createHandler(() => deps);

    // Act
    const response = await handler(event, context);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const allRawKeys = await listKeys(deps.clients.s3, RAW);
    const rawKeys = allRawKeys.filter((k) => k.startsWith('telemetry/'));
    expect(rawKeys).toHaveLength(3);
    expect(
      rawKeys.every((k) =>
        /^telemetry\/device_type=\w+\/ingest_date=2026-11-27\/ingest_hour=17\/part-[0-9a-f]{32}\.ndjson\.gz$/.test(
          k,
        ),
      ),
    ).toBe(true);
    const cameraKey = rawKeys.find((k) => k.includes('device_type=camera')) ?? '';
    const lines = gunzipSync(await readObject(deps.clients.s3, RAW, cameraKey))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.eventId)).toEqual(batch.readings.map((r) => r.eventId));
    expect(lines[0]).toMatchObject({
      deviceId: 'cam-1',
      ingestArrivedAt: '2026-11-27T17:05:00.000Z',
      ingestBrokerReceivedAt: '2026-11-27T17:04:59.000Z',
      ingestSequenceNumber: '102',
    });

    const quarantineKeys = await listKeys(deps.clients.s3, QUARANTINE);
    expect(quarantineKeys).toEqual([
      'rejected/ingest_date=2026-11-27/ingest_hour=17/shardId-000000000000-103.json',
    ]);
    const quarantined = JSON.parse(
      (await readObject(deps.clients.s3, QUARANTINE, quarantineKeys[0] ?? '')).toString(),
    );
    expect(Buffer.from(quarantined.payloadBase64, 'base64').toString()).toBe('not json at all');
    expect(quarantined.rejections[0].reasons[0]).toMatchObject({
      code: 'not_json',
      received: 'not json at all',
    });
    expect(quarantined.topicDeviceId).toBe('lock-9');

    // The smoke alert is also archived in the raw bucket, beside (not inside) the telemetry table.
    const alertKeys = allRawKeys.filter((k) => k.startsWith('alerts/'));
    expect(alertKeys).toEqual([
      expect.stringMatching(
        /^alerts\/ingest_date=2026-11-27\/ingest_hour=17\/part-[0-9a-f]{32}\.ndjson\.gz$/,
      ),
    ]);
    expect(allRawKeys).toHaveLength(rawKeys.length + alertKeys.length);
    const archived = gunzipSync(await readObject(deps.clients.s3, RAW, alertKeys[0] ?? ''))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(archived).toEqual([
      {
        alertId: `${smoke.eventId}:smoke_detected`,
        rule: 'smoke_detected',
        severity: 'critical',
        deviceId: 'smoke-1',
        deviceType: 'sensor',
        eventId: smoke.eventId,
        timestamp: DEVICE_TIME,
        message: 'Smoke detected by smoke-1',
        observed: '1',
        threshold: '1',
        arrivedAt: '2026-11-27T17:05:00.000Z',
      },
    ]);

    expect(sink.events.map((e) => e.detail)).toEqual([
      expect.objectContaining({
        rule: 'smoke_detected',
        severity: 'critical',
        deviceId: 'smoke-1',
        alertId: `${smoke.eventId}:smoke_detected`,
      }),
    ]);
    expect(sink.events[0]).toMatchObject({
      eventBusName: 'alerts',
      source: 'sdap.telemetry',
      detailType: 'Telemetry Alert',
    });
    expect(sink.notifications).toEqual([
      expect.objectContaining({
        topicArn: deps.criticalAlertTopicArn,
        subject: '[critical] Smoke detected by smoke-1',
      }),
    ]);
  });

  it('writes the same objects when the same batch is delivered twice', async () => {
    // Prepare: the jammed lock raises an alert, so the batch also writes an alerts object.
    const readings = [1, 2, 3].map((n) => ({
      ...makeReading('smart_lock', 100 + n, DEVICE_TIME, 'lock-2'),
      ...(n === 2 && { lockState: 'jammed' as const }),
    }));
    const event = streamEvent(
      [
        { deviceId: 'lock-2', payload: JSON.stringify({ schemaVersion: 1, readings }) },
        { deviceId: 'lock-2', payload: '{"broken":' },
      ],
      500,
    );
    const handler = createHandler(() => deps);
    const before = new Set([
      ...(await listKeys(deps.clients.s3, RAW)),
      ...(await listKeys(deps.clients.s3, QUARANTINE)),
    ]);

    // Act
    await handler(event, context);
    const afterFirst = [
      ...(await listKeys(deps.clients.s3, RAW)),
      ...(await listKeys(deps.clients.s3, QUARANTINE)),
    ];
    const firstBodies = await Promise.all(
      afterFirst
        .filter((k) => !before.has(k))
        .map((k) => readObject(deps.clients.s3, k.startsWith('rejected/') ? QUARANTINE : RAW, k)),
    );
    await handler(event, context);
    const afterSecond = [
      ...(await listKeys(deps.clients.s3, RAW)),
      ...(await listKeys(deps.clients.s3, QUARANTINE)),
    ];
    const secondBodies = await Promise.all(
      afterSecond
        .filter((k) => !before.has(k))
        .map((k) => readObject(deps.clients.s3, k.startsWith('rejected/') ? QUARANTINE : RAW, k)),
    );

    // Assess
    expect(afterSecond).toEqual(afterFirst);
    expect(afterFirst.filter((k) => !before.has(k)).map((k) => k.split('/')[0])).toEqual([
      'alerts',
      'telemetry',
      'rejected',
    ]);
    expect(secondBodies).toEqual(firstBodies);
  });

  it('drops a reading redelivered in the same batch instead of writing it twice', async () => {
    // Prepare
    const reading = JSON.stringify(makeReading('sensor', 900, DEVICE_TIME, 'sensor-9'));
    const event = streamEvent(
      [
        { deviceId: 'sensor-9', payload: reading },
        { deviceId: 'sensor-9', payload: reading },
      ],
      900,
    );
    const handler = createHandler(() => deps);

    // Act
    await handler(event, context);

    // Assess
    const keys = (await listKeys(deps.clients.s3, RAW)).filter((k) => k.includes('device_type=sensor'));
    const bodies = await Promise.all(keys.map((k) => readObject(deps.clients.s3, RAW, k)));
    const ids = bodies
      .flatMap((b) => gunzipSync(b).toString().trim().split('\n'))
      .map((l) => JSON.parse(l).eventId);
    expect(ids.filter((id) => id === JSON.parse(reading).eventId)).toHaveLength(1);
  });
});
