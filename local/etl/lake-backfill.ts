/**
 * A backfill on a twin run's lake after the run has ended: serve the lake directory it left
 * (`<out>/lake`) through the S3 stand-in again, and run the batch stage over the requested hours,
 * exactly as the twin's own batch stage would.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { startS3StandIn } from '../s3-stand-in.ts';
import {
  type BatchStageBuckets,
  type BatchStageOptions,
  type BatchSummary,
  runBatchStage,
} from './batch-stage.ts';

/** A backfill: the ended run's lake directory and buckets, and the hours to rebuild. */
export interface LakeBackfillOptions
  extends Omit<BatchStageOptions, 's3' | 'buckets' | 'from' | 'to' | 'ingestFrom' | 'ingestTo'> {
  /** The directory the twin's S3 stand-in stored its buckets in (the twin's `<out>/lake`). */
  readonly lakeDir: string;
  readonly buckets: BatchStageBuckets;
  /** Event hours `[from, to)` to rebuild, whole UTC hours. @default every hour the raw zone holds */
  readonly from?: Date | string;
  readonly to?: Date | string;
  /** Runs on the served lake before the batch stage (a replay's checksums of what is there). */
  readonly beforeBatch?: (s3: S3Client) => Promise<void>;
  /** Runs on the served lake after the batch stage, before it stops (the twin's warehouse load). */
  readonly afterBatch?: (s3: S3Client) => Promise<void>;
}

/**
 * Reruns the batch stage over `[from, to)` (or every hour) on an existing twin lake. The raw zone is only read;
 * the curated partitions of those hours are replaced as in any run.
 *
 * @example
 * await backfillLake({ lakeDir: 'out/twin/lake', buckets: TWIN_BUCKETS, from: '2026-11-27T13:00:00Z', to: '2026-11-27T16:00:00Z' });
 */
export async function backfillLake(options: LakeBackfillOptions): Promise<BatchSummary> {
  const { lakeDir, buckets, from, to, beforeBatch, afterBatch, ...rest } = options;
  const s3Stand = await startS3StandIn({ buckets: Object.values(buckets), directory: lakeDir });
  try {
    const s3 = createValidatorClients(s3Stand.clientOverrides).s3;
    await beforeBatch?.(s3);
    const summary = await runBatchStage({
      ...rest,
      s3,
      buckets,
      ...(from !== undefined && { from }),
      ...(to !== undefined && { to }),
    });
    await afterBatch?.(s3);
    return summary;
  } finally {
    await s3Stand.close();
  }
}
