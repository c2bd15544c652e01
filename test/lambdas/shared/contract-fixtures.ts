/**
 * Loads the contract fixtures under test/fixtures/contract (the file convention is described in
 * that folder's README) and turns them into the bytes a stream record would carry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { REJECTION_CODES, type RejectionCode, telemetryTopic } from '../../../lambdas/shared/contract.ts';

export const FIXTURES_ROOT = fileURLToPath(new URL('../../fixtures/contract/', import.meta.url));

/** Used as the topic's device id when a payload names none (bytes, text, arrays). */
export const PLACEHOLDER_TOPIC_DEVICE_ID = 'fixture-device';

const isoInstant = z.iso.datetime({ offset: true });
const common = {
  description: z.string().min(1),
  arrivalTime: isoInstant,
  topicDeviceId: z.string().optional(),
};

const validFixtureFile = z.strictObject({ ...common, payload: z.unknown() });

const invalidFixtureFile = z
  .strictObject({
    ...common,
    payload: z.unknown().optional(),
    payloadText: z.string().optional(),
    payloadBase64: z.base64().optional(),
    rejection: z.strictObject({
      index: z.number().int().min(0).nullable(),
      path: z.string(),
      received: z.unknown().optional(),
      expectedIncludes: z.string().min(1),
    }),
  })
  .refine(
    (file) =>
      [file.payload, file.payloadText, file.payloadBase64].filter((p) => p !== undefined).length === 1,
    'exactly one of payload, payloadText, payloadBase64',
  );

interface FixtureBase {
  /** Path relative to the fixtures root, e.g. `v1/valid/camera.json`. */
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly arrivalMs: number;
  readonly topicDeviceId: string | undefined;
  /** The device's bytes, exactly as they reach the pipeline. */
  readonly bytes: Uint8Array;
}

export interface ValidFixture extends FixtureBase {
  readonly payload: unknown;
}

export interface InvalidFixture extends FixtureBase {
  /** From the file name: `<code>[-anything].json`. */
  readonly code: RejectionCode;
  /** The parsed payload, when the fixture gives it as JSON. */
  readonly payload: unknown;
  readonly rejection: {
    readonly index: number | null;
    readonly path: string;
    /** Absent when the fixture expects no received value (e.g. a missing field). */
    readonly received?: unknown;
    readonly expectedIncludes: string;
  };
}

function fixtureFiles(kind: 'valid' | 'invalid'): { name: string; version: number; path: string }[] {
  const files: { name: string; version: number; path: string }[] = [];
  for (const versionDir of readdirSync(FIXTURES_ROOT).sort()) {
    const version = /^v(\d+)$/.exec(versionDir)?.[1];
    if (version === undefined) continue;
    const dir = `${FIXTURES_ROOT}${versionDir}/${kind}`;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const file of names.filter((n) => n.endsWith('.json')).sort()) {
      files.push({ name: `${versionDir}/${kind}/${file}`, version: Number(version), path: `${dir}/${file}` });
    }
  }
  return files;
}

function readJson(path: string, name: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`fixture ${name} is not readable JSON: ${(error as Error).message}`);
  }
}

function parseFile<T>(schema: z.ZodType<T>, path: string, name: string): T {
  const result = schema.safeParse(readJson(path, name));
  if (!result.success)
    throw new Error(`fixture ${name} breaks the fixture convention: ${z.prettifyError(result.error)}`);
  return result.data;
}

/** Every valid fixture of every contract version: `v<n>/valid/<name>.json`. */
export function loadValidFixtures(): ValidFixture[] {
  return fixtureFiles('valid').map(({ name, version, path }) => {
    const file = parseFile(validFixtureFile, path, name);
    return {
      name,
      version,
      description: file.description,
      arrivalMs: Date.parse(file.arrivalTime),
      topicDeviceId: file.topicDeviceId,
      payload: file.payload,
      bytes: Buffer.from(JSON.stringify(file.payload)),
    };
  });
}

/** Every invalid fixture of every contract version: `v<n>/invalid/<code>[-<name>].json`. */
export function loadInvalidFixtures(): InvalidFixture[] {
  return fixtureFiles('invalid').map(({ name, version, path }) => {
    const file = parseFile(invalidFixtureFile, path, name);
    const fileName = name.slice(name.lastIndexOf('/') + 1);
    const code = REJECTION_CODES.find((c) => fileName === `${c}.json` || fileName.startsWith(`${c}-`));
    if (code === undefined) {
      throw new Error(
        `fixture ${name}: the file name must start with a rejection code (${REJECTION_CODES.join(', ')})`,
      );
    }
    let bytes: Uint8Array;
    if (file.payloadBase64 !== undefined) bytes = Buffer.from(file.payloadBase64, 'base64');
    else if (file.payloadText !== undefined) bytes = Buffer.from(file.payloadText, 'utf8');
    else bytes = Buffer.from(JSON.stringify(file.payload));
    return {
      name,
      version,
      code,
      description: file.description,
      arrivalMs: Date.parse(file.arrivalTime),
      topicDeviceId: file.topicDeviceId,
      payload: file.payload,
      bytes,
      rejection: file.rejection,
    };
  });
}

/**
 * The device id of the topic a fixture was published to: the fixture's `topicDeviceId`, else the
 * payload's own `deviceId` (a batch's first reading's), else a placeholder.
 */
export function topicDeviceIdOf(fixture: FixtureBase & { payload: unknown }): string {
  if (fixture.topicDeviceId !== undefined) return fixture.topicDeviceId;
  const payload = fixture.payload as { deviceId?: unknown; readings?: { deviceId?: unknown }[] } | undefined;
  const candidate = Array.isArray(payload?.readings) ? payload.readings[0]?.deviceId : payload?.deviceId;
  return typeof candidate === 'string' ? candidate : PLACEHOLDER_TOPIC_DEVICE_ID;
}

/** The record the IoT topic rule puts on the stream for a device's bytes published to its topic. */
export function ruleEnvelope(payload: Uint8Array, deviceId: string, receivedAtMs: number): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      payload: Buffer.from(payload).toString('base64'),
      topic: telemetryTopic(deviceId),
      deviceId,
      receivedAtMs,
    }),
  );
}
