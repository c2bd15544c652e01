/**
 * The twin's S3: s3rver, the real S3 REST API on loopback, storing objects in a directory.
 * It does not honour conditional PUTs, bucket policies or encryption settings: the product never
 * relies on them at run time, and the infrastructure tests prove those settings from the template.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientOverrides } from '../lambdas/shared/aws-clients.ts';
import { startEmulator } from './emulator-process.ts';

/** s3rver accepts only these credentials when it checks signatures. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3StandIn {
  readonly endpoint: string;
  /** Client settings for the project's client factories. */
  readonly clientOverrides: ClientOverrides;
  readonly directory: string;
  close(): Promise<void>;
}

export interface S3StandInOptions {
  readonly buckets: readonly string[];
  /** Where objects are stored. @default a new temporary directory */
  readonly directory?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /**
   * Run s3rver in a child process (see emulator-process.ts), so that it does not share a core with
   * the caller. Costs a few hundred milliseconds of start-up.
   * @default false
   */
  readonly inChildProcess?: boolean;
}

export async function startS3StandIn(options: S3StandInOptions): Promise<S3StandIn> {
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'sdap-s3-')));
  const port = options.port ?? 0;
  const server = await startEmulator(
    's3rver',
    { directory, buckets: options.buckets, port },
    options.inChildProcess ?? false,
  );
  const endpoint = `http://127.0.0.1:${server.port}`;
  return {
    endpoint,
    directory,
    clientOverrides: { region: 'us-east-1', credentials: { ...S3RVER_CREDENTIALS }, s3Endpoint: endpoint },
    close: () => server.close(),
  };
}
