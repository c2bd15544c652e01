/**
 * A loopback HTTP proxy that fails a share of requests the way a degraded AWS endpoint does (S3's
 * `503 SlowDown`), and forwards the rest untouched. The twin puts it between the validator and its
 * S3 stand-in to prove that transient failures lose nothing: the SDK retries, then the validator
 * reports the record in `batchItemFailures`, then the event source mapping retries the batch.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Random } from '../simulator/random.ts';

export interface FaultProxyOptions {
  /** Where healthy requests go, e.g. `http://127.0.0.1:4568`. */
  readonly target: string;
  /** Share (0..1) of matching requests that fail, drawn at random (so a retry can fail again). */
  readonly failureRate: number;
  /** Seed of the draws: the same seed fails the same requests. @default 1 */
  readonly seed?: number;
  /** Which requests may fail. @default PUT requests */
  readonly matches?: (method: string, path: string) => boolean;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly stats: { forwarded: number; failed: number };
  close(): Promise<void>;
}

const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  if (!(options.failureRate >= 0 && options.failureRate <= 1)) {
    throw new Error(`failure rate: received ${options.failureRate}, expected a number from 0 to 1`);
  }
  const target = new URL(options.target);
  const matches = options.matches ?? ((method) => method === 'PUT');
  const stats = { forwarded: 0, failed: 0 };
  const draws = Random.fromSeed(options.seed ?? 1).derive('fault-proxy');
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    if (matches(method, req.url ?? '/')) {
      if (draws.next() < options.failureRate) {
        stats.failed++;
        // Drain the body first: the client is still sending it.
        req.resume();
        req.on('end', () => {
          res.writeHead(503, { 'content-type': 'application/xml' });
          res.end(SLOW_DOWN);
        });
        return;
      }
    }
    stats.forwarded++;
    const upstream = request(
      { host: target.hostname, port: target.port, method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
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
