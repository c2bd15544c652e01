/**
 * Right to erasure (RELIABILITY.md, item 14): the pure part, shared by `sdap erase` on the twin and
 * the erasure workflow's functions in AWS. Given one lake object's key and bytes, say whether it
 * holds a device and, when it does, give the bytes to write back without that device's records (or
 * none, when nothing else is left). No I/O here: the callers list, read, write and delete.
 *
 * What "holds the device" means: a record names it, anywhere in its text, as a whole token (so
 * erasing `lock-1` leaves `lock-10` alone). Payloads kept as base64 (quarantined originals, dead-
 * lettered stream records) and JSON kept inside strings (an on-failure record's stream event) are
 * decoded and searched too, so a reading a device published under another device's topic is found.
 */
import { gunzipSync } from 'node:zlib';
import { parquetMetadata, parquetReadObjects, type SchemaElement } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { DEVICE_ID_PATTERN } from './contract.ts';
import { encodeRawObject } from './lake-objects.ts';

/** The characters of a device id (the contract's pattern): what may not touch a token's ends. */
const ID_CHARACTER = 'A-Za-z0-9:_-';

/** How deep base64 and JSON-in-a-string are unwrapped (a stream record's data holds the rule's envelope, which holds the payload). */
const MAX_DECODE_DEPTH = 4;

/** Shortest string tried as base64: shorter ones are ids, codes and words, never an encoded payload. */
const MIN_BASE64_LENGTH = 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A device id that is not what the contract allows. */
export class DeviceIdError extends Error {
  override readonly name = 'DeviceIdError';
}

/**
 * The device id, checked against the contract's pattern.
 * @throws DeviceIdError naming the value and the pattern
 */
export function checkedDeviceId(value: string, name = 'deviceId'): string {
  if (!DEVICE_ID_PATTERN.test(value))
    throw new DeviceIdError(
      `${name}: received '${value}', expected a device id of 1 to 128 letters, digits, ':', '_' or '-' (the contract's ${DEVICE_ID_PATTERN})`,
    );
  return value;
}

/**
 * A test of text for the device id as a whole token. The pattern is also valid RE2, for engines
 * that search the same way (DuckDB's `regexp_matches`): {@link deviceTokenPattern}.
 */
export function deviceMention(deviceId: string): (text: string) => boolean {
  const pattern = new RegExp(deviceTokenPattern(checkedDeviceId(deviceId)));
  return (text) => text.includes(deviceId) && pattern.test(text);
}

/** `(^|[^<id chars>])<id>([^<id chars>]|$)`: the id's characters need no escaping (only `-`, outside a class). */
export function deviceTokenPattern(deviceId: string): string {
  return `(^|[^${ID_CHARACTER}])${checkedDeviceId(deviceId)}([^${ID_CHARACTER}]|$)`;
}

/** Whether `value` (a parsed JSON value or a string) names the device, unwrapping base64 and JSON text. */
export function namesDevice(value: unknown, mentions: (text: string) => boolean, depth = 0): boolean {
  if (typeof value === 'string') return textNamesDevice(value, mentions, depth);
  if (Array.isArray(value)) return value.some((item) => namesDevice(item, mentions, depth));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).some(([key, item]) => mentions(key) || namesDevice(item, mentions, depth));
  return false;
}

function textNamesDevice(text: string, mentions: (text: string) => boolean, depth: number): boolean {
  if (mentions(text)) return true;
  if (depth >= MAX_DECODE_DEPTH) return false;
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const parsed = parseJson(trimmed);
    if (parsed !== undefined) return namesDevice(parsed, mentions, depth + 1);
  }
  if (text.length >= MIN_BASE64_LENGTH && text.length % 4 === 0 && BASE64.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    // Binary that is not text cannot spell an id; only text is searched again.
    const asText = decoded.toString('utf8');
    if (!asText.includes('\uFFFD')) return textNamesDevice(asText, mentions, depth + 1);
  }
  return false;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** How an object's content is laid out, from its key (the lake's writers name them so). */
