/**
 * The twin's Kinesis Data Streams: kinesalite, the real Kinesis JSON API on loopback, holding its
 * data in memory (memdown, pure JavaScript: the native leveldown it lists as optional is only loaded
 * for an on-disk `path`, which the twin never passes, so a plain `npm ci` without install scripts is
 * enough).
 *
 * Clients must speak HTTP/1.1 to it: the SDK's default HTTP/2 handler fails against kinesalite.
 * Kinesalite does not throttle, does not enforce the per-shard read and write limits, and reports
 * `MillisBehindLatest` as 0; the event source mapping therefore measures iterator age itself.
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  type KinesisClientConfig,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startEmulator } from './emulator-process.ts';

/** Kinesalite does not check signatures: any credentials do; these make the twin's traffic obvious. */
export const KINESALITE_CREDENTIALS = { accessKeyId: 'sdap-twin', secretAccessKey: 'sdap-twin' } as const;

/** Name of the stream the stand-in creates when none is given. */
export const DEFAULT_TWIN_STREAM_NAME = 'sdap-telemetry';
/** Shards of that stream when none is given. */
export const DEFAULT_TWIN_SHARD_COUNT = 4;
/** How long `createStream` waits for ACTIVE before giving up. */
const ACTIVE_TIMEOUT_MS = 5_000;
const ACTIVE_POLL_MS = 5;

/** One stream on the stand-in, as the mapping and the producers address it. */
export interface StandInStream {
  readonly streamName: string;
  readonly streamArn: string;
  /** Shard ids in shard order (`shardId-000000000000`, ...). */
  readonly shardIds: readonly string[];
}

export interface KinesisStandIn extends StandInStream {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** The region in the stream ARN; clients from `createClient` use it. */
  readonly region: string;
  /**
   * A Kinesis client for the stand-in: its endpoint and region, dummy credentials and an HTTP/1.1
   * request handler. `close()` destroys every client made here.
   */
  createClient(overrides?: Partial<KinesisClientConfig>): KinesisClient;
  /** Creates another stream and waits until it is ACTIVE. */
  createStream(options: { streamName: string; shardCount?: number }): Promise<StandInStream>;
  /** Destroys the clients made by `createClient` and stops the server; the data is gone. */
  close(): Promise<void>;
}

export interface KinesisStandInOptions {
  /** @default 'sdap-telemetry' */
  readonly streamName?: string;
  /** @default 4 */
  readonly shardCount?: number;
  /** @default 0 (any free port) */
  readonly port?: number;
  /**
   * Open shards the account may hold across all streams (kinesalite's own default is 10).
   * @default 100
   */
  readonly shardLimit?: number;
  /**
   * Run kinesalite in a child process (see emulator-process.ts), so that it does not share a core
   * with the caller. Costs a few hundred milliseconds of start-up.
   * @default false
   */
  readonly inChildProcess?: boolean;
}

export async function startKinesisStandIn(options: KinesisStandInOptions = {}): Promise<KinesisStandIn> {
  const shardCount = options.shardCount ?? DEFAULT_TWIN_SHARD_COUNT;
  assertShardCount(shardCount);
  const settings = {
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 100,
  };
  const server = await startEmulator(
    'kinesalite',
    { ...settings, port: options.port ?? 0 },
    options.inChildProcess ?? false,
  );
  const endpoint = `http://127.0.0.1:${server.port}`;
  const clients = new Set<KinesisClient>();
  let region = 'us-east-1';
  const createClient = (overrides: Partial<KinesisClientConfig> = {}): KinesisClient => {
    const client = new KinesisClient({
      endpoint,
      region,
      credentials: { ...KINESALITE_CREDENTIALS },
      requestHandler: new NodeHttpHandler(),
      ...overrides,
    });
    clients.add(client);
    return client;
  };

  let admin: KinesisClient | undefined;
  try {
    admin = createClient();
    const stream = await createActiveStream(
      admin,
      options.streamName ?? DEFAULT_TWIN_STREAM_NAME,
      shardCount,
    );
    // Kinesalite puts the region of its own environment into ARNs; clients follow the ARN.
    region = stream.streamArn.split(':')[3] ?? region;
    const adminClient = admin;
    return {
      ...stream,
      endpoint,
      region,
      createClient,
      createStream: ({ streamName, shardCount: count = DEFAULT_TWIN_SHARD_COUNT }) => {
        assertShardCount(count);
        return createActiveStream(adminClient, streamName, count);
      },
      close: () => closeAll(server, clients),
    };
  } catch (error) {
    await closeAll(server, clients);
    throw error;
  }
}

function assertShardCount(shardCount: number): void {
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw new Error(`Kinesis stand-in shardCount: received ${shardCount}, expected an integer of at least 1`);
  }
}

async function createActiveStream(
  client: KinesisClient,
  streamName: string,
  shardCount: number,
): Promise<StandInStream> {
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (;;) {
    const { StreamDescriptionSummary: summary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    if (summary?.StreamStatus === 'ACTIVE' && summary.StreamARN) {
      const { Shards: shards = [] } = await client.send(new ListShardsCommand({ StreamName: streamName }));
      return {
        streamName,
        streamArn: summary.StreamARN,
        shardIds: shards.map((shard) => shard.ShardId ?? ''),
      };
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Kinesis stand-in: stream ${streamName} is ${summary?.StreamStatus ?? 'unknown'} after ${ACTIVE_TIMEOUT_MS} ms, expected ACTIVE`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, ACTIVE_POLL_MS));
  }
}

async function closeAll(server: { close(): Promise<void> }, clients: Set<KinesisClient>): Promise<void> {
  for (const client of clients) client.destroy();
  clients.clear();
  await server.close();
}
