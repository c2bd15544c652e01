/**
 * The device's previous reading for the anomaly model's signal features (`signal_delta_prev`,
 * `signal_repeats`), as one execution environment has seen it. The training SQL takes the previous
 * reading in device time (ordered by timestamp, then event id); this history keeps each device's
 * recent readings in that order, so that a reading arriving late finds its true predecessor and a
 * redelivered reading (a retried batch) gets the same features again instead of following itself.
 *
 * Bounded: per device only the readings of the last {@link DEFAULT_HISTORY_LOOKBACK_MS} of device
 * time (at most {@link DEFAULT_MAX_READINGS_PER_DEVICE}), and at most `maxDevices` devices, the
 * least recently seen dropped first. What it cannot know: readings of the device that another
 * execution environment processed. A cold environment starts empty (the features are missing
 * until the device's next reading), and one that missed readings links to an older one.
 */

import { deviceTimeMs, type PreviousSignal, SIGNAL_LINK_MS, signalOf } from './anomaly-features.ts';
import type { Reading } from './contract.ts';

/**
 * How much device time a device's history covers: twice the hour a previous reading may lie back,
 * so a reading that arrives up to an hour late still finds its predecessor.
 */
export const DEFAULT_HISTORY_LOOKBACK_MS = 2 * 60 * 60 * 1000;
/** Readings kept per device: a reading a minute for the lookback, with room to spare. */
export const DEFAULT_MAX_READINGS_PER_DEVICE = 256;
/** Devices kept: ~100 bytes a reading puts 100,000 devices at a dozen readings each near 120 MB. */
export const DEFAULT_MAX_DEVICES = 100_000;

export interface DeviceSignalHistoryOptions {
  /** @default {@link DEFAULT_MAX_DEVICES} */
  readonly maxDevices?: number;
  /** @default {@link DEFAULT_HISTORY_LOOKBACK_MS} */
  readonly lookbackMs?: number;
  /** @default {@link DEFAULT_MAX_READINGS_PER_DEVICE} */
  readonly maxReadingsPerDevice?: number;
}

interface Entry {
  readonly eventId: string;
  readonly timeMs: number;
  readonly signal: number;
  runIndex: number;
}

/** (time, event id) order, as the SQL's `ORDER BY timestamp, event_id`. */
function before(a: { timeMs: number; eventId: string }, b: { timeMs: number; eventId: string }): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.eventId < b.eventId);
}

export class DeviceSignalHistory {
  readonly #devices = new Map<string, Entry[]>();
  readonly #maxDevices: number;
  readonly #lookbackMs: number;
  readonly #maxReadings: number;

  constructor(options: DeviceSignalHistoryOptions = {}) {
    this.#maxDevices = options.maxDevices ?? DEFAULT_MAX_DEVICES;
    this.#lookbackMs = options.lookbackMs ?? DEFAULT_HISTORY_LOOKBACK_MS;
    this.#maxReadings = options.maxReadingsPerDevice ?? DEFAULT_MAX_READINGS_PER_DEVICE;
  }

  /** Devices with a history. */
  get size(): number {
    return this.#devices.size;
  }

  /**
   * The reading's previous reading (undefined when none is known), recording the reading. A reading
   * without a signal (locks, binary sensors) is not recorded: its device never has one.
   */
  observe(reading: Reading): PreviousSignal | undefined {
    if (signalOf(reading) === null) return undefined;
    const key = { eventId: reading.eventId, timeMs: deviceTimeMs(reading) };
    const entries = this.#devices.get(reading.deviceId) ?? [];
    let index = entries.length;
    while (index > 0 && before(key, entries[index - 1] as Entry)) index--;
    const predecessor = entries[index - 1];
    if (predecessor?.eventId === reading.eventId) {
      // Seen before (a redelivery): the features of its first sighting, the history unchanged.
      return previousOf(entries[index - 2]);
    }
    const previous = previousOf(predecessor);
    const entry: Entry = { ...key, signal: signalOf(reading) as number, runIndex: 0 };
    entries.splice(index, 0, entry);
    // The run indices from here on follow the (possibly new) order.
    for (let i = index; i < entries.length; i++) {
      const current = entries[i] as Entry;
      current.runIndex = runIndexAfter(current, entries[i - 1]);
    }
    this.#prune(entries);
    // Most recently seen last, so the first key is the one to drop.
    this.#devices.delete(reading.deviceId);
    this.#devices.set(reading.deviceId, entries);
    if (this.#devices.size > this.#maxDevices) {
      this.#devices.delete(this.#devices.keys().next().value as string);
    }
    return previous;
  }

  #prune(entries: Entry[]): void {
    const newest = (entries.at(-1) as Entry).timeMs;
    let drop = 0;
    while (drop < entries.length - 1 && (entries[drop] as Entry).timeMs < newest - this.#lookbackMs) drop++;
    drop = Math.max(drop, entries.length - this.#maxReadings);
    if (drop > 0) entries.splice(0, drop);
  }
}

function previousOf(entry: Entry | undefined): PreviousSignal | undefined {
  return entry && { timeMs: entry.timeMs, signal: entry.signal, runIndex: entry.runIndex };
}

/**
 * An entry's place in its run of equal signals after `previous`, or 0 when it starts one: the
 * `runIndex` of `linkToPrevious` (anomaly-features.ts) (both carry a signal, as only readings with one are kept).
 */
function runIndexAfter(entry: Entry, previous: Entry | undefined): number {
  const continues =
    previous !== undefined &&
    previous.signal === entry.signal &&
    previous.timeMs >= entry.timeMs - SIGNAL_LINK_MS;
  return continues ? previous.runIndex + 1 : 0;
}
