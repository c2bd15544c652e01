/**
 * The alerts the validator archives in the raw bucket (`alerts/`): which objects a batch plans,
 * what their lines hold, and that their keys depend on the alerts alone, so a retried batch
 * overwrites its objects. Pure: `planBatch` does no I/O.
 */
import { gunzipSync } from 'node:zlib';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { telemetryTopic } from '../../../lambdas/shared/contract.ts';
import { alertObjectKey, alertPartitionPath } from '../../../lambdas/shared/lake-objects.ts';
import {
  type PlannedObject,
  planBatch,
  type ValidatorTargets,
} from '../../../lambdas/validator/process-batch.ts';
import { applyTelemetryRule } from '../../../local/iot-rule.ts';
import { buildKinesisEvent } from '../../../local/kinesis-event.ts';
import { makeReading } from '../../support/readings.ts';

const HOUR_09 = Date.parse('2026-11-27T09:59:58.250Z');
const HOUR_10 = Date.parse('2026-11-27T10:00:03.000Z');
const DEVICE_TIME = '2026-11-27T09:59:50.000Z';
const targets: ValidatorTargets = {
  rawBucket: 'raw',
  quarantineBucket: 'quarantine',
  alertBusName: 'alerts',
  criticalAlertTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
};

interface Message {
  readonly deviceId: string;
  readonly body: unknown;
  readonly arrivalMs: number;
  readonly sequenceNumber: string;
}

function streamEvent(messages: readonly Message[]): KinesisStreamEvent {
  return buildKinesisEvent(
    messages.map(({ deviceId, body, arrivalMs, sequenceNumber }) => {
      const out = applyTelemetryRule(telemetryTopic(deviceId), Buffer.from(JSON.stringify(body)), arrivalMs);
      if (!out) throw new Error('topic did not match');
      return { ...out, sequenceNumber, approximateArrivalMs: arrivalMs, shardId: 'shardId-000000000002' };
    }),
    {
      streamArn: 'arn:aws:kinesis:us-east-1:111122223333:stream/t',
      region: 'us-east-1',
      executionRoleArn: 'arn:aws:iam::111122223333:role/v',
    },
  );
}

const smoke = {
  ...makeReading('sensor', 1, DEVICE_TIME, 'smoke-1'),
  sensorKind: 'smoke',
  value: 1,
  unit: 'bool',
  batteryPct: 90,
};
const jammedLowLock = {
  ...makeReading('smart_lock', 2, DEVICE_TIME, 'lock-1'),
  lockState: 'jammed',
  batteryPct: 9.5,
};
const quietThermostat = makeReading('thermostat', 3, DEVICE_TIME, 'thermo-1');
const blindCamera = { ...makeReading('camera', 4, DEVICE_TIME, 'cam-1'), fps: 0 };

const MESSAGES: readonly Message[] = [
  { deviceId: 'smoke-1', body: smoke, arrivalMs: HOUR_09, sequenceNumber: '700' },
  { deviceId: 'thermo-1', body: quietThermostat, arrivalMs: HOUR_09, sequenceNumber: '701' },
  { deviceId: 'lock-1', body: jammedLowLock, arrivalMs: HOUR_09, sequenceNumber: '702' },
  { deviceId: 'cam-1', body: blindCamera, arrivalMs: HOUR_10, sequenceNumber: '703' },
];

const alertObjectsOf = (objects: readonly PlannedObject[]) =>
  objects.filter((object) => object.key.startsWith('alerts/'));

const linesOf = (object: PlannedObject | undefined) =>
  gunzipSync(object?.body ?? Buffer.alloc(0))
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));

