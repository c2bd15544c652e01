/**
 * The emulators' servers themselves, started on loopback: kinesalite (Kinesis) and s3rver (S3).
 * The stand-ins run them in the caller's process or, through emulator-process.ts, in a child
 * process; either way they start here, with the same settings.
 */
import crypto from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// kinesalite and s3rver ship CommonJS without types.
// @ts-expect-error no type declarations
import kinesalite from 'kinesalite';
// @ts-expect-error no type declarations
import S3rver from 's3rver';

/**
 * s3rver seals ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node 18 and
 * later) keeps in its legacy provider: without this, any listing longer than one page (1,000
 * keys) fails with a 500 InternalError. Triple DES with its three keys equal computes single DES
 * exactly, and it is in the default provider; only the `des` algorithm is redirected, and only
 * the emulator asks for it.
 */
function redirectSingleDes(): void {
  const tripled = (key: crypto.CipherKey) => {
    const bytes = Buffer.from(key as Buffer);
    return Buffer.concat([bytes, bytes, bytes]);
  };
  const { createCipheriv, createDecipheriv } = crypto;
  const patched = crypto as { createCipheriv: unknown; createDecipheriv: unknown };
  patched.createCipheriv = (algorithm: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null) =>
    algorithm === 'des'
      ? createCipheriv('des-ede3-cbc', tripled(key), iv)
      : createCipheriv(algorithm, key, iv);
  patched.createDecipheriv = (algorithm: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null) =>
    algorithm === 'des'
      ? createDecipheriv('des-ede3-cbc', tripled(key), iv)
      : createDecipheriv(algorithm, key, iv);
}
redirectSingleDes();

/** A server listening on 127.0.0.1: its port and how to stop it. */
export interface ListeningServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface KinesaliteSettings {
  /** Milliseconds a stream stays CREATING (the twin wants 0). */
  readonly createStreamMs: number;
  readonly deleteStreamMs: number;
  readonly updateStreamMs: number;
  /** Open shards the account may hold across all streams. */
  readonly shardLimit: number;
  /** 0 picks any free port. */
  readonly port: number;
}

export interface S3rverSettings {
  /** Where objects are stored. */
  readonly directory: string;
  /** Buckets created at start. */
  readonly buckets: readonly string[];
  /** 0 picks any free port. */
  readonly port: number;
}

/** Kinesalite holding its data in memory (no `path`: memdown, so no native module is needed). */
export async function listenKinesalite(settings: KinesaliteSettings): Promise<ListeningServer> {
  const { port, ...options } = settings;
  const server = (kinesalite as (options: object) => Server)(options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    // Kinesalite's close closes its store first and requires a callback.
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export async function listenS3rver(settings: S3rverSettings): Promise<ListeningServer> {
  const server = new S3rver({
    address: '127.0.0.1',
    port: settings.port,
    silent: true,
    directory: settings.directory,
    configureBuckets: settings.buckets.map((name) => ({ name, configs: [] })),
  });
  const address: { port: number } = await server.run();
  return { port: address.port, close: () => server.close() };
}
