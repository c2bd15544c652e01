/**
 * The command-line tool's failure behaviour: clear messages naming the flag, host or file.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseTwinArgs, START_DEFAULTS } from '../../local/twin-cli.ts';
import { TWIN_BUCKETS } from '../../local/twin-pipeline.ts';

const run = promisify(execFile);
async function sdap(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bin/sdap.ts', ...args], {
      env: { ...process.env, CI: 'true' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('sdap twin flags', () => {
  it('applies the npm start defaults and lets flags override them', () => {
    const parsed = parseTwinArgs(['--devices', '25', '--faults', 'none'], START_DEFAULTS);
    expect(parsed.run.simulation).toMatchObject({
      devices: 25,
      durationHours: START_DEFAULTS.hours,
      readingsPerMessage: START_DEFAULTS.readingsPerMessage,
    });
    expect(Object.values(parsed.run.simulation.faults ?? {}).every((rate) => rate === 0)).toBe(true);
  });

  it('fails when a number flag is out of range, naming the flag, the value and the range', () => {
    expect(() => parseTwinArgs(['--readings-per-message', '65'])).toThrow(
      "--readings-per-message: received '65', expected an integer from 1 to 64",
    );
    expect(() => parseTwinArgs(['--speed=-1'])).toThrow("--speed: received '-1', expected a number from 0");
  });

  it('fails when a fault kind is unknown, listing the known ones', () => {
    expect(() => parseTwinArgs(['--faults', 'gremlins=0.1'])).toThrow(
      "--faults: received kind 'gremlins', expected one of duplicate, out_of_order",
    );
  });

  it('fails on an unknown flag', () => {
    expect(() => parseTwinArgs(['--devcies', '3'])).toThrow(/Unknown option '--devcies'/);
  });

  it('reads every kind of injected failure', () => {
    const parsed = parseTwinArgs(['--inject', 's3=0.05,alerts=0.1,crash=2:0.25,kinesis=0.2,endpoint=0.5']);

    expect(parsed.run.inject).toEqual({
      s3PutErrorRate: 0.05,
      alertErrorRate: 0.1,
      handlerCrash: { afterWrites: 2, rate: 0.25 },
      kinesisThrottleRate: 0.2,
      endpointOutage: { rate: 0.5 },
    });
  });

  it('fails when an injected failure is malformed, naming it and what is expected', () => {
    expect(() => parseTwinArgs(['--inject', 'crash=0:0.1'])).toThrow(
      "--inject crash: received '0:0.1', expected K:RATE",
    );
    expect(() => parseTwinArgs(['--inject', 'kinesis=2'])).toThrow(/inject kinesis: received '2'/);
    expect(() => parseTwinArgs(['--inject', 'dns=0.1'])).toThrow(
      "--inject: received 'dns', expected s3=RATE, alerts=RATE, crash=K:RATE, kinesis=RATE or endpoint=RATE",
    );
  });
});

describe('sdap command line', () => {
  it('names the unreachable MQTT endpoint instead of printing a stack trace', async () => {
    const out = await sdap(
      'simulate',
      '--endpoint',
      'mqtt://127.0.0.1:1',
      '--devices',
      '2',
      '--hours',
      '0.05',
      '--out',
      'out/test-sim',
    );
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('cannot reach MQTT endpoint 127.0.0.1:1');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('names a missing certificate file', async () => {
    const out = await sdap(
      'simulate',
      '--endpoint',
      'mqtts://127.0.0.1:8883',
      '--cert-dir',
      'missing-certs',
      '--ca',
      'missing-certs/AmazonRootCA1.pem',
      '--devices',
      '1',
      '--hours',
      '0.05',
      '--out',
      'out/test-sim',
    );
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('CA file missing-certs/AmazonRootCA1.pem: no such file');
  }, 30_000);

  it('fails when the ops commands lack a flag, naming it and what is expected', async () => {
    const etl = await sdap('etl', '--stage', 'dev');
    const status = await sdap('status');

    expect(etl.code).toBe(2);
    expect(etl.stderr).toContain('--from: missing');
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('--stage: missing, expected one of dev, prod');
  }, 30_000);

  it('rejects an unknown command with the list of commands', async () => {
    const out = await sdap('deploy-everything');
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("unknown command 'deploy-everything'");
    expect(out.stderr).toContain('twin');
    expect(out.stderr).toContain('status');
  }, 30_000);
});

describe('sdap twin output', () => {
  it("prints the summary, not the handler's logs or metrics, when the environment sets no log level", async () => {
    // Prepare: the environment a user's shell has (the test runner's own Powertools settings removed).
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-twin-quiet-'));
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('POWERTOOLS_')),
    );

    // Act
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/sdap.ts',
        'twin',
        '--devices',
        '5',
        '--hours',
        '1',
        '--no-batch',
        '--quiet',
        '--out',
        outDir,
      ],
      { env: { ...env, CI: 'true' } },
    );

    // Assess
    expect(stdout).toContain('conservation');
    expect(stdout).not.toMatch(/"level":|"_aws":/);
    await rm(outDir, { recursive: true, force: true });
  }, 60_000);
});

describe('sdap twin interrupted', () => {
  it('stops on Ctrl-C, drains what was published and still writes a summary whose conservation holds', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-twin-sigint-'));
    // Paced: 2 fleet hours at 240x take 30 s, so the interrupt lands mid-run.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/sdap.ts',
        'twin',
        '--devices',
        '40',
        '--hours',
        '2',
        '--speed',
        '240',
        '--out',
        outDir,
        '--quiet',
      ],
      { env: { ...process.env, CI: 'true' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // Interrupt once readings reach the lake (a fixed delay misses on a loaded machine, where the
    // start alone can take longer than the delay).
    const rawZone = join(outDir, 'lake', TWIN_BUCKETS.raw);
    for (let waited = 0; waited < 60_000; waited += 250) {
      const files = await readdir(rawZone, { recursive: true }).catch(() => [] as string[]);
      if (files.some((file) => file.includes('telemetry/'))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    expect(stderr).toContain('stopping: draining what was published');
    expect(code).toBe(0);
    expect(stdout).toContain('(interrupted)');
    const summary = JSON.parse(await readFile(join(outDir, 'summary.json'), 'utf8'));
    expect(summary.run.interrupted).toBe(true);
    expect(summary.published.messages).toBeGreaterThan(0);
    expect(summary.conservation).toMatchObject({ holds: true, missing: 0 });
  }, 90_000);
});
