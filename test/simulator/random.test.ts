import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { hashUnit, Random } from '../../simulator/random.ts';

const draw = (rng: Random, n: number) => Array.from({ length: n }, () => rng.uint32());

describe('Random', () => {
  it('repeats a stream for the same seed and differs for another seed', () => {
    expect(draw(Random.fromSeed(42), 20)).toEqual(draw(Random.fromSeed(42), 20));
    expect(draw(Random.fromSeed(42), 20)).not.toEqual(draw(Random.fromSeed(43), 20));
  });

  it('derives child streams from the key alone, whatever the parent has drawn', () => {
    const fresh = Random.fromSeed(7);
    const used = Random.fromSeed(7);
    draw(used, 1000);
    expect(draw(fresh.derive('device/a'), 10)).toEqual(draw(used.derive('device/a'), 10));
    expect(draw(fresh.derive('device/a'), 10)).not.toEqual(draw(fresh.derive('device/b'), 10));
  });

  it('draws uniform numbers in range with the expected mean', () => {
    const rng = Random.fromSeed(1);
    const values = Array.from({ length: 20_000 }, () => rng.uniform(-2, 6));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...values)).toBeLessThan(6);
    expect(values.reduce((a, b) => a + b, 0) / values.length).toBeCloseTo(2, 1);
    const ints = Array.from({ length: 5000 }, () => rng.int(1, 3));
    expect(new Set(ints)).toEqual(new Set([1, 2, 3]));
  });

  it('draws normal numbers with the requested mean and standard deviation', () => {
    const rng = Random.fromSeed(2);
    const values = Array.from({ length: 20_000 }, () => rng.normal(10, 3));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(mean).toBeCloseTo(10, 1);
    expect(sd).toBeGreaterThan(2.9);
    expect(sd).toBeLessThan(3.1);
  });

  it('draws Poisson counts with the requested mean, and weighted picks by weight', () => {
    const rng = Random.fromSeed(3);
    const counts = Array.from({ length: 10_000 }, () => rng.poisson(2.5));
    expect(counts.reduce((a, b) => a + b, 0) / counts.length).toBeCloseTo(2.5, 1);
    const picks = Array.from({ length: 10_000 }, () => rng.weighted({ a: 0.75, b: 0.25, c: 0 }));
    expect(picks.filter((p) => p === 'a').length / picks.length).toBeCloseTo(0.75, 1);
    expect(picks).not.toContain('c');
    expect(rng.pick(['only'])).toBe('only');
  });

  it('makes UUIDs that zod accepts, with the version-4 layout, unique within and across streams', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (seed) => {
        const ids = Array.from({ length: 50 }, () => Random.fromSeed(seed).derive('ids').uuid());
        const stream = Random.fromSeed(seed).derive('ids');
        const many = Array.from({ length: 50 }, () => stream.uuid());
        expect(new Set(ids).size).toBe(1);
        expect(new Set(many).size).toBe(50);
        for (const id of many) {
          expect(z.uuid().safeParse(id).success).toBe(true);
          expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('hashes integers to stable numbers in [0, 1)', () => {
    expect(hashUnit(5, 9)).toBe(hashUnit(5, 9));
    expect(hashUnit(5, 9)).not.toBe(hashUnit(5, 10));
    const values = Array.from({ length: 5000 }, (_, i) => hashUnit(123, i));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.reduce((a, b) => a + b, 0) / values.length).toBeCloseTo(0.5, 1);
  });
});
