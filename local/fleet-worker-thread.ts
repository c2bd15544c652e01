/**
 * The fleet worker's thread (started by fleet-worker.ts): simulates the fleet, publishes it over
 * MQTT as its devices would, paced on fleet time when asked, and reports each message sent back to
 * the twin in batches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createFleetPublisher } from '../simulator/mqtt-publisher.ts';
import { type OutgoingMessage, simulateFleet } from '../simulator/simulate.ts';
import type { FleetWorkerData, FromFleetWorker, SentBatch, ToFleetWorker } from './fleet-worker.ts';

/** A batch goes to the twin at this many messages, or this long after its first one. */
const BATCH_MESSAGES = 256;
const BATCH_MAX_AGE_MS = 100;

if (!parentPort) throw new Error('fleet-worker-thread.ts runs as a worker of fleet-worker.ts');
const port = parentPort;
const data = workerData as FleetWorkerData;
const stopRequested = new Int32Array(data.stop);
// Built before the twin asks for it, while its stand-ins start.
const sim = simulateFleet(data.simulation);
let wake: (() => void) | undefined;

const post = (message: FromFleetWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
post({ type: 'ready' });

port.on('message', (message: ToFleetWorker) => {
  if (message.type === 'stop') {
    wake?.();
    return;
  }
  publishFleet(message.url, message.speed).catch((error: unknown) => {
    const { name, message: text } =
      error instanceof Error ? error : { name: 'Error', message: String(error) };
    post({ type: 'failed', name, message: text });
  });
});

async function publishFleet(url: string, speed: number): Promise<void> {
  const publisher = createFleetPublisher({
    url,
    ...(data.maxInFlight !== undefined && { maxInFlight: data.maxInFlight }),
  });
  const batch = new BatchBuilder();
  const firstPublishMs = Date.now();
  post({ type: 'started', atMs: firstPublishMs });
  let interrupted = false;
  // On failure the twin ends the thread: its connections close with it, acknowledged or not.
  for (const message of sim) {
    if (speed > 0) {
      const wait = firstPublishMs + (message.publishAtMs - sim.startMs) / speed - Date.now();
      if (wait > 0) {
        // The twin sees what went out before a long pause now, not after it.
        if (wait >= BATCH_MAX_AGE_MS) batch.send();
        await pause(wait);
      }
    }
    if (Atomics.load(stopRequested, 0) === 1) {
      interrupted = true;
      break;
    }
    batch.add(message, await publisher.publish(message));
  }
  await publisher.close();
  batch.send();
  post({ type: 'done', interrupted });
}

/** Waits `ms`, or less when the twin asks the fleet to stop. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (Atomics.load(stopRequested, 0) === 1) return resolve();
    const done = () => {
      clearTimeout(timer);
      wake = undefined;
      resolve();
    };
    const timer = setTimeout(done, ms);
    wake = done;
  });
}

/** Collects sent messages and posts them as one `SentBatch`. */
class BatchBuilder {
  private deviceIds: string[] = [];
  private idCounts: number[] = [];
  private eventIds: string[] = [];
  private payloads: Buffer[] = [];
  private bytes = 0;
  private sentAtMs: number[] = [];
  private faults: Record<string, number> = {};
  private openedAtMs = 0;

  add(message: OutgoingMessage, sentAtMs: number): void {
    if (this.deviceIds.length === 0) this.openedAtMs = sentAtMs;
    this.deviceIds.push(message.deviceId);
    this.idCounts.push(message.eventIds.length);
    for (const id of message.eventIds) this.eventIds.push(id);
    this.payloads.push(message.payload);
    this.bytes += message.payload.length;
    this.sentAtMs.push(sentAtMs);
    if (message.fault) this.faults[message.fault] = (this.faults[message.fault] ?? 0) + 1;
    if (this.deviceIds.length >= BATCH_MESSAGES || sentAtMs - this.openedAtMs >= BATCH_MAX_AGE_MS)
      this.send();
  }

  send(): void {
    if (this.deviceIds.length === 0) return;
    // One buffer of its own (a small Buffer may be a view of a shared pool, which cannot move).
    const payloads = new Uint8Array(this.bytes);
    const payloadLengths = new Uint32Array(this.payloads.length);
    let offset = 0;
    for (const [i, payload] of this.payloads.entries()) {
      payloads.set(payload, offset);
      payloadLengths[i] = payload.length;
      offset += payload.length;
    }
    const batch: SentBatch = {
      type: 'sent',
      deviceIds: this.deviceIds,
      idCounts: Uint16Array.from(this.idCounts),
      eventIds: this.eventIds,
      payloads: payloads.buffer,
      payloadLengths,
      sentAtMs: Float64Array.from(this.sentAtMs),
      faults: this.faults,
    };
    post(batch, [batch.payloads, batch.idCounts.buffer, batch.payloadLengths.buffer, batch.sentAtMs.buffer]);
    this.deviceIds = [];
    this.idCounts = [];
    this.eventIds = [];
    this.payloads = [];
    this.bytes = 0;
    this.sentAtMs = [];
    this.faults = {};
  }
}
