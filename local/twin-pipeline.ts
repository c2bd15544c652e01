/**
 * The twin's streaming path, without a message source: the stand-ins (kinesalite, s3rver, the alert
 * sink), the IoT broker, the topic rule, the event source mapping and the validator handler,
 * unchanged. A finite twin run (twin.ts) publishes a fleet into it and stops; serve mode
 * (twin-serve.ts) keeps it running for outside clients. Both end the same way: drain, read the
 * lake back through the S3 API, check conservation.
 *
 * When a trained anomaly model is at hand (the committed `ml/models/anomaly.json`), the twin serves
 * it on its SageMaker runtime as endpoint `anomaly` and gives the validator that endpoint, as the
 * stack would with `ANOMALY_ENDPOINT_NAME`; without one the validator runs its rules only, and the
 * summary's `scoring` says so.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { CircuitBreaker, type RulesOnlyReason } from '../lambdas/shared/anomaly-scorer.ts';
import { createSageMakerRuntimeClient, createValidatorClients } from '../lambdas/shared/aws-clients.ts';
import { type AnomalyScoring, createAnomalyScoring } from '../lambdas/validator/anomaly-scoring.ts';
import { buildStageConfig } from '../lib/config.ts';
import { committedModelPath } from '../ml/model-spec.ts';
import { type AlertsSink, startAlertsSink } from './alerts-sink.ts';
import { startEmulator } from './emulator-process.ts';
import {
  createEventSourceMapping,
  type EventSourceMapping,
  onFailureObjectKey,
} from './event-source-mapping.ts';
import {
  type FaultProxy,
  type KinesisFaultProxy,
  SAGEMAKER_MODEL_NOT_READY,
  SAGEMAKER_SERVICE_UNAVAILABLE,
  startFaultProxy,
  startKinesisFaultProxy,
} from './fault-proxy.ts';
import { type IotBroker, type IotBrokerOptions, startIotBroker } from './iot-broker.ts';
import { type KinesisStandIn, startKinesisStandIn } from './kinesis-stand-in.ts';
import {
  type ConservationReport,
  checkConservation,
  type LakeContents,
  type PublishedMessage,
  readLake,
} from './lake-audit.ts';
import {
  type CrashingRuntime,
  createCrashingRuntime,
  type HandlerCrashOptions,
  importValidatorQuietly,
  lambdaContext,
} from './lambda-runtime.ts';
import { createRuleBridge, type RuleBridge } from './rule-bridge.ts';
import { type S3StandIn, startS3StandIn } from './s3-stand-in.ts';
import type { SageMakerRuntimeOptions } from './sagemaker-runtime.ts';

/** The twin's names for what the stack would create. */
export const TWIN_BUCKETS = {
  raw: 'sdap-twin-raw',
  quarantine: 'sdap-twin-quarantine',
  failures: 'sdap-twin-failures',
  /** The batch stage's output: curated Parquet, aggregates, data quality. */
  curated: 'sdap-twin-curated',
};
export const TWIN_RULE_NAME = 'sdap_twin_telemetry';
const TWIN_ALERT_BUS = 'sdap-twin-alerts';
const TWIN_CRITICAL_TOPIC = 'arn:aws:sns:us-east-1:000000000000:sdap-twin-critical-alerts';
const TWIN_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:sdap-twin-validator';
const MAPPING_UUID = 'twin-validator-mapping';
/** Poll interval of an idle shard: Lambda polls about once a second. */
const POLL_INTERVAL_MS = 1000;
/** The twin's SageMaker endpoint of the anomaly model, and its one production variant. */
export const TWIN_ANOMALY_ENDPOINT = 'anomaly';
const TWIN_ANOMALY_VARIANT = 'AllTraffic';

/**
 * Failures the twin injects, each at a configuration seam around the unchanged handler (a proxy in
 * front of a stand-in, the runtime around an invocation). What a failure may cost is retries and
 * dead letters, never readings.
 */
