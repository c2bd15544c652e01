/**
 * The twin's broker enforces the IoT policy: tested with a real MQTT client (mqtt.js) over TCP,
 * and over mutual TLS with certificates from the twin's CA.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicIngestTopic, telemetryTopic } from '../../lambdas/shared/contract.ts';
import { type IotBroker, startIotBroker } from '../../local/iot-broker.ts';
import {
  identifyDevice,
  issueDeviceCertificate,
  issueServerCertificate,
  loadOrCreateCa,
  readRevokedSync,
  revokeDeviceCertificate,
} from '../../local/twin-ca.ts';

const RULE = 'sdap_twin_telemetry';
const THINGS = Array.from({ length: 20 }, (_, i) => `sensor-${String(i).padStart(3, '0')}`);
const received: Array<{ topic: string; clientId: string; payload: string }> = [];
let broker: IotBroker;

beforeAll(async () => {
  broker = await startIotBroker({
    ruleName: RULE,
    isRegisteredThing: (name) => THINGS.includes(name),
    onMessage: ({ topic, clientId, payload }) =>
      received.push({ topic, clientId, payload: payload.toString() }),
  });
});
afterAll(async () => {
  await broker.close();
});

/** Connects; resolves with the client, or rejects with the CONNACK refusal. */
function connect(clientId: string, username: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(broker.url, {
      clientId,
      username,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
  });
}

/** Publishes at QoS 1; resolves 'acked' on PUBACK or 'closed' when the broker drops the connection. */
function publish(client: MqttClient, topic: string, payload: string): Promise<'acked' | 'closed'> {
  return new Promise((resolve) => {
    client.once('close', () => resolve('closed'));
    client.publish(topic, payload, { qos: 1 }, (error) => resolve(error ? 'closed' : 'acked'));
  });
}

describe('twin IoT broker authorisation', () => {
  it('accepts a registered thing publishing to its own topic and to its Basic Ingest topic', async () => {
    const client = await connect('sensor-001', 'sensor-001');
    expect(await publish(client, telemetryTopic('sensor-001'), 'direct')).toBe('acked');
    expect(await publish(client, basicIngestTopic(RULE, 'sensor-001'), 'basic-ingest')).toBe('acked');
    client.end(true);
    expect(received.filter((m) => m.clientId === 'sensor-001').map((m) => m.payload)).toEqual([
      'direct',
      'basic-ingest',
    ]);
  });

  it('refuses every connection whose client id is not its thing name', async () => {
    const before = broker.stats.connectionsRefused;
    const attempts = THINGS.map((thing, i) => ({
      clientId: THINGS[(i + 1) % THINGS.length] ?? '',
      username: thing,
    }));
    const outcomes = await Promise.all(
      attempts.map(({ clientId, username }) =>
        connect(clientId, username).then(
          (c) => {
            c.end(true);
            return 'connected';
          },
          (e: Error) => e.message,
        ),
      ),
    );
    expect(outcomes.every((o) => /Not authorized/i.test(o))).toBe(true);
    expect(broker.stats.connectionsRefused - before).toBe(THINGS.length);
  });

  it('refuses a thing that is not in the registry', async () => {
    await expect(connect('stranger-1', 'stranger-1')).rejects.toThrow(/Not authorized/i);
    expect(broker.stats.refusals.at(-1)).toContain("thing 'stranger-1' is not registered");
  });

  it("refuses every publish to another device's topic and delivers none of them", async () => {
    const countBefore = received.length;
    const outcomes: string[] = [];
    for (const [i, thing] of THINGS.entries()) {
      const other = THINGS[(i + 7) % THINGS.length] ?? '';
      const client = await connect(thing, thing);
      const target = i % 2 === 0 ? telemetryTopic(other) : basicIngestTopic(RULE, other);
      outcomes.push(await publish(client, target, `spoof from ${thing}`));
      client.end(true);
    }
    expect(outcomes).toEqual(THINGS.map(() => 'closed'));
    expect(received.length).toBe(countBefore);
    expect(broker.stats.refusals.at(-1)).toMatch(/may publish only to dt\/sdap\/sensor-\d+\/telemetry/);
  });

  it('refuses topics outside the telemetry scheme and subscriptions', async () => {
    const client = await connect('sensor-002', 'sensor-002');
    expect(await publish(client, 'dt/sdap/sensor-002/commands', 'x')).toBe('closed');
    client.end(true);
    const subscriber = await connect('sensor-003', 'sensor-003');
    const granted = await new Promise<unknown>((resolve) => {
      subscriber.once('close', () => resolve('closed'));
      subscriber.subscribe(telemetryTopic('sensor-004'), { qos: 1 }, (error, grants) =>
        resolve(error ? 'closed' : grants?.[0]?.qos),
      );
    });
    subscriber.end(true);
    expect([128, 'closed']).toContain(granted);
  });
});

