import { describe, expect, it } from 'vitest';
import { DEFAULT_INJECTION_RATES } from '../../simulator/injections.ts';
import {
  DEFAULT_DEVICES,
  DEFAULT_DURATION_HOURS,
  DEFAULT_READINGS_PER_MESSAGE,
  DEFAULT_SEED,
  DEFAULT_START,
  resolveSimulationOptions,
  type SimulationOptions,
  SimulationOptionsError,
} from '../../simulator/options.ts';
import { DEFAULT_FAULT_RATES } from '../../simulator/transport-faults.ts';

const problemsOf = (options: unknown): readonly string[] => {
  try {
    resolveSimulationOptions(options as SimulationOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(SimulationOptionsError);
    return (error as SimulationOptionsError).problems;
  }
  throw new Error('expected the options to be rejected');
};

describe('resolveSimulationOptions', () => {
  it('fills every documented default', () => {
    expect(resolveSimulationOptions()).toEqual({
      seed: DEFAULT_SEED,
      devices: DEFAULT_DEVICES,
      startMs: Date.parse(DEFAULT_START),
      durationHours: DEFAULT_DURATION_HOURS,
      readingsPerMessage: DEFAULT_READINGS_PER_MESSAGE,
      injections: DEFAULT_INJECTION_RATES,
      faults: DEFAULT_FAULT_RATES,
    });
    expect([DEFAULT_SEED, DEFAULT_DEVICES, DEFAULT_DURATION_HOURS, DEFAULT_READINGS_PER_MESSAGE]).toEqual([
      1, 300, 6, 1,
    ]);
  });

  it('accepts a start as ISO text, epoch milliseconds or a Date, and merges partial rates', () => {
    const at = '2026-03-01T08:00:00+01:00';
    expect(resolveSimulationOptions({ start: at }).startMs).toBe(Date.parse(at));
    expect(resolveSimulationOptions({ start: 1_700_000_000_000 }).startMs).toBe(1_700_000_000_000);
    expect(resolveSimulationOptions({ start: new Date(at) }).startMs).toBe(Date.parse(at));
    const options = resolveSimulationOptions({ injections: { smoke: 9 }, faults: { duplicate: 0.5 } });
    expect(options.injections).toEqual({ ...DEFAULT_INJECTION_RATES, smoke: 9 });
    expect(options.faults).toEqual({ ...DEFAULT_FAULT_RATES, duplicate: 0.5 });
    expect(resolveSimulationOptions({ basicIngest: { ruleName: 'sdap_telemetry' } }).basicIngest).toEqual({
      ruleName: 'sdap_telemetry',
    });
  });

  it('fails when a number is out of range, naming the option, the value and the limit', () => {
    expect(problemsOf({ devices: 0 })).toEqual(['devices: received 0; expected an integer from 1 to 100000']);
    expect(problemsOf({ devices: 2.5 })).toEqual([
      'devices: received 2.5; expected an integer from 1 to 100000',
    ]);
    expect(problemsOf({ devices: '10' })).toEqual([
      'devices: received "10"; expected an integer from 1 to 100000',
    ]);
    expect(problemsOf({ readingsPerMessage: 65 })).toEqual([
      'readingsPerMessage: received 65; expected an integer from 1 to 64',
    ]);
    expect(problemsOf({ durationHours: 0 })).toEqual([
      'durationHours: received 0; expected a number of hours above 0 and at most 8784',
    ]);
    expect(problemsOf({ faults: { duplicate: 2 } })).toEqual([
      'faults.duplicate: received 2; expected a probability from 0 to 1',
    ]);
  });

  it('fails on an unknown option, listing the allowed ones', () => {
    const [problem] = problemsOf({ device: 10 });
    expect(problem).toMatch(/^unknown option 'device'; allowed: seed, devices, start/);
    expect(problemsOf({ injections: { fire: 1 } })[0]).toMatch(
      /^injections: unknown option 'fire'; allowed: spike, stuck/,
    );
  });

  it('fails on a bad start, rule name or all-zero shares, and reports every problem at once', () => {
    const problems = problemsOf({
      start: 'yesterday',
      basicIngest: { ruleName: 'has space' },
      typeShares: { camera: 0 },
      seed: -1,
    });
    expect(problems).toHaveLength(4);
    expect(problems).toContain(
      'start: received "yesterday"; expected an ISO 8601 date-time with an offset (e.g. 2025-01-13T00:00:00Z), epoch milliseconds, or a Date',
    );
    expect(problems).toContain(
      'basicIngest.ruleName: received "has space"; expected an IoT rule name: 1 to 128 letters, digits or underscores',
    );
    expect(problems).toContain(
      'typeShares: received {"camera":0}; expected at least one device type with a share above 0',
    );
    expect(problems).toContain('seed: received -1; expected an integer from 0 to 4294967295');
    expect(() => resolveSimulationOptions({ start: new Date(Number.NaN) })).toThrow(
      /start: received Date\(invalid\)/,
    );
  });
});