export interface TwinFaults {
  /** Share (0..1) of the validator's S3 PUTs answered `503 SlowDown`. */
  readonly s3PutErrorRate?: number;
  /** Share (0..1) of the validator's EventBridge and SNS calls answered 500. */
  readonly alertErrorRate?: number;
  /** Validator invocations killed after their k-th S3 write, the batch then retried by the mapping. */
  readonly handlerCrash?: HandlerCrashOptions;
  /**
   * Share (0..1) of the rule's PutRecords entries refused, and of the mapping's GetRecords calls
   * answered, with `ProvisionedThroughputExceededException`.
   */
  readonly kinesisThrottleRate?: number;
  /**
   * The anomaly endpoint failing: a drawn share of its calls, and/or every call from the
   * `fromCall`-th (1 is the first) for `calls` calls. Ignored without a model.
   */
  readonly endpointOutage?: {
    readonly rate?: number;
    readonly fromCall?: number;
    readonly calls?: number;
    /** The answer: `503 ServiceUnavailable` or `429 ModelNotReadyException`. @default 'ServiceUnavailable' */
    readonly error?: 'ServiceUnavailable' | 'ModelNotReady';
  };
}

export interface TwinPipelineOptions {
  /** Absolute output directory; the S3 stand-in keeps its buckets in `<outDir>/lake`. */
  readonly outDir: string;
  readonly shards: number;
  /** Which things the registry holds (the broker refuses the others). */
  readonly isRegisteredThing: (thingName: string) => boolean;
  /** Failures to inject. */
  readonly inject?: TwinFaults;
  /** Seeds the injected failures. */
  readonly seed: number;
  /** @default true */
  readonly emulatorsInChildProcesses?: boolean;
  /** Ports on loopback; 0 picks any free port. @default 0 for each */
  readonly ports?: { readonly mqtt?: number; readonly kinesis?: number; readonly s3?: number };
  /** Where the broker listens. @default '127.0.0.1' */
  readonly mqttHost?: string;
  /** Mutual TLS for the broker, as IoT Core's device endpoint (see iot-broker.ts). */
  readonly brokerTls?: IotBrokerOptions['tls'];
  /** Sees every message the broker accepted, as the rule does. */
  readonly onBrokerMessage?: IotBrokerOptions['onMessage'];
  /** Told why the broker refused a connection, publish or subscription. */
  readonly onBrokerRefusal?: IotBrokerOptions['onRefusal'];
  /**
   * The anomaly model (XGBoost JSON) the twin's SageMaker runtime serves to the validator; null runs
   * the validator on its rules only.
   * @default the committed model (`committedModelPath('anomaly')`) when that file exists, else null
   */
  readonly anomalyModelPath?: string | null;
}

/** How the validator scored readings on the anomaly model, as the run's summary reports it. */
export interface ScoringCounters {
  /** `model` when an endpoint served a model, `rules-only` when the twin had none to serve. */
  readonly mode: 'model' | 'rules-only';
  /** The twin's endpoint name, or null without a model. */
  readonly endpoint: string | null;
  /** The model file served, or why there is none. */
  readonly model: string;
  /** Batches with readings that the endpoint scored, retries included. */
  readonly batchesScored: number;
  readonly rowsScored: number;
  /** Rows left to the rules because the endpoint could not score them. */
  readonly rowsRulesOnly: number;
  /** Batches left to the rules, by reason (`circuit_open`, `service_unavailable`, ...). */
  readonly rulesOnlyBatchesByReason: Readonly<Partial<Record<RulesOnlyReason, number>>>;
  /** `model_anomaly` alerts the validator sent. */
  readonly modelAlerts: number;
}

/** Counters of every hop, as the run's summary reports them. */
export interface PipelineCounters {
  /** Failures injected (see {@link TwinFaults}); 0 for each kind not injected. */
  readonly injected: {
    readonly s3PutErrors: number;
    readonly alertCallErrors: number;
    readonly handlerCrashes: number;
    readonly kinesisPutRecordsThrottled: number;
    readonly kinesisGetRecordsThrottled: number;
    readonly endpointCallErrors: number;
  };
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
  readonly scoring: ScoringCounters;
}

/** What the lake holds after a drain, checked against what was published. */
export interface PipelineAudit {
  readonly lake: LakeContents;
  readonly conservation: ConservationReport;
  /** Publish (or broker receive) to raw object, per valid reading, ascending. */
  readonly latenciesMs: readonly number[];
}

export interface TwinPipeline {
  readonly broker: IotBroker;
  readonly kinesis: KinesisStandIn;
  readonly s3: S3StandIn;
  readonly sink: AlertsSink;
  /** The SageMaker runtime serving the anomaly model, when the twin has one. */
  readonly sageMaker: SageMakerStandIn | undefined;
  readonly bridge: RuleBridge;
  readonly mapping: EventSourceMapping;
  /** S3 as the AWS services and the audit reach it: never through the fault proxy. */
  readonly directS3: S3Client;
  /** Waits until every accepted message is on the stream and every record is processed. */
  drain(options?: { timeoutMs?: number }): Promise<void>;
  /** Stops polling the stream (idempotent). */
  stopMapping(): Promise<void>;
  /** Reads the lake back and checks conservation of `published`, whose first send times are `sentAt`. */
  audit(published: readonly PublishedMessage[], sentAt: ReadonlyMap<string, number>): Promise<PipelineAudit>;
  counters(): PipelineCounters;
  /** Closes the broker, the sink, the proxy, the SageMaker runtime and the stand-ins (the lake's files stay). */
  close(): Promise<void>;
}

