/**
 * Each hop of the twin measured alone, on the same fleet the end-to-end runs publish: how many of
 * that fleet's readings per second one hop moves when it has the process to itself.
 *
 *   (0) simulator      generate the fleet's MQTT messages (the load generator; in a run it has a worker
 *                      thread of its own, here it is timed on this one)
 *   (a) publish        the fleet worker (simulator + MQTT publisher on their thread) -> the twin's
 *                      broker on this thread, up to every PUBACK (no-op rule), as in runTwin
 *   (b) rule bridge    the topic rule -> kinesalite PutRecords, up to every record on the stream
 *   (c) read           the event source mapping reading the stream (b) filled, with a no-op function
 *   (d) validate       the same mapping invoking the real validator handler -> s3rver + alert sink
 *   (e) S3 PUT         the validator's own objects of (d), written to s3rver by `executePlan`
 *   (f) alerts         the validator's alerts of (d), sent to the sink by `executePlan`
 *   (g) handler CPU    `planBatch` over the events of (d): decode, validate, enrich, gzip; no I/O
 *
 * (a), (b) and (d) are disjoint stages of an end-to-end run on the twin's thread; (c), (e), (f) and
 * (g) are parts of (d); (0) runs beside them, on the fleet worker. Each hop is checked before its number counts: every message accepted, every record put,
 * processed, every object written, and conservation of readings across (d).
 */

import { performance } from 'node:perf_hooks';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { KinesisStreamEvent } from 'aws-lambda';
import { createValidatorClients, type ValidatorClients } from '../lambdas/shared/aws-clients.ts';
import {
  type BatchPlan,
  executePlan,
  planBatch,
  type ValidatorTargets,
} from '../lambdas/validator/process-batch.ts';
import { buildStageConfig } from '../lib/config.ts';
import { startAlertsSink } from '../local/alerts-sink.ts';
import { createEventSourceMapping, onFailureObjectKey } from '../local/event-source-mapping.ts';
import { createPublishLog, startFleetWorker } from '../local/fleet-worker.ts';
import { startIotBroker } from '../local/iot-broker.ts';
import { startKinesisStandIn } from '../local/kinesis-stand-in.ts';
import { checkConservation, readLake } from '../local/lake-audit.ts';
import { importValidatorQuietly, lambdaContext } from '../local/lambda-runtime.ts';
import { createRuleBridge } from '../local/rule-bridge.ts';
import { startS3StandIn } from '../local/s3-stand-in.ts';
import { TWIN_BUCKETS, TWIN_RULE_NAME } from '../local/twin.ts';
import { type OutgoingMessage, simulateFleet } from '../simulator/simulate.ts';

export const HOP_IDS = [
  'simulate',
  'publish',
  'bridge',
  'read',
  'validate',
  's3Put',
  'alerts',
  'plan',
] as const;
export type HopId = (typeof HOP_IDS)[number];

/**
 * The disjoint stages of an end-to-end run on the twin's thread, in pipeline order: their times add
 * up there. The simulator (0) is not one: it runs on the fleet worker.
 */
export const PIPELINE_HOPS: readonly HopId[] = ['publish', 'bridge', 'validate'];

export const HOP_LABELS: Readonly<Record<HopId, string>> = {
  simulate: '(0) simulator: generate the messages',
  publish: '(a) fleet worker (sim + publish) -> broker',
  bridge: '(b) rule bridge -> kinesalite PutRecords',
  read: '(c) mapping reads the stream, no-op fn',
  validate: '(d) mapping + validator + s3rver + sink',
  s3Put: '(e) s3rver PUT of the validator objects',
  alerts: '(f) alert sink: PutEvents + Publish',
  plan: '(g) handler CPU only (planBatch)',
};

/** Wall time, process CPU time and main-thread event-loop utilisation of one hop. */
export interface HopMeasure {
  readonly wallMs: number;
  /** User + system CPU of the whole process: the main thread, libuv's pool and V8's GC helpers. */
  readonly cpuMs: number;
  /** Share of the wall time the event loop was busy (1 = the JavaScript thread never waited). */
  readonly elu: number;
}

export interface HopRound {
  readonly messages: number;
  readonly readings: number;
  readonly hops: Readonly<Record<HopId, HopMeasure>>;
  /** Every check that failed, as a sentence; empty when the round's numbers can be trusted. */
  readonly problems: readonly string[];
  /** Objects and alerts the validator wrote in (d), for the report. */
  readonly objects: number;
  readonly alerts: number;
  readonly invocations: number;
}

export interface HopRoundOptions {
  readonly devices: number;
  readonly hours: number;
  readonly readingsPerMessage: number;
  readonly seed: number;
  readonly shards: number;
  /** Scratch directory for the s3rver stand-ins (emptied by the caller). */
  readonly directory: string;
  readonly collectGarbage?: () => void;
}

