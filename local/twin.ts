/**
 * The local twin of the streaming path: the simulated fleet publishes from a worker thread of its
 * own (fleet-worker.ts) over real MQTT to an embedded broker that enforces the IoT policy; the topic
 * rule puts each message on a real Kinesis API (kinesalite); an event source mapping with Lambda's
 * semantics invokes the validator handler, unchanged, which writes to a real S3 API (s3rver) and
 * sends alerts to a sink speaking the EventBridge and SNS APIs. At the end the twin reads the lake
 * back and checks conservation.
 */

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type RejectionCode, telemetryTopic } from '../lambdas/shared/contract.ts';
import { HOUR_MS } from '../lambdas/shared/weather-record.ts';
import { HttpWeatherProvider } from '../lambdas/weather/http-weather-provider.ts';
import type { WeatherRunSummary } from '../lambdas/weather/ingest-weather.ts';
import type { Site } from '../simulator/fleet.ts';
import { writeGroundTruth } from '../simulator/injections.ts';
import { createFleetPublisher } from '../simulator/mqtt-publisher.ts';
import type { SimulationOptions } from '../simulator/options.ts';
import { REGISTRY_DIRECTORY, THING_GROUPS_FILE, THINGS_FILE, writeRegistry } from '../simulator/registry.ts';
import { simulateFleet } from '../simulator/simulate.ts';
import { type BatchSummary, runBatchStage } from './etl/batch-stage.ts';
import { withCommittedFailureEndpoint } from './etl/failure-scoring.ts';
import {
  createPublishLog,
  type PublishLog,
  type PublishResult,
  recordSent,
  startFleetWorker,
} from './fleet-worker.ts';
import type { ConservationReport } from './lake-audit.ts';
import { importWeatherQuietly, lambdaContext } from './lambda-runtime.ts';
import { type ModelQualitySummary, runModelQualityStage } from './ml/model-quality-stage.ts';
import { WAREHOUSE_FILE } from './twin-output.ts';
import {
  auditFigures,
  countBy,
  type PipelineCounters,
  startTwinPipeline,
  TWIN_BUCKETS,
  type TwinFaults,
  type TwinPipeline,
} from './twin-pipeline.ts';
import { removeWarehouse } from './warehouse/twin-warehouse.ts';
import { runWarehouseStage, type WarehouseStageSummary } from './warehouse/warehouse-stage.ts';
import { startWeatherServer } from './weather-server.ts';

export { TWIN_BUCKETS, TWIN_RULE_NAME } from './twin-pipeline.ts';

/** The `source` of the weather the twin lands: the local provider serving the simulator's weather. */
export const TWIN_WEATHER_PROVIDER = 'sdap-twin-weather';
const TWIN_WEATHER_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:sdap-twin-weather';
/** Where the registry export lands in the raw bucket (beside, not inside, the telemetry table). */
export const REGISTRY_PREFIX = 'iot-registry';

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
   * Failures to inject (see {@link TwinFaults}): S3 `503 SlowDown` on the validator's PUTs, 500s on
   * its alert calls, invocations killed after k writes, Kinesis throttling, an endpoint outage.
   * What a failure costs is retries and dead letters, never readings.
   */
  readonly inject?: TwinFaults;
  /** Stops publishing early (Ctrl-C): the twin drains what it has and still writes a summary. */
  readonly signal?: AbortSignal;
  /**
   * Run kinesalite and s3rver in child processes. In the twin's process they share one thread with
   * the broker, the mapping and the handler, and that thread bounds the run; as children they use
   * the machine's other cores.
   * @default true
   */
  readonly emulatorsInChildProcesses?: boolean;
  /**
   * After the streaming phase, land the fleet's weather and run the batch stage (the ETL's SQL in
   * DuckDB) over the lake.
   * @default true
   */
  readonly batch?: boolean;
  /**
   * After the batch stage, load `<out>/warehouse.duckdb` from the curated lake and write
   * `<out>/report.html`. @default true (only when the batch stage runs)
   */
  readonly warehouse?: boolean;
  /** Progress lines of the batch stage. */
  readonly onBatchLog?: (line: string) => void;
  /**
   * After the batch stage, measure the committed models on the run's labels (the summary's
   * `models`). @default true (fleet runs with the batch stage only)
   */
  readonly models?: boolean;
  /**
   * The anomaly model the validator scores with (served on the twin's SageMaker runtime); null
   * runs the rules only. @default the committed model when it exists (see twin-pipeline.ts)
   */
  readonly anomalyModelPath?: string | null;
}

