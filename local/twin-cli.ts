/**
 * `sdap twin` and `sdap start`: flags, their validation, the progress display and the summary.
 * `sdap twin --serve` keeps the twin running for outside clients (twin-serve.ts); `sdap twin certs`
 * issues and revokes the device certificates those clients connect with (twin-ca.ts).
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_READINGS_PER_MESSAGE } from '../lambdas/shared/contract.ts';
import { FLEET_FLAGS, FlagError, parseFleetFlags, parseNumberFlag } from '../simulator/fleet-flags.ts';
import { DEFAULT_DEVICES, DEFAULT_DURATION_HOURS, DEFAULT_SEED, MAX_DEVICES } from '../simulator/options.ts';
import { DEFAULT_FAULT_RATES, FAULT_KINDS, type FaultKind } from '../simulator/transport-faults.ts';
import { type BatchSummary, runBatchStage } from './etl/batch-stage.ts';
import { formatPredictions, withCommittedFailureEndpoint } from './etl/failure-scoring.ts';
import { formatModelQuality } from './ml/model-quality-stage.ts';
import { runTwin, type TwinSummary } from './twin.ts';
import {
  CA_CERT_FILE,
  certsDirectory,
  DEVICES_DIRECTORY,
  issueDeviceCertificate,
  loadOrCreateCa,
  normaliseSerial,
  readIssuedThings,
  readRevoked,
  revokeDeviceCertificate,
  TwinCaError,
} from './twin-ca.ts';
import { formatInjected, formatScoring, type TwinFaults } from './twin-pipeline.ts';
import {
  formatEndpoints,
  formatServeSummary,
  type PeriodicStage,
  SERVE_DEFAULT_HOST,
  SERVE_DEFAULT_PORTS,
  ServeError,
  type ServeOptions,
  serveTwin,
} from './twin-serve.ts';
import { formatWarehouse, runWarehouseStage } from './warehouse/warehouse-stage.ts';

/** Defaults of `npm start`: a fleet that shows the product in about a minute on two cores. */
export const START_DEFAULTS = { devices: 300, hours: 3, readingsPerMessage: 5 } as const;
export { DEFAULT_OUT_DIR } from './twin-output.ts';

import { DEFAULT_OUT_DIR } from './twin-output.ts';
export const DEFAULT_SHARDS = 4;
/** Minutes between batch runs of a serving twin: hourly, as the deployed ETL schedule. */
export const SERVE_DEFAULT_BATCH_MINUTES = 60;

