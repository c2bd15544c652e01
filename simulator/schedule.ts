/**
 * When devices report. Most devices report on a fixed period with a per-device phase; smart locks
 * also report on every lock action, which follows the daily routines of the people using the door.
 *
 * Schedules are pure functions of time, so the injection planner can ask "which reading carries an
 * event at time t" before the simulation runs, and get the answer the simulation will produce.
 */

import { HOUR_MS, isWeekend, localDay, localMidnightMs } from './environment.ts';
import type { Building, Site } from './fleet.ts';
import type { Random } from './random.ts';

export interface ReadingSchedule {
  /** Time of the first reading at or after `tMs`. */
  atOrAfter(tMs: number): number;
}

/** A reading every `intervalMs`, the first at `firstMs`. */
export class PeriodicSchedule implements ReadingSchedule {
  constructor(
    readonly firstMs: number,
    readonly intervalMs: number,
  ) {}

  atOrAfter(tMs: number): number {
    if (tMs <= this.firstMs) return this.firstMs;
    return this.firstMs + Math.ceil((tMs - this.firstMs) / this.intervalMs) * this.intervalMs;
  }
}

export type LockAction = 'lock' | 'unlock' | 'auto_lock';

export interface LockEvent {
  readonly atMs: number;
  readonly action: LockAction;
  /** Failed code entries just before this action (a typo before unlocking). */
  readonly failedAttempts: number;
}

export interface LockDay {
  /** Lock actions in time order; every day starts and ends locked. */
  readonly events: readonly LockEvent[];
  /** [from, to] spans in which the door stands open. */
  readonly doorOpen: ReadonlyArray<readonly [number, number]>;
}

export interface LockState {
  readonly locked: boolean;
  readonly doorOpen: boolean;
  /** The lock action that happened exactly at the asked time, if any. */
  readonly action: LockEvent | undefined;
}

/** Days kept in memory: a simulation walks forward, the planner looks at a handful of days. */
const CACHED_DAYS = 8;
const SECOND_MS = 1000;
/** Share of unlocks preceded by a mistyped code: realistic noise well below the burst alert. */
const TYPO_RATE = 0.04;

/**
 * The routine of one door: when people unlock, open and lock it, day by day. Homes see departures in
 * the morning, returns in the evening and errands in between; offices are unlocked for the working
 * day and see a stream of people passing.
 */
export class LockRoutine {
  private readonly days = new Map<number, LockDay>();

  constructor(
    private readonly rng: Random,
    private readonly site: Site,
    private readonly building: Building,
  ) {}

  day(day: number): LockDay {
    let cached = this.days.get(day);
    if (!cached) {
      if (this.days.size >= CACHED_DAYS) this.days.clear();
      cached = this.generate(day);
      this.days.set(day, cached);
    }
    return cached;
  }

  /** The first lock action at or after `tMs`, looking a few days ahead. */
  nextEventAtOrAfter(tMs: number): LockEvent | undefined {
    const first = localDay(this.site, tMs);
    for (let day = first; day <= first + 3; day++) {
      for (const event of this.day(day).events) {
        if (event.atMs >= tMs) return event;
      }
    }
    return undefined;
  }

  stateAt(tMs: number): LockState {
    const { events, doorOpen } = this.day(localDay(this.site, tMs));
    let locked = true;
    let action: LockEvent | undefined;
    for (const event of events) {
      if (event.atMs > tMs) break;
      locked = event.action !== 'unlock';
      if (event.atMs === tMs) action = event;
    }
    let open = false;
    for (const [from, to] of doorOpen) {
      if (from <= tMs && tMs <= to) {
        open = true;
        break;
      }
    }
    return { locked, doorOpen: open, action };
  }

  private generate(day: number): LockDay {
    const rng = this.rng.derive(`day/${day}`);
    const midnight = localMidnightMs(this.site, day);
    const at = (hour: number) => Math.round(midnight + hour * HOUR_MS);
    const events: LockEvent[] = [];
    const doorOpen: Array<readonly [number, number]> = [];
    const unlock = (atMs: number): LockEvent => ({
      atMs,
      action: 'unlock',
      failedAttempts: rng.chance(TYPO_RATE) ? rng.int(1, 2) : 0,
    });

    if (this.building.use === 'office' && !isWeekend(day)) {
      const opening = at(rng.uniform(7.25, 8.5));
      const closing = at(rng.uniform(17.5, 19.5));
      events.push(unlock(opening), { atMs: closing, action: 'lock', failedAttempts: 0 });
      const passages = rng.poisson(12 * ((closing - opening) / HOUR_MS));
      const starts = Array.from({ length: passages }, () =>
        Math.round(rng.uniform(opening, closing - 60 * SECOND_MS)),
      );
      for (const from of starts.sort((a, b) => a - b)) {
        doorOpen.push([from, from + Math.round(rng.uniform(4, 15) * SECOND_MS)]);
      }
      return { events, doorOpen };
    }

    const passageHours: number[] = [];
    if (isWeekend(day)) {
      for (let i = rng.poisson(3); i > 0; i--) passageHours.push(rng.uniform(9, 21));
    } else if (this.building.use === 'office') {
      for (let i = rng.poisson(0.5); i > 0; i--) passageHours.push(rng.uniform(9, 17));
    } else {
      const leave = rng.uniform(6.75, 8.75);
      passageHours.push(leave);
      if (rng.chance(0.5)) passageHours.push(leave + rng.uniform(0.2, 1));
      for (let i = rng.poisson(0.8); i > 0; i--) passageHours.push(rng.uniform(9, 16));
      passageHours.push(rng.uniform(16.5, 19.5));
      if (rng.chance(0.6)) passageHours.push(rng.uniform(17, 21));
      for (let i = rng.poisson(0.6); i > 0; i--) passageHours.push(rng.uniform(19, 22));
    }
    let lockedSince = Number.NEGATIVE_INFINITY;
    for (const hour of passageHours.sort((a, b) => a - b)) {
      const unlockAt = at(hour);
      // A passage starting before the previous one locked the door is the same visit: skip it.
      if (unlockAt <= lockedSince + 10 * SECOND_MS) continue;
      const openFrom = unlockAt + Math.round(rng.uniform(2, 6) * SECOND_MS);
      const openTo = openFrom + Math.round(rng.uniform(10, 60) * SECOND_MS);
      const lockAt = openTo + Math.round(rng.uniform(5, 40) * SECOND_MS);
      events.push(unlock(unlockAt), {
        atMs: lockAt,
        action: rng.chance(0.6) ? 'auto_lock' : 'lock',
        failedAttempts: 0,
      });
      doorOpen.push([openFrom, openTo]);
      lockedSince = lockAt;
    }
    return { events, doorOpen };
  }
}

/** A lock's readings: the periodic ones and one at every lock action. */
export class LockSchedule implements ReadingSchedule {
  constructor(
    private readonly periodic: PeriodicSchedule,
    private readonly routine: LockRoutine,
  ) {}

  atOrAfter(tMs: number): number {
    const periodic = this.periodic.atOrAfter(tMs);
    const event = this.routine.nextEventAtOrAfter(tMs);
    return event !== undefined && event.atMs < periodic ? event.atMs : periodic;
  }
}
