import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS, localDay, localHour, localMidnightMs } from '../../simulator/environment.ts';
import { type Building, buildFleet, type Site } from '../../simulator/fleet.ts';
import { Random } from '../../simulator/random.ts';
import { LockRoutine, LockSchedule, PeriodicSchedule } from '../../simulator/schedule.ts';

const MONDAY = Date.parse('2025-01-13T00:00:00Z');
const fleet = buildFleet({ seed: 1, devices: 400, startMs: MONDAY });
const buildingOf = (use: Building['use']) => fleet.buildings.find((b) => b.use === use) as Building;
const siteOf = (building: Building) => fleet.sites.find((s) => s.siteId === building.siteId) as Site;
const routineFor = (use: Building['use'], key: string) => {
  const building = buildingOf(use);
  const site = siteOf(building);
  return { site, routine: new LockRoutine(Random.fromSeed(1).derive(key), site, building) };
};

describe('PeriodicSchedule', () => {
  it('finds the first reading at or after a time', () => {
    const schedule = new PeriodicSchedule(1_000, 60_000);
    expect(schedule.atOrAfter(0)).toBe(1_000);
    expect(schedule.atOrAfter(1_000)).toBe(1_000);
    expect(schedule.atOrAfter(1_001)).toBe(61_000);
    expect(schedule.atOrAfter(121_000)).toBe(121_000);
  });
});

describe('LockRoutine', () => {
  it('starts and ends every day locked, with actions in time order and the door open only after an unlock', () => {
    for (const use of ['residential', 'office'] as const) {
      for (let k = 0; k < 20; k++) {
        const { site, routine } = routineFor(use, `lock-${k}`);
        for (let day = localDay(site, MONDAY); day < localDay(site, MONDAY) + 7; day++) {
          const { events, doorOpen } = routine.day(day);
          const midnight = localMidnightMs(site, day);
          expect(events.every((e, i) => i === 0 || e.atMs > (events[i - 1]?.atMs ?? 0))).toBe(true);
          expect(events.every((e) => e.atMs > midnight && e.atMs < midnight + DAY_MS)).toBe(true);
          expect(events.at(-1)?.action ?? 'lock').not.toBe('unlock');
          expect(routine.stateAt(midnight + 1).locked).toBe(true);
          for (const [from, to] of doorOpen) {
            expect(to).toBeGreaterThan(from);
            expect(routine.stateAt(from).locked).toBe(false);
            expect(routine.stateAt(from).doorOpen).toBe(true);
          }
        }
      }
    }
  });

  it('unlocks homes in the morning and evening on weekdays, and offices for the working day', () => {
    const { site: home, routine: residential } = routineFor('residential', 'home');
    const monday = localDay(home, MONDAY + 12 * HOUR_MS);
    const unlockHours = residential
      .day(monday)
      .events.filter((e) => e.action === 'unlock')
      .map((e) => localHour(home, e.atMs));
    expect(unlockHours.some((h) => h >= 6.75 && h < 10)).toBe(true);
    expect(unlockHours.some((h) => h >= 16.5 && h < 22)).toBe(true);

    const { site, routine: office } = routineFor('office', 'office');
    const [opening, closing] = office.day(localDay(site, MONDAY + 12 * HOUR_MS)).events;
    expect(opening?.action).toBe('unlock');
    expect(localHour(site, opening?.atMs ?? 0)).toBeGreaterThanOrEqual(7.25);
    expect(closing?.action).toBe('lock');
    expect(localHour(site, closing?.atMs ?? 0)).toBeGreaterThanOrEqual(17.5);
    expect(office.stateAt(((opening?.atMs ?? 0) + (closing?.atMs ?? 0)) / 2).locked).toBe(false);
  });

  it('is a pure function of its stream: asking again, or in another order, gives the same days', () => {
    const a = routineFor('residential', 'same').routine;
    const b = routineFor('residential', 'same').routine;
    const days = Array.from({ length: 12 }, (_, i) => 20_100 + i);
    const forward = days.map((day) => a.day(day));
    const backward = [...days]
      .reverse()
      .map((day) => b.day(day))
      .reverse();
    expect(backward).toEqual(forward);
    // Past the cache: a day evicted and generated again is the same day.
    expect(days.map((day) => a.day(day))).toEqual(forward);
  });
});

describe('LockSchedule', () => {
  it('reports periodically and at every lock action', () => {
    const { site, routine } = routineFor('residential', 'schedule');
    const periodic = new PeriodicSchedule(MONDAY + 7_000, 120_000);
    const schedule = new LockSchedule(periodic, routine);
    const times: number[] = [];
    for (let t = schedule.atOrAfter(MONDAY); t < MONDAY + 2 * DAY_MS; t = schedule.atOrAfter(t + 1))
      times.push(t);
    const events = [localDay(site, MONDAY), localDay(site, MONDAY) + 1, localDay(site, MONDAY) + 2]
      .flatMap((day) => routine.day(day).events)
      .map((e) => e.atMs)
      .filter((t) => t >= MONDAY && t < MONDAY + 2 * DAY_MS);
    expect(events.length).toBeGreaterThan(0);
    for (const t of events) expect(times).toContain(t);
    expect(times.filter((t) => (t - MONDAY - 7_000) % 120_000 === 0)).toHaveLength((2 * DAY_MS) / 120_000);
  });
});
