/**
 * A serving twin driven by clients nobody here wrote: Debian's `mosquitto_pub` over mutual TLS with
 * twin-issued certificates, and the AWS CLI against the Kinesis and S3 endpoints; then by the
 * project's own simulator publisher over the same certificates. Stopping it checks conservation
 * over everything it received.
 *
 * The two tools are installed by .ci/run. In CI a missing tool fails the suite; on a developer's
 * machine without them the suite is skipped with a message saying what to install.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorClients } from '../../lambdas/shared/aws-clients.ts';
import { basicIngestTopic, telemetryTopic } from '../../lambdas/shared/contract.ts';
import { issueDeviceCertificate, loadOrCreateCa, revokeDeviceCertificate } from '../../local/twin-ca.ts';
import { periodicBatchStage } from '../../local/twin-cli.ts';
import { TWIN_BUCKETS } from '../../local/twin-pipeline.ts';
import { type ServeEndpoints, type ServeSummary, serveTwin } from '../../local/twin-serve.ts';
import { createFleetPublisher } from '../../simulator/mqtt-publisher.ts';
import { simulateFleet } from '../../simulator/simulate.ts';
import { makeReading } from '../support/readings.ts';

const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
// Debian's AWS CLI by its path: another `aws` may come first on PATH.
const AWS_CLI = '/usr/bin/aws';
const TOOLS = [
  { path: MOSQUITTO_PUB, from: "Debian's mosquitto-clients" },
  { path: AWS_CLI, from: "Debian's awscli" },
];
const missing = TOOLS.filter((tool) => !existsSync(tool.path));
const inCi = process.env.CI !== undefined;
if (missing.length > 0 && !inCi) {
  console.warn(
    `skipping the serve-mode client tests: ${missing.map((t) => `${t.path} (${t.from})`).join(', ')} not installed; ` +
      'apt-get install mosquitto-clients awscli to run them (.ci/run installs them in CI)',
  );
}

const run = promisify(execFile);
async function tool(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number | string; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? `${e.code}`,
    };
  }
}

describe.skipIf(missing.length > 0 && !inCi)('sdap twin --serve with outside clients', () => {
  const abort = new AbortController();
  let outDir: string;
  let endpoints: ServeEndpoints;
  let serving: Promise<ServeSummary>;
  let s3: S3Client;
  let awsEnv: NodeJS.ProcessEnv;
  const now = () => new Date(Date.now() - 1000).toISOString();

  /** mosquitto_pub as `thing` (its certificate and key), connecting with `clientId`. */
  const mosquittoPub = (
    thing: string,
    clientId: string,
    topic: string,
    message: string,
    certsDir?: string,
  ) => {
    const dir = certsDir ?? endpoints.mqtt.devicesDirectory;
    return tool(MOSQUITTO_PUB, [
      ...['-h', '127.0.0.1', '-p', String(endpoints.mqtt.port)],
      ...['--cafile', endpoints.mqtt.caFile],
      ...['--cert', join(dir, `${thing}.cert.pem`), '--key', join(dir, `${thing}.private.key`)],
      ...['-i', clientId, '-q', '1', '-t', topic, '-m', message],
    ]);
  };
  const aws = (...args: string[]) => tool(AWS_CLI, args, awsEnv);

  /** The raw-zone line of `eventId`, once the validator has written it (undefined after `timeoutMs`). */
  async function rawLine(eventId: string, timeoutMs = 20_000): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    const read = new Set<string>();
    const lines = new Map<string, Record<string, unknown>>();
    while (Date.now() < deadline) {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: endpoints.s3.buckets.raw, Prefix: 'telemetry/' }),
      );
      for (const { Key } of page.Contents ?? []) {
        if (!Key || read.has(Key)) continue;
        read.add(Key);
        const body = await s3.send(new GetObjectCommand({ Bucket: endpoints.s3.buckets.raw, Key }));
        const text = gunzipSync((await body.Body?.transformToByteArray()) ?? new Uint8Array()).toString(
          'utf8',
        );
        for (const line of text.split('\n').filter(Boolean)) {
          const value = JSON.parse(line) as Record<string, unknown>;
          lines.set(String(value.eventId), value);
        }
      }
      const found = lines.get(eventId);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return undefined;
  }

  beforeAll(async () => {
    for (const { path, from } of missing)
      throw new Error(`${path} is missing: install ${from} (.ci/run does)`);
    outDir = await mkdtemp(join(tmpdir(), 'sdap-serve-'));
    const ca = await loadOrCreateCa(outDir);
    for (const thing of ['dev-a', 'dev-b', 'dev-revoked']) await issueDeviceCertificate(ca, thing);
    await revokeDeviceCertificate(ca, 'dev-revoked');
    const ready = new Promise<ServeEndpoints>((resolve) => {
      serving = serveTwin({
        outDir,
        shards: 2,
        ports: { mqtt: 0, kinesis: 0, s3: 0 },
        signal: abort.signal,
        onReady: resolve,
        // The seam the batch stage plugs into: here a stage that only lists the raw zone.
        periodic: [
          {
            name: 'lake-lister',
            intervalMs: 1000,
            run: async ({ s3: lake, buckets }) => {
              await lake.send(new ListObjectsV2Command({ Bucket: buckets.raw }));
            },
          },
          // The real batch stage, as `--batch-every` runs it, often enough to run during the tests.
          periodicBatchStage(5000, () => undefined),
        ],
      });
    });
    endpoints = await Promise.race([ready, serving.then(() => Promise.reject(new Error('stopped early')))]);
    s3 = createValidatorClients({
      region: endpoints.kinesis.region,
      credentials: { accessKeyId: endpoints.s3.accessKeyId, secretAccessKey: endpoints.s3.secretAccessKey },
      s3Endpoint: endpoints.s3.endpoint,
    }).s3;
    // The CLI reads nothing of the developer's own configuration.
    awsEnv = {
      AWS_ACCESS_KEY_ID: endpoints.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: endpoints.s3.secretAccessKey,
      AWS_REGION: endpoints.kinesis.region,
      AWS_CONFIG_FILE: join(outDir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(outDir, 'no-aws-credentials'),
      AWS_PAGER: '',
    };
  }, 60_000);

  afterAll(async () => {
    abort.abort();
    await serving?.catch(() => undefined);
  }, 60_000);

  describe('mosquitto_pub with a twin-issued certificate', () => {
    it('delivers a reading published to the thing’s own topic into the raw zone', async () => {
      const reading = makeReading('sensor', 1, now(), 'dev-a');

      const out = await mosquittoPub('dev-a', 'dev-a', telemetryTopic('dev-a'), JSON.stringify(reading));

      expect(out).toMatchObject({ code: 0 });
      const line = await rawLine(reading.eventId);
      expect(line).toMatchObject({ eventId: reading.eventId, deviceId: 'dev-a' });
      expect(line?.ingestBrokerReceivedAt).toEqual(expect.any(String));
    }, 30_000);

    it('delivers through the Basic Ingest topic too', async () => {
      const reading = makeReading('thermostat', 2, now(), 'dev-a');

      const out = await mosquittoPub(
        'dev-a',
        'dev-a',
        basicIngestTopic(endpoints.mqtt.ruleName, 'dev-a'),
        JSON.stringify(reading),
      );

      expect(out.code).toBe(0);
      expect(await rawLine(reading.eventId)).toMatchObject({ deviceId: 'dev-a' });
    }, 30_000);

    it("refuses a publish to another device's topic, and nothing of it lands", async () => {
      const spoof = makeReading('sensor', 3, now(), 'dev-b');

      const out = await mosquittoPub('dev-a', 'dev-a', telemetryTopic('dev-b'), JSON.stringify(spoof));

      expect(out.code).not.toBe(0);
      expect(await rawLine(spoof.eventId, 3000)).toBeUndefined();
    }, 30_000);

    it('refuses a client id that is not the certificate’s thing', async () => {
      const out = await mosquittoPub('dev-a', 'dev-b', telemetryTopic('dev-b'), '{}');

      expect(out.code).not.toBe(0);
      expect(out.stderr).toMatch(/not authori[sz]ed/i);
    }, 30_000);

    it('refuses a revoked certificate', async () => {
      const out = await mosquittoPub('dev-revoked', 'dev-revoked', telemetryTopic('dev-revoked'), '{}');

      expect(out.code).not.toBe(0);
      expect(out.stderr).toMatch(/not authori[sz]ed/i);
    }, 30_000);

    it('refuses a certificate that another CA signed (the TLS handshake fails)', async () => {
      const stranger = await mkdtemp(join(tmpdir(), 'sdap-stranger-ca-'));
      const otherCa = await loadOrCreateCa(stranger);
      const issued = await issueDeviceCertificate(otherCa, 'dev-a');

      const out = await mosquittoPub(
        'dev-a',
        'dev-a',
        telemetryTopic('dev-a'),
        '{}',
        join(issued.certFile, '..'),
      );

      expect(out.code).not.toBe(0);
    }, 30_000);
  });

  describe('the AWS CLI against the Kinesis and S3 endpoints', () => {
    it('puts a record on the stream that the validator checks and writes to the raw zone', async () => {
      const reading = makeReading('camera', 4, now(), 'dev-b');

      const out = await aws(
        ...['kinesis', 'put-record', '--endpoint-url', endpoints.kinesis.endpoint],
        ...['--stream-name', endpoints.kinesis.streamName, '--partition-key', 'dev-b'],
        ...['--cli-binary-format', 'raw-in-base64-out', '--data', JSON.stringify(reading)],
      );

      expect(out.stderr).toBe('');
      expect(JSON.parse(out.stdout)).toMatchObject({ ShardId: expect.stringMatching(/^shardId-/) });
      // No broker received it: the validator says so instead of inventing a time.
      expect(await rawLine(reading.eventId)).toMatchObject({
        deviceId: 'dev-b',
        ingestBrokerReceivedAt: null,
      });
    }, 30_000);

    it('quarantines a record that is not a reading', async () => {
      const out = await aws(
        ...['kinesis', 'put-record', '--endpoint-url', endpoints.kinesis.endpoint],
        ...['--stream-name', endpoints.kinesis.streamName, '--partition-key', 'dev-b'],
        ...['--cli-binary-format', 'raw-in-base64-out', '--data', 'not a reading'],
      );

      expect(out.code).toBe(0);
      const deadline = Date.now() + 20_000;
      let key: string | undefined;
      while (Date.now() < deadline && key === undefined) {
        const listed = await aws(
          ...['s3', 'ls', `s3://${endpoints.s3.buckets.quarantine}/`, '--recursive'],
          ...['--endpoint-url', endpoints.s3.endpoint],
        );
        key = listed.stdout.trim().split(/\s+/)[3];
      }
      const fetched = await aws(
        ...['s3', 'cp', `s3://${endpoints.s3.buckets.quarantine}/${key}`, '-'],
        ...['--endpoint-url', endpoints.s3.endpoint],
      );
      const document = JSON.parse(fetched.stdout) as {
        payloadBase64: string;
        rejections: Array<{ reasons: Array<{ code: string }> }>;
      };
      expect(Buffer.from(document.payloadBase64, 'base64').toString('utf8')).toBe('not a reading');
      expect(document.rejections[0]?.reasons[0]?.code).toBe('not_json');
    }, 60_000);

    it('lists and fetches the lake’s objects with s3 ls and s3 cp', async () => {
      const reading = makeReading('smart_lock', 5, now(), 'dev-b');
      await mosquittoPub('dev-b', 'dev-b', telemetryTopic('dev-b'), JSON.stringify(reading));
      expect(await rawLine(reading.eventId)).toBeDefined();

      const listed = await aws(
        ...['s3', 'ls', `s3://${endpoints.s3.buckets.raw}/telemetry/`, '--recursive'],
        ...['--endpoint-url', endpoints.s3.endpoint],
      );
      const keys = listed.stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/)[3])
        .filter((key): key is string => key?.endsWith('.ndjson.gz') ?? false);
      const target = join(outDir, 'fetched');
      const copied = await aws(
        ...['s3', 'cp', `s3://${endpoints.s3.buckets.raw}/`, target, '--recursive'],
        ...['--exclude', '*', '--include', 'telemetry/device_type=smart_lock/*'],
        ...['--endpoint-url', endpoints.s3.endpoint],
      );

      expect(listed.code).toBe(0);
      expect(keys.some((key) => key.includes('device_type=smart_lock/'))).toBe(true);
      expect(copied.code).toBe(0);
      const fetched = keys.filter((key) => key.includes('device_type=smart_lock/'));
      const texts = await Promise.all(
        fetched.map(async (key) => gunzipSync(await readFile(join(target, key))).toString('utf8')),
      );
      expect(texts.join('')).toContain(reading.eventId);
    }, 60_000);
  });

  describe("the project's own clients", () => {
    it('publishes a simulated fleet over twin-issued certificates, as to IoT Core', async () => {
      const sim = simulateFleet({ devices: 3, durationHours: 0.25, seed: 7, start: Date.now() - 900_000 });
      const ca = await loadOrCreateCa(outDir);
      for (const thing of sim.registry().things) await issueDeviceCertificate(ca, thing.thingName);
      const publisher = createFleetPublisher({
        url: endpoints.mqtt.url,
        credentials: { certDir: endpoints.mqtt.devicesDirectory, caFile: endpoints.mqtt.caFile },
      });
      let last: string | undefined;
      for (const message of sim) {
        await publisher.publish(message);
        if (!message.fault) last = message.eventIds.at(-1);
      }
      await publisher.close();

      expect(publisher.stats).toMatchObject({ connections: 3, failed: 0 });
      expect(last).toBeDefined();
      expect(await rawLine(last ?? '')).toBeDefined();
    }, 60_000);
  });

  describe('stopping', () => {
    it('has run the batch stage over what arrived, writing curated Parquet', async () => {
      const curated = await s3.send(new ListObjectsV2Command({ Bucket: TWIN_BUCKETS.curated }));

      expect((curated.Contents ?? []).some((o) => o.Key?.endsWith('.parquet'))).toBe(true);
    });

    it('drains, and accounts for every reading received over MQTT and from the stream', async () => {
      abort.abort();
      const summary = await serving;

      expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
      expect(summary.received.mqttMessages).toBeGreaterThan(3);
      expect(summary.received.streamRecords).toBe(2);
      expect(summary.outcome.quarantinedByReason.not_json ?? 0).toBeGreaterThanOrEqual(1);
      // The spoofed publish; the wrong client id, the revoked and the stranger's certificate.
      expect(summary.broker.publishesRefused).toBe(1);
      expect(summary.broker.connectionsRefused).toBe(3);
      expect(summary.periodic['lake-lister']?.runs).toBeGreaterThan(0);
      expect(summary.periodic['lake-lister']?.failures).toBe(0);
      expect(summary.periodic.batch?.runs).toBeGreaterThan(0);
      expect(summary.periodic.batch?.failures).toBe(0);
    }, 120_000);
  });
});