/** The run's summary. Field names are part of the interface: they are documented in the README. */
export interface TwinSummary extends PipelineCounters {
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
  /** The weather function's run over the fleet's hours (fleet runs only). */
  readonly weather?: Pick<WeatherRunSummary, 'from' | 'to' | 'sites' | 'hoursFetched' | 'hoursMissing'>;
  /** The batch stage over the lake the streaming phase filled (absent with `batch: false`). */
  readonly batch?: BatchSummary;
  /** The warehouse and its report, built from the curated lake after the batch stage. */
  readonly warehouse?: WarehouseStageSummary;
  /** The committed models measured on this run's labels (fleet runs with the batch stage). */
  readonly models?: ModelQualitySummary;
}

export async function runTwin(options: TwinOptions): Promise<TwinSummary> {
  const started = Date.now();
  const outDir = resolve(options.outDir);
  // A previous run's objects would be counted as this run's: the lake starts empty, and so does the
  // warehouse built from it.
  await rm(join(outDir, 'lake'), { recursive: true, force: true });
  await removeWarehouse(join(outDir, WAREHOUSE_FILE));
  await mkdir(join(outDir, 'lake'), { recursive: true });

  const source = options.payloadsFile
    ? await payloadSource(options.payloadsFile, options.payloadsDevice ?? 'debug-device-1')
    : fleetSource(options.simulation, started);
  const things = new Set(source.deviceIds);
  let pipeline: TwinPipeline;
  try {
    pipeline = await startTwinPipeline({
      outDir,
      shards: options.shards,
      isRegisteredThing: (name) => things.has(name),
      seed: options.simulation.seed ?? 1,
      ...(options.inject && { inject: options.inject }),
      emulatorsInChildProcesses: options.emulatorsInChildProcesses ?? true,
      ...(options.anomalyModelPath !== undefined && { anomalyModelPath: options.anomalyModelPath }),
    });
  } catch (error) {
    await source.close();
    throw error;
  }
  const { mapping, sink } = pipeline;

  const log = createPublishLog();
  const progress = setInterval(
    () =>
      options.onProgress?.({
        published: log.published.length,
        total: source.expectedMessages,
        processed: mapping.stats().recordsProcessed,
      }),
    500,
  );
  let publishing: PublishResult;
  let failed = true;
  try {
    publishing = await source.publish(
      { url: pipeline.broker.url, speed: options.speed, ...(options.signal && { signal: options.signal }) },
      log,
    );
    await pipeline.drain({ timeoutMs: 300_000 });
    failed = false;
  } finally {
    clearInterval(progress);
    await pipeline.stopMapping();
    await source.close();
    // A failed run leaves no stand-in behind (the error still propagates).
    if (failed) await pipeline.close().catch(() => undefined);
  }
  const { firstPublishMs, interrupted } = publishing;
  const drainedMs = Date.now();
  // Whatever fails from here on, the stand-ins stop: a crashed run must not leave them serving.
  let complete: TwinSummary | undefined;
  try {
    const audit = await pipeline.audit(log.published, log.publishedAt);
    const { conservation } = audit;

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
    const summary: TwinSummary = {
      run: {
        mode: options.payloadsFile ? 'payloads' : 'fleet',
        ...source.describe,
        devices: things.size,
        interrupted,
        wallSeconds: round((Date.now() - started) / 1000, 1),
        outputDir: outDir,
      },
      published: { messages: log.published.length, readings: conservation.published, faults: log.faults },
      ...pipeline.counters(),
      ...auditFigures(audit),
      alerts: {
        total: alerts.length,
        byRule: countBy(alerts.map((a) => a.rule)),
        bySeverity: countBy(alerts.map((a) => a.severity)),
        criticalNotifications: sink.notifications.length,
        injectedCriticalEvents: criticalInjections.length,
        injectedCriticalEventsAlerted: alerted.length,
      },
      throughput: {
        readingsPerSecond: Math.round(
          conservation.published / Math.max(0.001, (drainedMs - firstPublishMs) / 1000),
        ),
      },
    };

    await writeFile(join(outDir, 'alerts.ndjson'), sink.events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    await source.writeArtefacts(outDir);
    // The registry goes to the lake too, where AWS would land a scheduled export of the IoT registry.
    for (const path of source.registryFiles) {
      await pipeline.directS3.send(
        new PutObjectCommand({
          Bucket: TWIN_BUCKETS.raw,
          Key: `${REGISTRY_PREFIX}/${basename(path)}`,
          Body: await readFile(join(outDir, path)),
          ContentType: 'application/x-ndjson',
        }),
      );
    }
    complete = summary;
    if ((options.batch ?? true) && !interrupted) {
      const weather = source.sites ? await landWeather(pipeline.directS3, source) : undefined;
      // The failure model scores the window after the ETL, as the workflow's scoring step does.
      const batch = await withCommittedFailureEndpoint((scoring) =>
        runBatchStage({
          s3: pipeline.directS3,
          buckets: {
            raw: TWIN_BUCKETS.raw,
            quarantine: TWIN_BUCKETS.quarantine,
            curated: TWIN_BUCKETS.curated,
          },
          ...(options.onBatchLog && { log: options.onBatchLog }),
          ...(scoring && { scoring }),
        }),
      );
      complete = { ...summary, ...(weather && { weather }), batch };
      if (options.warehouse ?? true) {
        const warehouse = await runWarehouseStage({
          s3: pipeline.directS3,
          curatedBucket: TWIN_BUCKETS.curated,
          outDir,
        });
        complete = { ...complete, warehouse };
      }
      if ((options.models ?? true) && source.fleetStartMs !== undefined && source.fleetEndMs !== undefined) {
        const models = await runModelQualityStage({
          s3: pipeline.directS3,
          curatedBucket: TWIN_BUCKETS.curated,
          outDir,
          fleetStart: new Date(source.fleetStartMs).toISOString(),
          fleetEnd: new Date(source.fleetEndMs).toISOString(),
        });
        complete = { ...complete, models };
      }
    }
  } finally {
    if (complete) await writeFile(join(outDir, 'summary.json'), `${JSON.stringify(complete, null, 2)}\n`);
    await pipeline.close();
  }
  return complete;
}

/**
 * Runs the weather function, unchanged, against a local provider serving the fleet's own outdoor
 * temperature, over whole hours covering the fleet's time: what the hourly schedule would have
 * landed in the lake by now.
 */
async function landWeather(
  s3: S3Client,
  source: MessageSource,
): Promise<NonNullable<TwinSummary['weather']>> {
  const { sites = [], fleetStartMs = 0, fleetEndMs = 0 } = source;
  const server = await startWeatherServer({ sites });
  try {
    const { createHandler } = await importWeatherQuietly();
    const handler = createHandler(async () => ({
      s3,
      rawBucket: TWIN_BUCKETS.raw,
      provider: new HttpWeatherProvider({ name: TWIN_WEATHER_PROVIDER, url: server.url }),
      lookbackHours: 24,
    }));
    const event = {
      from: new Date(Math.floor(fleetStartMs / HOUR_MS) * HOUR_MS).toISOString(),
      to: new Date(Math.ceil(fleetEndMs / HOUR_MS) * HOUR_MS).toISOString(),
    };
    const run = await handler(event, lambdaContext('sdap-twin-weather', TWIN_WEATHER_FUNCTION_ARN));
    return {
      from: run.from,
      to: run.to,
      sites: run.sites,
      hoursFetched: run.hoursFetched,
      hoursMissing: run.hoursMissing,
    };
  } finally {
    await server.close();
  }
}

interface MessageSource {
  readonly deviceIds: readonly string[];
  readonly expectedMessages: number;
  readonly fleetStartMs?: number;
  readonly fleetEndMs?: number;
  /** The fleet's sites, for the weather it experienced (fleet runs only). */
  readonly sites?: readonly Site[];
  readonly describe: Partial<TwinSummary['run']>;
  /**
   * Publishes every message to the broker at `url`, recording each one sent in `log`; stops early
   * when `signal` is aborted. Resolves once every message sent is acknowledged.
   */
  publish(
    request: { readonly url: string; readonly speed: number; readonly signal?: AbortSignal },
    log: PublishLog,
  ): Promise<PublishResult>;
  /** Releases what the source holds (the fleet's worker). */
  close(): Promise<void>;
  groundTruth(): ReadonlyArray<{ kind: string; deviceId: string; start: string; end: string }>;
  writeArtefacts(outDir: string): Promise<void>;
  /** Registry files `writeArtefacts` wrote, relative to the output directory. */
  readonly registryFiles: readonly string[];
}

/**
 * The simulated fleet. Its messages are generated and published on a worker thread (devices are
 * other machines); this thread builds the same fleet, without iterating it, for the registry, the
 * ground truth and the sites.
 */
function fleetSource(simulation: SimulationOptions, nowMs: number): MessageSource {
  const hours = simulation.durationHours ?? 6;
  // Fleet time ends now, so device timestamps pass the validator's clock checks. Fixed here so that
  // both threads build the same fleet.
  const fleet = { ...simulation, start: simulation.start ?? Math.floor(nowMs - hours * 3_600_000) };
  const sim = simulateFleet(fleet);
  const registry = sim.registry();
  const worker = startFleetWorker({ simulation: fleet });
  return {
    deviceIds: registry.things.map((t) => t.thingName),
    // An estimate for the progress display only.
    expectedMessages: 0,
    fleetStartMs: sim.startMs,
    fleetEndMs: sim.endMs,
    sites: sim.fleet.sites,
    describe: {
      seed: sim.options.seed,
      fleetStart: new Date(sim.startMs).toISOString(),
      fleetEnd: new Date(sim.endMs).toISOString(),
      readingsPerMessage: sim.options.readingsPerMessage,
    },
    publish: (request, log) => worker.publish(request, log),
    close: () => worker.close(),
    groundTruth: () => sim.groundTruth(),
    registryFiles: [join(REGISTRY_DIRECTORY, THINGS_FILE), join(REGISTRY_DIRECTORY, THING_GROUPS_FILE)],
    writeArtefacts: async (outDir) => {
      await writeGroundTruth(sim.groundTruth(), outDir);
      await writeRegistry(registry, outDir);
    },
  };
}

/** A file's lines, published in order from this thread by one device, as fast as they are taken. */
async function payloadSource(file: string, deviceId: string): Promise<MessageSource> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`--payloads ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return {
    deviceIds: [deviceId],
    expectedMessages: lines.length,
    describe: {},
    async publish({ url, signal }, log) {
      const publisher = createFleetPublisher({ url });
      const firstPublishMs = Date.now();
      let interrupted = false;
      try {
        for (const [n, line] of lines.entries()) {
          if (signal?.aborted) {
            interrupted = true;
            break;
          }
          const message = {
            deviceId,
            topic: telemetryTopic(deviceId),
            payload: Buffer.from(line),
            eventIds: eventIdsOf(line, n),
          };
          recordSent(log, message, await publisher.publish(message));
        }
        await publisher.close();
      } finally {
        await publisher.close().catch(() => undefined);
      }
      return { firstPublishMs, interrupted };
    },
    close: async () => undefined,
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

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
