/**
 * `sdap twin --serve` and `sdap twin certs` from the command line: flag validation, an occupied
 * port named with its flag, Ctrl-C printing the summary, and the certificate commands.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseServeArgs, twinCommand } from '../../local/twin-cli.ts';
import { SERVE_DEFAULT_PORTS } from '../../local/twin-serve.ts';
import { writeRegistry } from '../../simulator/registry.ts';
import { simulateFleet } from '../../simulator/simulate.ts';

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

describe('sdap twin --serve flags', () => {
  it('serves on the documented default ports, on loopback', () => {
    const parsed = parseServeArgs(['--serve']);

    expect(parsed.serve.ports).toEqual({});
    expect(parsed.serve.mqttHost).toBeUndefined();
    expect(SERVE_DEFAULT_PORTS).toEqual({ mqtt: 8883, kinesis: 4567, s3: 4568 });
  });

  it('runs the batch stage hourly by default, at --batch-every minutes, or never with 0', () => {
    expect(parseServeArgs(['--serve']).serve.periodic?.map((p) => [p.name, p.intervalMs])).toEqual([
      ['batch', 3_600_000],
    ]);
    expect(parseServeArgs(['--serve', '--batch-every', '5']).serve.periodic?.[0]?.intervalMs).toBe(300_000);
    expect(parseServeArgs(['--serve', '--batch-every', '0']).serve.periodic).toBeUndefined();
    expect(() => parseServeArgs(['--serve', '--batch-every', '2000'])).toThrow(
      "--batch-every: received '2000'",
    );
  });

  it('fails when a port is out of range, naming the flag and the value', () => {
    expect(() => parseServeArgs(['--serve', '--kinesis-port', '70000'])).toThrow(
      "--kinesis-port: received '70000', expected an integer from 0 to 65535",
    );
  });

  it('fails on a fleet flag, which a serving twin does not take, pointing to sdap simulate', () => {
    expect(() => parseServeArgs(['--serve', '--devices', '3'])).toThrow(
      /Unknown option '--devices'.*with --serve.*sdap simulate/,
    );
  });
});

describe('sdap twin --serve on the command line', () => {
  let occupied: Server;
  let occupiedPort: number;

  beforeAll(async () => {
    occupied = createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
    occupiedPort = (occupied.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => occupied.close(() => resolve())));

  it('fails when a port is taken, naming the port and the flag that changes it', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-serve-port-'));

    const out = await sdap(
      'twin',
      '--serve',
      '--out',
      outDir,
      '--mqtt-port',
      '0',
      '--s3-port',
      String(occupiedPort),
    );

    expect(out.code).toBe(2);
    expect(out.stderr).toContain(
      `--s3-port ${occupiedPort}: port ${occupiedPort} on 127.0.0.1 is already in use`,
    );
    expect(out.stderr).toContain('choose another with --s3-port PORT');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('prints the endpoints, and on Ctrl-C stops cleanly with the summary and its conservation check', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-serve-sigint-'));
    const child: ChildProcessWithoutNullStreams = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', 'bin/sdap.ts', 'twin', '--serve', '--out', outDir],
        ...['--mqtt-port', '0', '--kinesis-port', '0', '--s3-port', '0', '--shards', '1'],
      ],
      { env: { ...process.env, CI: 'true' } },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after 30 s: ${stderr}`)), 30_000);
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (stdout.includes('output ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });

    child.kill('SIGINT');
    const code = await exited;

    expect(stdout).toMatch(/MQTT \(TLS\)\s+mqtts:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).toMatch(/Kinesis\s+http:\/\/127\.0\.0\.1:\d+\s+stream sdap-telemetry/);
    expect(stdout).toMatch(/S3\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(stderr).toContain('stopping: closing the broker');
    expect(stdout).toContain('conservation   HOLDS');
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(join(outDir, 'serve-summary.json'), 'utf8'));
    expect(summary).toMatchObject({ run: { mode: 'serve' }, received: { readings: 0 } });
  }, 60_000);
});

/** Runs `sdap twin certs` in this process (as bin/sdap.ts would), capturing what it prints. */
async function certs(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.stdout.push(line));
  const error = vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.stderr.push(line));
  try {
    const code = await twinCommand(['certs', ...args]);
    return { code, stdout: lines.stdout.join('\n'), stderr: lines.stderr.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('sdap twin certs', () => {
  it('issues, lists and revokes device certificates', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-certs-cli-'));

    const issued = await certs('--out', outDir, '--device', 'lamp-1', '--device', 'lamp-2');
    const again = await certs('--out', outDir, '--device', 'lamp-1');
    const revoked = await certs('--out', outDir, '--revoke', 'lamp-2', '--list');

    expect(issued.code).toBe(0);
    expect(issued.stdout).toContain("created the twin's CA");
    expect(issued.stdout).toMatch(/issued lamp-1: .*lamp-1\.cert\.pem, .*lamp-1\.private\.key/);
    expect(again.stdout).toMatch(/kept\s+lamp-1/);
    expect(again.stdout).not.toContain("created the twin's CA");
    expect(revoked.stdout).toMatch(/revoked lamp-2: serial [0-9A-F]+/);
    expect(revoked.stdout).toMatch(/lamp-1\s+valid/);
    expect(revoked.stdout).toMatch(/lamp-2\s+revoked/);
  });

  it('issues a certificate for every thing of a registry file', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-certs-registry-'));
    const registry = simulateFleet({ devices: 4, durationHours: 0.1 }).registry();
    await writeRegistry(registry, outDir);

    const out = await certs(
      ...['--out', outDir, '--devices-from-registry', join(outDir, 'registry', 'things.ndjson')],
    );

    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/4 device certificates in .* \(4 new\)/);
  });

  it('fails on a name that cannot be a thing, a thing without a certificate, or nothing to do', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-certs-bad-'));

    const badName = await certs('--out', outDir, '--device', 'no/slashes');
    const unknown = await certs('--out', outDir, '--revoke', 'never-issued');
    const badRegistry = await certs(
      '--out',
      outDir,
      '--devices-from-registry',
      join(outDir, 'missing.ndjson'),
    );
    const nothing = await certs('--out', outDir);

    expect(badName).toMatchObject({ code: 2 });
    expect(badName.stderr).toContain("--device: received 'no/slashes', expected a thing name");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--revoke never-issued: no certificate was issued to it');
    expect(badRegistry.stderr).toContain('missing.ndjson: no such file');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to do');
  });
});
