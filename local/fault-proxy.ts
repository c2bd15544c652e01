/**
 * Loopback HTTP proxies that fail a share of requests the way a degraded AWS endpoint does, and
 * forward the rest untouched. The twin puts them between its parts and their stand-ins to prove
 * that transient failures lose nothing:
 *
 * - S3 (`startFaultProxy`, the default answer): PUTs answered `503 SlowDown`; the SDK retries, then
 *   the validator reports the record in `batchItemFailures`, then the event source mapping retries.
 * - Kinesis (`startKinesisFaultProxy`): records of PutRecords refused one by one with
 *   `ProvisionedThroughputExceededException` inside a 200 answer, as Kinesis refuses them, and whole
 *   GetRecords calls answered 400 with the same error; the producer retries the refused entries, the
 *   poller backs off.
 * - SageMaker (`startFaultProxy` with {@link SAGEMAKER_SERVICE_UNAVAILABLE} or
 *   {@link SAGEMAKER_MODEL_NOT_READY}, and an outage window): InvokeEndpoint answered 503 or 429; the
 *   scorer falls back to its rules.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Random } from '../simulator/random.ts';

/** What a failed request is answered. */
export interface FaultAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** S3's answer to a client that sends too fast. */
export const S3_SLOW_DOWN: FaultAnswer = {
  status: 503,
  headers: { 'content-type': 'application/xml' },
  body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
};

/** SageMaker Runtime's answer while an endpoint cannot serve (a restarting variant, an update). */
export const SAGEMAKER_SERVICE_UNAVAILABLE: FaultAnswer = {
  status: 503,
  headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': 'ServiceUnavailable' },
  body: JSON.stringify({ Message: 'Service Unavailable: the endpoint is not serving (injected outage).' }),
};

/** SageMaker Runtime's answer while the model behind an endpoint is not loaded yet (429). */
export const SAGEMAKER_MODEL_NOT_READY: FaultAnswer = {
  status: 429,
  headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': 'ModelNotReadyException' },
  body: JSON.stringify({ Message: 'Model is not ready to serve inference requests (injected outage).' }),
};

const KINESIS_THROTTLED = 'ProvisionedThroughputExceededException';
const KINESIS_JSON = 'application/x-amz-json-1.1';

/** A request as the proxy's `matches` sees it. */
export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface FaultProxyOptions {
  /** Where healthy requests go, e.g. `http://127.0.0.1:4568`. */
  readonly target: string;
  /** Share (0..1) of matching requests that fail, drawn at random (so a retry can fail again). */
  readonly failureRate: number;
  /** Seed of the draws: the same seed fails the same requests. @default 1 */
  readonly seed?: number;
  /** Which requests may fail. @default PUT requests */
  readonly matches?: (request: ProxiedRequest) => boolean;
  /** What a failed request is answered. @default {@link S3_SLOW_DOWN} */
  readonly answer?: FaultAnswer;
  /**
   * An outage: the matching requests numbered `fromRequest` (1 is the first) to
   * `fromRequest + requests - 1` all fail, whatever `failureRate` draws.
   */
  readonly outage?: { readonly fromRequest: number; readonly requests: number };
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Requests forwarded, and requests (or, for PutRecords, records) answered with a failure. */
  readonly stats: { forwarded: number; failed: number };
  close(): Promise<void>;
}

function assertRate(name: string, rate: number): void {
  if (!(rate >= 0 && rate <= 1)) {
    throw new Error(`${name}: received ${rate}, expected a number from 0 to 1`);
  }
}

/** Fails a share (or a window) of the matching requests with one fixed answer. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  assertRate('failure rate', options.failureRate);
  const { outage } = options;
  if (outage && !(Number.isInteger(outage.fromRequest) && outage.fromRequest >= 1 && outage.requests >= 0)) {
    throw new Error(
      `outage: received ${JSON.stringify(outage)}, expected fromRequest an integer >= 1 and requests >= 0`,
    );
  }
  const matches = options.matches ?? ((r: ProxiedRequest) => r.method === 'PUT');
  const answer = options.answer ?? S3_SLOW_DOWN;
  const draws = Random.fromSeed(options.seed ?? 1).derive('fault-proxy');
  let matched = 0;
  return serveProxy(options.target, (req, res, stats) => {
    if (!matches({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers })) return false;
    matched++;
    // Drawn for every matching request, so an outage does not shift the draws after it.
    const drawn = draws.next() < options.failureRate;
    const inOutage =
      outage !== undefined && matched >= outage.fromRequest && matched < outage.fromRequest + outage.requests;
    if (!drawn && !inOutage) return false;
    stats.failed++;
    // Drain the body first: the client is still sending it.
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    });
    return true;
  });
}

/** The Kinesis proxy's figures: what it refused, by operation. */
export interface KinesisFaultProxy extends FaultProxy {
  readonly throttled: { putRecordsEntries: number; getRecordsCalls: number };
}

