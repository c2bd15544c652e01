/**
 * Reading the quarantine for a requeue: which partitions a window spans, which objects it selects,
 * and the stream record each object is rebuilt into. The objects are those the validator's own plan
 * writes for rejected records.
 */
import { describe, expect, it } from 'vitest';
import { telemetryTopic } from '../../lambdas/shared/contract.ts';
import { planBatch } from '../../lambdas/validator/process-batch.ts';
import { applyTelemetryRule } from '../../local/iot-rule.ts';
import { buildKinesisEvent } from '../../local/kinesis-event.ts';
import {
  isSelected,
  originalIdentity,
  type QuarantineDocument,
  quarantinePrefixes,
  rebuildStreamRecord,
} from '../../ops/quarantine-reader.ts';
import { makeReading } from '../support/readings.ts';

const ARRIVAL_MS = Date.parse('2026-11-27T23:40:00.000Z');

/** The quarantine documents the validator writes for these stream records, arrived at `arrivalMs`. */
function quarantined(
  records: ReadonlyArray<{ data: Buffer; partitionKey: string }>,
  arrivalMs = ARRIVAL_MS,
  firstSequence = 100,
): QuarantineDocument[] {
  const event = buildKinesisEvent(
    records.map((record, i) => ({
      ...record,
      sequenceNumber: String(firstSequence + i),
      approximateArrivalMs: arrivalMs,
      shardId: 'shardId-000000000001',
    })),
    {
      streamArn: 'arn:aws:kinesis:eu-west-1:111122223333:stream/s',
      region: 'eu-west-1',
      executionRoleArn: 'r',
    },
  );
  const targets = { rawBucket: 'raw', quarantineBucket: 'q', alertBusName: 'b', criticalAlertTopicArn: 't' };
  return planBatch(event, targets)
    .objects.filter((object) => object.bucket === 'q')
    .map((object) => JSON.parse(object.body.toString('utf8')) as QuarantineDocument);
}

function viaRule(deviceId: string, payload: string, receivedAtMs = ARRIVAL_MS - 40) {
  const rule = applyTelemetryRule(telemetryTopic(deviceId), Buffer.from(payload), receivedAtMs);
  if (!rule) throw new Error('no rule output');
  return rule;
}

const timestamp = new Date(ARRIVAL_MS - 1000).toISOString();
const outOfRange = JSON.stringify({
  ...makeReading('thermostat', 1, timestamp, 'thermostat-1'),
  ambientTemperatureC: 99,
});

describe('quarantinePrefixes', () => {
  it('lists every arrival hour the window overlaps, across midnight', () => {
    expect(
      quarantinePrefixes(Date.parse('2026-11-27T22:30:00Z'), Date.parse('2026-11-28T00:00:01Z')),
    ).toEqual([
      'rejected/ingest_date=2026-11-27/ingest_hour=22/',
      'rejected/ingest_date=2026-11-27/ingest_hour=23/',
      'rejected/ingest_date=2026-11-28/ingest_hour=00/',
    ]);
  });
});

describe('isSelected', () => {
  const [document] = quarantined([viaRule('thermostat-1', outOfRange)]) as [QuarantineDocument];

  it('selects by arrival time, from inclusive and to exclusive', () => {
    expect(isSelected(document, { fromMs: ARRIVAL_MS, toMs: ARRIVAL_MS + 1 })).toBe(true);
    expect(isSelected(document, { fromMs: ARRIVAL_MS - 60_000, toMs: ARRIVAL_MS })).toBe(false);
  });

  it('selects by any reason code of any rejection when reasons are given', () => {
    const window = { fromMs: ARRIVAL_MS, toMs: ARRIVAL_MS + 1 };
    expect(isSelected(document, { ...window, reasons: ['schema_violation', 'out_of_range'] })).toBe(true);
    expect(isSelected(document, { ...window, reasons: ['not_json'] })).toBe(false);
    expect(isSelected(document, { ...window, reasons: [] })).toBe(true);
  });
});

describe('rebuildStreamRecord', () => {
  it("rebuilds the rule's record byte for byte, with the broker's receive time and partition key = device id", () => {
    const original = viaRule('thermostat-1', outOfRange);
    const [document] = quarantined([original]) as [QuarantineDocument];

    expect(rebuildStreamRecord(document)).toEqual({ Data: original.data, PartitionKey: 'thermostat-1' });
  });

  it('gives back a record a producer put directly as its bytes, with its partition key', () => {
    const data = Buffer.from('not json at all');
    const [document] = quarantined([{ data, partitionKey: 'bench-producer-3' }]) as [QuarantineDocument];

    expect(document.topic).toBeNull();
    expect(rebuildStreamRecord(document)).toEqual({ Data: data, PartitionKey: 'bench-producer-3' });
  });

  it('leaves alone an envelope whose topic the rule does not read', () => {
    const data = Buffer.from(
      JSON.stringify({
        payload: Buffer.from(outOfRange).toString('base64'),
        topic: 'cmd/other',
        deviceId: 'x',
      }),
    );
    const [document] = quarantined([{ data, partitionKey: 'x' }]) as [QuarantineDocument];

    expect(document.topic).toBe('cmd/other');
    expect(rebuildStreamRecord(document)).toBeUndefined();
  });
});

describe('originalIdentity', () => {
  it("is the same for an original and a requeue's copy of it, and differs for another message", () => {
    const original = viaRule('thermostat-1', outOfRange);
    const [first] = quarantined([original]) as [QuarantineDocument];
    const [copy] = quarantined([original], ARRIVAL_MS + 3_600_000, 900) as [QuarantineDocument];
    const [other] = quarantined([viaRule('thermostat-1', outOfRange, ARRIVAL_MS - 30)]) as [
      QuarantineDocument,
    ];

    expect(copy.sequenceNumber).not.toBe(first.sequenceNumber);
    expect(originalIdentity(copy)).toBe(originalIdentity(first));
    expect(originalIdentity(other)).not.toBe(originalIdentity(first));
  });
});
