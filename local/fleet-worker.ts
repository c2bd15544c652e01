/**
 * The twin's load generator on its own thread: the fleet simulation and its MQTT publisher run in a
 * worker (fleet-worker-thread.ts) and reach the broker over TCP, as devices on other machines would.
 * The twin's thread keeps the broker, the rule, the mapping and the handler, and receives from the
 * worker what it needs to audit the run: each message sent, its event ids and when it went out.
 *
 * Sent messages come back in batches (a few hundred messages, or what was sent in 100 ms), their
 * payloads concatenated in one transferred buffer, so that the bookkeeping costs the twin's thread
 * little next to what the publisher cost it.
 */
import { Worker } from 'node:worker_threads';
import { PublisherError } from '../simulator/mqtt-publisher.ts';
import type { SimulationOptions } from '../simulator/options.ts';
import type { PublishedMessage } from './lake-audit.ts';

/** What a run published, as the audit and the summary need it. Filled as messages are sent. */
export interface PublishLog {
  readonly published: PublishedMessage[];
  /** Wall time (epoch ms) each event id was first sent at. */
  readonly publishedAt: Map<string, number>;
  /** Messages by transport fault. */
  readonly faults: Record<string, number>;
}

export function createPublishLog(): PublishLog {
  return { published: [], publishedAt: new Map(), faults: {} };
}

/** Records one message sent at `sentAtMs` (wall clock, epoch ms). */
export function recordSent(
  log: PublishLog,
  message: { deviceId: string; payload: Buffer; eventIds: readonly string[]; fault?: string | undefined },
  sentAtMs: number,
): void {
  log.published.push({ deviceId: message.deviceId, payload: message.payload, eventIds: message.eventIds });
  if (message.fault) log.faults[message.fault] = (log.faults[message.fault] ?? 0) + 1;
  for (const id of message.eventIds) if (!log.publishedAt.has(id)) log.publishedAt.set(id, sentAtMs);
}

/** The worker's `workerData`. */
export interface FleetWorkerData {
  /** Resolved enough to give the same fleet on both threads: `start` is fixed by the caller. */
  readonly simulation: SimulationOptions;
  /** One Int32 set to 1 when the twin asks the fleet to stop; read before every publish. */
  readonly stop: SharedArrayBuffer;
  readonly maxInFlight?: number;
}

/** Messages from the twin to the worker. */
export type ToFleetWorker =
  | { readonly type: 'publish'; readonly url: string; readonly speed: number }
  /** Wakes a paced wait after `stop` was set. */
  | { readonly type: 'stop' };

/** Messages sent by the worker, in send order: message i has `idCounts[i]` event ids, and so on. */
export interface SentBatch {
  readonly type: 'sent';
  readonly deviceIds: string[];
  readonly idCounts: Uint16Array<ArrayBuffer>;
  /** Every message's event ids, one after the other. */
  readonly eventIds: string[];
  /** Every message's payload, one after the other (transferred, not copied). */
  readonly payloads: ArrayBuffer;
  readonly payloadLengths: Uint32Array<ArrayBuffer>;
  /** Wall time each message went to the socket (`Date.now()`, the same clock on every thread). */
  readonly sentAtMs: Float64Array<ArrayBuffer>;
  /** Messages of this batch by transport fault, in order of first occurrence. */
  readonly faults: Record<string, number>;
}

/** Messages from the worker to the twin. */
export type FromFleetWorker =
  /** The fleet is built; the thread waits for `publish`. */
  | { readonly type: 'ready' }
  | { readonly type: 'started'; readonly atMs: number }
  | SentBatch
  | { readonly type: 'done'; readonly interrupted: boolean }
  | { readonly type: 'failed'; readonly name: string; readonly message: string };

/** How a run's publishing went, on either thread. */
export interface PublishResult {
  /** Wall time (epoch ms) publishing began. */
  readonly firstPublishMs: number;
  /** Whether the signal stopped publishing before the last message. */
  readonly interrupted: boolean;
}

export interface FleetWorker {
  /** Resolves once the thread has built the fleet (rejects if it could not). Waiting is optional. */
  readonly ready: Promise<void>;
  /**
   * Publishes the fleet to `url` from the worker, recording every message sent in `log` as its batch
   * arrives. `speed` is fleet seconds per wall second (0: as fast as the broker acknowledges).
   * Resolves once every message sent is acknowledged and recorded, after the last message or once
   * `signal` stopped the fleet; rejects with the worker's error if publishing fails.
   */
  publish(
    request: { readonly url: string; readonly speed: number; readonly signal?: AbortSignal },
    log: PublishLog,
  ): Promise<PublishResult>;
  /** Ends the thread (its connections close with it). Safe to call more than once. */
  close(): Promise<void>;
}

