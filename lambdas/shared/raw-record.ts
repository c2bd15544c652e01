/**
 * The raw zone's record: a valid reading as the device sent it, plus where and when the pipeline
 * received it. One NDJSON line per reading.
 */
import type { Reading } from './contract.ts';

/** Fields the validator adds to every valid reading. Timestamps are ISO 8601 strings in UTC. */
export interface IngestFields {
  /** When the stream accepted the record (Kinesis approximate arrival time). */
  readonly ingestArrivedAt: string;
  /** When IoT Core received the message; null for records put on the stream directly. */
  readonly ingestBrokerReceivedAt: string | null;
  readonly ingestShardId: string;
  readonly ingestSequenceNumber: string;
}

/** Catalog types of the ingest fields (Glue/Hive type names), for tables derived from the contract. */
export const INGEST_FIELD_TYPES: Readonly<Record<keyof IngestFields, 'string'>> = {
  ingestArrivedAt: 'string',
  ingestBrokerReceivedAt: 'string',
  ingestShardId: 'string',
  ingestSequenceNumber: 'string',
};

export type RawRecord = Reading & IngestFields;
