/**
 * The twin's SageMaker Runtime: an HTTP server on loopback that speaks the InvokeEndpoint REST API
 * (`POST /endpoints/{EndpointName}/invocations`), so `@aws-sdk/client-sagemaker-runtime` pointed at
 * it behaves as against a real endpoint serving SageMaker's built-in XGBoost 1.7 container. It
 * scores XGBoost JSON models with the TypeScript scorer (`lambdas/shared/xgboost.ts`).
 *
 * What it reproduces, and from where:
 * - Production variants with weights: each request goes to a variant drawn with probability
 *   weight / total weight (seeded, so tests can count), or to the `TargetVariant` it names. The
 *   variant that served is in `X-Amzn-Invoked-Production-Variant`. (InvokeEndpoint API reference.)
 * - The container's formats (sagemaker-xgboost-container, algorithm mode, since its 2022 change
 *   "Add accept encodings to alg_mode", which 1.7-1 includes): the body is `text/csv`, one row per
 *   line, no header, an empty field is a missing value. `Accept: text/csv` (also when Accept is
 *   absent or any type) answers one score per line, each line ending in `\n`; `Accept:
 *   application/json` answers a JSON array of scores. An empty body answers an empty body. Scores
 *   are written as Python writes floats (`0.5`, `1e-05`).
 * - Errors, as the SDK raises them: an unknown endpoint is `ValidationError` (400, "Endpoint X of
 *   account Y not found."); an error of the container (a malformed CSV row: 415; a wrong number of
 *   features: 400; an unsupported Accept: 406) is `ModelError` (424) carrying `OriginalStatusCode`,
 *   `OriginalMessage` and `LogStreamArn`, its message in the service's "Received client error (415)
 *   from primary with message ..." form; a variant marked unavailable is `ServiceUnavailable` (503).
 *   The status codes and members come from the service model the SDK is generated from; the
 *   messages of unknown variants, oversized bodies and unavailable variants are the twin's own
 *   wording.
 *
 * Where it differs on purpose: xgboost 1.7 scores a row with fewer columns than the model has
 * features, treating the missing ones as missing values; this runtime refuses it (ModelError,
 * original status 400), so a feature list out of step with its model shows in the twin instead of
 * quietly degrading scores. `text/libsvm` and recordio-protobuf bodies are not supported.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { showValue, valueAt } from '../lambdas/shared/received-value.ts';
import {
  FeatureCountError,
  parseXgboostModel,
  predict,
  type XgboostModel,
} from '../lambdas/shared/xgboost.ts';
import { Random } from '../simulator/random.ts';

/** The largest request body InvokeEndpoint accepts for a real-time endpoint (6 MB). */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** @default region of the messages and ARNs the runtime writes */
export const DEFAULT_REGION = 'us-east-1';
/** @default account of the messages and ARNs the runtime writes */
export const DEFAULT_ACCOUNT_ID = '000000000000';
/** @default seed of the variant draw */
export const DEFAULT_SEED = 1;
/** SageMaker's limit on production variants per endpoint configuration. */
export const MAX_VARIANTS = 10;

/** Endpoint and variant names as SageMaker allows them. */
const RESOURCE_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
const resourceName = z.string().regex(RESOURCE_NAME, {
  error: 'a name of 1-63 letters, digits and hyphens, starting and ending with a letter or digit',
});

const variantSchema = z.strictObject({
  name: resourceName,
  weight: z
    .number({ error: 'a weight >= 0' })
    .min(0, { error: 'a weight >= 0' })
    .max(Number.MAX_SAFE_INTEGER, { error: 'a finite weight' }),
  modelPath: z.string({ error: 'the path of an XGBoost JSON model' }).min(1, {
    error: 'the path of an XGBoost JSON model',
  }),
  available: z.boolean({ error: 'true or false' }).optional(),
});

const endpointSchema = z
  .strictObject({
    variants: z
      .array(variantSchema, { error: 'an array of production variants' })
      .min(1, { error: 'at least one production variant' })
      .max(MAX_VARIANTS, { error: `at most ${MAX_VARIANTS} production variants` }),
  })
  .superRefine((endpoint, ctx) => {
    const names = endpoint.variants.map((variant) => variant.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', index, 'name'],
          message: 'a variant name not used before',
        });
      }
    });
    if (endpoint.variants.every((variant) => variant.weight === 0)) {
      ctx.addIssue({ code: 'custom', path: ['variants'], message: 'at least one variant with a weight > 0' });
    }
  });

