/**
 * Publishes a simulation's messages over MQTT, one connection per device (client id = thing name,
 * as AWS IoT Core requires), at QoS 1. Targets a real AWS IoT Core endpoint (`mqtts://...:8883`)
 * or a serving twin (`mqtts://127.0.0.1:8883`) with a certificate and key per device and the
 * endpoint's CA (the Amazon root CA, or the twin's own), read from files; or a finite twin run's
 * broker (`mqtt://`, the username standing for the device certificate).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface DeviceCredentialFiles {
  /** Directory holding `<deviceId>.cert.pem` and `<deviceId>.private.key` for every device. */
  readonly certDir: string;
  /** The CA that signed the endpoint's server certificate (Amazon Root CA 1 for IoT Core). */
  readonly caFile: string;
}

export interface PublisherOptions {
  /** `mqtt://host:port` (twin) or `mqtts://<account>-ats.iot.<region>.amazonaws.com:8883`. */
  readonly url: string;
  /** Required for `mqtts://` endpoints. */
  readonly credentials?: DeviceCredentialFiles;
  /** Publishes awaiting their PUBACK at once, across devices. @default 512 */
  readonly maxInFlight?: number;
  /** How long a connection may take before the endpoint is reported unreachable. @default 10000 */
  readonly connectTimeoutMs?: number;
}

export interface OutgoingPublish {
  readonly deviceId: string;
  readonly topic: string;
  readonly payload: Buffer;
}

export interface FleetPublisher {
  /**
   * Publishes at QoS 1. Resolves with the wall time the message went to the socket, as soon as a
   * slot is free (at most `maxInFlight` unacknowledged); the PUBACK is awaited in the background.
   */
  publish(message: OutgoingPublish): Promise<number>;
  /** Waits for every outstanding PUBACK. */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: { connections: number; published: number; acked: number; failed: number };
  /** Why publishes failed (bounded), newest last. */
  readonly errors: string[];
}

/** A failure the user can act on: names the host or file, never a stack trace. */
const MAX_ERRORS_KEPT = 100;

export class PublisherError extends Error {
  override readonly name = 'PublisherError';
}

export function createFleetPublisher(options: PublisherOptions): FleetPublisher {
  const secure = options.url.startsWith('mqtts://');
  if (!secure && !options.url.startsWith('mqtt://')) {
    throw new PublisherError(
      `endpoint: received '${options.url}', expected mqtt://host:port or mqtts://host:port`,
    );
  }
  if (secure && !options.credentials) {
    throw new PublisherError(
      `endpoint ${options.url} uses TLS: give --cert-dir and --ca (device certificates)`,
    );
  }
  const maxInFlight = options.maxInFlight ?? 512;
  const clients = new Map<string, Promise<MqttClient>>();
  const inFlight = new Set<Promise<unknown>>();
  // Publishers waiting for a free slot, woken one per PUBACK. (Promise.race over every pending
  // publish re-subscribed to all of them each time the window was full: measured 2x slower.)
  const slotWaiters: Array<() => void> = [];
  const stats = { connections: 0, published: 0, acked: 0, failed: 0 };
  const errors: string[] = [];
  let ca: Promise<Buffer> | undefined;

  const readRequired = (file: string, what: string) =>
    readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new PublisherError(
        `${what} ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`,
      );
    });

  const connect = async (deviceId: string): Promise<MqttClient> => {
    const base: IClientOptions = {
      clientId: deviceId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
    };
    let tls: IClientOptions = { username: deviceId };
    if (secure && options.credentials) {
      const { certDir, caFile } = options.credentials;
      ca ??= readRequired(caFile, 'CA file');
      // One at a time, shared CA first: when several files are missing, the error always names the
      // same one (the one every device needs) instead of whichever read failed first.
      const caBytes = await ca;
      const cert = await readRequired(join(certDir, `${deviceId}.cert.pem`), 'device certificate');
      const key = await readRequired(join(certDir, `${deviceId}.private.key`), 'device key');
      tls = { cert, key, ca: caBytes, rejectUnauthorized: true };
    }
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(options.url, { ...base, ...tls });
      client.once('connect', () => {
        stats.connections++;
        resolve(client);
      });
      client.once('error', (error: Error & { code?: string | number }) => {
        client.end(true);
        const host = new URL(options.url).host;
        reject(
          new PublisherError(
            error.code === 'ECONNREFUSED' || error.code === 'ENOTFOUND'
              ? `cannot reach MQTT endpoint ${host} (${error.code})`
              : `device ${deviceId} could not connect to ${host}: ${error.message}`,
          ),
        );
      });
    });
  };

  const clientFor = (deviceId: string): Promise<MqttClient> => {
    let client = clients.get(deviceId);
    if (!client) {
      client = connect(deviceId);
      clients.set(deviceId, client);
    }
    return client;
  };

  return {
    stats,
    errors,
    async publish(message) {
      while (inFlight.size >= maxInFlight) await new Promise<void>((resolve) => slotWaiters.push(resolve));
      const client = await clientFor(message.deviceId);
      const sentAt = Date.now();
      stats.published++;
      const ack = new Promise<void>((resolve) => {
        client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
          if (error) {
            stats.failed++;
            errors.push(`publish by ${message.deviceId} to ${message.topic} failed: ${error.message}`);
            if (errors.length > MAX_ERRORS_KEPT) errors.shift();
          } else {
            stats.acked++;
          }
          resolve();
        });
      });
      const tracked: Promise<void> = ack.finally(() => {
        inFlight.delete(tracked);
        slotWaiters.shift()?.();
      });
      inFlight.add(tracked);
      return sentAt;
    },
    async flush() {
      await Promise.all(inFlight);
    },
    async close() {
      await Promise.all(inFlight);
      const all = await Promise.allSettled(clients.values());
      await Promise.all(
        all.map((r) =>
          r.status === 'fulfilled'
            ? new Promise<void>((resolve) => r.value.end(false, {}, () => resolve()))
            : undefined,
        ),
      );
      clients.clear();
    },
  };
}