/** Starts the stand-ins and wires the pipeline. On failure, whatever started is closed again. */
export async function startTwinPipeline(options: TwinPipelineOptions): Promise<TwinPipeline> {
  const { createHandler } = await importValidatorQuietly();
  const inChildProcess = options.emulatorsInChildProcesses ?? true;
  const modelPath = anomalyModelOf(options);
  const startups = [
    startS3StandIn({
      buckets: Object.values(TWIN_BUCKETS),
      directory: join(options.outDir, 'lake'),
      inChildProcess,
      ...(options.ports?.s3 !== undefined && { port: options.ports.s3 }),
    }),
    startKinesisStandIn({
      shardCount: options.shards,
      inChildProcess,
      ...(options.ports?.kinesis !== undefined && { port: options.ports.kinesis }),
    }),
    startAlertsSink(),
    modelPath === null
      ? Promise.resolve(undefined)
      : startSageMakerStandIn(
          {
            endpoints: {
              [TWIN_ANOMALY_ENDPOINT]: {
                variants: [{ name: TWIN_ANOMALY_VARIANT, weight: 1, modelPath }],
              },
            },
            seed: options.seed,
          },
          inChildProcess,
        ),
  ] as const;
  // If one stand-in fails to start, the others are closed (a child process would outlive the error).
  const settled = await Promise.allSettled(startups);
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) {
    await Promise.allSettled(settled.map((r) => (r.status === 'fulfilled' ? r.value?.close() : undefined)));
    throw failed.reason;
  }
  const [s3, kinesis, sink, sageMaker] = await Promise.all(startups);
  let sageMakerClient: SageMakerRuntimeClient | undefined;
  const closeStandIns = async () => {
    sageMakerClient?.destroy();
    await sageMaker?.close();
    await sink.close();
    await kinesis.close();
    await s3.close();
  };
  const tally = newScoringTally();

  let proxy: FaultProxy | undefined;
  let kinesisProxy: KinesisFaultProxy | undefined;
  let endpointProxy: FaultProxy | undefined;
  let runtime: CrashingRuntime | undefined;
  const closeProxies = () => Promise.all([proxy?.close(), kinesisProxy?.close(), endpointProxy?.close()]);
  let broker: IotBroker;
  // Closed too when a later step fails: its listening socket alone would keep the process alive.
  let startedBroker: IotBroker | undefined;
  const putTimes = new Map<string, number>();
  let wiring: Omit<
    TwinPipeline,
    'broker' | 'kinesis' | 's3' | 'sink' | 'sageMaker' | 'counters' | 'close' | 'audit'
  >;
  try {
    const s3PutErrorRate = options.inject?.s3PutErrorRate ?? 0;
    proxy =
      s3PutErrorRate > 0
        ? await startFaultProxy({ target: s3.endpoint, failureRate: s3PutErrorRate, seed: options.seed })
        : undefined;
    sink.setFailureRate(options.inject?.alertErrorRate ?? 0, options.seed);
    const kinesisThrottleRate = options.inject?.kinesisThrottleRate ?? 0;
    kinesisProxy =
      kinesisThrottleRate > 0
        ? await startKinesisFaultProxy({
            target: kinesis.endpoint,
            throttleRate: kinesisThrottleRate,
            seed: options.seed,
          })
        : undefined;
    endpointProxy = sageMaker ? await startEndpointOutage(sageMaker.url, options) : undefined;
    runtime = options.inject?.handlerCrash
      ? createCrashingRuntime({ ...options.inject.handlerCrash, seed: options.seed })
      : undefined;
    // The validator reaches S3 through the fault proxy when one is injected; the rule's error
    // action, the mapping's on-failure destination and the audit talk to S3 directly, as AWS
    // services would (and outside the validator's runtime, whose crashes are not theirs).
    const clients = createValidatorClients({
      ...sink.clientOverrides,
      ...s3.clientOverrides,
      ...(proxy && { s3Endpoint: proxy.endpoint }),
    });
    const directS3 = proxy || runtime ? createValidatorClients(s3.clientOverrides).s3 : clients.s3;
    clients.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'PutObjectCommand')
          putTimes.set((args.input as { Key: string }).Key, Date.now());
        return result;
      },
      { step: 'initialize', name: 'twinPutTimes' },
    );
    // The rule's PutRecords and the mapping's reads both go through the throttling proxy.
    const kinesisClient = kinesis.createClient(kinesisProxy && { endpoint: kinesisProxy.endpoint });
    const bridge = createRuleBridge({
      ruleName: TWIN_RULE_NAME,
      kinesis: kinesisClient,
      streamName: kinesis.streamName,
      s3: directS3,
      failuresBucket: TWIN_BUCKETS.failures,
    });
    startedBroker = broker = await startIotBroker({
      ruleName: TWIN_RULE_NAME,
      isRegisteredThing: options.isRegisteredThing,
      onMessage: (message) => {
        bridge.accept(message);
        options.onBrokerMessage?.(message);
      },
      ...(options.ports?.mqtt !== undefined && { port: options.ports.mqtt }),
      ...(options.mqttHost !== undefined && { host: options.mqttHost }),
      ...(options.brokerTls && { tls: options.brokerTls }),
      ...(options.onBrokerRefusal && { onRefusal: options.onBrokerRefusal }),
    });

    // Built once, as a Lambda execution environment builds it: the baseline cache, the devices'
    // signal history and the circuit breaker last the whole run.
    let scoring: AnomalyScoring | undefined;
    if (sageMaker) {
      sageMakerClient = createSageMakerRuntimeClient({
        ...s3.clientOverrides,
        sageMakerRuntimeEndpoint: endpointProxy?.endpoint ?? sageMaker.url,
      });
      scoring = tallied(
        createAnomalyScoring({
          endpointName: TWIN_ANOMALY_ENDPOINT,
          curatedBucket: TWIN_BUCKETS.curated,
          s3: clients.s3,
          sageMakerRuntime: sageMakerClient,
          breaker: new CircuitBreaker(),
        }),
        tally,
      );
    }
    if (runtime) {
      const crashPoint = { step: 'initialize', name: 'twinCrashingRuntime' } as const;
      clients.s3.middlewareStack.add(runtime.middleware, crashPoint);
      clients.eventBridge.middlewareStack.add(runtime.middleware, crashPoint);
      clients.sns.middlewareStack.add(runtime.middleware, crashPoint);
      sageMakerClient?.middlewareStack.add(runtime.middleware, crashPoint);
    }
    const crashing = runtime;
    const validator = createHandler(() => ({
      rawBucket: TWIN_BUCKETS.raw,
      quarantineBucket: TWIN_BUCKETS.quarantine,
      alertBusName: TWIN_ALERT_BUS,
      criticalAlertTopicArn: TWIN_CRITICAL_TOPIC,
      clients,
      ...(scoring && { scoring }),
    }));
    // The same event source mapping settings as the dev stage deploys.
    const stage = buildStageConfig('dev').validator;
    const mapping = createEventSourceMapping({
      kinesis: kinesisClient,
      stream: {
        streamArn: kinesis.streamArn,
        region: kinesis.region,
        executionRoleArn: 'arn:aws:iam::000000000000:role/sdap-twin-validator',
      },
      functionArn: TWIN_FUNCTION_ARN,
      handler: (event) => {
        const invoke = () => validator(event, lambdaContext('sdap-twin-validator', TWIN_FUNCTION_ARN));
        return crashing ? crashing.invoke(invoke) : invoke();
      },
      startingPosition: 'TRIM_HORIZON',
      batchSize: stage.batchSize,
      maximumBatchingWindowMs: stage.maxBatchingWindowSeconds * 1000,
      reportBatchItemFailures: true,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: stage.retryAttempts,
      maximumRecordAgeSeconds: stage.maxRecordAgeSeconds,
      uuid: MAPPING_UUID,
      pollIntervalMs: POLL_INTERVAL_MS,
      onFailure: async (failure) => {
        await directS3.send(
          new PutObjectCommand({
            Bucket: TWIN_BUCKETS.failures,
            Key: onFailureObjectKey(MAPPING_UUID, failure),
            Body: JSON.stringify(failure),
          }),
        );
      },
    });
    await mapping.start();
    wiring = {
      bridge,
      mapping,
      directS3,
      drain: async ({ timeoutMs = 300_000 } = {}) => {
        await bridge.drain();
        await mapping.drain({ timeoutMs });
      },
      stopMapping: () => mapping.stop(),
    };
  } catch (error) {
    await Promise.allSettled([closeProxies(), startedBroker?.close(), closeStandIns()]);
    throw error;
  }

  const started = { ...wiring, broker, kinesis, s3, sink, sageMaker };
  return {
    ...started,
    async audit(published, sentAt) {
      const lake = await readLake(started.directS3, TWIN_BUCKETS, putTimes);
      const conservation = checkConservation(published, lake);
      const latenciesMs: number[] = [];
      for (const [eventId, at] of sentAt) {
        const written = lake.raw.get(eventId);
        if (written) latenciesMs.push(written.writtenAtMs - at);
      }
      latenciesMs.sort((a, b) => a - b);
      return { lake, conservation, latenciesMs };
    },
    counters() {
      const mappingStats = started.mapping.stats();
      return {
        injected: {
          s3PutErrors: proxy?.stats.failed ?? 0,
          alertCallErrors: sink.failedCalls,
          handlerCrashes: runtime?.stats.crashes ?? 0,
          kinesisPutRecordsThrottled: kinesisProxy?.throttled.putRecordsEntries ?? 0,
          kinesisGetRecordsThrottled: kinesisProxy?.throttled.getRecordsCalls ?? 0,
          endpointCallErrors: endpointProxy?.stats.failed ?? 0,
        },
        broker: {
          publishesAccepted: broker.stats.publishesAccepted,
          publishesRefused: broker.stats.publishesRefused,
          connectionsRefused: broker.stats.connectionsRefused,
        },
        stream: {
          recordsPut: started.bridge.stats.recordsPut,
          putRetries: started.bridge.stats.putRetries,
          ruleErrorActions: started.bridge.stats.errorActions,
        },
        validator: {
          invocations: mappingStats.invocations,
          recordsProcessed: mappingStats.recordsProcessed,
          retries: mappingStats.retries,
          bisects: mappingStats.bisects,
          functionErrors: mappingStats.functionErrors,
          recordsToFailureDestination: mappingStats.recordsToDestination,
        },
        scoring: {
          mode: modelPath === null ? 'rules-only' : 'model',
          endpoint: modelPath === null ? null : TWIN_ANOMALY_ENDPOINT,
          model: modelPath ?? noModelNote(options),
          batchesScored: tally.batchesScored,
          rowsScored: tally.rowsScored,
          rowsRulesOnly: tally.rowsRulesOnly,
          rulesOnlyBatchesByReason: { ...tally.rulesOnlyBatchesByReason },
          modelAlerts: sink.events.filter((e) => (e.detail as { rule?: string }).rule === 'model_anomaly')
            .length,
        },
      };
    },
    async close() {
      await Promise.all([broker.close(), sink.close(), closeProxies()]);
      sageMakerClient?.destroy();
      await sageMaker?.close();
      await kinesis.close();
      await s3.close();
    },
  };
}

