/**
 * What a serving twin counts as received: the readings of a payload, by event id, however the
 * payload comes (one reading, a batch, gzip) and whatever it lacks.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readingIdsOf } from '../../local/twin-serve.ts';

const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;

describe('readingIdsOf', () => {
  it('takes the event id of a single reading and of each reading of a batch', () => {
    expect(readingIdsOf(Buffer.from(JSON.stringify({ eventId: id(1) })), 'dev')).toEqual([id(1)]);
    const batch = { schemaVersion: 1, readings: [{ eventId: id(2) }, { eventId: id(3) }] };
    expect(readingIdsOf(Buffer.from(JSON.stringify(batch)), 'dev')).toEqual([id(2), id(3)]);
  });

  it('reads gzip payloads, as the validator does', () => {
    expect(readingIdsOf(gzipSync(JSON.stringify({ eventId: id(4) })), 'dev')).toEqual([id(4)]);
  });

  it('stands in for what has no event id: the same bytes from the same sender share the stand-in', () => {
    const unreadable = readingIdsOf(Buffer.from('not json'), 'dev');
    const batch = readingIdsOf(Buffer.from(JSON.stringify({ readings: [{ eventId: id(5) }, {}] })), 'dev');

    expect(unreadable).toHaveLength(1);
    expect(unreadable[0]).toMatch(/^unreadable:dev:[0-9a-f]{16}$/);
    expect(readingIdsOf(Buffer.from('not json'), 'dev')).toEqual(unreadable);
    expect(readingIdsOf(Buffer.from('not json'), 'other')).not.toEqual(unreadable);
    expect(batch[0]).toBe(id(5));
    expect(batch[1]).toMatch(/^unreadable:dev:[0-9a-f]{16}#1$/);
  });
});
