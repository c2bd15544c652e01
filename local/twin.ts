/**
 * The local twin of the streaming path: the simulated fleet publishes over real MQTT to an
 * embedded broker that enforces the IoT policy; the topic rule puts each message on a real Kinesis
 * API (kinesalite); an event source mapping with Lambda's semantics invokes the validator handler,
 * unchanged, which writes to a real S3 API (s3rver) and sends alerts to a sink speaking the
 * EventBridge and SNS APIs. At the end the twin reads the lake back and checks conservation.
 */

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createValidatorClients } from '../lambdas/shared/aws-clients.ts';
import { type RejectionCode, telemetryTopic } from '../lambdas/shared/contract.ts';
import { buildStageConfig } from '../lib/config.ts';
import { writeGroundTruth } from '../simulator/injections.ts';
import { createFleetPublisher } from '../simulator/mqtt-publisher.ts';
import type { SimulationOptions } from '../simulator/options.ts';
import { REGISTRY_DIRECTORY, THING_GROUPS_FILE, THINGS_FILE, writeRegistry } from '../simulator/registry.ts';
import { simulateFleet } from '../simulator/simulate.ts';
import { startAlertsSink } from './alerts-sink.ts';
import { createEventSourceMapping, onFailureObjectKey } from './event-source-mapping.ts';
import { startFaultProxy } from './fault-proxy.ts';
import { startIotBroker } from './iot-broker.ts';
import { startKinesisStandIn } from './kinesis-stand-in.ts';
import { type ConservationReport, checkConservation, type PublishedMessage, readLake } from './lake-audit.ts';
import { importValidatorQuietly, lambdaContext } from './lambda-runtime.ts';
import { createRuleBridge } from './rule-bridge.ts';
import { startS3StandIn } from './s3-stand-in.ts';

/** The twin's names for what the stack would create. */
export const TWIN_BUCKETS = {
  raw: 'sdap-twin-raw',
  quarantine: 'sdap-twin-quarantine',
  failures: 'sdap-twin-failures',
  /** The batch stage's output: curated Parquet, aggregates, data quality. */
  curated: 'sdap-twin-curated',
};
export const TWIN_RULE_NAME = 'sdap_twin_telemetry';
/** Where the registry export lands in the raw bucket (beside, not inside, the telemetry table). */
export const REGISTRY_PREFIX = 'iot-registry';
const TWIN_ALERT_BUS = 'sdap-twin-alerts';
const TWIN_CRITICAL_TOPIC = 'arn:aws:sns:us-east-1:000000000000:sdap-twin-critical-alerts';
const TWIN_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:sdap-twin-validator';
/** Poll interval of an idle shard: Lambda polls about once a second. */
const POLL_INTERVAL_MS = 1000;

export interface TwinOptions {
  readonly outDir: string;
  /** Simulation options (fleet size, duration, seed, faults, injections, batching). */
  readonly simulation: SimulationOptions;
  /** Publish each line of this file verbatim as one MQTT message, instead of simulating a fleet. */
  readonly payloadsFile?: string;
  /** The device that publishes `payloadsFile`'s lines. */
  readonly payloadsDevice?: string;
  readonly shards: number;
  /** Fleet seconds per wall second; 0 publishes as fast as the pipeline takes it. */
  readonly speed: number;
  /** Called about twice a second with progress, for a terminal display. */
  readonly onProgress?: (progress: { published: number; total: number; processed: number }) => void;
  /**
   * Transient failures to inject: a share of the validator's S3 PUTs answered `503 SlowDown`, a
   * share of its alert calls answered 500. What a failure costs is retries, never readings.
   */
  readonly inject?: { readonly s3PutErrorRate?: number; readonly alertErrorRate?: number };
  /** Stops publishing early (Ctrl-C): the twin drains what it has and still writes a summary. */
  readonly signal?: AbortSignal;
  /**
   * Run kinesalite and s3rver in child processes. In the twin's process they share one thread with
   * the broker, the mapping and the handler, and that thread bounds the run; as children they use
   * the machine's other cores.
   * @default true
   */
  readonly emulatorsInChildProcesses?: boolean;
}