export type LakeObjectFormat = 'ndjson-gzip' | 'ndjson' | 'parquet' | 'json' | 'other';

/** The format of a lake object by its key's ending. */
export function lakeObjectFormat(key: string): LakeObjectFormat {
  if (key.endsWith('.ndjson.gz') || key.endsWith('.jsonl.gz')) return 'ndjson-gzip';
  if (key.endsWith('.ndjson') || key.endsWith('.jsonl')) return 'ndjson';
  if (key.endsWith('.parquet')) return 'parquet';
  if (key.endsWith('.json')) return 'json';
  return 'other';
}

/**
 * What erasure does to one object:
 * - `untouched`: it does not hold the device; leave it (its bytes stay the same).
 * - `rewrite`: write `body` in its place (the other records, byte for byte in NDJSON, value for value
 *   with the same schema in Parquet).
 * - `delete`: every record in it was the device's (or its key names the device): delete the object.
 * - `unreadable`: it names the device but its format has no records to remove; a person decides.
 */
export type ObjectErasure =
  | { readonly action: 'untouched'; readonly records: number }
  | {
      readonly action: 'rewrite';
      readonly body: Uint8Array;
      readonly recordsRemoved: number;
      readonly recordsKept: number;
    }
  | { readonly action: 'delete'; readonly recordsRemoved: number }
  | { readonly action: 'unreadable'; readonly reason: string };

/**
 * The object `key` without the device's records.
 * @param body the object's bytes as stored
 * @param mentions from {@link deviceMention}
 */
export async function eraseFromObject(
  key: string,
  body: Uint8Array,
  mentions: (text: string) => boolean,
): Promise<ObjectErasure> {
  const format = lakeObjectFormat(key);
  // A key that names the device (a path segment or a partition value, `device_id=<id>/`) is the
  // device's data however the rest of the object reads: the object goes. (A rule error's key joins
  // the id to other parts with '-', an id character, so it is its content that names the device.)
  if (mentions(key)) return { action: 'delete', recordsRemoved: recordCount(format, body) };
  switch (format) {
    case 'ndjson-gzip':
      return eraseFromNdjson(gunzipSync(body), mentions, (lines) => encodeRawObject(lines));
    case 'ndjson':
      return eraseFromNdjson(Buffer.from(body), mentions, (lines) => Buffer.from(lines.join('')));
    case 'parquet':
      return eraseFromParquet(body, mentions);
    case 'json':
      return eraseFromJsonDocument(Buffer.from(body).toString('utf8'), mentions);
    case 'other':
      return textNamesDevice(Buffer.from(body).toString('utf8'), mentions, 0)
        ? { action: 'unreadable', reason: `${key}: no record format known for this key's ending` }
        : { action: 'untouched', records: 1 };
  }
}

function recordCount(format: LakeObjectFormat, body: Uint8Array): number {
  if (format === 'ndjson-gzip') return ndjsonLines(gunzipSync(body)).length;
  if (format === 'ndjson') return ndjsonLines(Buffer.from(body)).length;
  if (format === 'parquet') return Number(parquetMetadata(arrayBufferOf(body)).num_rows);
  return 1;
}

/** Lines each with its newline, as the writers wrote them (a last line without one keeps none). */
function ndjsonLines(text: Buffer): string[] {
  return (text.toString('utf8').match(/[^\n]*\n|[^\n]+$/g) ?? []).filter((line) => line.trim() !== '');
}

/**
 * NDJSON without the lines naming the device. The kept lines are the very bytes that were there:
 * gzip output differs, the text inside does not. Raw objects keep their content-derived key: the
 * ETL reads keys by partition, not by hash, and a retry of the original batch ended long ago.
 */
