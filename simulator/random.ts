/**
 * Seeded pseudo-random streams for the simulator.
 *
 * Every stream is named by a key (`fleet/42/device/camera-s01-b1-r02-0007/signal`) and seeded from a
 * hash of that key, never from another stream's state. A device's data therefore depends only on the
 * seed and the device itself: adding a device, or drawing more numbers in one stream, leaves every
 * other stream unchanged.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's "small fast counting" generator from PractRand):
 * 128 bits of state, passes PractRand to terabytes, and needs nothing but 32-bit integer arithmetic,
 * which keeps it fast in JavaScript. Not for cryptography.
 */

const TWO_POW_32 = 0x1_0000_0000;
/** Outputs discarded after seeding, so streams with similar keys have diverged before first use. */
const WARM_UP_ROUNDS = 12;

/** Finaliser of MurmurHash3: spreads every input bit over the whole 32-bit word. */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a of a string with a salt folded into the offset basis, then mixed. */
export function hashString(text: string, salt = 0): number {
  let h = (0x811c9dc5 ^ Math.imul(salt + 1, 0x9e3779b9)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/**
 * A uniform number in [0, 1) that is a pure function of two integers: noise that needs no state,
 * so any device can evaluate, say, a room's occupancy in a time slot and get the same answer.
 */
export function hashUnit(key: number, slot: number): number {
  return mix32(mix32(key ^ 0x5bd1e995) ^ Math.imul(slot | 0, 0x27d4eb2f)) / TWO_POW_32;
}

/** Two hex digits per byte value: formatting UUIDs by lookup is several times faster than toString(16). */
const HEX_BYTES = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

function hex8(value: number): string {
  return (
    (HEX_BYTES[value >>> 24] as string) +
    (HEX_BYTES[(value >>> 16) & 0xff] as string) +
    (HEX_BYTES[(value >>> 8) & 0xff] as string) +
    (HEX_BYTES[value & 0xff] as string)
  );
}

/** A named, seeded stream of pseudo-random numbers. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second value of the last Box-Muller pair, returned by the next `normal()` call. */
  private spareNormal: number | undefined;

  private constructor(readonly key: string) {
    this.a = hashString(key, 0);
    this.b = hashString(key, 1);
    this.c = hashString(key, 2);
    this.d = hashString(key, 3);
    for (let i = 0; i < WARM_UP_ROUNDS; i++) this.uint32();
  }

  /** The root stream of a simulation. */
  static fromSeed(seed: number): Random {
    return new Random(`sdap/${seed}`);
  }

  /** An independent stream named `label` under this one; does not consume numbers of this stream. */
  derive(label: string): Random {
    return new Random(`${this.key}/${label}`);
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / TWO_POW_32;
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Normally distributed (Box-Muller transform). */
  normal(mean = 0, standardDeviation = 1): number {
    if (this.spareNormal !== undefined) {
      const spare = this.spareNormal;
      this.spareNormal = undefined;
      return mean + standardDeviation * spare;
    }
    // 1 - next() is in (0, 1]: the logarithm stays finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    const angle = 2 * Math.PI * this.next();
    this.spareNormal = radius * Math.sin(angle);
    return mean + standardDeviation * radius * Math.cos(angle);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick() needs at least one item');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Picks a key with probability proportional to its weight (weights ≥ 0, at least one > 0). */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const keys = Object.keys(weights) as K[];
    let total = 0;
    for (const key of keys) total += weights[key];
    let u = this.next() * total;
    for (const key of keys) {
      u -= weights[key];
      if (u < 0) return key;
    }
    // Rounding can leave u at exactly 0 after the last key: return the last positive weight.
    return keys.filter((key) => weights[key] > 0).at(-1) as K;
  }

  /** Number of events of a Poisson process with mean `mean`. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 30) return Math.max(0, Math.round(this.normal(mean, Math.sqrt(mean))));
    // Knuth's multiplication method: exact, and cheap for the small means the simulator uses.
    const limit = Math.exp(-mean);
    let count = 0;
    let product = this.next();
    while (product > limit) {
      count++;
      product *= this.next();
    }
    return count;
  }

  /** A UUID with the version-4 layout (version nibble 4, RFC 9562 variant), from this stream. */
  uuid(): string {
    const a = hex8(this.uint32());
    const b = hex8(this.uint32());
    const c = hex8(((this.uint32() & 0x3fffffff) | 0x80000000) >>> 0);
    const d = hex8(this.uint32());
    return `${a}-${b.slice(0, 4)}-4${b.slice(5)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
  }
}
