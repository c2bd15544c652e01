/**
 * The batch stage's S3 calls: list, download, upload, copy and delete, with bounded concurrency.
 * Only the plain object API that s3rver and S3 both serve is used.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** Requests in flight at once: enough to hide loopback latency, few enough for s3rver. */
export const S3_CONCURRENCY = 16;

// Listing is the functions' own (one loop for both).
export { listKeys } from '../../lambdas/shared/s3-listing.ts';

/** The object's bytes, or undefined when there is no such key. */
export async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
  } catch (error) {
    if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

/** Downloads `key` to `<dir>/<key>`; returns the local path, or undefined when the key is gone. */
export async function downloadObject(
  s3: S3Client,
  bucket: string,
  key: string,
  dir: string,
): Promise<{ path: string; body: Buffer } | undefined> {
  const body = await getObject(s3, bucket, key);
  if (body === undefined) return undefined;
  const path = join(dir, key);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, body);
  return { path, body };
}

/** PUTs a local file as `key`. */
export async function uploadFile(s3: S3Client, bucket: string, key: string, path: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(path) }));
}

/**
 * Server-side copy within a bucket: the target is replaced in one step, never half-written. The
 * copy source is URL-encoded as S3 requires, keeping `/` and `=` (s3rver decodes it with
 * `decodeURI`, which would leave an encoded `=` encoded; S3 accepts both spellings).
 */
export async function copyObject(s3: S3Client, bucket: string, from: string, to: string): Promise<void> {
  const source = encodeURI(`${bucket}/${from}`);
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source }));
}

/** Deletes `key` (no error when it is already gone, as S3 answers). */
export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/** Runs `fn` over `items`, at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