export interface KinesisFaultProxyOptions {
  /** The Kinesis endpoint (kinesalite). */
  readonly target: string;
  /** Share (0..1) of PutRecords entries refused, and of GetRecords calls refused. */
  readonly throttleRate: number;
  /** @default 1 */
  readonly seed?: number;
}

/**
 * Throttles a Kinesis API the way Kinesis does when a shard's limits are exceeded: PutRecords
 * answers 200 with `FailedRecordCount` and, for each refused entry, `ErrorCode`
 * `ProvisionedThroughputExceededException` (the accepted entries are written); GetRecords answers
 * 400 with that error. Other operations pass untouched.
 */
export async function startKinesisFaultProxy(options: KinesisFaultProxyOptions): Promise<KinesisFaultProxy> {
  assertRate('throttle rate', options.throttleRate);
  const draws = Random.fromSeed(options.seed ?? 1).derive('kinesis-fault-proxy');
  const target = new URL(options.target);
  const throttled = { putRecordsEntries: 0, getRecordsCalls: 0 };
  const proxy = await serveProxy(options.target, (req, res, stats) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    if (operation === 'GetRecords') {
      if (draws.next() >= options.throttleRate) return false;
      stats.failed++;
      throttled.getRecordsCalls++;
      req.resume();
      req.on('end', () =>
        answerJson(res, 400, {
          __type: KINESIS_THROTTLED,
          message: 'Rate exceeded for Shard under account 000000000000 (injected).',
        }),
      );
      return true;
    }
    if (operation !== 'PutRecords') return false;
    void readAll(req)
      .then(async (body) => {
        const input = JSON.parse(body.toString('utf8')) as { StreamName?: string; Records: unknown[] };
        const refused = input.Records.map(() => draws.next() < options.throttleRate);
        const kept = input.Records.filter((_, i) => !refused[i]);
        stats.failed += input.Records.length - kept.length;
        throttled.putRecordsEntries += input.Records.length - kept.length;
        stats.forwarded++;
        let written: Array<Record<string, unknown>> = [];
        let failedUpstream = 0;
        if (kept.length > 0) {
          const upstream = await forwardJson(target, req, { ...input, Records: kept });
          if (upstream.status !== 200) {
            // An error of the whole call (stream missing, ...): the client sees it as it was.
            answerRaw(res, upstream.status, upstream.headers, upstream.body);
            return;
          }
          const parsed = JSON.parse(upstream.body.toString('utf8')) as {
            FailedRecordCount?: number;
            Records: Array<Record<string, unknown>>;
          };
          written = parsed.Records;
          failedUpstream = parsed.FailedRecordCount ?? 0;
        }
        let next = 0;
        const records = refused.map((isRefused) =>
          isRefused
            ? {
                ErrorCode: KINESIS_THROTTLED,
                ErrorMessage: `Rate exceeded for stream ${input.StreamName ?? ''} under account 000000000000 (injected).`,
              }
            : (written[next++] ?? {}),
        );
        answerJson(res, 200, {
          FailedRecordCount: failedUpstream + (input.Records.length - kept.length),
          Records: records,
        });
      })
      .catch((error: Error) => answerRaw(res, 502, {}, Buffer.from(String(error))));
    return true;
  });
  return { ...proxy, throttled };
}

/**
 * A loopback proxy to `target`: `intercept` answers a request itself (returning true) or leaves it
 * to be forwarded as it is.
 */
async function serveProxy(
  targetUrl: string,
  intercept: (req: IncomingMessage, res: ServerResponse, stats: FaultProxy['stats']) => boolean,
): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const stats = { forwarded: 0, failed: 0 };
  const server = createServer((req, res) => {
    if (intercept(req, res, stats)) return;
    stats.forwarded++;
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => answerRaw(res, 502, {}, Buffer.from(String(error))));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Sends `body` as JSON to the target with the request's headers (the signature is not checked there). */
function forwardJson(
  target: URL,
  req: IncomingMessage,
  body: unknown,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'content-length': String(bytes.byteLength) },
      },
      (answer) => {
        void readAll(answer).then(
          (answerBody) =>
            resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: answerBody }),
          reject,
        );
      },
    );
    upstream.on('error', reject);
    upstream.end(bytes);
  });
}

function answerJson(res: ServerResponse, status: number, body: unknown): void {
  answerRaw(res, status, { 'content-type': KINESIS_JSON }, Buffer.from(JSON.stringify(body)));
}

function answerRaw(res: ServerResponse, status: number, headers: IncomingHttpHeaders, body: Buffer): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { 'content-length': _length, 'transfer-encoding': _encoding, ...rest } = headers;
  res.writeHead(status, { ...rest, 'content-length': String(body.byteLength) });
  res.end(body);
}
