/**
 * Classifies one stream record: every reading it carries ends up valid or rejected with reasons.
 * Pure and total: any byte string is classified, nothing here throws on bad input.
 */
import { gunzipSync } from 'node:zlib';
import type * as z from 'zod';
import {
  DEVICE_TYPES,
  type DeviceType,
  MAX_CLOCK_AHEAD_MS,
  MAX_MESSAGE_BYTES,
  MAX_READING_AGE_MS,
  MAX_READINGS_PER_MESSAGE,
  READING_SCHEMAS,
  type Reading,
  type Rejection,
  type RuleEnvelope,
  SUPPORTED_SCHEMA_VERSIONS,
} from './contract.ts';
import { valueAt } from './received-value.ts';

/** What the pipeline knows about a record besides its bytes. */
export interface RecordContext {
  /** When the stream accepted the record (Kinesis `approximateArrivalTimestamp`), in epoch ms. */
  readonly arrivalMs: number;
}

/** The rejection of a whole message (`index` null) or of one reading of a batch. */
export interface ReadingRejection {
  readonly index: number | null;
  readonly eventId?: string;
  readonly reasons: readonly Rejection[];
}

export interface ClassifiedMessage {
  /** The readings that passed, in message order. */
  readonly valid: readonly Reading[];
  readonly rejected: readonly ReadingRejection[];
  /** Readings the message carried; a message that could not be read counts as one. */
  readonly readingCount: number;
  /** The device's bytes exactly as sent (inside the rule envelope, if there was one). */
  readonly payload: Uint8Array;
  /** Present when the record came through the IoT topic rule. */
  readonly rule?: Omit<RuleEnvelope, 'payload'>;
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const RECEIVED_PREVIEW_CHARS = 120;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const supportedVersions: readonly unknown[] = SUPPORTED_SCHEMA_VERSIONS;
const deviceTypes: readonly unknown[] = DEVICE_TYPES;

/**
 * Classifies the bytes of one stream record.
 *
 * The record is either the IoT rule's envelope (JSON with the base64 payload, topic, device id and
 * receive time) or, from a direct producer, the device payload itself.
 */
export function classifyRecord(data: Uint8Array, context: RecordContext): ClassifiedMessage {
  const envelope = unwrapRuleEnvelope(data);
  const payload = envelope ? Buffer.from(envelope.payload, 'base64') : data;
  const rule = envelope
    ? { topic: envelope.topic, deviceId: envelope.deviceId, receivedAtMs: envelope.receivedAtMs }
    : undefined;
  const whole = (reason: Rejection): ClassifiedMessage => ({
    valid: [],
    rejected: [{ index: null, reasons: [reason] }],
    readingCount: 1,
    payload,
    ...(rule && { rule }),
  });

  const text = decodeText(payload);
  if (typeof text !== 'string') return whole(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return whole({
      code: 'not_json',
      path: '',
      received: preview(text),
      expected: `a JSON object (${(error as Error).message})`,
    });
  }
  if (!isPlainObject(parsed)) {
    return whole({ code: 'not_an_object', path: '', received: preview(parsed), expected: 'a JSON object' });
  }

  const isBatch = 'readings' in parsed;
  const items = isBatch ? parsed.readings : [parsed];
  if (isBatch) {
    const batchProblem = checkBatch(parsed);
    if (batchProblem) return whole(batchProblem);
  }
  const readings = items as unknown[];
  const valid: Reading[] = [];
  const rejected: ReadingRejection[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < readings.length; i++) {
    const outcome = validateReading(readings[i], context, rule?.deviceId, isBatch ? `readings[${i}].` : '');
    const eventId = outcome.eventId;
    if (outcome.reasons.length === 0 && eventId !== undefined && seen.has(eventId)) {
      outcome.reasons.push({
        code: 'duplicate_in_batch',
        path: `${isBatch ? `readings[${i}].` : ''}eventId`,
        received: eventId,
        expected: 'an eventId not used by an earlier reading of the same message',
      });
    }
    if (outcome.reasons.length === 0 && outcome.reading) {
      valid.push(outcome.reading);
      seen.add(outcome.reading.eventId);
    } else {
      rejected.push({
        index: isBatch ? i : null,
        ...(eventId !== undefined && { eventId }),
        reasons: outcome.reasons,
      });
    }
  }
  return { valid, rejected, readingCount: readings.length, payload, ...(rule && { rule }) };
}

function unwrapRuleEnvelope(data: Uint8Array): RuleEnvelope | undefined {
  // Cheap test before parsing: the rule's output always starts with '{"payload"'-like JSON.
  if (data[0] !== 0x7b) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isPlainObject(value)) return undefined;
  const { payload, topic, deviceId, receivedAtMs } = value;
  if (typeof payload !== 'string' || typeof topic !== 'string') return undefined;
  return {
    payload,
    topic,
    deviceId: typeof deviceId === 'string' ? deviceId : '',
    receivedAtMs: typeof receivedAtMs === 'number' ? receivedAtMs : Number.NaN,
  };
}

