/**
 * `sdap requeue`: its flags, and the deployed-stage path against the real S3 and Kinesis APIs
 * (s3rver, kinesalite). Only the stack's outputs lookup is mocked (CloudFormation has no stand-in).
 * The quarantine objects are the ones the validator's own plan writes for rejected records.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { telemetryTopic } from '../../lambdas/shared/contract.ts';
import { planBatch } from '../../lambdas/validator/process-batch.ts';
import { applyTelemetryRule } from '../../local/iot-rule.ts';
import { buildKinesisEvent } from '../../local/kinesis-event.ts';
import { type KinesisStandIn, startKinesisStandIn } from '../../local/kinesis-stand-in.ts';
import { type S3StandIn, startS3StandIn } from '../../local/s3-stand-in.ts';
import {
  parseArrivalWindow,
  parseRequeueArgs,
  REQUEUE_OUTPUTS,
  type RequeueReport,
  requeueCommand,
} from '../../ops/requeue-command.ts';
import { readShard } from '../local/kinesis-test-kit.ts';
import { makeReading } from '../support/readings.ts';
import { resetMocks, stackWithOutputs, testDeps } from './support.ts';

const NOW = Date.parse('2026-11-27T14:20:05Z');

describe('parseRequeueArgs', () => {
  it('takes whole hours or instants with a zone, and makes --to one hour after --from by default', () => {
    const parsed = parseRequeueArgs(['--from', '2026-11-27T10Z'], NOW);

    expect(parsed).toMatchObject({
      target: { kind: 'twin', outDir: expect.stringMatching(/out\/twin$/) },
      selection: {
        fromMs: Date.parse('2026-11-27T10:00:00Z'),
        toMs: Date.parse('2026-11-27T11:00:00Z'),
        reasons: [],
      },
      dryRun: false,
    });
    expect(parseArrivalWindow('2026-11-27T11:15:30.250+01:00', '2026-11-27T10:45:00Z', NOW)).toEqual({
      fromMs: Date.parse('2026-11-27T10:15:30.250Z'),
      toMs: Date.parse('2026-11-27T10:45:00Z'),
    });
  });

  it('ends the window now when --to is later (what the requeue quarantines again is not read back)', () => {
    expect(parseArrivalWindow('2026-11-27T14:00:00Z', '2026-11-27T18:00:00Z', NOW).toMs).toBe(NOW);
  });

  it('takes a stage, repeated reasons once each, --dry-run and --region', () => {
    const parsed = parseRequeueArgs(
      [
        '--stage',
        'dev',
        '--from',
        '2026-11-27T10:00:00Z',
        '--reason',
        'out_of_range',
        '--reason',
        'out_of_range',
        '--reason',
        'schema_violation',
        '--dry-run',
        '--region',
        'eu-west-1',
      ],
      NOW,
    );

    expect(parsed).toMatchObject({
      target: { kind: 'stage', stage: 'dev' },
      region: 'eu-west-1',
      selection: { reasons: ['out_of_range', 'schema_violation'] },
      dryRun: true,
    });
  });

  it.each([
    [[], '--from: missing, expected the first arrival instant to requeue'],
    [['--from', 'yesterday'], "--from: received 'yesterday', expected an ISO 8601 instant with a zone"],
    [
      ['--from', '2026-11-27T10:00:00'],
      "--from: received '2026-11-27T10:00:00', expected an ISO 8601 instant with a zone",
    ],
    [
      ['--from', '2026-11-27T10:00:00Z', '--to', '2026-11-27T09:00:00Z'],
      "--to: received '2026-11-27T09:00:00Z', expected an instant after --from (2026-11-27T10:00:00.000Z)",
    ],
    [
      ['--from', '2026-11-27T15:00:00Z'],
      "--from: received '2026-11-27T15:00:00Z', expected an instant before now (2026-11-27T14:20:05.000Z)",
    ],
    [
      ['--from', '2026-11-20T14:00:00Z'],
      "--from: received '2026-11-20T14:00:00Z', expected no earlier than 2026-11-20T14:20:05.000Z: readings that arrived more than 7 days ago are rejected again as timestamp_too_old",
    ],
    [
      ['--from', '2026-11-27T10Z', '--reason', 'bad_clock'],
      "--reason: received 'bad_clock', expected one of too_large, bad_gzip, not_utf8",
    ],
    [
      ['--from', '2026-11-27T10Z', '--stage', 'dev', '--out', 'out/twin'],
      "--out: received 'out/twin' together with --stage dev, expected one target",
    ],
    [['--from', '2026-11-27T10Z', '--stage', 'qa'], "--stage: received 'qa', expected one of dev, prod"],
    [['--from', '2026-11-27T10Z', '--region', 'eu-west-1'], "--region: received 'eu-west-1' without --stage"],
    [
      ['--from', '2026-11-27T10Z', '--stage', 'dev', '--region', 'Ireland'],
      "--region: received 'Ireland', expected an AWS region name",
    ],
    [['--from', '2026-11-27T10Z', '--shard', '1'], "Unknown option '--shard'"],
  ])('fails for %j, naming the flag, the value and what is expected', async (args, message) => {
    const { deps, err } = testDeps(NOW);

    const code = await requeueCommand(args, deps);

    expect(code).toBe(2);
    expect(err()).toContain(`sdap requeue: ${message}`);
    expect(err()).toContain('usage: sdap requeue');
  });
});

describe('sdap requeue --stage (S3 and Kinesis APIs of the emulators; stack outputs mocked)', () => {
  const QUARANTINE_BUCKET = 'sdap-dev-lake-quarantine-1a2b3c';
  const STREAM = 'sdap-dev-telemetry';
  let s3Stand: S3StandIn;
  let kinesisStand: KinesisStandIn;
  let s3: S3Client;
  /** The stream records the validator quarantined: the rule's bytes and partition keys. */
  const originals: Array<{ data: Buffer; partitionKey: string }> = [];
  let window: { from: string; to: string };

  beforeAll(async () => {
    [s3Stand, kinesisStand] = await Promise.all([
      startS3StandIn({ buckets: [QUARANTINE_BUCKET] }),
      startKinesisStandIn({ streamName: STREAM, shardCount: 2 }),
    ]);
    s3 = createValidatorClients(s3Stand.clientOverrides).s3;
    // Prepare: what the validator wrote for rejected records that arrived ten minutes ago.
    const arrivalMs = Date.now() - 600_000;
    const timestamp = new Date(arrivalMs - 1000).toISOString();
    const payloads = [
      [
        'thermostat-7',
        JSON.stringify({
          ...makeReading('thermostat', 1, timestamp, 'thermostat-7'),
          ambientTemperatureC: 99,
        }),
      ],
      ['camera-3', JSON.stringify({ ...makeReading('camera', 2, timestamp, 'camera-3'), fps: 500 })],
      ['sensor-9', '{"schemaVersion":1,"readings":['],
      ['sensor-4', JSON.stringify(makeReading('sensor', 3, timestamp, 'sensor-4'))],
    ] as const;
    const records = payloads.map(([deviceId, payload], i) => {
      const rule = applyTelemetryRule(telemetryTopic(deviceId), Buffer.from(payload), arrivalMs - 50);
      if (!rule) throw new Error('rule did not match');
      return {
        data: rule.data,
        partitionKey: rule.partitionKey,
        sequenceNumber: `4960000000000000000000000000000000000000000000000${i}`,
        approximateArrivalMs: arrivalMs,
        shardId: 'shardId-000000000000',
      };
    });
    const event = buildKinesisEvent(records, {
      streamArn: `arn:aws:kinesis:eu-west-1:111122223333:stream/${STREAM}`,
      region: 'eu-west-1',
      executionRoleArn: 'arn:aws:iam::111122223333:role/validator',
    });
    const plan = planBatch(event, {
      rawBucket: 'unused-raw',
      quarantineBucket: QUARANTINE_BUCKET,
      alertBusName: 'unused',
      criticalAlertTopicArn: 'unused',
    });
    for (const object of plan.objects.filter((o) => o.bucket === QUARANTINE_BUCKET)) {
      await s3.send(new PutObjectCommand({ Bucket: object.bucket, Key: object.key, Body: object.body }));
      const index = object.recordIndices[0] ?? -1;
      const record = records[index];
      if (record) originals.push({ data: record.data, partitionKey: record.partitionKey });
    }
    window = {
      from: new Date(arrivalMs - 60_000).toISOString(),
      to: new Date(arrivalMs + 60_000).toISOString(),
    };
  });

  afterAll(async () => {
    await Promise.all([s3Stand?.close(), kinesisStand?.close()]);
  });

  afterEach(resetMocks);

  async function run(args: string[]) {
    stackWithOutputs({
      [REQUEUE_OUTPUTS.quarantineBucket]: QUARANTINE_BUCKET,
      [REQUEUE_OUTPUTS.stream]: STREAM,
    });
    const { deps, out, err } = testDeps(Date.now());
    const code = await requeueCommand(['--stage', 'dev', '--from', window.from, '--to', window.to, ...args], {
      ...deps,
      s3,
      kinesis: kinesisStand.createClient(),
    });
    return { code, out: out(), err: err() };
  }

  async function streamRecords() {
    const client = kinesisStand.createClient();
    const shards = await Promise.all(kinesisStand.shardIds.map((shard) => readShard(client, STREAM, shard)));
    return shards.flat();
  }

  it('lists what would be requeued by reason and puts nothing (dry run)', async () => {
    const { code, out } = await run(['--dry-run']);

    expect(code).toBe(0);
    expect(originals).toHaveLength(3);
    expect(out).toContain(
      'sdap requeue (dry run): stage dev (Sdap-dev), quarantine s3://sdap-dev-lake-quarantine-1a2b3c',
    );
    expect(out).toMatch(
      /matched {6}3 quarantine objects, 3 readings \(rejected: out_of_range 2, not_json 1\)/,
    );
    expect(out).toContain('would put    3 records; nothing was written');
    expect(await streamRecords()).toEqual([]);
  });

  it('puts each quarantined original back once, byte for byte as the rule put it, partition key = device id', async () => {
    const { code, out } = await run(['--json']);

    expect(code).toBe(0);
    const report = JSON.parse(out) as RequeueReport;
    expect(report.target).toEqual({
      kind: 'stage',
      stage: 'dev',
      stackName: 'Sdap-dev',
      quarantineBucket: QUARANTINE_BUCKET,
      streamName: STREAM,
    });
    expect(report.run).toMatchObject({ objectsMatched: 3, recordsPut: 3, notPut: [] });
    const onStream = await streamRecords();
    const byPartitionKey = (a: { partitionKey: string }, b: { partitionKey: string }) =>
      a.partitionKey.localeCompare(b.partitionKey);
    expect(
      onStream
        .map((r) => ({ data: Buffer.from(r.Data ?? []), partitionKey: r.PartitionKey ?? '' }))
        .sort(byPartitionKey),
    ).toEqual([...originals].sort(byPartitionKey));
    expect(report.run.records.map((r) => r.sequenceNumber).sort()).toEqual(
      onStream.map((r) => r.SequenceNumber).sort(),
    );
  });

  it('puts only the objects with the reason asked for, and says how to check the outcome', async () => {
    const before = (await streamRecords()).length;

    const { code, out } = await run(['--reason', 'not_json']);

    expect(code).toBe(0);
    expect(out).toContain('put          1 records on sdap-dev-telemetry');
    expect(out).toMatch(
      /check {8}.*s3:\/\/sdap-dev-lake-quarantine-1a2b3c\/rejected\/ingest_date=.*<shardId>-<sequenceNumber>\.json/,
    );
    expect(out).toContain('ReadingsValid and ReadingsQuarantined');
    expect((await streamRecords()).length).toBe(before + 1);
  });

  it('exits 1 and names the records Kinesis kept refusing, after retrying only those', async () => {
    stackWithOutputs({
      [REQUEUE_OUTPUTS.quarantineBucket]: QUARANTINE_BUCKET,
      [REQUEUE_OUTPUTS.stream]: STREAM,
    });
    // Fault injection on one client: the partition key thermostat-7 is always throttled.
    const throttled = kinesisStand.createClient();
    const fault = mockClient(throttled);
    fault.on(PutRecordsCommand).callsFake((input: { Records?: Array<{ PartitionKey?: string }> }) => ({
      FailedRecordCount: 1,
      Records: (input.Records ?? []).map((entry, i) =>
        entry.PartitionKey === 'thermostat-7'
          ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' }
          : { ShardId: 'shardId-000000000000', SequenceNumber: `49${i}` },
      ),
    }));
    const { deps, out } = testDeps(Date.now());

    const code = await requeueCommand(['--stage', 'dev', '--from', window.from, '--to', window.to], {
      ...deps,
      s3,
      kinesis: throttled,
      putAttempts: 3,
    });

    expect(code).toBe(1);
    expect(out()).toContain(
      'put          2 records on sdap-dev-telemetry; 1 not put (e.g. ProvisionedThroughputExceededException: Rate exceeded for shard)',
    );
    const sent = fault
      .commandCalls(PutRecordsCommand)
      .map((call) => (call.args[0].input.Records ?? []).map((r) => r.PartitionKey));
    expect(sent).toEqual([['thermostat-7', 'camera-3', 'sensor-9'], ['thermostat-7'], ['thermostat-7']]);
    fault.restore();
  });

  it('exits 1 when a whole call fails, sends nothing after it, and says a rerun is safe', async () => {
    stackWithOutputs({
      [REQUEUE_OUTPUTS.quarantineBucket]: QUARANTINE_BUCKET,
      [REQUEUE_OUTPUTS.stream]: STREAM,
    });
    const broken = kinesisStand.createClient();
    const fault = mockClient(broken);
    fault
      .on(PutRecordsCommand)
      .rejects(Object.assign(new Error('Access denied'), { name: 'AccessDeniedException' }));
    const { deps, out } = testDeps(Date.now());

    const code = await requeueCommand(['--stage', 'dev', '--from', window.from, '--to', window.to], {
      ...deps,
      s3,
      kinesis: broken,
    });

    expect(code).toBe(1);
    expect(out()).toContain(
      'put          0 records on sdap-dev-telemetry; 3 not put (e.g. unknown (the call failed',
    );
    expect(out()).toContain(
      'stopped      a PutRecords call failed (AccessDeniedException: Access denied); 0 more records not sent. Running the same window again is safe',
    );
    expect(fault.commandCalls(PutRecordsCommand)).toHaveLength(1);
    fault.restore();
  });

  it('fails when the stack lacks the outputs it needs, naming the stack and what to do', async () => {
    stackWithOutputs({ [REQUEUE_OUTPUTS.quarantineBucket]: QUARANTINE_BUCKET });
    const { deps, err } = testDeps(Date.now());

    const code = await requeueCommand(['--stage', 'dev', '--from', window.from], { ...deps, s3 });

    expect(code).toBe(1);
    expect(err()).toMatch(/stack Sdap-dev \(UPDATE_COMPLETE\) has no output TelemetryStreamName/);
  });
});
