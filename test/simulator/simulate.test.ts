import { createHash } from 'node:crypto';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyRecord } from '../../lambdas/shared/classify.ts';
import {
  deviceIdFromTopic,
  MAX_CLOCK_AHEAD_MS,
  MAX_MESSAGE_BYTES,
  MAX_READINGS_PER_MESSAGE,
  reading,
  readingBatch,
  telemetryTopic,
} from '../../lambdas/shared/contract.ts';
import { type OutgoingMessage, simulateFleet } from '../../simulator/simulate.ts';
import { FAULT_KINDS } from '../../simulator/transport-faults.ts';
import { NO_FAULTS, NO_INJECTIONS, readingsOf, run, timeOf } from './collect.ts';

const fingerprint = (messages: Iterable<OutgoingMessage>) => {
  const hash = createHash('sha256');
  for (const m of messages) hash.update(`${m.publishAtMs}|${m.topic}|${m.fault ?? ''}|`).update(m.payload);
  return hash.digest('hex');
};

/** Heavy fault rates so that a small run shows every kind. */
const MANY_FAULTS = {
  duplicate: 0.05,
  out_of_order: 0.03,
  late: 0.02,
  clock_skew: 0.1,
  not_json: 0.01,
  truncated_json: 0.01,
  out_of_range: 0.01,
  unknown_device_type: 0.01,
  device_mismatch: 0.01,
};

describe('simulateFleet: determinism', () => {
  it('gives byte-identical messages for the same seed and options, different ones for another seed', () => {
    const options = { devices: 60, durationHours: 2, readingsPerMessage: 4 };
    const a = fingerprint(simulateFleet({ ...options, seed: 11 }));
    expect(fingerprint(simulateFleet({ ...options, seed: 11 }))).toBe(a);
    expect(fingerprint(simulateFleet({ ...options, seed: 12 }))).not.toBe(a);
    expect(simulateFleet({ ...options, seed: 11 }).groundTruth()).toEqual(
      simulateFleet({ ...options, seed: 11 }).groundTruth(),
    );
  });

  it('leaves the existing devices’ messages and labels unchanged when a device is added', () => {
    const options = { seed: 5, durationHours: 3, faults: MANY_FAULTS };
    const small = run({ ...options, devices: 40 });
    const large = run({ ...options, devices: 41 });
    const added = large.sim.fleet.devices[40]?.deviceId;
    const ofExisting = (messages: readonly OutgoingMessage[]) =>
      fingerprint(messages.filter((m) => m.deviceId !== added));
    expect(ofExisting(large.messages)).toBe(fingerprint(small.messages));
    expect(large.sim.groundTruth().filter((g) => g.deviceId !== added)).toEqual(small.sim.groundTruth());
  });
});

describe('simulateFleet: the contract', () => {
  it('publishes only readings that pass the contract, in publish order, within the message limits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(1, 5, MAX_READINGS_PER_MESSAGE),
        fc.double({ min: 0.25, max: 2, noNaN: true }),
        (seed, devices, readingsPerMessage, durationHours) => {
          const sim = simulateFleet({ seed, devices, readingsPerMessage, durationHours });
          let last = Number.NEGATIVE_INFINITY;
          for (const message of sim) {
            expect(message.publishAtMs).toBeGreaterThanOrEqual(last);
            last = message.publishAtMs;
            expect(message.topic).toBe(telemetryTopic(message.deviceId));
            expect(message.payload.byteLength).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
            expect(message.eventIds.length).toBeLessThanOrEqual(MAX_READINGS_PER_MESSAGE);
            if (message.expectedRejection) continue;
            const value = JSON.parse(message.payload.toString('utf8'));
            if (readingsPerMessage > 1) expect(readingBatch.safeParse(value).success).toBe(true);
            const readings = readingsOf(message);
            expect(readings.map((r) => r.eventId)).toEqual(message.eventIds);
            expect(message.readingCount).toBe(readings.length);
            for (const r of readings) {
              const parsed = reading.safeParse(r);
              expect(parsed.error?.issues ?? []).toEqual([]);
              expect(r.deviceId).toBe(message.deviceId);
            }
          }
        },
      ),
      { numRuns: 10 },
    );
  });

  it('keeps publish order when a lone device holds messages back', () => {
    const faults = { ...NO_FAULTS, duplicate: 0.2, out_of_order: 0.2, late: 0.2 };
    const times = [...simulateFleet({ seed: 1, devices: 1, durationHours: 2, faults })].map(
      (m) => m.publishAtMs,
    );
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('is classified by the validator as each message’s label says', () => {
    const { messages } = run({
      seed: 21,
      devices: 80,
      durationHours: 4,
      readingsPerMessage: 3,
      faults: MANY_FAULTS,
    });
    const seen = new Set<string>();
    for (const message of messages) {
      // What the IoT rule puts on the stream, received when the device published.
      const envelope = {
        payload: message.payload.toString('base64'),
        topic: message.topic,
        deviceId: deviceIdFromTopic(message.topic),
        receivedAtMs: message.publishAtMs,
      };
      const outcome = classifyRecord(Buffer.from(JSON.stringify(envelope)), {
        arrivalMs: message.publishAtMs,
      });
      expect(outcome.readingCount).toBe(message.readingCount);
      const codes = outcome.rejected.flatMap((r) => r.reasons.map((reason) => reason.code));
      if (message.expectedRejection) {
        expect(outcome.valid).toEqual([]);
        expect(new Set(codes)).toEqual(new Set([message.expectedRejection]));
      } else if (message.fault === 'clock_skew' && (message.clockSkewMs ?? 0) > MAX_CLOCK_AHEAD_MS) {
        expect(outcome.valid).toEqual([]);
        expect(new Set(codes)).toEqual(new Set(['timestamp_in_future']));
      } else {
        expect(codes).toEqual([]);
        expect(outcome.valid.map((r) => r.eventId)).toEqual(message.eventIds);
      }
      seen.add(message.fault ?? 'none');
    }
    expect(seen).toEqual(new Set([...FAULT_KINDS, 'none']));
  });

  it('publishes to the Basic Ingest topic of the rule when asked', () => {
    const sim = simulateFleet({ devices: 3, durationHours: 0.1, basicIngest: { ruleName: 'sdap_ingest' } });
    for (const message of sim) {
      expect(message.topic).toBe(`$aws/rules/sdap_ingest/dt/sdap/${message.deviceId}/telemetry`);
      expect(deviceIdFromTopic(message.topic)).toBe(message.deviceId);
    }
  });
});

