/**
 * The twin's alert sink: one loopback HTTP server that answers the two APIs the validator calls
 * for alerts, as the AWS SDK speaks them — EventBridge `PutEvents` (JSON 1.1, `X-Amz-Target:
 * AWSEvents.PutEvents`) and SNS `Publish` (the Query protocol: a form-encoded POST, an XML answer).
 * It keeps what it receives so the twin can count alerts and tests can assert them.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientOverrides } from '../lambdas/shared/aws-clients.ts';
import { Random } from '../simulator/random.ts';

export interface ReceivedEvent {
  readonly eventBusName: string;
  readonly source: string;
  readonly detailType: string;
  readonly detail: unknown;
  readonly time?: string;
}

export interface ReceivedNotification {
  readonly topicArn: string;
  readonly subject?: string;
  readonly message: string;
}

export interface AlertsSink {
  readonly endpoint: string;
  /** Client settings for the project's client factories (EventBridge and SNS to this sink). */
  readonly clientOverrides: Pick<
    ClientOverrides,
    'eventBridgeEndpoint' | 'snsEndpoint' | 'region' | 'credentials'
  >;
  readonly events: readonly ReceivedEvent[];
  readonly notifications: readonly ReceivedNotification[];
  /**
   * Fails this share (0..1) of calls with a 5xx, as a degraded service would, drawn at random
   * from a seeded generator (so a retry can fail again, and a seed repeats the pattern).
   */
  setFailureRate(share: number, seed?: number): void;
  /** Calls answered with an injected failure so far. */
  readonly failedCalls: number;
  close(): Promise<void>;
}

export async function startAlertsSink(options: { port?: number } = {}): Promise<AlertsSink> {
  const events: ReceivedEvent[] = [];
  const notifications: ReceivedNotification[] = [];
  let failureRate = 0;
  let draws = Random.fromSeed(1).derive('alerts-sink');

  let failedCalls = 0;
  const shouldFail = () => {
    const fail = failureRate > 0 && draws.next() < failureRate;
    if (fail) failedCalls++;
    return fail;
  };

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const target = req.headers['x-amz-target'];
    if (target === 'AWSEvents.PutEvents') {
      if (shouldFail()) return jsonError(res, 500, 'InternalException', 'injected failure');
      const request = JSON.parse(body) as { Entries?: Array<Record<string, string | undefined>> };
      const entries = request.Entries ?? [];
      for (const entry of entries) {
        events.push({
          eventBusName: entry.EventBusName ?? 'default',
          source: entry.Source ?? '',
          detailType: entry.DetailType ?? '',
          detail: JSON.parse(entry.Detail ?? 'null'),
          ...(entry.Time !== undefined && { time: String(entry.Time) }),
        });
      }
      return json(res, { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) });
    }
    const form = new URLSearchParams(body);
    if (form.get('Action') === 'Publish') {
      if (shouldFail()) return xmlError(res, 500, 'InternalError', 'injected failure');
      const subject = form.get('Subject');
      notifications.push({
        topicArn: form.get('TopicArn') ?? '',
        message: form.get('Message') ?? '',
        ...(subject !== null && { subject }),
      });
      res.writeHead(200, { 'content-type': 'text/xml' });
      return res.end(
        `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
      );
    }
    jsonError(
      res,
      400,
      'UnknownOperationException',
      `the alerts sink answers only PutEvents and Publish, not ${target ?? form.get('Action') ?? 'this request'}`,
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    clientOverrides: {
      region: 'us-east-1',
      credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
      eventBridgeEndpoint: endpoint,
      snsEndpoint: endpoint,
    },
    events,
    notifications,
    get failedCalls() {
      return failedCalls;
    },
    setFailureRate(share, seed = 1) {
      if (!(share >= 0 && share <= 1))
        throw new Error(`failure rate: received ${share}, expected a number from 0 to 1`);
      failureRate = share;
      draws = Random.fromSeed(seed).derive('alerts-sink');
    },
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify(body));
}

function jsonError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ __type: type, message }));
}

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(
    `<ErrorResponse><Error><Type>Receiver</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  );
}
