/**
 * Everything the bench times, in one module that run.ts loads as an esbuild bundle.
 *
 * Why a bundle: the validator ships as one (NodejsFunction), and so would the peer. Run through
 * tsx instead, every `await import()` the Powertools batch parser makes per record goes through the
 * loader hooks' worker thread, which made the peer ~1.5x slower than it is in production. Bundled,
 * those imports become plain promise resolutions, and ours and the peer are compiled alike.
 *
 * Each pass processes the whole data set once and returns a value that depends on the work, so that
 * nothing can be optimised away.
 */
import { gzipSync } from 'node:zlib';
import type { KinesisStreamEvent } from 'aws-lambda';
import { planBatch, type ValidatorTargets } from '../lambdas/validator/process-batch.ts';
import { createPeer, type Peer } from './peer.ts';

export { createPeer, planBatch };

/** (1) base64-decode `kinesis.data` and parse the rule envelope; the device payload stays encoded. */
export function floorPass(events: readonly KinesisStreamEvent[]): number {
  let sink = 0;
  for (const event of events) {
    for (const record of event.Records) {
      const envelope = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
      sink += envelope.payload.length;
    }
  }
  return sink;
}

/** (1b) the floor, then the device payload too: base64, UTF-8 and JSON.parse, nothing validated. */
export function payloadFloorPass(events: readonly KinesisStreamEvent[]): number {
  let sink = 0;
  for (const event of events) {
    for (const record of event.Records) {
      const envelope = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
      try {
        const message = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
        sink += typeof message === 'object' && message !== null ? 1 : 0;
      } catch {
        // Not JSON: a validator would quarantine it; the floor just moves on.
      }
    }
  }
  return sink;
}

/** (2) the validator's CPU path, batch by batch, up to the compressed bodies. */
export function oursPass(events: readonly KinesisStreamEvent[], targets: ValidatorTargets): number {
  let sink = 0;
  for (const event of events) {
    for (const object of planBatch(event, targets).objects) sink += object.body.byteLength;
  }
  return sink;
}

/** (3) the peer, batch by batch, up to the compressed bodies. */
export async function peerPass(peer: Peer, events: readonly KinesisStreamEvent[]): Promise<number> {
  let sink = 0;
  for (const event of events) {
    const result = await peer.processEvent(event);
    for (const object of result.objects) sink += object.body.byteLength;
  }
  return sink;
}

/** (5) gzip the raw NDJSON bodies ours produced, one call per object as the validator does. */
export function gzipPass(bodies: readonly Buffer[], level: number): number {
  let bytes = 0;
  for (const body of bodies) bytes += gzipSync(body, { level }).byteLength;
  return bytes;
}