/** The run's summary. Field names are part of the interface: they are documented in the README. */
export interface TwinSummary {
  readonly run: {
    readonly mode: 'fleet' | 'payloads';
    readonly seed?: number;
    readonly devices: number;
    readonly fleetStart?: string;
    readonly fleetEnd?: string;
    readonly readingsPerMessage?: number;
    readonly interrupted: boolean;
    readonly wallSeconds: number;
    readonly outputDir: string;
  };
  readonly published: {
    readonly messages: number;
    readonly readings: number;
    readonly faults: Readonly<Record<string, number>>;
  };
  /** Transient failures the twin injected (see `inject`). */
  readonly injected: { readonly s3PutErrors: number; readonly alertCallErrors: number };
  readonly broker: {
    readonly publishesAccepted: number;
    readonly publishesRefused: number;
    readonly connectionsRefused: number;
  };
  readonly stream: {
    readonly recordsPut: number;
    readonly putRetries: number;
    readonly ruleErrorActions: number;
  };
  readonly validator: {
    readonly invocations: number;
    readonly recordsProcessed: number;
    readonly retries: number;
    readonly bisects: number;
    readonly functionErrors: number;
    readonly recordsToFailureDestination: number;
  };
  readonly outcome: {
    readonly valid: number;
    readonly quarantined: number;
    readonly quarantinedByReason: Partial<Record<RejectionCode, number>>;
    readonly deadLettered: number;
    readonly duplicateCopiesInRaw: number;
    readonly rawObjects: number;
  };
  readonly alerts: {
    readonly total: number;
    readonly byRule: Readonly<Record<string, number>>;
    readonly bySeverity: Readonly<Record<string, number>>;
    readonly criticalNotifications: number;
    readonly injectedCriticalEvents: number;
    readonly injectedCriticalEventsAlerted: number;
  };
  readonly latencyMs: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly samples: number;
  };
  readonly throughput: { readonly readingsPerSecond: number };
  readonly conservation: Pick<
    ConservationReport,
    'holds' | 'published' | 'missing' | 'unexpected' | 'missingExamples'
  >;
}

