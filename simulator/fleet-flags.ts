/**
 * Command-line flags that describe a fleet run, shared by `sdap simulate` and `sdap twin`, and
 * their validation: every message names the flag, the value received and what is allowed.
 */
import * as z from 'zod';
import { MAX_READINGS_PER_MESSAGE } from '../lambdas/shared/contract.ts';
import { MAX_DEVICES } from './options.ts';

/** `parseArgs` option definitions of the fleet flags. */
export const FLEET_FLAGS = {
  devices: { type: 'string' },
  hours: { type: 'string' },
  seed: { type: 'string' },
  'readings-per-message': { type: 'string' },
  speed: { type: 'string' },
} as const;

/** Fleet time may not reach back further than the validator accepts readings (7 days). */
export const MAX_FLEET_HOURS = 7 * 24 - 1;

export class FlagError extends Error {
  override readonly name = 'FlagError';
}

const numberFlag = (flag: string, min: number, max: number, integer: boolean) =>
  z.string().transform((text, ctx) => {
    const value = Number(text);
    const ok = text.trim() !== '' && Number.isFinite(value) && (!integer || Number.isInteger(value));
    if (!ok || value < min || value > max) {
      ctx.addIssue({
        code: 'custom',
        message: `--${flag}: received '${text}', expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`,
      });
      return z.NEVER;
    }
    return value;
  });

/** Validates a number flag given as text; undefined stays undefined. */
export function parseNumberFlag(
  flag: string,
  text: string | undefined,
  range: { min: number; max: number; integer?: boolean },
): number | undefined {
  if (text === undefined) return undefined;
  const result = numberFlag(flag, range.min, range.max, range.integer ?? false).safeParse(text);
  if (!result.success) throw new FlagError(result.error.issues.map((issue) => issue.message).join('\n'));
  return result.data;
}

export interface FleetFlagValues {
  readonly devices?: number;
  readonly hours?: number;
  readonly seed?: number;
  readonly readingsPerMessage?: number;
  /** Fleet seconds per wall second; 0 = as fast as possible. */
  readonly speed?: number;
}

/** Parses the fleet flags of `parseArgs` values. */
export function parseFleetFlags(values: Partial<Record<keyof typeof FLEET_FLAGS, string>>): FleetFlagValues {
  const devices = parseNumberFlag('devices', values.devices, { min: 1, max: MAX_DEVICES, integer: true });
  const hours = parseNumberFlag('hours', values.hours, { min: 0.01, max: MAX_FLEET_HOURS });
  const seed = parseNumberFlag('seed', values.seed, { min: 0, max: 0xffff_ffff, integer: true });
  const readingsPerMessage = parseNumberFlag('readings-per-message', values['readings-per-message'], {
    min: 1,
    max: MAX_READINGS_PER_MESSAGE,
    integer: true,
  });
  const speed = parseNumberFlag('speed', values.speed, { min: 0, max: 1_000_000 });
  return {
    ...(devices !== undefined && { devices }),
    ...(hours !== undefined && { hours }),
    ...(seed !== undefined && { seed }),
    ...(readingsPerMessage !== undefined && { readingsPerMessage }),
    ...(speed !== undefined && { speed }),
  };
}