const optionsSchema = z.strictObject({
  endpoints: z.record(resourceName, endpointSchema, { error: 'an object of endpoints by name' }),
  port: z.number().int().min(0).max(65_535, { error: 'a port from 0 to 65535' }).optional(),
  seed: z.number().int({ error: 'an integer seed' }).optional(),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'an AWS region such as us-east-1' })
    .optional(),
  accountId: z
    .string()
    .regex(/^\d{12}$/, { error: 'a 12-digit account id' })
    .optional(),
});

export interface SageMakerVariantOptions {
  readonly name: string;
  /** Relative share of the endpoint's traffic (SageMaker's `InitialVariantWeight`); 0 serves only when targeted. */
  readonly weight: number;
  /** The XGBoost JSON model (`Booster.save_model('model.json')`) the variant serves. */
  readonly modelPath: string;
  /** @default true */
  readonly available?: boolean;
}

export interface SageMakerEndpointOptions {
  readonly variants: readonly SageMakerVariantOptions[];
}

export interface SageMakerRuntimeOptions {
  readonly endpoints: Readonly<Record<string, SageMakerEndpointOptions>>;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Seed of the weighted variant draw. @default 1 */
  readonly seed?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
}

export interface SageMakerRuntime {
  /** The endpoint to give the SDK client: `http://127.0.0.1:<port>`. */
  readonly url: string;
  /**
   * Requests routed to each variant so far, by endpoint then variant name: every request the
   * variant was chosen for, whether it was scored, refused by the model or met an unavailable variant.
   */
  readonly invocations: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** While a variant is unavailable, requests routed to it fail with ServiceUnavailable (503). */
  setVariantAvailable(endpoint: string, variant: string, available: boolean): void;
  close(): Promise<void>;
}

interface Variant {
  readonly name: string;
  readonly weight: number;
  readonly model: XgboostModel;
  available: boolean;
  invocations: number;
}

interface Endpoint {
  readonly name: string;
  readonly variants: readonly Variant[];
  readonly totalWeight: number;
}

/** Status, error code and body of a refused request: what the service would answer. */
class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly body: Readonly<Record<string, unknown>>,
  ) {
    super(String(body.Message));
  }
}

/** What the container answers when it refuses a request; the runtime wraps it in a ModelError. */
class ContainerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts the runtime with every variant's model loaded and checked.
 * @throws Error naming the option, the value received and what is expected, or the model that failed to load
 */