describe('simulateFleet: transport faults', () => {
  const { sim, messages, byDevice } = run({ seed: 8, devices: 100, durationHours: 6, faults: MANY_FAULTS });

  it('counts every labelled message in the summary, and the summary adds up', () => {
    const summary = sim.summary();
    expect(summary.complete).toBe(true);
    expect(summary.messages).toBe(messages.length);
    for (const kind of FAULT_KINDS) {
      expect(summary.faults[kind]).toBe(messages.filter((m) => m.fault === kind).length);
      expect(summary.faults[kind]).toBeGreaterThan(0);
    }
    const distinct = new Set(messages.flatMap((m) => m.eventIds));
    expect(summary.readings).toBe(distinct.size);
    expect(Object.values(summary.readingsByType).reduce((a, b) => a + b, 0)).toBe(distinct.size);
    expect(summary.readingsInMalformedMessages).toBe(
      messages.filter((m) => m.expectedRejection).reduce((n, m) => n + m.eventIds.length, 0),
    );
    expect(summary.devicesByType).toEqual({ thermostat: 35, camera: 20, smart_lock: 20, sensor: 25 });
  });

  it('redelivers a duplicate as the very same bytes, shortly after the original', () => {
    const originals = new Map(messages.filter((m) => !m.fault).map((m) => [m.eventIds.join(), m]));
    for (const copy of messages.filter((m) => m.fault === 'duplicate')) {
      const original = originals.get(copy.eventIds.join());
      expect(original).toBeDefined();
      expect(copy.payload.equals(original?.payload as Buffer)).toBe(true);
      expect(copy.topic).toBe(original?.topic);
      expect(copy.publishAtMs - (original?.publishAtMs ?? 0)).toBeLessThanOrEqual(10_000);
    }
  });

  it('holds out-of-order messages back past the next message, late ones by minutes to hours', () => {
    const intervalMs = new Map(sim.fleet.devices.map((d) => [d.deviceId, d.reportingIntervalS * 1000]));
    const delayed = messages.filter((m) => m.fault === 'out_of_order' || m.fault === 'late');
    const sent = new Map<string, Array<{ publishAtMs: number; newestMs: number }>>();
    for (const m of messages) {
      if (m.expectedRejection) continue;
      const list = sent.get(m.deviceId) ?? [];
      list.push({ publishAtMs: m.publishAtMs, newestMs: Math.max(...readingsOf(m).map(timeOf)) });
      sent.set(m.deviceId, list);
    }
    let overtaken = 0;
    for (const message of delayed) {
      const readAt = Math.max(...readingsOf(message).map(timeOf));
      const delayMs = message.publishAtMs - readAt;
      if (message.fault === 'late') {
        expect(delayMs).toBeGreaterThanOrEqual(5 * 60_000);
        expect(delayMs).toBeLessThanOrEqual(3 * 3_600_000);
      } else {
        expect(delayMs).toBeGreaterThanOrEqual(1.2 * (intervalMs.get(message.deviceId) ?? 0) - 1);
      }
      const later = (sent.get(message.deviceId) ?? []).some(
        (m) => m.publishAtMs <= message.publishAtMs && m.newestMs > readAt,
      );
      if (later) overtaken++;
    }
    // The exceptions: the device's next messages were themselves delayed, malformed or not sent.
    expect(overtaken / delayed.length).toBeGreaterThan(0.85);
  });

  it('offsets every timestamp of a skewed device by its skew', () => {
    const skewed = messages.filter((m) => m.fault === 'clock_skew');
    const skews = new Map(skewed.map((m) => [m.deviceId, m.clockSkewMs]));
    for (const [deviceId, skewMs] of skews) {
      expect(messages.filter((m) => m.deviceId === deviceId).every((m) => m.fault === 'clock_skew')).toBe(
        true,
      );
      for (const m of messages.filter((x) => x.deviceId === deviceId)) {
        for (const r of readingsOf(m)) expect(timeOf(r) - m.publishAtMs).toBe(skewMs);
      }
    }
    expect(byDevice.size).toBeGreaterThan(0);
  });

  it('sends nothing malformed or skewed when faults are off', () => {
    const clean = simulateFleet({
      seed: 8,
      devices: 30,
      durationHours: 2,
      faults: NO_FAULTS,
      injections: NO_INJECTIONS,
    });
    for (const message of clean) expect(message.fault).toBeUndefined();
    expect(Object.values(clean.summary().faults).every((n) => n === 0)).toBe(true);
  });
});
