/**
 * The batch ETL's fixture lake (test/fixtures/etl/lake, described in its README): a few devices
 * over two event hours with duplicates, a late reading, a lost reading, malformed lines,
 * quarantined readings, one site's weather, the registry and a few alerts. Raw telemetry and alerts
 * are kept as readable NDJSON and gzipped on the way into a lake, as the validator writes them.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BucketRole } from '../../../local/etl/manifest.ts';

export const FIXTURE_LAKE_DIR = fileURLToPath(new URL('../../fixtures/etl/lake/', import.meta.url));

/** The fixture's event hours: 10:00 and 11:00 on 2026-11-27 (UTC). */
export const FIXTURE_WINDOW = { from: '2026-11-27T10:00:00Z', to: '2026-11-27T12:00:00Z' } as const;

export interface LakeObject {
  readonly bucket: BucketRole;
  readonly key: string;
  readonly body: Buffer;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(
    entries.map((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)])),
  );
  return files.flat().sort();
}

/** The fixture's objects as the lake holds them (raw telemetry and alerts gzipped, with `.gz` appended). */
export async function fixtureObjects(): Promise<LakeObject[]> {
  const objects: LakeObject[] = [];
  for (const path of await walk(FIXTURE_LAKE_DIR)) {
    const [bucket, ...rest] = relative(FIXTURE_LAKE_DIR, path).split(sep);
    const key = rest.join('/');
    const body = await readFile(path);
    const gzipped = bucket === 'raw' && (key.startsWith('telemetry/') || key.startsWith('alerts/'));
    objects.push({
      bucket: bucket as BucketRole,
      key: gzipped ? `${key}.gz` : key,
      body: gzipped ? gzipSync(body) : body,
    });
  }
  return objects;
}

/** Writes objects under `<root>/<bucket role>/<key>`. */
export async function writeLocalLake(root: string, objects: readonly LakeObject[]): Promise<void> {
  for (const object of objects) {
    const path = join(root, object.bucket, object.key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, object.body);
  }
}

/** PUTs objects into the buckets. */
export async function putLake(
  s3: S3Client,
  buckets: Readonly<Record<BucketRole, string>>,
  objects: readonly LakeObject[],
): Promise<void> {
  for (const object of objects) {
    await s3.send(
      new PutObjectCommand({ Bucket: buckets[object.bucket], Key: object.key, Body: object.body }),
    );
  }
}