const ALERT_BUS = 'sdap-bench-alerts';
const CRITICAL_TOPIC = 'arn:aws:sns:us-east-1:000000000000:sdap-bench-critical-alerts';
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:sdap-bench-validator';
const DRAIN_TIMEOUT_MS = 300_000;

async function measure<T>(
  collectGarbage: (() => void) | undefined,
  work: () => Promise<T> | T,
): Promise<{ result: T; measure: HopMeasure }> {
  collectGarbage?.();
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    result,
    measure: {
      wallMs,
      cpuMs: (used.user + used.system) / 1000,
      elu: performance.eventLoopUtilization(elu).utilization,
    },
  };
}

/** One round of every hop, in pipeline order; (b) fills the stream that (c) and (d) read. */
export async function measureHopRound(options: HopRoundOptions): Promise<HopRound> {
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };
  const gc = options.collectGarbage;
  const { createHandler } = await importValidatorQuietly();

  // (0) Fleet time ends now, as in runTwin, so that device timestamps pass the validator's clock checks.
  const fleet = {
    devices: options.devices,
    durationHours: options.hours,
    seed: options.seed,
    readingsPerMessage: options.readingsPerMessage,
    start: Math.floor(Date.now() - options.hours * 3_600_000),
  };
  const simulate = await measure(gc, () => {
    const sim = simulateFleet(fleet);
    return {
      messages: [...sim] as OutgoingMessage[],
      things: new Set(sim.registry().things.map((t) => t.thingName)),
    };
  });
  const { messages, things } = simulate.result;
  const readings = new Set(messages.flatMap((m) => m.eventIds)).size;

  // (a) As in runTwin: the same fleet published from the fleet worker, the broker on this thread.
  let accepted = 0;
  const broker = await startIotBroker({
    ruleName: TWIN_RULE_NAME,
    isRegisteredThing: (name) => things.has(name),
    onMessage: () => {
      accepted++;
    },
  });
  const fleetWorker = startFleetWorker({ simulation: fleet });
  const sent = createPublishLog();
  const publish = await (async () => {
    try {
      // Its start (a Node thread, tsx, the fleet built) is not the hop's: the twin overlaps it.
      await fleetWorker.ready;
      return await measure(gc, () => fleetWorker.publish({ url: broker.url, speed: 0 }, sent));
    } finally {
      await fleetWorker.close();
      await broker.close();
    }
  })();
  expect(
    accepted === messages.length && sent.published.length === messages.length,
    `(a) the fleet worker sent ${sent.published.length} and the broker accepted ${accepted} of ${messages.length} messages`,
  );

  const lakeDirectory = `${options.directory}/lake`;
  // As in runTwin: the emulators in child processes, everything else in this one.
  const s3 = await startS3StandIn({
    buckets: Object.values(TWIN_BUCKETS),
    directory: lakeDirectory,
    inChildProcess: true,
  });
  const sink = await startAlertsSink();
  const kinesis = await startKinesisStandIn({ shardCount: options.shards, inChildProcess: true });
  const kinesisClient = kinesis.createClient();
  const clients = createValidatorClients({ ...sink.clientOverrides, ...s3.clientOverrides });
  let putsClient: ValidatorClients | undefined;
  let puts: Awaited<ReturnType<typeof startS3StandIn>> | undefined;
  try {
    // (b) Everything at once: the bridge then sends back-to-back PutRecords calls, its capacity.
    const bridge = createRuleBridge({
      ruleName: TWIN_RULE_NAME,
      kinesis: kinesisClient,
      streamName: kinesis.streamName,
      s3: clients.s3,
      failuresBucket: TWIN_BUCKETS.failures,
    });
    const bridged = await measure(gc, async () => {
      for (const message of messages) {
        bridge.accept({
          topic: message.topic,
          payload: message.payload,
          receivedAtMs: Date.now(),
          clientId: message.deviceId,
        });
      }
      await bridge.drain();
    });
    expect(
      bridge.stats.recordsPut === messages.length && bridge.stats.errorActions === 0,
      `(b) ${bridge.stats.recordsPut} of ${messages.length} records put, ${bridge.stats.errorActions} to the error action`,
    );

    // The dev stage's mapping settings, as runTwin uses them, but no batching window: on a stream
    // that is already full every batch fills at once, and the window would only add a wait of up to
    // a second before the last, partial batch of each shard.
    const stage = buildStageConfig('dev').validator;
    const mappingOptions = {
      kinesis: kinesisClient,
      stream: {
        streamArn: kinesis.streamArn,
        region: kinesis.region,
        executionRoleArn: 'arn:aws:iam::000000000000:role/sdap-bench-validator',
      },
      functionArn: FUNCTION_ARN,
      startingPosition: 'TRIM_HORIZON' as const,
      batchSize: stage.batchSize,
      maximumBatchingWindowMs: 0,
      reportBatchItemFailures: true,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: stage.retryAttempts,
      maximumRecordAgeSeconds: stage.maxRecordAgeSeconds,
      pollIntervalMs: 1000,
    };

    // (c)
    const reader = createEventSourceMapping({
      ...mappingOptions,
      uuid: 'bench-read',
      handler: async () => ({ batchItemFailures: [] }),
    });
    const read = await measure(gc, async () => {
      await reader.start();
      await reader.drain({ timeoutMs: DRAIN_TIMEOUT_MS });
    });
    await reader.stop();
    expect(
      reader.stats().recordsProcessed === messages.length,
      `(c) the mapping read ${reader.stats().recordsProcessed} of ${messages.length} records`,
    );

    // (d)
    const targets: ValidatorTargets = {
      rawBucket: TWIN_BUCKETS.raw,
      quarantineBucket: TWIN_BUCKETS.quarantine,
      alertBusName: ALERT_BUS,
      criticalAlertTopicArn: CRITICAL_TOPIC,
    };
    const validator = createHandler(() => ({ ...targets, clients }));
    const events: KinesisStreamEvent[] = [];
    const mapping = createEventSourceMapping({
      ...mappingOptions,
      uuid: 'bench-validate',
      handler: (event) => {
        events.push(event);
        return validator(event, lambdaContext('sdap-bench-validator', FUNCTION_ARN));
      },
      onFailure: async (failure) => {
        await clients.s3.send(
          new PutObjectCommand({
            Bucket: TWIN_BUCKETS.failures,
            Key: onFailureObjectKey('bench-validate', failure),
            Body: JSON.stringify(failure),
          }),
        );
      },
    });
    const validate = await measure(gc, async () => {
      await mapping.start();
      await mapping.drain({ timeoutMs: DRAIN_TIMEOUT_MS });
    });
    await mapping.stop();
    const stats = mapping.stats();
    expect(
      stats.recordsProcessed === messages.length && stats.functionErrors === 0 && stats.retries === 0,
      `(d) ${stats.recordsProcessed} of ${messages.length} records processed, ${stats.functionErrors} function errors, ${stats.retries} retries`,
    );
    const lake = await readLake(clients.s3, TWIN_BUCKETS);
    const conservation = checkConservation(messages, lake);
    expect(
      conservation.holds && conservation.published === readings,
      `(d) conservation fails: ${conservation.missing} readings missing, ${conservation.unexpected} unexpected`,
    );

    // (e)-(g) replay the validator's own batches of (d). (g) first: its plans feed (e) and (f).
    let plans: BatchPlan[] = [];
    const plan = await measure(gc, () => {
      plans = events.map((event) => planBatch(event, targets));
    });
    const objects = plans.reduce((n, p) => n + p.objects.length, 0);
    const alerts = plans.reduce((n, p) => n + p.alerts.length, 0);

    puts = await startS3StandIn({
      buckets: Object.values(TWIN_BUCKETS),
      directory: `${options.directory}/s3-put`,
      inChildProcess: true,
    });
    putsClient = createValidatorClients({ ...sink.clientOverrides, ...puts.clientOverrides });
    const writeDeps = { ...targets, clients: putsClient };
    // As in (d): one batch in flight per shard, the writes of a batch in parallel.
    const replay = async (only: 'objects' | 'alerts') => {
      let failed = 0;
      await Promise.all(
        Array.from({ length: options.shards }, async (_, lane) => {
          for (let i = lane; i < plans.length; i += options.shards) {
            const batch = plans[i] as BatchPlan;
            const outcome = await executePlan(
              only === 'objects' ? { ...batch, alerts: [] } : { ...batch, objects: [] },
              writeDeps,
            );
            failed += outcome.failed.length;
          }
        }),
      );
      return failed;
    };
    const s3Put = await measure(gc, () => replay('objects'));
    expect(s3Put.result === 0, `(e) ${s3Put.result} records failed their S3 writes`);
    const eventsBefore = sink.events.length;
    const alertsSent = await measure(gc, () => replay('alerts'));
    expect(
      alertsSent.result === 0 && sink.events.length - eventsBefore === alerts,
      `(f) ${sink.events.length - eventsBefore} of ${alerts} alerts received, ${alertsSent.result} records failed`,
    );

    return {
      messages: messages.length,
      readings,
      hops: {
        simulate: simulate.measure,
        publish: publish.measure,
        bridge: bridged.measure,
        read: read.measure,
        validate: validate.measure,
        s3Put: s3Put.measure,
        alerts: alertsSent.measure,
        plan: plan.measure,
      },
      problems,
      objects,
      alerts,
      invocations: stats.invocations,
    };
  } finally {
    for (const client of [clients, putsClient]) {
      client?.s3.destroy();
      client?.eventBridge.destroy();
      client?.sns.destroy();
    }
    await sink.close();
    await kinesis.close();
    await s3.close();
    await puts?.close();
  }
}