/** A proxy in front of the SageMaker runtime when an endpoint outage is injected. */
async function startEndpointOutage(
  url: string,
  options: TwinPipelineOptions,
): Promise<FaultProxy | undefined> {
  const outage = options.inject?.endpointOutage;
  if (!outage) return undefined;
  return startFaultProxy({
    target: url,
    failureRate: outage.rate ?? 0,
    seed: options.seed,
    matches: (request) => request.method === 'POST',
    answer: outage.error === 'ModelNotReady' ? SAGEMAKER_MODEL_NOT_READY : SAGEMAKER_SERVICE_UNAVAILABLE,
    ...(outage.calls !== undefined && {
      outage: { fromRequest: outage.fromCall ?? 1, requests: outage.calls },
    }),
  });
}

/** The anomaly model the twin serves: the option, else the committed model when it exists. */
function anomalyModelOf(options: TwinPipelineOptions): string | null {
  if (options.anomalyModelPath !== undefined) return options.anomalyModelPath;
  const committed = committedModelPath('anomaly');
  return existsSync(committed) ? committed : null;
}

function noModelNote(options: TwinPipelineOptions): string {
  return options.anomalyModelPath === null
    ? 'none: scoring turned off'
    : `none: no trained model at ${committedModelPath('anomaly')}`;
}