const FLAGS = {
  ...FLEET_FLAGS,
  shards: { type: 'string' },
  faults: { type: 'string' },
  inject: { type: 'string' },
  out: { type: 'string' },
  payloads: { type: 'string' },
  device: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'no-batch': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const TWIN_USAGE = `usage: sdap twin [options]   (sdap start = the same with the defaults of npm start)
       sdap twin --serve [serve options]   keep the twin running for your own devices and tools
       sdap twin certs [certs options]     device certificates for a serving twin

  --devices N               fleet size, 1..${MAX_DEVICES} (default ${DEFAULT_DEVICES}; start: ${START_DEFAULTS.devices})
  --hours H                 fleet hours to simulate, ending now (default ${DEFAULT_DURATION_HOURS}; start: ${START_DEFAULTS.hours})
  --seed N                  simulation seed (default ${DEFAULT_SEED})
  --readings-per-message N  readings a device batches per MQTT message, 1..${MAX_READINGS_PER_MESSAGE} (default 1; start: ${START_DEFAULTS.readingsPerMessage})
  --shards N                Kinesis shards, 1..16 (default ${DEFAULT_SHARDS})
  --speed X                 fleet seconds per wall second; 0 = as fast as the pipeline takes it (default 0)
  --faults SPEC             transport faults: 'default', 'none', or kind=rate,... with kinds
                            ${FAULT_KINDS.join(', ')}
  --inject SPEC             transient failures to inject, comma-separated, e.g. s3=0.2,crash=2:0.1:
                            s3=RATE      the validator's S3 PUTs answered 503 SlowDown
                            alerts=RATE  its EventBridge/SNS calls answered 500
                            crash=K:RATE invocations killed after their K-th S3 write (batch retried)
                            kinesis=RATE PutRecords entries and GetRecords calls throttled
                            endpoint=RATE anomaly endpoint calls answered 503 (rules fallback)
  --out DIR                 output directory: lake, alerts, ground truth, summary.json (default ${DEFAULT_OUT_DIR})
  --payloads FILE           publish each line of FILE verbatim as one MQTT message (instead of a fleet)
  --device ID               the device that publishes --payloads (default debug-device-1)
  --json                    print the summary as JSON
  --quiet                   no progress display
  --no-batch                stop after the streaming phase (no weather, no batch ETL)

serve options (sdap twin --serve):
  --mqtt-port N             MQTT over mutual TLS (default ${SERVE_DEFAULT_PORTS.mqtt}; 0 = any free port)
  --mqtt-host ADDRESS       where the broker listens (default ${SERVE_DEFAULT_HOST}; 0.0.0.0 for devices on the network)
  --kinesis-port N          the Kinesis API, on loopback (default ${SERVE_DEFAULT_PORTS.kinesis})
  --s3-port N               the S3 API, on loopback (default ${SERVE_DEFAULT_PORTS.s3})
  --batch-every MINUTES     run the batch stage over the lake every MINUTES of wall-clock time, 0 = never
                            (default ${SERVE_DEFAULT_BATCH_MINUTES}: hourly, as the deployed schedule)
  --shards N, --inject SPEC, --out DIR, --json   as above

certs options (sdap twin certs):
  --device ID               issue a key and certificate for thing ID (repeatable; kept if one exists)
  --devices-from-registry FILE   the same for every thing in a registry file (registry/things.ndjson)
  --revoke ID               revoke the certificate of thing ID (repeatable)
  --list                    list the issued certificates
  --out DIR                 output directory holding certs/ (default ${DEFAULT_OUT_DIR})`;

const INJECT_KINDS = 's3=RATE, alerts=RATE, crash=K:RATE, kinesis=RATE or endpoint=RATE';

/** `--inject`'s spec as the twin's faults; every rate is a share from 0 to 1. */
export function parseInject(spec: string): TwinFaults {
  const inject: { -readonly [K in keyof TwinFaults]: TwinFaults[K] } = {};
  for (const part of spec.split(',')) {
    const [what, value = ''] = part.split('=');
    const rate = (text: string) => parseNumberFlag(`inject ${what}`, text, { min: 0, max: 1 });
    if (what === 's3') inject.s3PutErrorRate = rate(value);
    else if (what === 'alerts') inject.alertErrorRate = rate(value);
    else if (what === 'kinesis') inject.kinesisThrottleRate = rate(value);
    else if (what === 'endpoint') inject.endpointOutage = { rate: rate(value) };
    else if (what === 'crash') {
      const [writes = '', share = ''] = value.split(':');
      const afterWrites = Number(writes);
      if (!Number.isInteger(afterWrites) || afterWrites < 1 || share === '') {
        throw new TwinUsageError(
          `--inject crash: received '${value}', expected K:RATE (killed after the K-th S3 write, K >= 1, in a share RATE of invocations), e.g. crash=2:0.1`,
        );
      }
      inject.handlerCrash = { afterWrites, rate: rate(share) };
    } else throw new TwinUsageError(`--inject: received '${what}', expected ${INJECT_KINDS}`);
  }
  return inject;
}

function parseFaults(spec: string): Partial<Record<FaultKind, number>> {
  if (spec === 'default') return { ...DEFAULT_FAULT_RATES };
  if (spec === 'none') return Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
  const rates: Partial<Record<FaultKind, number>> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
  for (const part of spec.split(',')) {
    const [kind, rate] = part.split('=');
    if (!FAULT_KINDS.includes(kind as FaultKind)) {
      throw new TwinUsageError(
        `--faults: received kind '${kind}', expected one of ${FAULT_KINDS.join(', ')}`,
      );
    }
    const value = Number(rate);
    if (rate === undefined || !Number.isFinite(value) || value < 0 || value > 1) {
      throw new TwinUsageError(`--faults: received ${kind}=${rate ?? ''}, expected a rate from 0 to 1`);
    }
    rates[kind as FaultKind] = value;
  }
  return rates;
}

export class TwinUsageError extends Error {
  override readonly name = 'TwinUsageError';
}

export interface ParsedTwinArgs {
  readonly help: boolean;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly run: Parameters<typeof runTwin>[0];
}

/** Parses and validates the flags; `defaults` are the command's own (start vs twin). */
export function parseTwinArgs(args: string[], defaults: Partial<typeof START_DEFAULTS> = {}): ParsedTwinArgs {
  let values: ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new TwinUsageError((error as Error).message);
  }
  let fleet: ReturnType<typeof parseFleetFlags>;
  let shards: number | undefined;
  try {
    fleet = parseFleetFlags(values);
    shards = parseNumberFlag('shards', values.shards, { min: 1, max: 16, integer: true });
  } catch (error) {
    throw new TwinUsageError((error as Error).message);
  }
  const faults = values.faults === undefined ? undefined : parseFaults(values.faults);
  let inject: ReturnType<typeof parseInject> | undefined;
  try {
    inject = values.inject === undefined ? undefined : parseInject(values.inject);
  } catch (error) {
    throw new TwinUsageError((error as Error).message);
  }
  return {
    help: values.help ?? false,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    run: {
      outDir: values.out ?? DEFAULT_OUT_DIR,
      shards: shards ?? DEFAULT_SHARDS,
      speed: fleet.speed ?? 0,
      batch: !(values['no-batch'] ?? false),
      ...(values.payloads !== undefined && { payloadsFile: values.payloads }),
      ...(inject && { inject }),
      ...(values.device !== undefined && { payloadsDevice: values.device }),
      simulation: {
        devices: fleet.devices ?? defaults.devices ?? DEFAULT_DEVICES,
        durationHours: fleet.hours ?? defaults.hours ?? DEFAULT_DURATION_HOURS,
        seed: fleet.seed ?? DEFAULT_SEED,
        readingsPerMessage: fleet.readingsPerMessage ?? defaults.readingsPerMessage ?? 1,
        ...(faults && { faults }),
      },
    },
  };
}

