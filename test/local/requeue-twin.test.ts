/**
 * `sdap requeue` on a twin output, against the real stand-ins and the unchanged validator: readings
 * are quarantined by a first session, then requeued; what is valid now reaches the raw zone, what is
 * still invalid is quarantined again, and the ETL's de-duplication keeps one copy of every reading.
 *
 * The "fix" is time itself, which is what the contract judges a device clock against: readings
 * dated a few seconds beyond the 5-minute clock tolerance are rejected as `timestamp_in_future` on
 * arrival, and are valid once that moment has passed. Out-of-range values and a payload that is not
 * JSON stay invalid, whenever they are requeued.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_CLOCK_AHEAD_MS, type Reading, telemetryTopic } from '../../lambdas/shared/contract.ts';
import { listKeys } from '../../lambdas/shared/s3-listing.ts';
import { backfillLake } from '../../local/etl/lake-backfill.ts';
import { getObject } from '../../local/etl/lake-io.ts';
import { applyTelemetryRule } from '../../local/iot-rule.ts';
import { startS3StandIn } from '../../local/s3-stand-in.ts';
import { startTwinPipeline, TWIN_BUCKETS } from '../../local/twin-pipeline.ts';
import type { RequeueReport } from '../../ops/requeue-command.ts';
import { requeueCommand } from '../../ops/requeue-command.ts';
import { makeReading } from '../support/readings.ts';
import { putRecords } from './kinesis-test-kit.ts';

/** How far beyond the clock tolerance the "fast clock" readings are dated. */
const AHEAD_OF_TOLERANCE_MS = 3_000;

async function requeue(args: string[]): Promise<{ code: number; report: RequeueReport; errors: string[] }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await requeueCommand([...args, '--json'], {
    print: (line) => lines.push(line),
    printError: (line) => errors.push(line),
    // The anomaly model is not under test: the validator runs its rules only.
    twin: { anomalyModelPath: null },
  });
  return { code, report: code === 2 ? ({} as RequeueReport) : JSON.parse(lines.join('\n')), errors };
}

/** The rule's record for a device's message, as the twin's rule bridge puts it. */
function ruleRecord(deviceId: string, payload: string, receivedAtMs: number) {
  const out = applyTelemetryRule(telemetryTopic(deviceId), Buffer.from(payload), receivedAtMs);
  if (!out) throw new Error(`no rule output for ${deviceId}`);
  return { data: out.data, partitionKey: out.partitionKey };
}

async function putAll(kinesis: KinesisClient, streamName: string, records: ReturnType<typeof ruleRecord>[]) {
  await putRecords(kinesis, streamName, records);
}

/** Every raw line's event id (one entry per copy) and every quarantine key, read from the lake's files. */
async function lakeContents(outDir: string): Promise<{ rawEventIds: string[]; quarantineKeys: string[] }> {
  const s3Stand = await startS3StandIn({
    buckets: Object.values(TWIN_BUCKETS),
    directory: join(outDir, 'lake'),
  });
  try {
    const { createValidatorClients } = await import('../../lambdas/shared/aws-clients.ts');
    const s3 = createValidatorClients(s3Stand.clientOverrides).s3;
    const rawEventIds: string[] = [];
    for (const key of await listKeys(s3, TWIN_BUCKETS.raw, 'telemetry/')) {
      const body = (await getObject(s3, TWIN_BUCKETS.raw, key)) ?? Buffer.alloc(0);
      for (const line of gunzipSync(body).toString('utf8').split('\n')) {
        if (line) rawEventIds.push((JSON.parse(line) as { eventId: string }).eventId);
      }
    }
    return { rawEventIds, quarantineKeys: await listKeys(s3, TWIN_BUCKETS.quarantine, 'rejected/') };
  } finally {
    await s3Stand.close();
  }
}