function eraseFromNdjson(
  text: Buffer,
  mentions: (text: string) => boolean,
  encode: (lines: readonly string[]) => Uint8Array,
): ObjectErasure {
  const lines = ndjsonLines(text);
  const kept = lines.filter((line) => !namesDevice(parseJson(line) ?? line, mentions));
  const recordsRemoved = lines.length - kept.length;
  if (recordsRemoved === 0) return { action: 'untouched', records: lines.length };
  if (kept.length === 0) return { action: 'delete', recordsRemoved };
  return { action: 'rewrite', body: encode(kept), recordsRemoved, recordsKept: kept.length };
}

/**
 * One JSON document. A quarantined message is one device's original bytes: it goes whole (a rewrite
 * would no longer be the original). An event source mapping's on-failure record carries a batch of
 * stream records from many devices: only the device's records are taken out of its payload.
 */
function eraseFromJsonDocument(text: string, mentions: (text: string) => boolean): ObjectErasure {
  const document = parseJson(text);
  if (document === undefined)
    return textNamesDevice(text, mentions, 0)
      ? { action: 'unreadable', reason: 'a .json object that is not JSON' }
      : { action: 'untouched', records: 1 };
  if (!namesDevice(document, mentions)) return { action: 'untouched', records: 1 };
  const batch = streamBatchOf(document);
  if (batch === undefined) return { action: 'delete', recordsRemoved: 1 };
  const kept = batch.event.Records.filter((record) => !namesDevice(record, mentions));
  const recordsRemoved = batch.event.Records.length - kept.length;
  const rest = { ...batch.document, payload: JSON.stringify({ ...batch.event, Records: kept }) };
  // The device may also be named outside the records (nothing the mapping writes does that); then
  // the document cannot be kept at all.
  if (kept.length === 0 || namesDevice({ ...rest, payload: undefined }, mentions))
    return { action: 'delete', recordsRemoved: batch.event.Records.length };
  return {
    action: 'rewrite',
    body: Buffer.from(JSON.stringify(rest)),
    recordsRemoved,
    recordsKept: kept.length,
  };
}

interface StreamBatch {
  readonly document: Record<string, unknown>;
  readonly event: { readonly Records: unknown[] } & Record<string, unknown>;
}

/** An on-failure record whose `payload` is a stream event (`{"Records": [...]}`), else undefined. */
function streamBatchOf(document: unknown): StreamBatch | undefined {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return undefined;
  const payload = (document as { payload?: unknown }).payload;
  if (typeof payload !== 'string') return undefined;
  const event = parseJson(payload);
  if (event === null || typeof event !== 'object' || !Array.isArray((event as { Records?: unknown }).Records))
    return undefined;
  return {
    document: document as Record<string, unknown>,
    event: event as StreamBatch['event'],
  };
}

/**
 * hyparquet converts timestamps and dates to `Date` (losing microseconds); these keep the stored
 * integers, which the writer writes back unchanged under the same schema element.
 */
const STORED_VALUES = {
  timestampFromMilliseconds: (value: bigint) => value,
  timestampFromMicroseconds: (value: bigint) => value,
  timestampFromNanoseconds: (value: bigint) => value,
  dateFromDays: (value: number) => value,
};

function arrayBufferOf(body: Uint8Array): ArrayBuffer {
  return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
}

/**
 * A flat Parquet file (every curated table is one) without the rows whose text columns name the
 * device, written with the file's own schema, key-value metadata and writer name. The round trip
 * keeps every other row's values exactly (test/lambdas/erasure/shared-erasure.test.ts reads both with DuckDB).
 */