const SERVE_FLAGS = {
  serve: { type: 'boolean' },
  'mqtt-port': { type: 'string' },
  'mqtt-host': { type: 'string' },
  'kinesis-port': { type: 'string' },
  's3-port': { type: 'string' },
  'batch-every': { type: 'string' },
  shards: { type: 'string' },
  inject: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ParsedServeArgs {
  readonly help: boolean;
  readonly json: boolean;
  readonly serve: Omit<ServeOptions, 'signal' | 'onReady' | 'onLog'>;
}

/**
 * The batch stage as a serving twin's periodic stage: every run rebuilds the hours the lake holds
 * (a rerun replaces them with the same bytes), and reports one line.
 */
export function periodicBatchStage(intervalMs: number, log: (line: string) => void): PeriodicStage {
  return {
    name: 'batch',
    intervalMs,
    run: async ({ s3, buckets, outDir }) => {
      const summary = await withCommittedFailureEndpoint((scoring) =>
        runBatchStage({
          s3,
          buckets: { raw: buckets.raw, quarantine: buckets.quarantine, curated: buckets.curated },
          ...(scoring && { scoring }),
        }),
      );
      const warehouse = await runWarehouseStage({ s3, curatedBucket: buckets.curated, outDir });
      log([...formatBatch(summary), ...formatWarehouse(warehouse)].join('\n'));
    },
  };
}

/** Parses and validates `sdap twin --serve`'s flags. */
export function parseServeArgs(args: string[]): ParsedServeArgs {
  let values: ReturnType<typeof parseArgs<{ options: typeof SERVE_FLAGS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: SERVE_FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    const message = (error as Error).message;
    // Fleet flags describe a simulated fleet; a serving twin takes whatever clients send.
    throw new TwinUsageError(
      /Unknown option/.test(message)
        ? `${message} with --serve (devices publish on their own: see sdap simulate --help)`
        : message,
    );
  }
  try {
    const port = (flag: keyof typeof SERVE_FLAGS) =>
      parseNumberFlag(flag, values[flag] as string | undefined, { min: 0, max: 65_535, integer: true });
    const mqtt = port('mqtt-port');
    const kinesis = port('kinesis-port');
    const s3 = port('s3-port');
    const shards = parseNumberFlag('shards', values.shards, { min: 1, max: 16, integer: true });
    const batchMinutes =
      parseNumberFlag('batch-every', values['batch-every'], { min: 0, max: 1440 }) ??
      SERVE_DEFAULT_BATCH_MINUTES;
    const inject = values.inject === undefined ? undefined : parseInject(values.inject);
    const host = values['mqtt-host'];
    if (host !== undefined && !/^[0-9a-zA-Z.:-]+$/.test(host)) {
      throw new TwinUsageError(`--mqtt-host: received '${host}', expected an IP address or host name`);
    }
    return {
      help: values.help ?? false,
      json: values.json ?? false,
      serve: {
        outDir: values.out ?? DEFAULT_OUT_DIR,
        shards: shards ?? DEFAULT_SHARDS,
        ports: {
          ...(mqtt !== undefined && { mqtt }),
          ...(kinesis !== undefined && { kinesis }),
          ...(s3 !== undefined && { s3 }),
        },
        ...(host !== undefined && { mqttHost: host }),
        ...(inject && { inject }),
        ...(batchMinutes > 0 && {
          periodic: [periodicBatchStage(batchMinutes * 60_000, (line) => process.stderr.write(`${line}\n`))],
        }),
      },
    };
  } catch (error) {
    if (error instanceof FlagError) throw new TwinUsageError(error.message);
    throw error;
  }
}

/**
 * The parsed flags, or the exit code when there is nothing to run: 2 after printing a usage error
 * with the usage, 0 after printing the usage for `--help`.
 */
function parseOrExitCode<T extends { readonly help: boolean }>(parse: () => T): T | number {
  let parsed: T;
  try {
    parsed = parse();
  } catch (error) {
    if (error instanceof TwinUsageError) {
      console.error(`${error.message}\n\n${TWIN_USAGE}`);
      return 2;
    }
    throw error;
  }
  if (parsed.help) {
    console.log(TWIN_USAGE);
    return 0;
  }
  return parsed;
}

/** `sdap twin --serve`: serves until Ctrl-C, then prints the summary; returns the exit code. */
export async function serveCommand(args: string[]): Promise<number> {
  const parsed = parseOrExitCode(() => parseServeArgs(args));
  if (typeof parsed === 'number') return parsed;
  const abort = new AbortController();
  const stop = () => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const summary = await serveTwin({
      ...parsed.serve,
      signal: abort.signal,
      // The endpoints go to stdout even with --json, before the summary: clients need them first.
      onReady: (endpoints) =>
        parsed.json ? console.log(JSON.stringify({ endpoints })) : console.log(formatEndpoints(endpoints)),
      onLog: (line) =>
        process.stderr.write(`${line}${line.startsWith('stopping') ? ' (Ctrl-C again to quit now)' : ''}\n`),
    });
    console.log(parsed.json ? JSON.stringify(summary, null, 2) : formatServeSummary(summary));
    return summary.conservation.holds ? 0 : 1;
  } catch (error) {
    if (error instanceof ServeError || error instanceof TwinCaError) {
      console.error(`sdap twin --serve: ${error.message}`);
      return 2;
    }
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const CERTS_FLAGS = {
  device: { type: 'string', multiple: true },
  'devices-from-registry': { type: 'string' },
  revoke: { type: 'string', multiple: true },
  list: { type: 'boolean' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `sdap twin certs`: issues, revokes and lists device certificates; returns the exit code. */
export async function certsCommand(args: string[]): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof CERTS_FLAGS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: CERTS_FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    console.error(`sdap twin certs: ${(error as Error).message}\n\n${TWIN_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(TWIN_USAGE);
    return 0;
  }
  const devices = [...(values.device ?? [])];
  const revoke = values.revoke ?? [];
  if (devices.length === 0 && revoke.length === 0 && !values['devices-from-registry'] && !values.list) {
    console.error(
      `sdap twin certs: nothing to do: give --device ID, --devices-from-registry FILE, --revoke ID or --list\n\n${TWIN_USAGE}`,
    );
    return 2;
  }
  const outDir = values.out ?? DEFAULT_OUT_DIR;
  try {
    const registry = values['devices-from-registry'];
    if (registry !== undefined) devices.push(...(await thingsOfRegistry(registry)));
    const ca = await loadOrCreateCa(outDir);
    // Paths under the working directory print relative (copy-pasteable), others absolute.
    const show = (path: string) => {
      const rel = relative(process.cwd(), path);
      return rel === '' ? '.' : rel.startsWith('..') ? resolve(path) : rel;
    };
    if (ca.created) console.log(`created the twin's CA: ${show(ca.certFile)} (its key stays beside it)`);
    let issued = 0;
    for (const thing of devices) {
      const cert = await issueDeviceCertificate(ca, thing);
      if (cert.issued) issued++;
      // A registry of hundreds of things: one line each would drown the summary line.
      if (devices.length <= 20) {
        console.log(
          `${cert.issued ? 'issued' : 'kept  '} ${thing}: ${show(cert.certFile)}, ${show(cert.keyFile)} (serial ${cert.serialNumber})`,
        );
      }
    }
    if (devices.length > 0) {
      console.log(
        `${devices.length} device certificates in ${show(`${ca.directory}/${DEVICES_DIRECTORY}`)} (${issued} new), CA ${show(ca.certFile)}`,
      );
    }
    for (const thing of revoke) {
      const entry = await revokeDeviceCertificate(ca, thing);
      console.log(`revoked ${thing}: serial ${entry.serialNumber} (refused from its next connect on)`);
    }
    if (values.list) {
      const revoked = await readRevoked(ca.directory);
      const revokedThings = new Set([...revoked.values()].map((r) => r.thingName));
      const things = await readIssuedThings(ca.directory);
      console.log(`certificates in ${show(certsDirectory(outDir))} (CA ${CA_CERT_FILE}):`);
      for (const thing of things.sort()) {
        const pem = await readFile(`${ca.directory}/${DEVICES_DIRECTORY}/${thing}.cert.pem`, 'utf8');
        const cert = new X509Certificate(pem);
        const status = revoked.has(normaliseSerial(cert.serialNumber)) ? 'revoked' : 'valid';
        console.log(
          `  ${thing.padEnd(32)} ${status.padEnd(8)} serial ${cert.serialNumber}, valid to ${new Date(cert.validTo).toISOString().slice(0, 10)}${status === 'valid' && revokedThings.has(thing) ? ' (an earlier certificate was revoked)' : ''}`,
        );
      }
      if (things.length === 0) console.log('  (none)');
    }
    return 0;
  } catch (error) {
    if (error instanceof TwinCaError || error instanceof TwinUsageError) {
      console.error(`sdap twin certs: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

/** Thing names of a registry file (`registry/things.ndjson`, as the simulator writes it). */
async function thingsOfRegistry(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new TwinUsageError(
      `--devices-from-registry ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`,
    );
  });
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      let name: unknown;
      try {
        name = (JSON.parse(line) as { thingName?: unknown }).thingName;
      } catch {
        name = undefined;
      }
      if (typeof name !== 'string') {
        throw new TwinUsageError(
          `--devices-from-registry ${file}: line ${i + 1} has no thingName, expected one JSON thing per line`,
        );
      }
      return name;
    });
}

/** Runs the twin from command-line flags; returns the process exit code. */
export async function twinCommand(
  args: string[],
  defaults: Partial<typeof START_DEFAULTS> = {},
): Promise<number> {
  if (args[0] === 'certs') return certsCommand(args.slice(1));
  if (args.includes('--serve')) return serveCommand(args);
  const parsed = parseOrExitCode(() => parseTwinArgs(args, defaults));
  if (typeof parsed === 'number') return parsed;
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write(
      '\nstopping: draining what was published, then writing the summary (Ctrl-C again to quit now)\n',
    );
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const interactive = process.stderr.isTTY && !parsed.quiet && !parsed.json && process.env.CI === undefined;
  try {
    const summary = await runTwin({
      ...parsed.run,
      signal: abort.signal,
      ...(interactive && {
        onProgress: ({ published, processed }) =>
          process.stderr.write(`\r  published ${published} messages, validated ${processed} records   `),
      }),
    });
    if (interactive) process.stderr.write('\n');
    console.log(parsed.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
    return summary.conservation.holds ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The batch stage's lines of the summary. */
export function formatBatch(b: BatchSummary): string[] {
  if (b.window === null) return ['  batch          the raw zone held nothing to process'];
  const dq = b.dqScore;
  const score = (value: number | null) => (value === null ? '-' : value.toFixed(1));
  return [
    `  batch          event hours ${b.window.from} .. ${b.window.to} (${b.hoursProcessed} h) in ${b.seconds.total.toFixed(1)} s: ${b.curatedRows} curated rows, ${b.duplicatesRemoved} duplicates removed, ${b.lateReadings} late readings, ${b.malformedLines} malformed lines`,
    `                 DQ score per device-hour: p10 ${score(dq.p10)}, median ${score(dq.p50)}, mean ${score(dq.mean)} over ${dq.deviceHoursScored} (>= 95: ${dq.histogram.from95}, 80-95: ${dq.histogram.from80To95}, 50-80: ${dq.histogram.from50To80}, < 50: ${dq.histogram.below50})`,
    `                 ${Object.keys(b.tables).length} tables, ${b.objectsWritten} Parquet objects in the curated bucket; checksum ${b.outputChecksum.slice(0, 12)}`,
    ...formatPredictions(b.predictions),
  ];
}

export function formatSummary(s: TwinSummary): string {
  const reasons = Object.entries(s.outcome.quarantinedByReason)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const alerts = Object.entries(s.alerts.byRule)
    .map(([rule, n]) => `${rule} ${n}`)
    .join(', ');
  const faults = Object.entries(s.published.faults)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  const lines = [
    `sdap twin: ${s.run.devices} devices${s.run.fleetStart ? `, fleet time ${s.run.fleetStart} .. ${s.run.fleetEnd}` : ''}${s.run.interrupted ? ' (interrupted)' : ''}`,
    `  published      ${s.published.messages} messages, ${s.published.readings} readings${faults ? ` (transport faults: ${faults})` : ''}`,
    ...formatInjected(s.injected),
    `  broker         ${s.broker.publishesAccepted} accepted, ${s.broker.publishesRefused} refused`,
    `  stream         ${s.stream.recordsPut} records put, ${s.stream.ruleErrorActions} to the rule's error action`,
    `  validator      ${s.validator.invocations} invocations, ${s.validator.retries} retries, ${s.validator.recordsToFailureDestination} records to the failure destination`,
    `  valid          ${s.outcome.valid} readings in ${s.outcome.rawObjects} raw objects (${s.outcome.duplicateCopiesInRaw} duplicate copies for the ETL to drop)`,
    `  quarantined    ${s.outcome.quarantined}${reasons ? ` (${reasons})` : ''}`,
    `  dead-lettered  ${s.outcome.deadLettered}`,
    `  alerts         ${s.alerts.total}${alerts ? ` (${alerts})` : ''}; critical notifications ${s.alerts.criticalNotifications}; injected smoke/leak events alerted ${s.alerts.injectedCriticalEventsAlerted}/${s.alerts.injectedCriticalEvents}`,
    formatScoring(s.scoring),
    `  latency        publish -> raw object p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms (${s.latencyMs.samples} readings)`,
    `  throughput     ${s.throughput.readingsPerSecond} readings/s end to end; wall time ${s.run.wallSeconds} s`,
    ...(s.weather
      ? [
          `  weather        ${s.weather.hoursFetched} site-hours from the local provider for ${s.weather.sites} sites, ${s.weather.hoursMissing} missing`,
        ]
      : []),
    ...(s.batch ? formatBatch(s.batch) : []),
    ...(s.warehouse ? formatWarehouse(s.warehouse) : []),
    ...(s.models ? formatModelQuality(s.models) : []),
    s.conservation.holds
      ? `  conservation   HOLDS: all ${s.conservation.published} published readings are valid, quarantined or dead-lettered`
      : `  conservation   VIOLATED: ${s.conservation.missing} readings missing, ${s.conservation.unexpected} unexpected (e.g. ${s.conservation.missingExamples.join(', ')})`,
    `  output         ${s.run.outputDir} (summary.json, alerts.ndjson, ground-truth.ndjson, registry/, lake/)`,
  ];
  return lines.join('\n');
}
