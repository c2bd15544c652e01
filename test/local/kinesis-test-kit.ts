/**
 * Small helpers for tests that talk to the Kinesis stand-in with the real API.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  PutRecordsCommand,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';

export interface PutInput {
  readonly data: string | Uint8Array;
  /** @default 'device-1' */
  readonly partitionKey?: string;
  readonly explicitHashKey?: string;
}

export interface PutResult {
  readonly sequenceNumber: string;
  readonly shardId: string;
}

/** PutRecords, failing the test if any record was refused; results in input order. */
export async function putRecords(
  client: KinesisClient,
  streamName: string,
  records: readonly PutInput[],
): Promise<PutResult[]> {
  const output = await client.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: records.map((record) => ({
        Data: typeof record.data === 'string' ? Buffer.from(record.data) : record.data,
        PartitionKey: record.partitionKey ?? 'device-1',
        ...(record.explicitHashKey !== undefined && { ExplicitHashKey: record.explicitHashKey }),
      })),
    }),
  );
  if (output.FailedRecordCount) throw new Error(`PutRecords refused ${output.FailedRecordCount} records`);
  return (output.Records ?? []).map((entry) => ({
    sequenceNumber: entry.SequenceNumber ?? '',
    shardId: entry.ShardId ?? '',
  }));
}

/** The lowest hash key of shard `index` when `shardCount` shards split the hash space evenly. */
export function hashKeyOfShard(index: number, shardCount: number): string {
  return ((2n ** 128n / BigInt(shardCount)) * BigInt(index)).toString();
}

export async function shardIterator(
  client: KinesisClient,
  streamName: string,
  shardId: string,
  type: ShardIteratorType,
  sequenceNumber?: string,
): Promise<string> {
  const { ShardIterator } = await client.send(
    new GetShardIteratorCommand({
      StreamName: streamName,
      ShardId: shardId,
      ShardIteratorType: type,
      ...(sequenceNumber !== undefined && { StartingSequenceNumber: sequenceNumber }),
    }),
  );
  if (!ShardIterator) throw new Error(`no ${type} iterator for ${shardId}`);
  return ShardIterator;
}

/** Every record of a shard from the trim horizon. */
export async function readShard(
  client: KinesisClient,
  streamName: string,
  shardId: string,
): Promise<KinesisRecord[]> {
  let iterator = await shardIterator(client, streamName, shardId, 'TRIM_HORIZON');
  const records: KinesisRecord[] = [];
  for (;;) {
    const output = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
    const page = output.Records ?? [];
    records.push(...page);
    if (page.length === 0 || !output.NextShardIterator) return records;
    iterator = output.NextShardIterator;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, polling every 5 ms. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A promise with its resolver, to hold a function invocation open. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