async function eraseFromParquet(
  body: Uint8Array,
  mentions: (text: string) => boolean,
): Promise<ObjectErasure> {
  const file = arrayBufferOf(body);
  const metadata = parquetMetadata(file);
  const [root, ...leaves] = metadata.schema;
  if (root === undefined || leaves.some((element) => (element.num_children ?? 0) > 0))
    return { action: 'unreadable', reason: 'a nested Parquet schema (the lake writes flat tables only)' };
  const textColumns = leaves.filter(isText).map((element) => element.name);
  const rows = await parquetReadObjects({ file, parsers: STORED_VALUES as never, utf8: true });
  const kept = rows.filter(
    (row) => !textColumns.some((name) => typeof row[name] === 'string' && mentions(row[name] as string)),
  );
  const recordsRemoved = rows.length - kept.length;
  if (recordsRemoved === 0) return { action: 'untouched', records: rows.length };
  if (kept.length === 0) return { action: 'delete', recordsRemoved };
  const codec = metadata.row_groups[0]?.columns[0]?.meta_data?.codec;
  const written = parquetWriteBuffer({
    columnData: leaves.map((element) => ({ name: element.name, data: kept.map((row) => row[element.name]) })),
    schema: metadata.schema,
    ...(codec === 'SNAPPY' || codec === 'UNCOMPRESSED' ? { codec } : {}),
    ...(metadata.key_value_metadata && { kvMetadata: metadata.key_value_metadata }),
    ...(metadata.created_by && { createdBy: metadata.created_by }),
  } as Parameters<typeof parquetWriteBuffer>[0]);
  return { action: 'rewrite', body: new Uint8Array(written), recordsRemoved, recordsKept: kept.length };
}

function isText(element: SchemaElement): boolean {
  return (
    element.type === 'BYTE_ARRAY' &&
    (element.converted_type === 'UTF8' ||
      element.converted_type === 'JSON' ||
      element.logical_type?.type === 'STRING' ||
      element.logical_type?.type === 'JSON')
  );
}

/**
 * The audit record of one erasure, written where the lake keeps audits. It holds the device id and
 * nothing else of the device: the id is what the law needs to show that this subject's data was
 * erased, and to erase it again if a backup taken before is ever restored. No readings, no location
 * (site, room), no registry attributes and no object keys (a key's partition values tell when the
 * device reported): counts per zone and per table only.
 */
export interface ErasureAuditRecord {
  readonly kind: 'device-erasure';
  readonly version: 1;
  readonly erasureId: string;
  readonly deviceId: string;
  /** Who asked for it (a person or a ticket), as the operator gave it. */
  readonly requestedBy: string;
  /** ISO 8601 UTC: when the erasure started and finished. */
  readonly startedAt: string;
  readonly finishedAt: string;
  /** How it ran: the command line, or the workflow execution. */
  readonly command: string;
  /** Per lake zone (`<bucket role>/<first key segment>`): objects examined, rewritten, deleted; records removed. */
  readonly lake: Readonly<Record<string, ZoneErasureCounts>>;
  /** Rows deleted per warehouse table. */
  readonly warehouse: Readonly<Record<string, number>>;
  /** Other stores the erasure covered (the twin's output files), records removed per store. */
  readonly other: Readonly<Record<string, number>>;
  /** Non-current object versions deleted (0 where the store keeps none). */
  readonly objectVersionsDeleted: number;
  /** What was checked after the erasure, and its result. */
  readonly verification: { readonly remainingMentions: number; readonly checked: readonly string[] };
  /** Why the whole lake was searched rather than some partitions. */
  readonly searchScope: string;
}

/** Per-zone counts of an erasure. */
export interface ZoneErasureCounts {
  objectsExamined: number;
  objectsRewritten: number;
  objectsDeleted: number;
  recordsRemoved: number;
}

/** Where erasure audit records go, under the audit location: `erasure/<yyyy-mm-dd>/<erasure id>.json`. */
export function erasureAuditKey(record: Pick<ErasureAuditRecord, 'erasureId' | 'startedAt'>): string {
  return `${ERASURE_AUDIT_PREFIX}${record.startedAt.slice(0, 10)}/${record.erasureId}.json`;
}

/** The prefix of erasure audit records. */
export const ERASURE_AUDIT_PREFIX = 'erasure/';