export async function runTwin(options: TwinOptions): Promise<TwinSummary> {
  const started = Date.now();
  const outDir = resolve(options.outDir);
  // A previous run's objects would be counted as this run's: the lake starts empty.
  await rm(join(outDir, 'lake'), { recursive: true, force: true });
  await mkdir(join(outDir, 'lake'), { recursive: true });

  const source = options.payloadsFile
    ? await payloadSource(options.payloadsFile, options.payloadsDevice ?? 'debug-device-1')
    : fleetSource(options.simulation, started);
  const things = new Set(source.deviceIds);
  const { createHandler } = await importValidatorQuietly();

  const inChildProcess = options.emulatorsInChildProcesses ?? true;
  const startups = [
    startS3StandIn({ buckets: Object.values(TWIN_BUCKETS), directory: join(outDir, 'lake'), inChildProcess }),
    startKinesisStandIn({ shardCount: options.shards, inChildProcess }),
    startAlertsSink(),
  ] as const;
  // If one stand-in fails to start, the others are closed (a child process would outlive the error).
  const settled = await Promise.allSettled(startups);
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) {
    await Promise.allSettled(settled.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    throw failed.reason;
  }
  const [s3, kinesis, sink] = await Promise.all(startups);
  const s3PutErrorRate = options.inject?.s3PutErrorRate ?? 0;
  const proxy =
    s3PutErrorRate > 0
      ? await startFaultProxy({
          target: s3.endpoint,
          failureRate: s3PutErrorRate,
          seed: options.simulation.seed ?? 1,
        })
      : undefined;
  sink.setFailureRate(options.inject?.alertErrorRate ?? 0, options.simulation.seed ?? 1);
  // The validator reaches S3 through the fault proxy when one is injected; the rule's error action,
  // the mapping's on-failure destination and the audit talk to S3 directly, as AWS services would.
  const clients = createValidatorClients({
    ...sink.clientOverrides,
    ...s3.clientOverrides,
    ...(proxy && { s3Endpoint: proxy.endpoint }),
  });
  const directS3 = proxy ? createValidatorClients(s3.clientOverrides).s3 : clients.s3;
  const putTimes = new Map<string, number>();
  clients.s3.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === 'PutObjectCommand')
        putTimes.set((args.input as { Key: string }).Key, Date.now());
      return result;
    },
    { step: 'initialize', name: 'twinPutTimes' },
  );
  const kinesisClient = kinesis.createClient();
  const bridge = createRuleBridge({
    ruleName: TWIN_RULE_NAME,
    kinesis: kinesisClient,
    streamName: kinesis.streamName,
    s3: directS3,
    failuresBucket: TWIN_BUCKETS.failures,
  });
  const broker = await startIotBroker({
    ruleName: TWIN_RULE_NAME,
    isRegisteredThing: (name) => things.has(name),
    onMessage: (message) => bridge.accept(message),
  });

  const validator = createHandler(() => ({
    rawBucket: TWIN_BUCKETS.raw,
    quarantineBucket: TWIN_BUCKETS.quarantine,
    alertBusName: TWIN_ALERT_BUS,
    criticalAlertTopicArn: TWIN_CRITICAL_TOPIC,
    clients,
  }));
  // The same event source mapping settings as the dev stage deploys.
  const stage = buildStageConfig('dev').validator;
  const mappingUuid = 'twin-validator-mapping';
  const mapping = createEventSourceMapping({
    kinesis: kinesisClient,
    stream: {
      streamArn: kinesis.streamArn,
      region: kinesis.region,
      executionRoleArn: 'arn:aws:iam::000000000000:role/sdap-twin-validator',
    },
    functionArn: TWIN_FUNCTION_ARN,
    handler: (event) => validator(event, lambdaContext('sdap-twin-validator', TWIN_FUNCTION_ARN)),
    startingPosition: 'TRIM_HORIZON',
    batchSize: stage.batchSize,
    maximumBatchingWindowMs: stage.maxBatchingWindowSeconds * 1000,
    reportBatchItemFailures: true,
    bisectBatchOnFunctionError: true,
    maximumRetryAttempts: stage.retryAttempts,
    maximumRecordAgeSeconds: stage.maxRecordAgeSeconds,
    uuid: mappingUuid,
    pollIntervalMs: POLL_INTERVAL_MS,
    onFailure: async (failure) => {
      await directS3.send(
        new PutObjectCommand({
          Bucket: TWIN_BUCKETS.failures,
          Key: onFailureObjectKey(mappingUuid, failure),
          Body: JSON.stringify(failure),
        }),
      );
    },
  });
  await mapping.start();

  const publisher = createFleetPublisher({ url: broker.url });
  const published: PublishedMessage[] = [];
  const publishedAt = new Map<string, number>();
  const faults: Record<string, number> = {};
  let interrupted = false;
  const progress = setInterval(
    () =>
      options.onProgress?.({
        published: published.length,
        total: source.expectedMessages,
        processed: mapping.stats().recordsProcessed,
      }),
    500,
  );
  const firstPublishMs = Date.now();
  try {
    for (const message of source.messages()) {
      if (options.signal?.aborted) {
        interrupted = true;
        break;
      }
      if (options.speed > 0 && source.fleetStartMs !== undefined) {
        const due = firstPublishMs + (message.publishAtMs - source.fleetStartMs) / options.speed;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const sentAt = await publisher.publish(message);
      published.push({ deviceId: message.deviceId, payload: message.payload, eventIds: message.eventIds });
      if (message.fault) faults[message.fault] = (faults[message.fault] ?? 0) + 1;
      for (const id of message.eventIds) if (!publishedAt.has(id)) publishedAt.set(id, sentAt);
    }
    await publisher.close();
    await bridge.drain();
    await mapping.drain({ timeoutMs: 300_000 });
  } finally {
    clearInterval(progress);
    await mapping.stop();
    await publisher.close().catch(() => undefined);
  }
  const drainedMs = Date.now();

  const lake = await readLake(directS3, TWIN_BUCKETS, putTimes);
  const conservation = checkConservation(published, lake);
  const latencies: number[] = [];
  for (const [eventId, sentAt] of publishedAt) {
    const written = lake.raw.get(eventId);
    if (written) latencies.push(written.writtenAtMs - sentAt);
  }
  latencies.sort((a, b) => a - b);

  const groundTruth = source.groundTruth();
  const alerts = sink.events.map(
    (e) => e.detail as { rule: string; severity: string; deviceId: string; timestamp: string },
  );
  const criticalInjections = groundTruth.filter((g) => g.kind === 'smoke' || g.kind === 'water_leak');
  const alerted = criticalInjections.filter((g) =>
    alerts.some(
      (a) =>
        a.deviceId === g.deviceId &&
        a.rule === (g.kind === 'smoke' ? 'smoke_detected' : 'water_leak_detected') &&
        a.timestamp >= g.start &&
        Date.parse(a.timestamp) <= Date.parse(g.end),
    ),
  );
  const count = (values: string[]) =>
    values.reduce<Record<string, number>>((acc, v) => {
      acc[v] = (acc[v] ?? 0) + 1;
      return acc;
    }, {});
  const mappingStats = mapping.stats();
  const summary: TwinSummary = {
    run: {
      mode: options.payloadsFile ? 'payloads' : 'fleet',
      ...source.describe,
      devices: things.size,
      interrupted,
      wallSeconds: round((Date.now() - started) / 1000, 1),
      outputDir: outDir,
    },
    published: { messages: published.length, readings: conservation.published, faults },
    injected: { s3PutErrors: proxy?.stats.failed ?? 0, alertCallErrors: sink.failedCalls },
    broker: {
      publishesAccepted: broker.stats.publishesAccepted,
      publishesRefused: broker.stats.publishesRefused,
      connectionsRefused: broker.stats.connectionsRefused,
    },
    stream: {
      recordsPut: bridge.stats.recordsPut,
      putRetries: bridge.stats.putRetries,
      ruleErrorActions: bridge.stats.errorActions,
    },
    validator: {
      invocations: mappingStats.invocations,
      recordsProcessed: mappingStats.recordsProcessed,
      retries: mappingStats.retries,
      bisects: mappingStats.bisects,
      functionErrors: mappingStats.functionErrors,
      recordsToFailureDestination: mappingStats.recordsToDestination,
    },
    outcome: {
      valid: conservation.valid,
      quarantined: conservation.quarantined,
      quarantinedByReason: conservation.quarantinedByReason,
      deadLettered: conservation.deadLettered,
      duplicateCopiesInRaw: conservation.rawDuplicateCopies,
      rawObjects: lake.rawObjects,
    },
    alerts: {
      total: alerts.length,
      byRule: count(alerts.map((a) => a.rule)),
      bySeverity: count(alerts.map((a) => a.severity)),
      criticalNotifications: sink.notifications.length,
      injectedCriticalEvents: criticalInjections.length,
      injectedCriticalEventsAlerted: alerted.length,
    },
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: latencies.at(-1) ?? 0,
      samples: latencies.length,
    },
    throughput: {
      readingsPerSecond: Math.round(
        conservation.published / Math.max(0.001, (drainedMs - firstPublishMs) / 1000),
      ),
    },
    conservation: {
      holds: conservation.holds,
      published: conservation.published,
      missing: conservation.missing,
      unexpected: conservation.unexpected,
      missingExamples: conservation.missingExamples,
    },
  };

  await writeFile(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(join(outDir, 'alerts.ndjson'), sink.events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  await source.writeArtefacts(outDir);
  // The registry goes to the lake too, where AWS would land a scheduled export of the IoT registry.
  for (const path of source.registryFiles) {
    await directS3.send(
      new PutObjectCommand({
        Bucket: TWIN_BUCKETS.raw,
        Key: `${REGISTRY_PREFIX}/${basename(path)}`,
        Body: await readFile(join(outDir, path)),
        ContentType: 'application/x-ndjson',
      }),
    );
  }
  await Promise.all([broker.close(), sink.close(), proxy?.close()]);
  await kinesis.close();
  await s3.close();
  return summary;
}

interface MessageSource {
  readonly deviceIds: readonly string[];
  readonly expectedMessages: number;
  readonly fleetStartMs?: number;
  readonly describe: Partial<TwinSummary['run']>;
  messages(): Iterable<{
    deviceId: string;
    topic: string;
    payload: Buffer;
    eventIds: readonly string[];
    publishAtMs: number;
    fault?: string;
  }>;
  groundTruth(): ReadonlyArray<{ kind: string; deviceId: string; start: string; end: string }>;
  writeArtefacts(outDir: string): Promise<void>;
  /** Registry files `writeArtefacts` wrote, relative to the output directory. */
  readonly registryFiles: readonly string[];
}

function fleetSource(simulation: SimulationOptions, nowMs: number): MessageSource {
  const hours = simulation.durationHours ?? 6;
  // Fleet time ends now, so device timestamps pass the validator's clock checks.
  const sim = simulateFleet({
    ...simulation,
    start: simulation.start ?? Math.floor(nowMs - hours * 3_600_000),
  });
  const registry = sim.registry();
  return {
    deviceIds: registry.things.map((t) => t.thingName),
    // An estimate for the progress display only.
    expectedMessages: 0,
    fleetStartMs: sim.startMs,
    describe: {
      seed: sim.options.seed,
      fleetStart: new Date(sim.startMs).toISOString(),
      fleetEnd: new Date(sim.endMs).toISOString(),
      readingsPerMessage: sim.options.readingsPerMessage,
    },
    messages: () => sim,
    groundTruth: () => sim.groundTruth(),
    registryFiles: [join(REGISTRY_DIRECTORY, THINGS_FILE), join(REGISTRY_DIRECTORY, THING_GROUPS_FILE)],
    writeArtefacts: async (outDir) => {
      await writeGroundTruth(sim.groundTruth(), outDir);
      await writeRegistry(registry, outDir);
    },
  };
}

async function payloadSource(file: string, deviceId: string): Promise<MessageSource> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`--payloads ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return {
    deviceIds: [deviceId],
    expectedMessages: lines.length,
    describe: {},
    *messages() {
      for (const [n, line] of lines.entries()) {
        yield {
          deviceId,
          topic: telemetryTopic(deviceId),
          payload: Buffer.from(line),
          eventIds: eventIdsOf(line, n),
          publishAtMs: n,
        };
      }
    },
    groundTruth: () => [],
    writeArtefacts: async () => undefined,
    registryFiles: [],
  };
}

/** The event ids a hand-written payload carries, or a stand-in id when it has none to offer. */
function eventIdsOf(line: string, n: number): string[] {
  try {
    const value = JSON.parse(line) as { eventId?: unknown; readings?: Array<{ eventId?: unknown }> };
    const ids = Array.isArray(value.readings) ? value.readings.map((r) => r?.eventId) : [value.eventId];
    if (ids.length > 0 && ids.every((id) => typeof id === 'string')) return ids as string[];
  } catch {
    // not JSON: counted as one reading
  }
  return [`payload-line-${n + 1}`];
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