/** Decompresses (when gzip) and decodes the payload, or says why it cannot be read as text. */
function decodeText(payload: Uint8Array): string | Rejection {
  const sizeLimit = `at most ${MAX_MESSAGE_BYTES} bytes (the AWS IoT Core message limit)`;
  if (payload.byteLength > MAX_MESSAGE_BYTES) {
    return { code: 'too_large', path: '', received: `${payload.byteLength} bytes`, expected: sizeLimit };
  }
  let bytes = payload;
  if (payload[0] === GZIP_MAGIC[0] && payload[1] === GZIP_MAGIC[1]) {
    try {
      // Bounded output: a small gzip bomb must not exhaust the function's memory.
      bytes = gunzipSync(payload, { maxOutputLength: MAX_MESSAGE_BYTES });
    } catch (error) {
      const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      return tooLarge
        ? { code: 'too_large', path: '', received: 'gzip that inflates past the limit', expected: sizeLimit }
        : {
            code: 'bad_gzip',
            path: '',
            received: `${payload.byteLength} bytes starting with the gzip magic number`,
            expected: `a complete gzip stream (${(error as Error).message})`,
          };
    }
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return {
      code: 'not_utf8',
      path: '',
      received: `${bytes.byteLength} bytes, not valid UTF-8`,
      expected: 'UTF-8 encoded JSON',
    };
  }
}

function checkBatch(batch: Record<string, unknown>): Rejection | undefined {
  const { readings, schemaVersion } = batch;
  if (!supportedVersions.includes(schemaVersion)) {
    return {
      code: 'unsupported_schema_version',
      path: 'schemaVersion',
      received: preview(schemaVersion),
      expected: `one of ${SUPPORTED_SCHEMA_VERSIONS.join(', ')}`,
    };
  }
  const extra = Object.keys(batch).filter((key) => key !== 'readings' && key !== 'schemaVersion');
  if (extra.length > 0) {
    return {
      code: 'schema_violation',
      path: extra[0] ?? '',
      received: preview(batch[extra[0] ?? '']),
      expected: 'a batch has only the fields schemaVersion and readings',
    };
  }
  if (!Array.isArray(readings) || readings.length === 0) {
    return {
      code: 'schema_violation',
      path: 'readings',
      received: preview(readings),
      expected: 'a non-empty array of readings',
    };
  }
  if (readings.length > MAX_READINGS_PER_MESSAGE) {
    return {
      code: 'too_many_readings',
      path: 'readings',
      received: `${readings.length} readings`,
      expected: `at most ${MAX_READINGS_PER_MESSAGE} readings per message`,
    };
  }
  return undefined;
}

interface ReadingOutcome {
  reading?: Reading;
  eventId?: string;
  reasons: Rejection[];
}