describe('twin IoT broker over mutual TLS', () => {
  let tlsBroker: IotBroker;
  let caPem: string;
  let devicesDir: string;
  const tlsReceived: Array<{ clientId: string; payload: string }> = [];

  beforeAll(async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'sdap-broker-tls-'));
    const ca = await loadOrCreateCa(outDir);
    for (const thing of ['meter-1', 'meter-2', 'meter-revoked']) await issueDeviceCertificate(ca, thing);
    await revokeDeviceCertificate(ca, 'meter-revoked');
    devicesDir = join(ca.directory, 'devices');
    caPem = ca.certPem;
    const server = await issueServerCertificate(ca);
    tlsBroker = await startIotBroker({
      ruleName: RULE,
      isRegisteredThing: (name) => name.startsWith('meter-'),
      onMessage: ({ clientId, payload }) => tlsReceived.push({ clientId, payload: payload.toString() }),
      tls: {
        cert: server.certPem,
        key: server.keyPem,
        ca: ca.certPem,
        identify: (certificate) => identifyDevice(certificate, readRevokedSync(ca.directory)),
      },
    });
  });
  afterAll(async () => {
    await tlsBroker.close();
  });

  /** Connects with `thing`'s certificate (or none), as `clientId`. */
  async function connectTls(clientId: string, thing?: string, username?: string): Promise<MqttClient> {
    const credentials = thing
      ? {
          cert: await readFile(join(devicesDir, `${thing}.cert.pem`)),
          key: await readFile(join(devicesDir, `${thing}.private.key`)),
        }
      : {};
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(tlsBroker.url, {
        clientId,
        ...(username !== undefined && { username }),
        ca: caPem,
        ...credentials,
        rejectUnauthorized: true,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      client.once('connect', () => resolve(client));
      client.once('error', (error) => {
        client.end(true);
        reject(error);
      });
    });
  }

  it('takes the thing from the certificate and accepts its own topics', async () => {
    const client = await connectTls('meter-1', 'meter-1');

    expect(tlsBroker.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    expect(await publish(client, telemetryTopic('meter-1'), 'over tls')).toBe('acked');
    client.end(true);
    expect(tlsReceived).toContainEqual({ clientId: 'meter-1', payload: 'over tls' });
  });

  it("ignores the MQTT username: another thing's name there does not change who the device is", async () => {
    const client = await connectTls('meter-1', 'meter-1', 'meter-2');

    expect(await publish(client, telemetryTopic('meter-2'), 'spoof')).toBe('closed');
    client.end(true);
    expect(tlsReceived.map((m) => m.payload)).not.toContain('spoof');
  });

  it("refuses a client id that is not the certificate's thing", async () => {
    await expect(connectTls('meter-2', 'meter-1')).rejects.toThrow(/Not authorized/i);
    expect(tlsBroker.stats.refusals.at(-1)).toContain("client id 'meter-2' is not the thing name 'meter-1'");
  });

  it('refuses a revoked certificate', async () => {
    await expect(connectTls('meter-revoked', 'meter-revoked')).rejects.toThrow(/Not authorized/i);
    expect(tlsBroker.stats.refusals.at(-1)).toMatch(
      /certificate [0-9A-F]+ of thing 'meter-revoked' is revoked/,
    );
  });

  it('refuses a client without a certificate during the TLS handshake', async () => {
    const before = tlsBroker.stats.connectionsRefused;

    await expect(connectTls('meter-1')).rejects.toThrow();

    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(tlsBroker.stats.connectionsRefused).toBe(before + 1);
    expect(tlsBroker.stats.refusals.at(-1)).toContain('TLS handshake refused');
  });
});
