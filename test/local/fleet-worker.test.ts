/**
 * The fleet worker: the simulation and its MQTT publisher on their own thread, publishing to a real
 * broker on this one, and what comes back for the audit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPublishLog, type FleetWorker, startFleetWorker } from '../../local/fleet-worker.ts';
import { type IotBroker, startIotBroker } from '../../local/iot-broker.ts';
import { TWIN_RULE_NAME } from '../../local/twin-pipeline.ts';
import { PublisherError } from '../../simulator/mqtt-publisher.ts';
import { simulateFleet } from '../../simulator/simulate.ts';

const FLEET = {
  seed: 5,
  devices: 12,
  durationHours: 1,
  readingsPerMessage: 3,
  start: '2025-01-13T00:00:00.000Z',
  faults: { duplicate: 0.05, not_json: 0.02, late: 0.02 },
} as const;

let broker: IotBroker;
const received: Array<{ clientId: string; payload: Buffer; receivedAtMs: number }> = [];
let worker: FleetWorker | undefined;

beforeAll(async () => {
  const things = new Set(
    simulateFleet(FLEET)
      .registry()
      .things.map((t) => t.thingName),
  );
  broker = await startIotBroker({
    ruleName: TWIN_RULE_NAME,
    isRegisteredThing: (name) => things.has(name),
    onMessage: ({ clientId, payload, receivedAtMs }) => received.push({ clientId, payload, receivedAtMs }),
  });
});
afterAll(async () => {
  await broker.close();
});
afterEach(async () => {
  await worker?.close();
  worker = undefined;
  received.length = 0;
});

describe('fleet worker', () => {
  it('publishes the same messages, in the same order, as the simulation on this thread', async () => {
    // Prepare
    const summary = simulateFleet(FLEET);
    const expected = [...summary];
    const log = createPublishLog();
    worker = startFleetWorker({ simulation: FLEET });
    await worker.ready;
    const before = Date.now();

    // Act
    const result = await worker.publish({ url: broker.url, speed: 0 }, log);

    // Assess
    expect(result.interrupted).toBe(false);
    expect(result.firstPublishMs).toBeGreaterThanOrEqual(before);
    expect(log.published).toHaveLength(expected.length);
    for (const [i, message] of expected.entries()) {
      const got = log.published[i];
      expect(got?.deviceId).toBe(message.deviceId);
      expect(got?.eventIds).toEqual(message.eventIds);
      expect(got?.payload.equals(message.payload)).toBe(true);
    }
    const faults = Object.fromEntries(Object.entries(summary.summary().faults).filter(([, n]) => n > 0));
    expect(log.faults).toEqual(faults);
    expect(log.publishedAt.size).toBe(summary.summary().readings);
    // Every message reached the broker after the wall time the worker took when sending it: the
    // twin's latency compares this thread's clock with the worker's.
    expect(received).toHaveLength(expected.length);
    const firstSentAt = new Map<string, number>();
    for (const message of log.published) {
      const key = `${message.deviceId} ${message.payload.toString('base64')}`;
      const sentAt = log.publishedAt.get(message.eventIds[0] as string) as number;
      firstSentAt.set(key, Math.min(firstSentAt.get(key) ?? sentAt, sentAt));
    }
    for (const r of received) {
      const sentAt = firstSentAt.get(`${r.clientId} ${r.payload.toString('base64')}`) as number;
      expect(sentAt).toBeGreaterThanOrEqual(result.firstPublishMs);
      expect(r.receivedAtMs).toBeGreaterThanOrEqual(sentAt);
    }
  }, 60_000);

  it('stops when the signal is aborted, and reports every message it sent before stopping', async () => {
    // Prepare: paced, 1 fleet hour at 360x takes 10 s.
    const log = createPublishLog();
    const abort = new AbortController();
    worker = startFleetWorker({ simulation: FLEET });
    const total = [...simulateFleet(FLEET)].length;
    setTimeout(() => abort.abort(), 2_000);

    // Act
    const started = Date.now();
    const result = await worker.publish({ url: broker.url, speed: 360, signal: abort.signal }, log);

    // Assess
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(result.interrupted).toBe(true);
    expect(log.published.length).toBeGreaterThan(0);
    expect(log.published.length).toBeLessThan(total);
    // What the worker says it sent is exactly what the broker received (devices' connections
    // interleave, so not necessarily in the same order).
    const key = (deviceId: string, payload: Buffer) => `${deviceId} ${payload.toString('base64')}`;
    expect(received.map((r) => key(r.clientId, r.payload)).sort()).toEqual(
      log.published.map((m) => key(m.deviceId, m.payload)).sort(),
    );
  }, 30_000);

  it('fails when the broker cannot be reached, naming it, instead of hanging', async () => {
    const closed = await startIotBroker({
      ruleName: TWIN_RULE_NAME,
      isRegisteredThing: () => true,
      onMessage: () => undefined,
    });
    await closed.close();
    worker = startFleetWorker({ simulation: FLEET });

    const publishing = worker.publish({ url: closed.url, speed: 0 }, createPublishLog());

    await expect(publishing).rejects.toThrow(PublisherError);
    await expect(publishing).rejects.toThrow(`cannot reach MQTT endpoint 127.0.0.1:${closed.port}`);
  }, 30_000);

  it('fails when the broker refuses the devices, naming the device and the refusal', async () => {
    const refusing = await startIotBroker({
      ruleName: TWIN_RULE_NAME,
      isRegisteredThing: () => false,
      onMessage: () => undefined,
    });
    try {
      worker = startFleetWorker({ simulation: FLEET });

      const publishing = worker.publish({ url: refusing.url, speed: 0 }, createPublishLog());

      await expect(publishing).rejects.toThrow(
        /device \S+ could not connect to 127\.0\.0\.1:\d+: .*Not authorized/,
      );
    } finally {
      await refusing.close();
    }
  }, 30_000);

  it('fails when the worker itself fails, with its error', async () => {
    // devices: 0 passes no validation: the worker throws while building the fleet.
    worker = startFleetWorker({ simulation: { ...FLEET, devices: 0 } });

    const publishing = worker.publish({ url: broker.url, speed: 0 }, createPublishLog());

    await expect(publishing).rejects.toThrow(
      /^fleet worker: Invalid simulation options:\s+- devices: received 0/,
    );
    await expect(worker.ready).rejects.toThrow(/^fleet worker: Invalid simulation options/);
  }, 30_000);
});