export interface FleetWorkerOptions {
  /** The fleet: give `start`, or the two threads could place it at different times. */
  readonly simulation: SimulationOptions;
  /** Publishes awaiting their PUBACK at once. @default the publisher's (512) */
  readonly maxInFlight?: number;
}

/**
 * Starts the worker, which builds the fleet right away (while the twin starts its stand-ins) and
 * publishes when `publish` is called.
 */
export function startFleetWorker(options: FleetWorkerOptions): FleetWorker {
  const stop = new SharedArrayBuffer(4);
  const data: FleetWorkerData = {
    simulation: options.simulation,
    stop,
    ...(options.maxInFlight !== undefined && { maxInFlight: options.maxInFlight }),
  };
  // The thread registers tsx itself (fleet-worker-thread.mjs): `--import tsx` does not reach a
  // worker on Node 20, and an inherited flag such as `--input-type` would break it.
  const worker = new Worker(new URL('./fleet-worker-thread.mjs', import.meta.url), {
    workerData: data,
    execArgv: [],
  });
  let log: PublishLog | undefined;
  let startedAtMs: number | undefined;
  let closed = false;
  let settle: { resolve: (value: PublishResult) => void; reject: (error: Error) => void } | undefined;
  let failure: Error | undefined;
  let readiness: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    readiness = { resolve, reject };
  });
  // A failure is reported by `publish`: nobody has to wait for `ready`.
  ready.catch(() => undefined);
  const fail = (error: Error) => {
    failure ??= error;
    readiness?.reject(failure);
    settle?.reject(failure);
    settle = undefined;
  };

  worker.on('message', (message: FromFleetWorker) => {
    switch (message.type) {
      case 'ready':
        readiness?.resolve();
        break;
      case 'started':
        startedAtMs = message.atMs;
        break;
      case 'sent':
        if (log) recordBatch(log, message);
        break;
      case 'done':
        settle?.resolve({ firstPublishMs: startedAtMs ?? Date.now(), interrupted: message.interrupted });
        settle = undefined;
        break;
      case 'failed':
        fail(
          message.name === 'PublisherError'
            ? new PublisherError(message.message)
            : new Error(`fleet worker: ${message.message}`),
        );
        break;
    }
  });
  worker.on('error', (error) => fail(new Error(`fleet worker: ${error.message}`)));
  worker.on('messageerror', (error) => fail(new Error(`fleet worker: unreadable message: ${error.message}`)));
  worker.on('exit', (code) => {
    if (!closed) fail(new Error(`fleet worker: exited with code ${code} before the fleet was published`));
  });

  return {
    ready,
    publish(request, into) {
      if (log) return Promise.reject(new Error('fleet worker: publish may be called once'));
      log = into;
      const stopFleet = () => {
        Atomics.store(new Int32Array(stop), 0, 1);
        worker.postMessage({ type: 'stop' } satisfies ToFleetWorker);
      };
      const done = new Promise<PublishResult>((resolve, reject) => {
        if (failure) return reject(failure);
        settle = { resolve, reject };
      });
      request.signal?.addEventListener('abort', stopFleet, { once: true });
      if (request.signal?.aborted) stopFleet();
      worker.postMessage({ type: 'publish', url: request.url, speed: request.speed } satisfies ToFleetWorker);
      return done.finally(() => request.signal?.removeEventListener('abort', stopFleet));
    },
    async close() {
      if (closed) return;
      closed = true;
      fail(new Error('fleet worker: closed while publishing'));
      await worker.terminate();
    },
  };
}

function recordBatch(log: PublishLog, batch: SentBatch): void {
  const { deviceIds, idCounts, eventIds, payloadLengths, sentAtMs } = batch;
  let id = 0;
  let offset = 0;
  for (let i = 0; i < deviceIds.length; i++) {
    const count = idCounts[i] as number;
    const length = payloadLengths[i] as number;
    const ids = eventIds.slice(id, id + count);
    const sentAt = sentAtMs[i] as number;
    log.published.push({
      deviceId: deviceIds[i] as string,
      payload: Buffer.from(batch.payloads, offset, length),
      eventIds: ids,
    });
    for (const eventId of ids) if (!log.publishedAt.has(eventId)) log.publishedAt.set(eventId, sentAt);
    id += count;
    offset += length;
  }
  for (const [fault, n] of Object.entries(batch.faults)) log.faults[fault] = (log.faults[fault] ?? 0) + n;
}
