/**
 * The peer: the validator's work written the way the Powertools documentation suggests, so the
 * bench compares our hand-rolled path with what a team would otherwise ship.
 *
 * `BatchProcessor` for Kinesis with the parser integration: the record schema is Powertools'
 * `KinesisDataStreamRecord` extended with our rule envelope, whose `payload` is our own contract
 * (`telemetryMessage`), both decoded with the documented `Base64Encoded` helper. The record handler
 * then does what our validator does with a valid message: the checks the contract cannot express
 * (device vs topic, clock window), enrichment, alerts; after the batch, the same partitioning, keys,
 * NDJSON and gzip level. The enrichment is written as ours is (an object spread per reading), so
 * the comparison measures the framework and the parser, not a different enrichment.
 *
 * Where the peer differs by design (and the report says so):
 * - a message that fails the schema is a *failed record* (`batchItemFailures`), not a quarantined
 *   success: this is the behaviour RELIABILITY.md point 5 warns against, but it is what the
 *   integration does, and it costs the peer less (no quarantine documents);
 * - `telemetryMessage` validates a batch as a whole: one bad reading fails the whole message.
 */
import { gzipSync } from 'node:zlib';
import {
  BatchProcessor,
  EventType,
  type ParsedRecord,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import { parser } from '@aws-lambda-powertools/batch/parser';
import { Base64Encoded } from '@aws-lambda-powertools/parser/helpers';
import {
  KinesisDataStreamRecord,
  KinesisDataStreamRecordPayload,
} from '@aws-lambda-powertools/parser/schemas/kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import * as z from 'zod';
import { evaluateAlerts, type TelemetryAlert } from '../lambdas/shared/anomaly-rules.ts';
import {
  DEVICE_ID_PATTERN,
  MAX_CLOCK_AHEAD_MS,
  MAX_READING_AGE_MS,
  telemetryMessage,
} from '../lambdas/shared/contract.ts';
import { RAW_GZIP_LEVEL, rawObjectKey, rawPartitionPath } from '../lambdas/shared/lake-objects.ts';
import type { RawRecord } from '../lambdas/shared/raw-record.ts';

/**
 * How the peer decodes a base64 field that holds JSON. `Base64Encoded` is the documented helper: it
 * first tries to gunzip every value (and throws and catches when it is not gzip), then decodes the
 * base64 a second time. `plain` decodes once and parses, nothing else: the A/B that shows what the
 * documented helper costs.
 */
export type Base64Helper = 'Base64Encoded' | 'plain';

function plainBase64Json<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((encoded, ctx) => {
      try {
        return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as unknown;
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not base64-encoded JSON: ${(error as Error).message}` });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/** The IoT rule's envelope (see `RuleEnvelope`), with the device payload decoded and validated in place. */
function ruleEnvelopeSchema(decode: typeof Base64Encoded) {
  return z.object({
    payload: decode(telemetryMessage),
    topic: z.string(),
    deviceId: z.string().regex(DEVICE_ID_PATTERN),
    receivedAtMs: z.number(),
  });
}
type PeerEnvelope = z.infer<ReturnType<typeof ruleEnvelopeSchema>>;
type PeerRecord = ParsedRecord<KinesisStreamRecord, PeerEnvelope>;

/**
 * How the parser is wired. `schema` hands the processor a complete record schema (built once, as a
 * module-level schema in a handler would be); `innerSchema` lets it extend its own Kinesis schema
 * with the `base64` transformer (always `Base64Encoded`), which it does again for every record.
 */
export type PeerWiring = 'schema' | 'innerSchema';

export interface PeerOptions {
  /** @default 'schema' */
  readonly wiring?: PeerWiring;
  /** @default 'Base64Encoded' */
  readonly base64?: Base64Helper;
}

export interface PeerObject {
  readonly key: string;
  readonly body: Buffer;
}

export interface PeerBatchResult {
  readonly failedSequenceNumbers: readonly string[];
  readonly objects: readonly PeerObject[];
  readonly alerts: readonly TelemetryAlert[];
  readonly validReadings: number;
}

export interface Peer {
  processEvent(event: KinesisStreamEvent): Promise<PeerBatchResult>;
}

export function createPeer({ wiring = 'schema', base64 = 'Base64Encoded' }: PeerOptions = {}): Peer {
  const decode: typeof Base64Encoded = base64 === 'Base64Encoded' ? Base64Encoded : plainBase64Json;
  const ruleEnvelope = ruleEnvelopeSchema(decode);
  // One processor per "function", reused across invocations, as the documentation shows.
  const processor =
    wiring === 'schema'
      ? new BatchProcessor(EventType.KinesisDataStreams, {
          parser,
          schema: KinesisDataStreamRecord.extend({
            kinesis: KinesisDataStreamRecordPayload.extend({ data: decode(ruleEnvelope) }),
          }),
        })
      : new BatchProcessor(EventType.KinesisDataStreams, {
          parser,
          innerSchema: ruleEnvelope,
          transformer: 'base64',
        });

  return {
    async processEvent(event) {
      // Valid readings by raw partition, filled by the record handler.
      const groups = new Map<string, RawRecord[]>();
      let validReadings = 0;
      const recordHandler = async (record: PeerRecord): Promise<void> => {
        const { kinesis, eventID } = record;
        const envelope = kinesis.data;
        const message = envelope.payload;
        const readings = 'readings' in message ? message.readings : [message];
        const arrivalMs = Math.round(kinesis.approximateArrivalTimestamp * 1000);
        for (const reading of readings) {
          if (reading.deviceId !== envelope.deviceId) {
            throw new Error(`reading of ${reading.deviceId} published on the topic of ${envelope.deviceId}`);
          }
          const deviceMs = Date.parse(reading.timestamp);
          if (deviceMs - arrivalMs > MAX_CLOCK_AHEAD_MS || arrivalMs - deviceMs > MAX_READING_AGE_MS) {
            throw new Error(`timestamp ${reading.timestamp} outside the accepted window`);
          }
        }
        const ingestArrivedAt = new Date(arrivalMs).toISOString();
        const ingestBrokerReceivedAt = new Date(envelope.receivedAtMs).toISOString();
        const ingestShardId = eventID.split(':')[0] ?? 'unknown-shard';
        for (const reading of readings) {
          const partition = rawPartitionPath(reading.deviceType, arrivalMs);
          let group = groups.get(partition);
          if (!group) {
            group = [];
            groups.set(partition, group);
          }
          group.push({
            ...reading,
            ingestArrivedAt,
            ingestBrokerReceivedAt,
            ingestShardId,
            ingestSequenceNumber: kinesis.sequenceNumber,
          });
        }
        validReadings += readings.length;
      };

      const response = await processPartialResponse(event, recordHandler, processor, {
        // A batch of nothing but bad messages is still a batch to report, not an exception.
        throwOnFullBatchFailure: false,
      });

      const objects: PeerObject[] = [];
      const alerts: TelemetryAlert[] = [];
      for (const [partition, group] of groups) {
        for (const raw of group) alerts.push(...evaluateAlerts(raw));
        const ndjson = group.map((raw) => `${JSON.stringify(raw)}\n`).join('');
        objects.push({
          key: rawObjectKey(
            partition,
            group.map((raw) => raw.eventId),
          ),
          body: gzipSync(ndjson, { level: RAW_GZIP_LEVEL }),
        });
      }
      return {
        failedSequenceNumbers: response.batchItemFailures.map((failure) => failure.itemIdentifier),
        objects,
        alerts,
        validReadings,
      };
    },
  };
}