function validateReading(
  candidate: unknown,
  context: RecordContext,
  topicDeviceId: string | undefined,
  pathPrefix: string,
): ReadingOutcome {
  if (!isPlainObject(candidate)) {
    return {
      reasons: [
        {
          code: 'not_an_object',
          path: pathPrefix.slice(0, -1),
          received: preview(candidate),
          expected: 'a JSON object',
        },
      ],
    };
  }
  const eventId = typeof candidate.eventId === 'string' ? candidate.eventId : undefined;
  const base = eventId === undefined ? {} : { eventId };
  if (!supportedVersions.includes(candidate.schemaVersion)) {
    return {
      ...base,
      reasons: [
        {
          code: 'unsupported_schema_version',
          path: `${pathPrefix}schemaVersion`,
          received: preview(candidate.schemaVersion),
          expected: `one of ${SUPPORTED_SCHEMA_VERSIONS.join(', ')}`,
        },
      ],
    };
  }
  if (!deviceTypes.includes(candidate.deviceType)) {
    return {
      ...base,
      reasons: [
        {
          code: 'unknown_device_type',
          path: `${pathPrefix}deviceType`,
          received: preview(candidate.deviceType),
          expected: `one of ${DEVICE_TYPES.join(', ')}`,
        },
      ],
    };
  }
  const schema = READING_SCHEMAS[candidate.deviceType as DeviceType];
  const result = schema.safeParse(candidate);
  if (!result.success) {
    return {
      ...base,
      reasons: result.error.issues.map((issue) => toRejection(issue, candidate, pathPrefix)),
    };
  }
  const reading = result.data;
  const reasons: Rejection[] = [];
  if (topicDeviceId !== undefined && reading.deviceId !== topicDeviceId) {
    reasons.push({
      code: 'device_mismatch',
      path: `${pathPrefix}deviceId`,
      received: reading.deviceId,
      expected: `'${topicDeviceId}', the device named by the topic it was published to`,
    });
  }
  const deviceMs = Date.parse(reading.timestamp);
  if (deviceMs - context.arrivalMs > MAX_CLOCK_AHEAD_MS) {
    reasons.push({
      code: 'timestamp_in_future',
      path: `${pathPrefix}timestamp`,
      received: preview(reading.timestamp),
      expected: `no later than ${new Date(context.arrivalMs + MAX_CLOCK_AHEAD_MS).toISOString()} (arrival + ${MAX_CLOCK_AHEAD_MS / 60_000} min)`,
    });
  } else if (context.arrivalMs - deviceMs > MAX_READING_AGE_MS) {
    reasons.push({
      code: 'timestamp_too_old',
      path: `${pathPrefix}timestamp`,
      received: preview(reading.timestamp),
      expected: `no earlier than ${new Date(context.arrivalMs - MAX_READING_AGE_MS).toISOString()} (arrival - ${MAX_READING_AGE_MS / 86_400_000} days)`,
    });
  }
  return { reading, eventId: reading.eventId, reasons };
}

function toRejection(issue: z.core.$ZodIssue, input: Record<string, unknown>, pathPrefix: string): Rejection {
  const path = `${pathPrefix}${issue.path.map(String).join('.')}`;
  const received =
    issue.code === 'unrecognized_keys' ? preview(issue.keys.join(', ')) : preview(valueAt(input, issue.path));
  switch (issue.code) {
    case 'too_big':
    case 'too_small': {
      const isNumber = issue.origin === 'number' || issue.origin === 'int';
      const bound = issue.code === 'too_big' ? `at most ${issue.maximum}` : `at least ${issue.minimum}`;
      return { code: isNumber ? 'out_of_range' : 'schema_violation', path, received, expected: bound };
    }
    case 'custom': {
      const reason = issue.params?.reason === 'out_of_range' ? 'out_of_range' : 'schema_violation';
      return { code: reason, path, received, expected: issue.message };
    }
    case 'invalid_type': {
      const expected = issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`;
      return { code: 'schema_violation', path, received, expected };
    }
    case 'invalid_value':
      return { code: 'schema_violation', path, received, expected: `one of ${issue.values.join(', ')}` };
    case 'invalid_format': {
      // A bare `regex` format says nothing to the reader; the pattern does.
      const expected =
        issue.format === 'regex' && issue.pattern
          ? `a string matching ${issue.pattern}`
          : issue.format === 'datetime'
            ? 'an ISO 8601 date-time with an offset, e.g. 2026-11-27T17:05:00.000Z'
            : `a ${issue.format} string`;
      return { code: 'schema_violation', path, received, expected };
    }
    case 'unrecognized_keys':
      return {
        code: 'schema_violation',
        path: path === pathPrefix ? pathPrefix.slice(0, -1) : path,
        received,
        expected: 'only the fields the contract defines',
      };
    default:
      return { code: 'schema_violation', path, received, expected: issue.message };
  }
}

/** A short, JSON-safe rendering of a received value: quarantine reasons must stay small. */
function preview(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.length > RECEIVED_PREVIEW_CHARS ? `${value.slice(0, RECEIVED_PREVIEW_CHARS)}…` : value;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value === null || typeof value === 'boolean' || value === undefined) return value;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return 'an object';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
