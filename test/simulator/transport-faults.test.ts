import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyRecord } from '../../lambdas/shared/classify.ts';
import { type Reading, telemetryTopic } from '../../lambdas/shared/contract.ts';
import { Random } from '../../simulator/random.ts';
import {
  corruptPayload,
  drawMessageFault,
  EXPECTED_REJECTION,
  type MalformedFault,
  NO_FAULTS,
  planClockSkew,
} from '../../simulator/transport-faults.ts';
import { makeReading } from '../support/readings.ts';

const AT = '2025-01-13T10:00:00.000Z';
const CONTEXT = {
  publishAtMs: Date.parse(AT),
  endMs: Date.parse(AT) + 6 * 3_600_000,
  messageIntervalMs: 60_000,
};

describe('drawMessageFault', () => {
  it('draws the one fault whose rate is 1, and nothing when all rates are 0', () => {
    const rng = Random.fromSeed(1);
    expect(drawMessageFault(rng, NO_FAULTS, { ...CONTEXT, mayCorrupt: true })).toBeUndefined();
    expect(drawMessageFault(rng, { ...NO_FAULTS, late: 1 }, { ...CONTEXT, mayCorrupt: true })?.kind).toBe(
      'late',
    );
    expect(drawMessageFault(rng, { ...NO_FAULTS, not_json: 1 }, { ...CONTEXT, mayCorrupt: true })).toEqual({
      kind: 'not_json',
      delayMs: 0,
    });
  });

  it('drops a fault that cannot happen: a delay past the end of the run, a corruption of an injected reading', () => {
    const rng = Random.fromSeed(2);
    const nearEnd = { ...CONTEXT, publishAtMs: CONTEXT.endMs - 60_000, mayCorrupt: true };
    expect(drawMessageFault(rng, { ...NO_FAULTS, late: 1 }, nearEnd)).toBeUndefined();
    expect(drawMessageFault(rng, { ...NO_FAULTS, out_of_order: 1 }, nearEnd)).toBeUndefined();
    expect(
      drawMessageFault(rng, { ...NO_FAULTS, out_of_range: 1 }, { ...CONTEXT, mayCorrupt: false }),
    ).toBeUndefined();
  });

  it('delays late messages by 5 minutes to 3 hours, out-of-order ones by 1.2 to 3.5 message intervals', () => {
    const rng = Random.fromSeed(3);
    for (let i = 0; i < 200; i++) {
      const late = drawMessageFault(rng, { ...NO_FAULTS, late: 1 }, { ...CONTEXT, mayCorrupt: true });
      expect(late?.delayMs).toBeGreaterThanOrEqual(5 * 60_000);
      expect(late?.delayMs).toBeLessThanOrEqual(3 * 3_600_000);
      const early = drawMessageFault(
        rng,
        { ...NO_FAULTS, out_of_order: 1 },
        { ...CONTEXT, mayCorrupt: true },
      );
      expect(early?.delayMs).toBeGreaterThanOrEqual(72_000);
      expect(early?.delayMs).toBeLessThanOrEqual(210_000);
    }
  });
});

describe('planClockSkew', () => {
  it('skews the requested share of devices; large skews put every batched reading in the future', () => {
    const skews = Array.from({ length: 4000 }, (_, i) =>
      planClockSkew(Random.fromSeed(i), { ...NO_FAULTS, clock_skew: 0.25 }, 10 * 60_000),
    );
    const skewed = skews.filter((s) => s !== 0);
    expect(skewed.length / skews.length).toBeCloseTo(0.25, 1);
    for (const skew of skewed) {
      const small = Math.abs(skew) <= 4 * 60_000;
      expect(small || skew >= 20 * 60_000).toBe(true);
    }
  });
});

describe('corruptPayload', () => {
  const kinds = Object.keys(EXPECTED_REJECTION) as MalformedFault[];
  const types = ['thermostat', 'camera', 'smart_lock', 'sensor'] as const;

  it('makes payloads the validator rejects with the expected code, for every device type, single or batched', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.constantFrom(...types),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (kind, type, count, seed) => {
          const deviceId = `${type}-s01-b1-r01-0001`;
          const readings: Reading[] = Array.from({ length: count }, (_, i) =>
            makeReading(type, seed + i, AT, deviceId),
          );
          const batch = count > 1;
          const corrupted = corruptPayload(
            kind,
            readings,
            batch,
            Random.fromSeed(seed),
            'camera-s01-b1-r01-0000',
          );
          const envelope = {
            payload: corrupted.payload.toString('base64'),
            topic: telemetryTopic(deviceId),
            deviceId,
            receivedAtMs: Date.parse(AT),
          };
          const outcome = classifyRecord(Buffer.from(JSON.stringify(envelope)), {
            arrivalMs: Date.parse(AT),
          });
          expect(outcome.valid).toEqual([]);
          expect(outcome.readingCount).toBe(corrupted.readingCount);
          const codes = new Set(outcome.rejected.flatMap((r) => r.reasons.map((reason) => reason.code)));
          expect(codes).toEqual(new Set([EXPECTED_REJECTION[kind]]));
        },
      ),
      { numRuns: 300 },
    );
  });
});
