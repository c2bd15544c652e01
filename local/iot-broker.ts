/**
 * The twin's AWS IoT Core: an aedes MQTT broker on loopback whose authentication and authorisation
 * hooks enforce what the deployed IoT policy allows (see lib/ingestion/device-gateway.ts):
 *   - connect only with a client id equal to a registered thing name;
 *   - publish only to that thing's telemetry topic, directly or through its Basic Ingest topic;
 *   - nothing else (no subscriptions, no other topics).
 * A refused publish closes the connection, as IoT Core disconnects a client that violates its policy.
 *
 * Who the device is: with `tls` (serve mode), the broker speaks MQTT over mutual TLS as IoT Core's
 * device endpoint does. Only client certificates signed by the given CA complete the handshake, and
 * the certificate names the thing (see twin-ca.ts); the MQTT username is ignored. Without `tls`
 * (a finite twin run, plain TCP on loopback), the MQTT username stands for the certificate's thing.
 * Either way the client id must equal the thing name.
 */

import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer, type PeerCertificate, TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError } from 'aedes';
import { basicIngestTopic, telemetryTopic } from '../lambdas/shared/contract.ts';

export interface IotBrokerOptions {
  /** The registry: is this a thing the account knows? */
  readonly isRegisteredThing: (thingName: string) => boolean;
  /** The topic rule's name, which devices use in their Basic Ingest topic. */
  readonly ruleName: string;
  /** Called for every authorised publish, with the broker's receive time. */
  readonly onMessage: (message: {
    topic: string;
    payload: Buffer;
    receivedAtMs: number;
    clientId: string;
  }) => void;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** MQTT over mutual TLS instead of plain TCP. */
  readonly tls?: BrokerTls;
  /** Told every refusal as it happens (where IoT Core would log to CloudWatch). */
  readonly onRefusal?: (reason: string) => void;
}

/** The broker's side of mutual TLS. */
export interface BrokerTls {
  /** The broker's certificate and key (PEM). */
  readonly cert: string;
  readonly key: string;
  /** The CA that signs device certificates (PEM): the only one the broker trusts. */
  readonly ca: string;
  /**
   * The thing a verified device certificate belongs to, or why the certificate is refused although
   * the CA signed it (revoked). Asked at every connect.
   */
  readonly identify: (certificate: PeerCertificate) => { thingName: string } | { refused: string };
}

export interface BrokerStats {
  connectionsAccepted: number;
  connectionsRefused: number;
  publishesAccepted: number;
  publishesRefused: number;
  /** Why connections and publishes were refused, newest last (bounded). */
  readonly refusals: string[];
}

export interface IotBroker {
  readonly url: string;
  readonly port: number;
  readonly stats: BrokerStats;
  close(): Promise<void>;
}

const MAX_REFUSALS_KEPT = 100;
/** CONNACK return code 5 (MQTT 3.1.1): not authorised. */
const NOT_AUTHORIZED = 5;

export async function startIotBroker(options: IotBrokerOptions): Promise<IotBroker> {
  const stats: BrokerStats = {
    connectionsAccepted: 0,
    connectionsRefused: 0,
    publishesAccepted: 0,
    publishesRefused: 0,
    refusals: [],
  };
  const refuse = (reason: string) => {
    options.onRefusal?.(reason);
    stats.refusals.push(reason);
    if (stats.refusals.length > MAX_REFUSALS_KEPT) stats.refusals.shift();
  };

  const broker = await Aedes.createBroker({
    // IoT thing names are up to 128 characters; MQTT 3.1's 23-character limit does not apply.
    maxClientsIdLength: 128,
    authenticate(client, username, _password, done) {
      const identity = identify(client.conn, username);
      const thing = 'thingName' in identity ? identity.thingName : '';
      const problem =
        'refused' in identity
          ? identity.refused
          : thing !== client.id
            ? `client id '${client.id}' is not the thing name '${thing}' (the policy allows client/\${iot:Connection.Thing.ThingName} only)`
            : !options.isRegisteredThing(thing)
              ? `thing '${thing}' is not registered`
              : undefined;
      if (problem) {
        stats.connectionsRefused++;
        refuse(`connect refused: ${problem}`);
        return done(
          Object.assign(new Error(problem), { returnCode: NOT_AUTHORIZED }) as AuthenticateError,
          false,
        );
      }
      stats.connectionsAccepted++;
      done(null, true);
    },
    authorizePublish(client, packet, callback) {
      const thing = client?.id ?? '';
      const allowed = [telemetryTopic(thing), basicIngestTopic(options.ruleName, thing)];
      if (!client || !allowed.includes(packet.topic)) {
        stats.publishesRefused++;
        refuse(
          `publish refused: '${thing}' may publish only to ${allowed.join(' or ')}, not '${packet.topic}'`,
        );
        return callback(new Error(`not authorised to publish to ${packet.topic}`));
      }
      stats.publishesAccepted++;
      options.onMessage({
        topic: packet.topic,
        payload: Buffer.from(packet.payload),
        receivedAtMs: Date.now(),
        clientId: thing,
      });
      callback(null);
    },
    authorizeSubscribe(client, subscription, callback) {
      refuse(`subscribe refused: '${client.id}' may not subscribe to '${subscription.topic}'`);
      callback(new Error('devices may not subscribe'), null);
    },
  });

  /** The thing the connection authenticates as: its certificate's, or (plain TCP) its username. */
  const identify = (
    conn: unknown,
    username: string | undefined,
  ): { thingName: string } | { refused: string } => {
    if (!options.tls) return { thingName: username ?? '' };
    if (!(conn instanceof TLSSocket)) return { refused: 'the connection is not TLS' };
    // rejectUnauthorized has already refused certificates the CA did not sign.
    return options.tls.identify(conn.getPeerCertificate());
  };

  const tls = options.tls;
  const server: Server = tls
    ? createTlsServer(
        {
          cert: tls.cert,
          key: tls.key,
          ca: [tls.ca],
          requestCert: true,
          rejectUnauthorized: true,
          // IoT Core accepts TLS 1.2 and later.
          minVersion: 'TLSv1.2',
        },
        broker.handle,
      )
    : createServer(broker.handle);
  if (tls) {
    // A handshake that fails (no certificate, or one the CA did not sign) never reaches MQTT.
    server.on('tlsClientError', (error: Error & { reason?: string }) => {
      stats.connectionsRefused++;
      // OpenSSL's reason ("peer did not return a certificate") reads better than its full message.
      refuse(`TLS handshake refused: ${error.reason ?? error.message.trim()}`);
    });
  }
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `${tls ? 'mqtts' : 'mqtt'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    stats,
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}