interface ScoringTally {
  batchesScored: number;
  rowsScored: number;
  rowsRulesOnly: number;
  rulesOnlyBatchesByReason: Partial<Record<RulesOnlyReason, number>>;
}

function newScoringTally(): ScoringTally {
  return { batchesScored: 0, rowsScored: 0, rowsRulesOnly: 0, rulesOnlyBatchesByReason: {} };
}

/** The scoring with its scorer's results counted for the summary (the same scorer underneath). */
function tallied(scoring: AnomalyScoring, tally: ScoringTally): AnomalyScoring {
  const { scorer } = scoring;
  const count = <T extends Awaited<ReturnType<typeof scorer.score>>>(rows: number, result: T): T => {
    if (rows === 0) return result;
    if (result.outcome === 'scored') {
      tally.batchesScored++;
      tally.rowsScored += rows;
    } else {
      tally.rowsRulesOnly += rows;
      tally.rulesOnlyBatchesByReason[result.reason] =
        (tally.rulesOnlyBatchesByReason[result.reason] ?? 0) + 1;
    }
    return result;
  };
  return {
    ...scoring,
    scorer: {
      endpointName: scorer.endpointName,
      threshold: scorer.threshold,
      score: async (rows) => count(rows.length, await scorer.score(rows)),
      rulesOnly: (rows, reason, detail, attempts) =>
        count(rows, scorer.rulesOnly(rows, reason, detail, attempts)),
    },
  };
}