describe('sdap requeue on a twin output', () => {
  let outDir: string;
  let window: { from: string; to: string };
  const future: Reading[] = [];
  let control: Reading;
  let partlyValid: Reading;

  beforeAll(async () => {
    // Prepare: a first session quarantines readings with the unchanged validator.
    outDir = await mkdtemp(join(tmpdir(), 'requeue-twin-'));
    const startedMs = Date.now();
    const pipeline = await startTwinPipeline({
      outDir,
      shards: 1,
      seed: 1,
      isRegisteredThing: () => true,
      anomalyModelPath: null,
      emulatorsInChildProcesses: false,
    });
    try {
      const nowMs = Date.now();
      const at = (ms: number) => new Date(ms).toISOString();
      const ahead = at(nowMs + MAX_CLOCK_AHEAD_MS + AHEAD_OF_TOLERANCE_MS);
      future.push(
        makeReading('sensor', 1, ahead, 'sensor-fast-1'),
        makeReading('sensor', 2, ahead, 'sensor-fast-2'),
      );
      control = makeReading('sensor', 3, at(nowMs), 'sensor-ok');
      partlyValid = makeReading('thermostat', 4, at(nowMs), 'thermostat-1');
      const tooHot = { ...makeReading('thermostat', 5, at(nowMs), 'thermostat-1'), ambientTemperatureC: 99 };
      const alsoTooHot = {
        ...makeReading('thermostat', 6, at(nowMs), 'thermostat-2'),
        ambientTemperatureC: 99,
      };
      await putAll(pipeline.kinesis.createClient(), pipeline.kinesis.streamName, [
        ...future.map((r) => ruleRecord(r.deviceId, JSON.stringify(r), nowMs)),
        ruleRecord(control.deviceId, JSON.stringify(control), nowMs),
        ruleRecord(
          'thermostat-1',
          JSON.stringify({ schemaVersion: 1, readings: [partlyValid, tooHot] }),
          nowMs,
        ),
        ruleRecord('thermostat-2', JSON.stringify(alsoTooHot), nowMs),
        ruleRecord('sensor-garbled', '{"schemaVersion":1,"eventId":', nowMs),
      ]);
      await pipeline.drain({ timeoutMs: 30_000 });
    } finally {
      await pipeline.stopMapping();
      await pipeline.close();
    }
    window = { from: new Date(startedMs - 1000).toISOString(), to: new Date().toISOString() };
    // The devices' clock is right from here on: their readings are no longer in the future.
    const validFromMs = Date.parse(future[0]?.timestamp ?? '') - MAX_CLOCK_AHEAD_MS + 500;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, validFromMs - Date.now())));
  }, 60_000);

  it('lists what would be requeued, by reason, without writing anything (dry run)', async () => {
    const before = await lakeContents(outDir);

    const { code, report } = await requeue([
      '--out',
      outDir,
      '--from',
      window.from,
      '--to',
      window.to,
      '--dry-run',
    ]);

    expect(code).toBe(0);
    expect(report.dryRun).toBe(true);
    expect(report.run).toMatchObject({
      objectsMatched: 5,
      recordsPut: 0,
      readings: 6,
      rejectedByReason: { timestamp_in_future: 2, out_of_range: 2, not_json: 1 },
    });
    expect(report.outcome).toBeUndefined();
    expect(await lakeContents(outDir)).toEqual(before);
  });

  it('requeues only the reason asked for, and those readings come back valid', async () => {
    const { code, report } = await requeue([
      '--out',
      outDir,
      '--from',
      window.from,
      '--to',
      window.to,
      '--reason',
      'timestamp_in_future',
    ]);

    expect(code).toBe(0);
    expect(report.run).toMatchObject({ objectsMatched: 2, recordsPut: 2, notPut: [] });
    expect(report.outcome).toMatchObject({
      recordsProcessed: 2,
      cameBackValid: 2,
      quarantinedAgain: 0,
      newQuarantineObjects: [],
    });
    expect(report.outcome?.validEventIds).toEqual(future.map((r) => r.eventId).sort());
    const { rawEventIds } = await lakeContents(outDir);
    for (const reading of future) expect(rawEventIds).toContain(reading.eventId);
  }, 30_000);

  it('quarantines again what is still invalid, one new object per original, and leaves the originals', async () => {
    const before = await lakeContents(outDir);

    const { code, report } = await requeue(['--out', outDir, '--from', window.from, '--to', window.to]);

    expect(code).toBe(0);
    expect(report.run).toMatchObject({ objectsMatched: 5, recordsPut: 5, sameOriginalSkipped: 0 });
    expect(report.outcome).toMatchObject({
      recordsProcessed: 5,
      recordsUnaccounted: 0,
      // The fast clocks' readings again (valid now, as in the previous requeue).
      cameBackValid: 2,
      // The valid half of the mixed batch is written again with its batch.
      validAgain: 1,
      quarantinedAgain: 3,
      quarantinedAgainByReason: { out_of_range: 2, not_json: 1 },
    });
    const after = await lakeContents(outDir);
    expect(after.quarantineKeys).toEqual(expect.arrayContaining(before.quarantineKeys));
    expect(after.quarantineKeys).toHaveLength(before.quarantineKeys.length + 3);
    expect(report.outcome?.newQuarantineObjects).toEqual(
      after.quarantineKeys.filter((key) => !before.quarantineKeys.includes(key)),
    );
  }, 30_000);

  it("puts each original once when the window also holds an earlier requeue's copies", async () => {
    const { report } = await requeue([
      '--out',
      outDir,
      '--from',
      window.from,
      '--to',
      new Date().toISOString(),
    ]);

    expect(report.run).toMatchObject({ objectsMatched: 8, sameOriginalSkipped: 3, recordsPut: 5 });
    expect(report.outcome).toMatchObject({ quarantinedAgain: 3, cameBackValid: 2 });
  }, 30_000);

  it('doubles no reading downstream: the ETL keeps one copy of each eventId', async () => {
    const { rawEventIds } = await lakeContents(outDir);
    const validIds = [control, partlyValid, ...future].map((r) => r.eventId).sort();
    expect([...new Set(rawEventIds)].sort()).toEqual(validIds);
    // A requeued batch with the same readings in the same hour overwrites its raw object (the key is
    // a hash of the event ids); any other copy is an at-least-once redelivery the ETL drops.
    expect(rawEventIds.length).toBeGreaterThanOrEqual(validIds.length);

    const summary = await backfillLake({
      lakeDir: join(outDir, 'lake'),
      buckets: { raw: TWIN_BUCKETS.raw, quarantine: TWIN_BUCKETS.quarantine, curated: TWIN_BUCKETS.curated },
    });

    expect(summary.curatedRows).toBe(validIds.length);
    expect(summary.duplicatesRemoved).toBe(rawEventIds.length - validIds.length);
  }, 60_000);

  it('fails when the output directory holds no twin lake, naming it and what to do', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'requeue-empty-'));

    const { code, errors } = await requeue(['--out', empty, '--from', window.from]);

    expect(code).toBe(2);
    expect(errors.join('\n')).toMatch(/--out .*requeue-empty-.*: no twin lake there .*run sdap twin first/);
    expect(await readdir(empty)).toEqual([]);
  });
});
