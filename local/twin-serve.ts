/**
 * `sdap twin --serve`: the twin as a local AWS for devices and tools nobody here wrote. The
 * pipeline of a twin run (twin-pipeline.ts) keeps running with its endpoints on fixed ports:
 *   - MQTT over mutual TLS, as IoT Core's device endpoint: client certificates from the twin's own
 *     CA (twin-ca.ts), the certificate naming the thing, the IoT policy enforced by the broker;
 *   - the Kinesis API of the telemetry stream (kinesalite), for producers that put records directly;
 *   - the S3 API of the lake (s3rver), to list and fetch what the validator wrote.
 * Every message flows rule → stream → validator → lake as in a twin run. Stopping (the signal)
 * closes the broker, drains the pipeline, reads the lake back and checks conservation against what
 * the twin received.
 *
 * "Received" is what serve mode can vouch for: every publish the broker accepted (after the policy
 * checks; refused publishes are not received) plus every record a client put on the stream
 * directly. Conservation: each reading received ends valid, quarantined or dead-lettered.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { MAX_MESSAGE_BYTES } from '../lambdas/shared/contract.ts';
import type { PublishedMessage } from './lake-audit.ts';
import { S3RVER_CREDENTIALS } from './s3-stand-in.ts';
import {
  DEVICES_DIRECTORY,
  identifyDevice,
  issueServerCertificate,
  loadOrCreateCa,
  readRevokedSync,
} from './twin-ca.ts';
import {
  auditFigures,
  countBy,
  formatInjected,
  formatScoring,
  type PipelineCounters,
  startTwinPipeline,
  TWIN_BUCKETS,
  TWIN_RULE_NAME,
  type TwinFaults,
} from './twin-pipeline.ts';

/** Ports a serving twin listens on unless told otherwise: MQTT over TLS as IoT Core, and the
 * emulators' own defaults for Kinesis and S3. */
export const SERVE_DEFAULT_PORTS = { mqtt: 8883, kinesis: 4567, s3: 4568 } as const;
export const SERVE_DEFAULT_HOST = '127.0.0.1';
/** Where a serving twin writes its summary (a twin run writes summary.json). */
export const SERVE_SUMMARY_FILE = 'serve-summary.json';
/** How long stopping may wait for the pipeline to process what it received. */
const DRAIN_TIMEOUT_MS = 120_000;

/** A port that is taken, or another problem with serve mode's settings. Names the flag. */
export class ServeError extends Error {
  override readonly name = 'ServeError';
}

/** A stage run periodically while serving: the seam for the batch stage. */
export interface PeriodicStage {
  readonly name: string;
  /** Wall-clock time between the end of one run and the start of the next. */
  readonly intervalMs: number;
  run(context: PeriodicContext): Promise<void>;
}

export interface PeriodicContext {
  readonly outDir: string;
  /** The lake's S3 API (direct, never through an injected fault). */
  readonly s3: S3Client;
  readonly buckets: typeof TWIN_BUCKETS;
  /** Stops with the serving twin: a long run should give up when it fires. */
  readonly signal: AbortSignal;
}

export interface ServeOptions {
  readonly outDir: string;
  readonly shards: number;
  /** 0 picks any free port. @default SERVE_DEFAULT_PORTS */
  readonly ports?: { readonly mqtt?: number; readonly kinesis?: number; readonly s3?: number };
  /** Where the broker listens; `0.0.0.0` reaches devices on the network. Kinesis and S3 stay on loopback. */
  readonly mqttHost?: string;
  readonly inject?: TwinFaults;
  /** Aborting it stops the twin: drain, audit, summary. */
  readonly signal: AbortSignal;
  /** Called once everything listens. */
  readonly onReady?: (endpoints: ServeEndpoints) => void;
  /** Stages run on a schedule while serving (the batch stage, once it exists). */
  readonly periodic?: readonly PeriodicStage[];
  /** Notes for the terminal: refusals by the broker, a failed periodic stage, stopping. */
  readonly onLog?: (line: string) => void;
  /** @default true */
  readonly emulatorsInChildProcesses?: boolean;
}

