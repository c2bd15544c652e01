/**
 * Listing a prefix of a bucket, every page of it: the one ListObjectsV2 loop the functions and the
 * local tools share.
 */
import { type _Object, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/** Every object under `prefix` (the whole bucket without one), in the order S3 lists them (by key). */
export async function listObjects(s3: S3Client, bucket: string, prefix?: string): Promise<_Object[]> {
  const objects: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(prefix && { Prefix: prefix }),
        ...(token && { ContinuationToken: token }),
      }),
    );
    objects.push(...(page.Contents ?? []));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/** Every key under `prefix`, sorted. */
export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  return (await listObjects(s3, bucket, prefix)).flatMap((object) => (object.Key ? [object.Key] : [])).sort();
}