describe('alerts objects of a batch', () => {
  it('writes one gzip NDJSON object per arrival hour to the raw bucket, under alerts/', () => {
    // Act
    const objects = alertObjectsOf(planBatch(streamEvent(MESSAGES), targets).objects);

    // Assess
    expect(objects.map(({ bucket, key, contentType }) => ({ bucket, contentType, key }))).toEqual([
      {
        bucket: 'raw',
        contentType: 'application/gzip',
        key: expect.stringMatching(
          /^alerts\/ingest_date=2026-11-27\/ingest_hour=09\/part-[0-9a-f]{32}\.ndjson\.gz$/,
        ),
      },
      {
        bucket: 'raw',
        contentType: 'application/gzip',
        key: expect.stringMatching(
          /^alerts\/ingest_date=2026-11-27\/ingest_hour=10\/part-[0-9a-f]{32}\.ndjson\.gz$/,
        ),
      },
    ]);
    // Only the records that raised the alerts: the quiet thermostat (record 1) is in neither.
    expect(objects.map((object) => object.recordIndices)).toEqual([[0, 2], [3]]);
  });

  it("holds each alert's fields, observed and threshold as text, and the record's arrival", () => {
    // Act
    const [hour09, hour10] = alertObjectsOf(planBatch(streamEvent(MESSAGES), targets).objects);

    // Assess
    expect(linesOf(hour09)).toEqual([
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
        arrivedAt: '2026-11-27T09:59:58.250Z',
      },
      {
        alertId: `${jammedLowLock.eventId}:lock_jammed`,
        rule: 'lock_jammed',
        severity: 'security',
        deviceId: 'lock-1',
        deviceType: 'smart_lock',
        eventId: jammedLowLock.eventId,
        timestamp: DEVICE_TIME,
        message: 'Lock lock-1 is jammed',
        observed: 'jammed',
        threshold: 'jammed',
        arrivedAt: '2026-11-27T09:59:58.250Z',
      },
      {
        alertId: `${jammedLowLock.eventId}:battery_low`,
        rule: 'battery_low',
        severity: 'warning',
        deviceId: 'lock-1',
        deviceType: 'smart_lock',
        eventId: jammedLowLock.eventId,
        timestamp: DEVICE_TIME,
        message: 'Battery low on lock-1',
        observed: '9.5',
        threshold: '15',
        arrivedAt: '2026-11-27T09:59:58.250Z',
      },
    ]);
    expect(linesOf(hour10)).toEqual([
      expect.objectContaining({
        alertId: `${blindCamera.eventId}:camera_no_frames`,
        observed: '0',
        threshold: '0',
        arrivedAt: '2026-11-27T10:00:03.000Z',
      }),
    ]);
  });

  it('names each object by a hash of its sorted alert ids', () => {
    // Act
    const [hour09] = alertObjectsOf(planBatch(streamEvent(MESSAGES), targets).objects);

    // Assess
    expect(hour09?.key).toBe(
      alertObjectKey(alertPartitionPath(HOUR_09), [
        `${jammedLowLock.eventId}:lock_jammed`,
        `${smoke.eventId}:smoke_detected`,
        `${jammedLowLock.eventId}:battery_low`,
      ]),
    );
  });

  it('plans the same keys and bytes when the batch is retried, whatever the record order', () => {
    // Prepare
    const first = alertObjectsOf(planBatch(streamEvent(MESSAGES), targets).objects);

    // Act
    const retried = alertObjectsOf(planBatch(streamEvent(MESSAGES), targets).objects);
    const reordered = alertObjectsOf(planBatch(streamEvent([...MESSAGES].reverse()), targets).objects);

    // Assess
    expect(retried).toEqual(first);
    expect(reordered.map((object) => object.key).sort()).toEqual(first.map((object) => object.key).sort());
  });

  it('plans no alerts object for a batch that raises no alert', () => {
    // Act
    const objects = planBatch(
      streamEvent([{ deviceId: 'thermo-1', body: quietThermostat, arrivalMs: HOUR_09, sequenceNumber: '9' }]),
      targets,
    ).objects;

    // Assess
    expect(objects.map((object) => object.key.split('/')[0])).toEqual(['telemetry']);
  });
});