export interface ServeEndpoints {
  readonly mqtt: {
    /** `mqtts://host:port` */
    readonly url: string;
    readonly host: string;
    readonly port: number;
    /** The CA that signs the broker's and the devices' certificates. */
    readonly caFile: string;
    /** `<thing>.cert.pem` and `<thing>.private.key` of every issued device. */
    readonly devicesDirectory: string;
    /** The rule name of the Basic Ingest topic `$aws/rules/<rule>/dt/sdap/<thing>/telemetry`. */
    readonly ruleName: string;
  };
  readonly kinesis: {
    readonly endpoint: string;
    readonly streamName: string;
    readonly region: string;
  };
  readonly s3: {
    readonly endpoint: string;
    readonly buckets: typeof TWIN_BUCKETS;
    /** s3rver checks signatures made with exactly these credentials. */
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
  };
  readonly outputDir: string;
}

/** The summary of a serving session. Field names are part of the interface (docs/twin-serve.md). */
export interface ServeSummary extends PipelineCounters {
  readonly run: {
    readonly mode: 'serve';
    readonly startedAt: string;
    readonly stoppedAt: string;
    readonly wallSeconds: number;
    readonly outputDir: string;
  };
  /** What the twin received: the "published" side of the conservation check. */
  readonly received: {
    /** Publishes the broker accepted (after the policy). */
    readonly mqttMessages: number;
    /** Records clients put on the stream directly (not through the topic rule). */
    readonly streamRecords: number;
    /** Distinct readings in both. */
    readonly readings: number;
    /** Things that published at least once. */
    readonly devices: number;
  };
  readonly outcome: {
    readonly valid: number;
    readonly quarantined: number;
    readonly quarantinedByReason: Readonly<Record<string, number>>;
    readonly deadLettered: number;
    readonly duplicateCopiesInRaw: number;
    readonly rawObjects: number;
  };
  readonly alerts: {
    readonly total: number;
    readonly byRule: Readonly<Record<string, number>>;
    readonly bySeverity: Readonly<Record<string, number>>;
    readonly criticalNotifications: number;
  };
  /** Broker (or stream) receive to raw object. */
  readonly latencyMs: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly samples: number;
  };
  readonly periodic: Readonly<Record<string, { readonly runs: number; readonly failures: number }>>;
  readonly conservation: {
    readonly holds: boolean;
    /** Readings received. */
    readonly published: number;
    readonly missing: number;
    readonly unexpected: number;
    readonly missingExamples: readonly string[];
  };
}

