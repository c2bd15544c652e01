/**
 * Canaries for the S3 stand-in: behaviour of s3rver that the twin relies on and that a runtime or
 * package update could change under it.
 */
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { startS3StandIn } from '../../local/s3-stand-in.ts';

const BUCKET = 'canary';

describe.each([
  ['in the caller', false],
  ['in a child process', true],
])('the S3 stand-in %s', (_where, inChildProcess) => {
  it('pages a listing with continuation tokens (single DES under OpenSSL 3)', async () => {
    // Prepare
    const stand = await startS3StandIn({ buckets: [BUCKET], inChildProcess });
    try {
      const s3 = createValidatorClients(stand.clientOverrides).s3;
      const keys = ['a/1', 'a/2', 'a/3', 'a/4', 'a/5'];
      for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));

      // Act: two keys a page, as a lake of more than 1,000 objects pages at 1,000.
      const listed: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 2, ContinuationToken: token }),
        );
        listed.push(...(page.Contents ?? []).map((object) => object.Key as string));
        token = page.NextContinuationToken;
        pages++;
      } while (token);

      // Assess
      expect(listed).toEqual(keys);
      expect(pages).toBe(3);
    } finally {
      await stand.close();
    }
  });
});
