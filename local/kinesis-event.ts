/**
 * Builds the `KinesisStreamEvent` the Lambda event source mapping delivers, record for record:
 * the same field names, base64 data, arrival time in epoch seconds and `eventID` format.
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

export interface StreamRecordInput {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly sequenceNumber: string;
  /** Epoch milliseconds. */
  readonly approximateArrivalMs: number;
  readonly shardId: string;
}

export interface StreamIdentity {
  readonly streamArn: string;
  readonly region: string;
  readonly executionRoleArn: string;
}

export function buildKinesisEvent(
  records: readonly StreamRecordInput[],
  stream: StreamIdentity,
): KinesisStreamEvent {
  return {
    Records: records.map(
      (record): KinesisStreamRecord => ({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: record.partitionKey,
          sequenceNumber: record.sequenceNumber,
          data: Buffer.from(record.data).toString('base64'),
          approximateArrivalTimestamp: record.approximateArrivalMs / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${record.shardId}:${record.sequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: stream.executionRoleArn,
        awsRegion: stream.region,
        eventSourceARN: stream.streamArn,
      }),
    ),
  };
}
