/** Helpers shared by the simulator tests: run a simulation and index what it published. */
import type { Reading } from '../../lambdas/shared/contract.ts';
import { NO_INJECTIONS } from '../../simulator/injections.ts';
import type { SimulationOptions } from '../../simulator/options.ts';
import { type FleetSimulation, type OutgoingMessage, simulateFleet } from '../../simulator/simulate.ts';
import { NO_FAULTS } from '../../simulator/transport-faults.ts';

export { NO_FAULTS, NO_INJECTIONS };

/** The readings of a well-formed payload (single reading or batch). */
export function readingsOf(message: OutgoingMessage): Reading[] {
  const value = JSON.parse(message.payload.toString('utf8')) as Reading | { readings: Reading[] };
  return 'readings' in value ? value.readings : [value];
}

export interface Run {
  readonly sim: FleetSimulation;
  readonly messages: readonly OutgoingMessage[];
  /** Readings of every message that is not malformed and not a redelivery, by device, in time order. */
  readonly byDevice: ReadonlyMap<string, readonly Reading[]>;
}

export function run(options: SimulationOptions): Run {
  const sim = simulateFleet(options);
  const messages = [...sim];
  const byDevice = new Map<string, Reading[]>();
  for (const message of messages) {
    if (message.expectedRejection || message.fault === 'duplicate') continue;
    for (const reading of readingsOf(message)) {
      const list = byDevice.get(reading.deviceId) ?? [];
      list.push(reading);
      byDevice.set(reading.deviceId, list);
    }
  }
  for (const list of byDevice.values()) list.sort((a, b) => a.seq - b.seq);
  return { sim, messages, byDevice };
}

export const timeOf = (reading: Reading) => Date.parse(reading.timestamp);