/** The parts of a run's summary that come from reading the lake back, as both twin modes report them. */
export function auditFigures({ lake, conservation, latenciesMs }: PipelineAudit) {
  return {
    outcome: {
      valid: conservation.valid,
      quarantined: conservation.quarantined,
      quarantinedByReason: conservation.quarantinedByReason,
      deadLettered: conservation.deadLettered,
      duplicateCopiesInRaw: conservation.rawDuplicateCopies,
      rawObjects: lake.rawObjects,
    },
    latencyMs: {
      p50: percentile(latenciesMs, 0.5),
      p99: percentile(latenciesMs, 0.99),
      max: latenciesMs.at(-1) ?? 0,
      samples: latenciesMs.length,
    },
    conservation: {
      holds: conservation.holds,
      published: conservation.published,
      missing: conservation.missing,
      unexpected: conservation.unexpected,
      missingExamples: conservation.missingExamples,
    },
  };
}

/** The summary's line of injected failures, or none when nothing was injected. */
export function formatInjected(injected: PipelineCounters['injected']): string[] {
  const parts = [
    [injected.s3PutErrors, 'S3 PUTs failed with 503'],
    [injected.alertCallErrors, 'alert calls failed with 500'],
    [injected.handlerCrashes, 'validator invocations killed'],
    [injected.kinesisPutRecordsThrottled, 'PutRecords entries throttled'],
    [injected.kinesisGetRecordsThrottled, 'GetRecords calls throttled'],
    [injected.endpointCallErrors, 'endpoint calls failed'],
  ] as const;
  const happened = parts.filter(([count]) => (count ?? 0) > 0).map(([count, what]) => `${count} ${what}`);
  return happened.length === 0 ? [] : [`  injected       ${happened.join(', ')}`];
}

/** The anomaly scoring's line of a summary (a twin run's or a serving session's). */
export function formatScoring(s: ScoringCounters): string {
  if (s.mode === 'rules-only') return `  scoring        rules only (model: ${s.model})`;
  const reasons = Object.entries(s.rulesOnlyBatchesByReason)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return `  scoring        endpoint ${s.endpoint} (${s.model}): ${s.rowsScored} readings scored in ${s.batchesScored} batches, ${s.rowsRulesOnly} left to the rules${reasons ? ` (batches: ${reasons})` : ''}; model alerts ${s.modelAlerts}`;
}

/** The value at quantile `q` of ascending `sorted` (0 when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** How often each value occurs. */
export function countBy(values: readonly string[]): Record<string, number> {
  return values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1;
    return acc;
  }, {});
}

/** The twin's SageMaker runtime: where the SDK client points, and how to stop it. */
export interface SageMakerStandIn {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The SageMaker runtime, in a child process like kinesalite and s3rver when `inChildProcess`: it
 * scores every batch's rows through the model's trees, work that would otherwise share the twin's
 * thread with the broker, the event source mapping and the validator.
 */
async function startSageMakerStandIn(
  settings: SageMakerRuntimeOptions,
  inChildProcess: boolean,
): Promise<SageMakerStandIn> {
  const server = await startEmulator('sagemaker', settings, inChildProcess);
  return { url: `http://127.0.0.1:${server.port}`, close: () => server.close() };
}