export async function startSageMakerRuntime(options: SageMakerRuntimeOptions): Promise<SageMakerRuntime> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.') || '(root)';
      return `SageMaker runtime options: ${path}: received ${showValue(valueAt(options, issue.path))}, expected ${issue.message}`;
    });
    throw new Error(lines.join('\n'));
  }
  const region = parsed.data.region ?? DEFAULT_REGION;
  const accountId = parsed.data.accountId ?? DEFAULT_ACCOUNT_ID;
  const random = Random.fromSeed(parsed.data.seed ?? DEFAULT_SEED).derive('sagemaker-runtime');

  const models = new Map<string, Promise<XgboostModel>>();
  const loadModel = (path: string) => {
    let model = models.get(path);
    if (model === undefined) {
      model = readFile(path, 'utf8').then((text) => parseXgboostModel(text, path));
      models.set(path, model);
    }
    return model;
  };
  const endpoints = new Map<string, Endpoint>();
  for (const [name, endpoint] of Object.entries(parsed.data.endpoints)) {
    const variants: Variant[] = [];
    for (const variant of endpoint.variants) {
      const model = await loadModel(variant.modelPath).catch((error: Error) => {
        throw new Error(`SageMaker runtime: endpoint ${name}, variant ${variant.name}: ${error.message}`);
      });
      variants.push({
        name: variant.name,
        weight: variant.weight,
        model,
        available: variant.available ?? true,
        invocations: 0,
      });
    }
    const totalWeight = variants.reduce((sum, variant) => sum + variant.weight, 0);
    endpoints.set(name, { name, variants, totalWeight });
  }

  const context: RequestContext = { endpoints, random, region, accountId };
  const server = createServer((request, response) => {
    handle(request, response, context).catch((error: Error) => {
      send(response, 500, 'InternalFailure', { Message: `the local runtime failed: ${error.message}` });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(parsed.data.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get invocations() {
      return Object.fromEntries(
        [...endpoints.values()].map((endpoint) => [
          endpoint.name,
          Object.fromEntries(endpoint.variants.map((variant) => [variant.name, variant.invocations])),
        ]),
      );
    },
    setVariantAvailable(endpointName, variantName, available) {
      const variant = endpoints
        .get(endpointName)
        ?.variants.find((candidate) => candidate.name === variantName);
      if (variant === undefined) {
        throw new Error(`SageMaker runtime: no variant ${variantName} on endpoint ${endpointName}`);
      }
      variant.available = available;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface RequestContext {
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  readonly random: Random;
  readonly region: string;
  readonly accountId: string;
}

const INVOCATIONS_PATH = /^\/endpoints\/([^/]+)\/invocations$/;

async function handle(request: IncomingMessage, response: ServerResponse, context: RequestContext) {
  try {
    const path = new URL(request.url ?? '/', 'http://runtime.local').pathname;
    const match = INVOCATIONS_PATH.exec(path);
    if (request.method !== 'POST' || match === null) {
      throw new ServiceError(404, 'UnknownOperationException', {
        Message: `no such operation: ${request.method} ${path}; expected POST /endpoints/{EndpointName}/invocations`,
      });
    }
    const body = await readBody(request);
    const endpointName = decodeURIComponent(match[1] as string);
    const endpoint = context.endpoints.get(endpointName);
    if (endpoint === undefined) {
      throw new ServiceError(400, 'ValidationError', {
        Message: `Endpoint ${endpointName} of account ${context.accountId} not found.`,
      });
    }
    const variant = route(endpoint, request.headers['x-amzn-sagemaker-target-variant'], context.random);
    variant.invocations += 1;
    if (!variant.available) {
      throw new ServiceError(503, 'ServiceUnavailable', {
        Message: `Service Unavailable: variant ${variant.name} of endpoint ${endpoint.name} is marked unavailable.`,
      });
    }
    const answer = (() => {
      try {
        return invokeContainer(variant.model, request.headers, body);
      } catch (error) {
        if (error instanceof ContainerError) throw modelError(error, endpoint, context);
        throw error;
      }
    })();
    response.writeHead(200, {
      'Content-Type': answer.contentType,
      'x-Amzn-Invoked-Production-Variant': variant.name,
      'x-amzn-RequestId': randomUUID(),
    });
    response.end(answer.body);
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    send(response, error.status, error.code, error.body);
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_PAYLOAD_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      if (bytes > MAX_PAYLOAD_BYTES) {
        reject(
          new ServiceError(400, 'ValidationError', {
            Message: `Request body of ${bytes} bytes exceeds the ${MAX_PAYLOAD_BYTES}-byte limit of InvokeEndpoint.`,
          }),
        );
      } else {
        resolve(Buffer.concat(chunks));
      }
    });
    request.on('error', reject);
  });
}

/** The variant a request goes to: the one it targets, else one drawn by weight. */
function route(endpoint: Endpoint, target: string | string[] | undefined, random: Random): Variant {
  if (target !== undefined) {
    const name = Array.isArray(target) ? target[0] : target;
    const variant = endpoint.variants.find((candidate) => candidate.name === name);
    if (variant === undefined) {
      throw new ServiceError(400, 'ValidationError', {
        Message: `TargetVariant ${name} is not a production variant of endpoint ${endpoint.name}; its variants are ${endpoint.variants.map((v) => v.name).join(', ')}.`,
      });
    }
    return variant;
  }
  let draw = random.next() * endpoint.totalWeight;
  for (const variant of endpoint.variants) {
    if (variant.weight > 0 && draw < variant.weight) return variant;
    draw -= variant.weight;
  }
  // Rounding can leave the draw a hair above the last weight: it belongs to the last weighted variant.
  return endpoint.variants.findLast((variant) => variant.weight > 0) as Variant;
}

const SUPPORTED_ACCEPTS = ['text/csv', 'application/json'] as const;

/** What the XGBoost container does with a request: parse the CSV, score every row, encode the scores. */
function invokeContainer(
  model: XgboostModel,
  headers: IncomingMessage['headers'],
  body: Buffer,
): { contentType: string; body: string } {
  const contentType = mediaType(headers['content-type']) ?? 'text/csv';
  if (contentType !== 'text/csv' && contentType !== 'csv') {
    throw new ContainerError(415, `${contentType} is not an accepted ContentType: csv, text/csv.`);
  }
  const requested = mediaType(headers.accept);
  const accept = requested === undefined || requested === '*/*' ? 'text/csv' : requested;
  if (!(SUPPORTED_ACCEPTS as readonly string[]).includes(accept)) {
    throw new ContainerError(
      406,
      `Accept type ${accept} is not supported. Please use supported accept types: ${SUPPORTED_ACCEPTS.join(', ')}.`,
    );
  }
  const rows = parseCsvRows(body.toString('utf8'));
  // The container answers an empty body with an empty body (its 204), whatever the Accept.
  if (rows.length === 0) return { contentType: accept, body: '' };
  let scores: number[];
  try {
    scores = rows.map((row) => predict(model, row));
  } catch (error) {
    if (error instanceof FeatureCountError) {
      throw new ContainerError(400, `Unable to evaluate payload provided: ${error.message}`);
    }
    throw error;
  }
  if (accept === 'application/json') {
    return { contentType: accept, body: `[${scores.map(pythonJsonNumber).join(', ')}]` };
  }
  return { contentType: accept, body: scores.map((score) => `${pythonFloat(score)}\n`).join('') };
}

function mediaType(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const type = value?.split(',')[0]?.split(';')[0]?.trim().toLowerCase();
  return type === undefined || type === '' ? undefined : type;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NOT_A_NUMBER = /^[+-]?nan$/i;
const INFINITE = /^[+-]?inf(inity)?$/i;

/**
 * The container's CSV reading: the body without surrounding whitespace, split on newlines, each
 * line on commas; an empty field is missing (NaN). A field must be a number as Python's float()
 * reads it; infinity is refused, as xgboost's DMatrix refuses it.
 */
export function parseCsvRows(text: string): number[][] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const rows = trimmed.split('\n').map((line, rowIndex) =>
    line.split(',').map((field, columnIndex) => {
      if (field === '') return Number.NaN;
      const value = field.trim();
      if (DECIMAL.test(value)) return Number(value);
      if (NOT_A_NUMBER.test(value)) return Number.NaN;
      const where = `row ${rowIndex + 1}, column ${columnIndex + 1}`;
      if (INFINITE.test(value)) {
        throw new ContainerError(
          415,
          `Loading csv data failed: ${where}: ${value}: input data contains inf, which xgboost does not accept.`,
        );
      }
      throw new ContainerError(
        415,
        `Loading csv data failed with Exception, please ensure data is in csv format: ${where}: could not convert string to float: '${field}'`,
      );
    }),
  );
  const width = (rows[0] as number[]).length;
  rows.forEach((row, index) => {
    if (row.length !== width) {
      throw new ContainerError(
        415,
        `Loading csv data failed with Exception, please ensure data is in csv format: row ${index + 1} has ${row.length} values, row 1 has ${width}`,
      );
    }
  });
  return rows;
}

/**
 * A number as Python's `repr(float)` writes it, which is how the container writes scores: the
 * shortest digits that read back to the same double, in positional notation from 1e-4 to below
 * 1e16 and in scientific notation (`1e-05`, `1.5e+16`) outside it.
 */
export function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const [mantissa = '', exponentText = '0'] = Math.abs(value).toExponential().split('e');
  const exponent = Number(exponentText);
  const digits = mantissa.replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const scaled = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const power = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${scaled}e${exponent < 0 ? '-' : '+'}${power}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  if (digits.length <= exponent + 1) return `${sign}${digits}${'0'.repeat(exponent + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
}

/** A number as Python's json.dumps writes it (NaN and infinities as JavaScript names them). */
function pythonJsonNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return pythonFloat(value);
}

/** The service's ModelError around a container's refusal. */
function modelError(error: ContainerError, endpoint: Endpoint, context: RequestContext): ServiceError {
  const { region, accountId } = context;
  const group = `/aws/sagemaker/Endpoints/${endpoint.name}`;
  const side = error.status < 500 ? 'client' : 'server';
  return new ServiceError(424, 'ModelError', {
    Message:
      `Received ${side} error (${error.status}) from primary with message "${error.message}". ` +
      `See https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logEventViewer:group=${group} ` +
      `in account ${accountId} for more information.`,
    OriginalStatusCode: error.status,
    OriginalMessage: error.message,
    LogStreamArn: `arn:aws:logs:${region}:${accountId}:log-group:${group}`,
  });
}

function send(
  response: ServerResponse,
  status: number,
  code: string,
  body: Readonly<Record<string, unknown>>,
) {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'x-amzn-ErrorType': code,
    'x-amzn-RequestId': randomUUID(),
  });
  response.end(JSON.stringify(body));
}