/** Serves until `signal` aborts; resolves with the session's summary (also written to the output). */
export async function serveTwin(options: ServeOptions): Promise<ServeSummary> {
  const started = Date.now();
  const outDir = resolve(options.outDir);
  const host = options.mqttHost ?? SERVE_DEFAULT_HOST;
  const ports = {
    mqtt: options.ports?.mqtt ?? SERVE_DEFAULT_PORTS.mqtt,
    kinesis: options.ports?.kinesis ?? SERVE_DEFAULT_PORTS.kinesis,
    s3: options.ports?.s3 ?? SERVE_DEFAULT_PORTS.s3,
  };
  await assertPortFree('--mqtt-port', ports.mqtt, host);
  await assertPortFree('--kinesis-port', ports.kinesis, '127.0.0.1');
  await assertPortFree('--s3-port', ports.s3, '127.0.0.1');

  // As in a twin run, the lake starts empty: conservation is checked over this session.
  await rm(join(outDir, 'lake'), { recursive: true, force: true });
  await mkdir(join(outDir, 'lake'), { recursive: true });
  const ca = await loadOrCreateCa(outDir);
  const server = await issueServerCertificate(ca, serverNames(host));
  const devicesDirectory = join(ca.directory, DEVICES_DIRECTORY);

  const received: PublishedMessage[] = [];
  const receivedKeys = new Set<string>();
  const counts = { mqttMessages: 0, streamRecords: 0 };
  const receivedAt = new Map<string, number>();
  const note = (message: PublishedMessage, atMs: number) => {
    received.push(message);
    for (const id of message.eventIds) if (!receivedAt.has(id)) receivedAt.set(id, atMs);
  };

  const pipeline = await startTwinPipeline({
    outDir,
    shards: options.shards,
    seed: 1,
    ...(options.inject && { inject: options.inject }),
    emulatorsInChildProcesses: options.emulatorsInChildProcesses ?? true,
    ports,
    mqttHost: host,
    // The twin's registry is its certificates directory: a thing exists once it has a certificate.
    isRegisteredThing: (thing) => existsSync(join(devicesDirectory, `${thing}.cert.pem`)),
    brokerTls: {
      cert: server.certPem,
      key: server.keyPem,
      ca: ca.certPem,
      // Read at every connect, so `sdap twin certs --revoke` needs no restart.
      identify: (certificate) => identifyDevice(certificate, readRevokedSync(ca.directory)),
    },
    // What IoT Core would log to CloudWatch: why a device was turned away.
    onBrokerRefusal: (reason) => options.onLog?.(`broker: ${reason.trim()}`),
    onBrokerMessage: ({ clientId, payload, receivedAtMs }) => {
      const message = { deviceId: clientId, payload, eventIds: readingIdsOf(payload, clientId) };
      receivedKeys.add(messageKey(clientId, payload));
      counts.mqttMessages++;
      note(message, receivedAtMs);
    },
  }).catch((error: unknown) => {
    throw portError(error, ports) ?? error;
  });

  const endpoints: ServeEndpoints = {
    mqtt: {
      url: pipeline.broker.url,
      host,
      port: pipeline.broker.port,
      caFile: ca.certFile,
      devicesDirectory,
      ruleName: TWIN_RULE_NAME,
    },
    kinesis: {
      endpoint: pipeline.kinesis.endpoint,
      streamName: pipeline.kinesis.streamName,
      region: pipeline.kinesis.region,
    },
    s3: { endpoint: pipeline.s3.endpoint, buckets: TWIN_BUCKETS, ...S3RVER_CREDENTIALS },
    outputDir: outDir,
  };

  const periodicStats: Record<string, { runs: number; failures: number }> = {};
  const periodicLoops = (options.periodic ?? []).map((stage) =>
    runPeriodically(stage, periodicStats, options, {
      outDir,
      s3: pipeline.directS3,
      buckets: TWIN_BUCKETS,
      signal: options.signal,
    }),
  );

  try {
    options.onReady?.(endpoints);
    await new Promise<void>((resolveStop) => {
      if (options.signal.aborted) resolveStop();
      else options.signal.addEventListener('abort', () => resolveStop(), { once: true });
    });
    options.onLog?.('stopping: closing the broker, then draining the stream into the lake');
    await Promise.all(periodicLoops);
    // No new publishes from here on; the stream stays open until it is drained.
    await pipeline.broker.close();
    await pipeline.drain({ timeoutMs: DRAIN_TIMEOUT_MS });
    await pipeline.stopMapping();
    // Records producers put on the stream themselves: read back from the stream itself.
    for (const record of await readStream(pipeline.kinesis.createClient(), pipeline.kinesis)) {
      const data = Buffer.from(record.Data ?? []);
      const envelope = ruleEnvelopeOf(data);
      const deviceId = envelope?.deviceId ?? '';
      const payload = envelope?.payload ?? data;
      if (envelope && receivedKeys.has(messageKey(deviceId, payload))) continue;
      counts.streamRecords++;
      note(
        { deviceId, payload, eventIds: readingIdsOf(payload, deviceId || 'stream') },
        record.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
      );
    }
    const audit = await pipeline.audit(received, receivedAt);
    const { conservation } = audit;
    const alerts = pipeline.sink.events.map((e) => e.detail as { rule: string; severity: string });
    const summary: ServeSummary = {
      run: {
        mode: 'serve',
        startedAt: new Date(started).toISOString(),
        stoppedAt: new Date().toISOString(),
        wallSeconds: Math.round((Date.now() - started) / 100) / 10,
        outputDir: outDir,
      },
      received: {
        mqttMessages: counts.mqttMessages,
        streamRecords: counts.streamRecords,
        readings: conservation.published,
        devices: new Set(received.filter((m) => m.deviceId !== '').map((m) => m.deviceId)).size,
      },
      ...pipeline.counters(),
      ...auditFigures(audit),
      alerts: {
        total: alerts.length,
        byRule: countBy(alerts.map((a) => a.rule)),
        bySeverity: countBy(alerts.map((a) => a.severity)),
        criticalNotifications: pipeline.sink.notifications.length,
      },
      periodic: periodicStats,
    };
    await writeFile(join(outDir, SERVE_SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`);
    await writeFile(
      join(outDir, 'alerts.ndjson'),
      pipeline.sink.events.map((e) => `${JSON.stringify(e)}\n`).join(''),
    );
    return summary;
  } finally {
    await pipeline.stopMapping();
    await pipeline.close();
  }
}

/** The serve summary for a terminal. */
export function formatServeSummary(s: ServeSummary): string {
  const reasons = Object.entries(s.outcome.quarantinedByReason)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const alerts = Object.entries(s.alerts.byRule)
    .map(([rule, n]) => `${rule} ${n}`)
    .join(', ');
  const periodic = Object.entries(s.periodic)
    .map(([name, p]) => `${name} ${p.runs} runs, ${p.failures} failed`)
    .join('; ');
  return [
    `sdap twin --serve: served ${s.run.wallSeconds} s; things that published: ${s.received.devices}`,
    `  received       ${s.received.mqttMessages} MQTT messages, ${s.received.streamRecords} records put on the stream directly, ${s.received.readings} readings`,
    ...formatInjected(s.injected),
    `  broker         ${s.broker.publishesAccepted} accepted, ${s.broker.publishesRefused} publishes refused, ${s.broker.connectionsRefused} connections refused`,
    `  stream         ${s.stream.recordsPut} records put by the rule, ${s.stream.ruleErrorActions} to the rule's error action`,
    `  validator      ${s.validator.invocations} invocations, ${s.validator.retries} retries, ${s.validator.recordsToFailureDestination} records to the failure destination`,
    `  valid          ${s.outcome.valid} readings in ${s.outcome.rawObjects} raw objects (${s.outcome.duplicateCopiesInRaw} duplicate copies for the ETL to drop)`,
    `  quarantined    ${s.outcome.quarantined}${reasons ? ` (${reasons})` : ''}`,
    `  dead-lettered  ${s.outcome.deadLettered}`,
    `  alerts         ${s.alerts.total}${alerts ? ` (${alerts})` : ''}; critical notifications ${s.alerts.criticalNotifications}`,
    formatScoring(s.scoring),
    `  latency        receive -> raw object p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms (${s.latencyMs.samples} readings)`,
    ...(periodic ? [`  periodic       ${periodic}`] : []),
    s.conservation.holds
      ? `  conservation   HOLDS: all ${s.conservation.published} received readings are valid, quarantined or dead-lettered`
      : `  conservation   VIOLATED: ${s.conservation.missing} readings missing, ${s.conservation.unexpected} unexpected (e.g. ${s.conservation.missingExamples.join(', ')})`,
    `  output         ${s.run.outputDir} (${SERVE_SUMMARY_FILE}, alerts.ndjson, certs/, lake/)`,
  ].join('\n');
}

/** The endpoints for a terminal, with the settings a client needs. */
export function formatEndpoints(e: ServeEndpoints): string {
  return [
    'sdap twin --serve: listening (Ctrl-C stops, drains and prints the summary)',
    `  MQTT (TLS)   ${e.mqtt.url}   client certificates from ${e.mqtt.devicesDirectory}, CA ${e.mqtt.caFile}`,
    `               topics dt/sdap/<thing>/telemetry or $aws/rules/${e.mqtt.ruleName}/dt/sdap/<thing>/telemetry; client id = thing name`,
    `  Kinesis      ${e.kinesis.endpoint}   stream ${e.kinesis.streamName}, region ${e.kinesis.region}, any credentials`,
    `  S3           ${e.s3.endpoint}   buckets ${e.s3.buckets.raw}, ${e.s3.buckets.quarantine}, ${e.s3.buckets.failures}; credentials ${e.s3.accessKeyId}/${e.s3.secretAccessKey}, path-style`,
    `  output       ${e.outputDir}`,
  ].join('\n');
}

async function runPeriodically(
  stage: PeriodicStage,
  stats: Record<string, { runs: number; failures: number }>,
  options: ServeOptions,
  context: PeriodicContext,
): Promise<void> {
  const entry = { runs: 0, failures: 0 };
  stats[stage.name] = entry;
  const sleep = () =>
    new Promise<void>((resolveSleep) => {
      const timer = setTimeout(done, stage.intervalMs);
      function done() {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', done);
        resolveSleep();
      }
      options.signal.addEventListener('abort', done, { once: true });
    });
  await sleep();
  while (!options.signal.aborted) {
    entry.runs++;
    try {
      await stage.run(context);
    } catch (error) {
      entry.failures++;
      options.onLog?.(`${stage.name} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    await sleep();
  }
}

/** Fails with the flag to change when `port` is taken (0 is always free). */
export async function assertPortFree(flag: string, port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolveProbe, reject) => {
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'is already in use'
          : error.code === 'EACCES'
            ? 'needs privileges this process does not have'
            : `cannot be opened (${error.code ?? error.message})`;
      reject(
        new ServeError(
          `${flag} ${port}: port ${port} on ${host} ${why}; choose another with ${flag} PORT (0 picks any free port)`,
        ),
      );
    });
    probe.listen(port, host, () => probe.close(() => resolveProbe()));
  });
}

/** A stand-in that lost the race for its port, told the same way as {@link assertPortFree}. */
function portError(
  error: unknown,
  ports: { mqtt: number; kinesis: number; s3: number },
): ServeError | undefined {
  const text = error instanceof Error ? error.message : String(error);
  if (!text.includes('EADDRINUSE')) return undefined;
  const flags: Array<[string, number]> = [
    ['--mqtt-port', ports.mqtt],
    ['--kinesis-port', ports.kinesis],
    ['--s3-port', ports.s3],
  ];
  const hit = flags.find(([, port]) => port !== 0 && text.includes(`:${port}`));
  return hit
    ? new ServeError(
        `${hit[0]} ${hit[1]}: port ${hit[1]} is already in use; choose another with ${hit[0]} PORT`,
      )
    : undefined;
}

/** Names the broker's certificate is valid for, beyond localhost and loopback. */
function serverNames(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host];
  // Listening everywhere: devices may use any of this machine's addresses.
  return Object.values(networkInterfaces())
    .flatMap((addresses) => addresses ?? [])
    .map((a) => a.address);
}

/** Every record on every shard, from the oldest kept. */
async function readStream(
  client: KinesisClient,
  stream: { streamName: string; shardIds: readonly string[] },
): Promise<KinesisRecord[]> {
  const records: KinesisRecord[] = [];
  for (const shardId of stream.shardIds) {
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: stream.streamName,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      records.push(...(page.Records ?? []));
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return records;
}

/** The topic rule's envelope, when the record has that shape (as the validator decides it). */
function ruleEnvelopeOf(data: Buffer): { deviceId: string; payload: Buffer } | undefined {
  if (data[0] !== 0x7b) return undefined;
  try {
    const value = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    if (typeof value.payload !== 'string' || typeof value.topic !== 'string') return undefined;
    return {
      deviceId: typeof value.deviceId === 'string' ? value.deviceId : '',
      payload: Buffer.from(value.payload, 'base64'),
    };
  } catch {
    return undefined;
  }
}

const messageKey = (deviceId: string, payload: Buffer) =>
  `${deviceId}\u0000${createHash('sha256').update(payload).digest('hex')}`;

/**
 * The event ids a received payload carries, one per reading. A reading without a string `eventId`
 * (or a payload that cannot be read) gets a stand-in id derived from the sender and the bytes, so
 * identical copies share it.
 */
export function readingIdsOf(payload: Buffer, sender: string): string[] {
  const standIn = `unreadable:${sender}:${createHash('sha256').update(payload).digest('hex').slice(0, 16)}`;
  let text: string;
  try {
    const bytes =
      payload[0] === 0x1f && payload[1] === 0x8b
        ? gunzipSync(payload, { maxOutputLength: MAX_MESSAGE_BYTES })
        : payload;
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return [standIn];
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [standIn];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [standIn];
  const readings = (value as { readings?: unknown }).readings;
  const items: unknown[] = 'readings' in value ? (Array.isArray(readings) ? readings : []) : [value];
  if (items.length === 0) return [standIn];
  return items.map((item, i) => {
    const id = (item as { eventId?: unknown } | null)?.eventId;
    return typeof id === 'string' ? id : `${standIn}#${i}`;
  });
}
