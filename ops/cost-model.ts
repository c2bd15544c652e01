/**
 * The monthly bill of a stage, estimated from what its owner knows: how many devices report how
 * often, how they batch, and the stage's configuration (stream capacity, ETL schedule and size,
 * endpoints, warehouse). Prices and measured figures come from `ops/prices.json`, each with its
 * source; this module only counts units and multiplies.
 *
 * A month is 730 hours, as AWS's price pages count it. The model leaves out what is small or
 * unpriced in the price file (CloudWatch, KMS requests, EventBridge, Step Functions transitions,
 * data transfer, SageMaker training jobs, S3 storage classes below Standard); `notModelled` lists them.
 */
import * as z from 'zod';
import pricesJson from './prices.json' with { type: 'json' };

export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
export const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;
/** IoT Core meters messages, rules and actions in units of 5 KB. */
export const IOT_METERING_BYTES = 5 * 1024;
/** IoT Core's largest message. */
export const IOT_MAX_MESSAGE_BYTES = 128 * 1024;
/** Kinesis on-demand rounds every record up to 1 KB for ingress. */
export const KINESIS_ON_DEMAND_RECORD_BYTES = 1024;
/** A provisioned PUT payload unit. */
export const KINESIS_PUT_UNIT_BYTES = 25 * 1024;
/** One shard's write limits. */
export const SHARD_RECORDS_PER_SECOND = 1000;
export const SHARD_BYTES_PER_SECOND = 1024 * 1024;
/** An on-demand stream starts with 4 MB/s of write capacity: four shards' worth. */
export const ON_DEMAND_MIN_SHARDS = 4;
/** The event source mapping polls a shard about once a second, whatever the batching window. */
export const MIN_POLL_SECONDS = 1;
/** Default account quotas (adjustable) that the estimate warns about. */
export const IOT_CONNECTIONS_QUOTA = 500_000;
export const IOT_INBOUND_PUBLISHES_PER_SECOND_QUOTA = 20_000;
/** DPUs per Glue worker type. */
export const GLUE_DPU_PER_WORKER: Readonly<Record<string, number>> = {
  'G.1X': 1,
  'G.2X': 2,
  'G.4X': 4,
  'G.8X': 8,
};

const price = z.object({ usd: z.number().nonnegative(), unit: z.string(), source: z.string().min(1) });
const assumption = z.object({ value: z.number().positive(), unit: z.string(), source: z.string().min(1) });
const priceFileSchema = z.object({
  region: z.string(),
  asOf: z.iso.date(),
  note: z.string(),
  prices: z.object({
    iotMessagingPerMillion: price,
    iotConnectivityPerMillionMinutes: price,
    iotRulesTriggeredPerMillion: price,
    iotRuleActionsPerMillion: price,
    kinesisShardHour: price,
    kinesisPutPayloadUnitsPerMillion: price,
    kinesisOnDemandStreamHour: price,
    kinesisOnDemandIngressPerGb: price,
    kinesisOnDemandEgressPerGb: price,
    lambdaRequestsPerMillion: price,
    lambdaGbSecondArm64: price,
    s3PutPerThousand: price,
    s3StandardGbMonth: price,
    glueDpuHour: price,
    sagemakerInstanceHour: price.extend({ usd: z.record(z.string(), z.number().positive()) }),
    redshiftServerlessRpuHour: price,
  }),
  assumptions: z.object({
    rawGzipRatio: assumption,
    validatorMsPerReading: assumption,
    validatorMsPerInvocation: assumption,
    curatedBytesPerRawByte: assumption,
  }),
});
export type PriceFile = z.infer<typeof priceFileSchema>;

/** The committed price file, validated. */
export function loadPrices(input: unknown = pricesJson): PriceFile {
  const parsed = priceFileSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`ops/prices.json: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return parsed.data;
}

/** Everything an estimate depends on. Rates are per second, sizes in bytes. */
export interface CostInputs {
  readonly devices: number;
  readonly reportingIntervalSeconds: number;
  readonly readingsPerMessage: number;
  /** A reading's JSON size. */
  readonly readingBytes: number;
  /** The topic's size: IoT Core meters payload and topic. */
  readonly topicBytes: number;
  /** Devices publish to the rule's Basic Ingest topic: no messaging charge. */
  readonly basicIngest: boolean;
  readonly stream:
    | { readonly mode: 'on-demand' }
    | { readonly mode: 'provisioned'; readonly shardCount: number };
  readonly validator: {
    readonly batchSize: number;
    readonly maxBatchingWindowSeconds: number;
    readonly memoryMb: number;
  };
  /** Days raw objects are kept (null: never expire). */
  readonly rawRetentionDays: number | null;
  /** Days curated objects are kept (null: never expire). */
  readonly curatedRetentionDays: number | null;
  /** The month the storage is priced at: data accumulates until its retention. */
  readonly monthsInService: number;
  readonly etl:
    | { readonly enabled: false }
    | {
        readonly enabled: true;
        readonly runsPerDay: number;
        readonly workerType: string;
        readonly workers: number;
        readonly minutesPerRun: number;
      };
  readonly endpoints:
    | { readonly enabled: false }
    | {
        readonly enabled: true;
        readonly endpoints: number;
        /** Variants per endpoint: 2 while a challenger takes traffic. */
        readonly variants: number;
        readonly instancesPerVariant: number;
        readonly instanceType: string;
        /** Price of an instance-hour when the price file has none for the type. */
        readonly usdPerInstanceHour?: number;
      };
  readonly warehouse:
    | { readonly enabled: false }
    | { readonly enabled: true; readonly baseCapacityRpu: number; readonly hoursPerDay: number };
}

export type CostService =
  | 'IoT Core'
  | 'Kinesis'
  | 'Lambda'
  | 'S3'
  | 'Glue'
  | 'SageMaker'
  | 'Redshift Serverless';

export interface CostLine {
  readonly service: CostService;
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly monthlyUsd: number;
  /** Fixed lines cost the same whatever the traffic. */
  readonly fixed: boolean;
}

export interface CostEstimate {
  readonly load: {
    readonly eventsPerSecond: number;
    readonly eventsPerMonth: number;
    readonly messagesPerSecond: number;
    readonly messageBytes: number;
    readonly shards: number;
    readonly readingsPerInvocation: number;
    readonly invocationsPerMonth: number;
  };
  readonly lines: readonly CostLine[];
  readonly byService: Readonly<Partial<Record<CostService, number>>>;
  readonly monthlyUsd: number;
  readonly fixedMonthlyUsd: number;
  readonly usdPerMillionEvents: number;
  /** The traffic-driven part alone, per million events. */
  readonly variableUsdPerMillionEvents: number;
  /** The service with the largest share, and the share. */
  readonly dominant: { readonly service: CostService; readonly share: number };
  readonly warnings: readonly string[];
  readonly notModelled: readonly string[];
  readonly prices: { readonly region: string; readonly asOf: string };
}

export const NOT_MODELLED = [
  'CloudWatch (logs, metrics, alarms, dashboard)',
  'KMS requests and keys',
  'EventBridge, Scheduler and SNS',
  'Step Functions state transitions',
  'data transfer out of the region',
  'SageMaker training jobs and data capture storage',
  'S3 Standard-IA and Glacier tiers (storage is priced at S3 Standard: an upper bound)',
  'IoT registry and device shadow operations',
] as const;

/** Thrown for inputs the model cannot price; the message names the input, the value and what is expected. */
export class CostInputError extends Error {
  override readonly name = 'CostInputError';
}

/** Estimates a month of a stage's bill. */
export function estimateMonthlyCost(inputs: CostInputs, prices: PriceFile = loadPrices()): CostEstimate {
  const p = prices.prices;
  const a = prices.assumptions;
  const warnings: string[] = [];
  const lines: CostLine[] = [];
  const add = (line: CostLine) => lines.push(line);

  const eventsPerSecond = inputs.devices / inputs.reportingIntervalSeconds;
  const eventsPerMonth = eventsPerSecond * SECONDS_PER_MONTH;
  const messagesPerSecond = eventsPerSecond / inputs.readingsPerMessage;
  const messagesPerMonth = messagesPerSecond * SECONDS_PER_MONTH;
  const payloadBytes = inputs.readingsPerMessage * inputs.readingBytes;
  const messageBytes = payloadBytes + inputs.topicBytes;
  if (messageBytes > IOT_MAX_MESSAGE_BYTES) {
    throw new CostInputError(
      `--readings-per-message x --reading-bytes: received ${inputs.readingsPerMessage} x ${inputs.readingBytes} bytes (${fmtInt(messageBytes)} bytes with the topic), expected a message of at most ${fmtInt(IOT_MAX_MESSAGE_BYTES)} bytes (IoT Core's limit)`,
    );
  }

  // IoT Core: every device connected all month; each message triggers the rule and its one action.
  const iotUnits = Math.ceil(messageBytes / IOT_METERING_BYTES);
  const connectionMinutes = inputs.devices * HOURS_PER_MONTH * 60;
  add({
    service: 'IoT Core',
    item: 'connectivity',
    quantity: connectionMinutes,
    unit: 'connection-minutes',
    monthlyUsd: (connectionMinutes / 1e6) * p.iotConnectivityPerMillionMinutes.usd,
    fixed: false,
  });
  add({
    service: 'IoT Core',
    item: inputs.basicIngest ? 'messaging (Basic Ingest: not charged)' : 'messaging',
    quantity: messagesPerMonth * iotUnits,
    unit: '5 KB messages',
    monthlyUsd: inputs.basicIngest ? 0 : ((messagesPerMonth * iotUnits) / 1e6) * p.iotMessagingPerMillion.usd,
    fixed: false,
  });
  add({
    service: 'IoT Core',
    item: 'rule triggered and its Kinesis action',
    quantity: messagesPerMonth * iotUnits,
    unit: '5 KB messages',
    monthlyUsd:
      ((messagesPerMonth * iotUnits) / 1e6) *
      (p.iotRulesTriggeredPerMillion.usd + p.iotRuleActionsPerMillion.usd),
    fixed: false,
  });
  if (inputs.devices > IOT_CONNECTIONS_QUOTA) {
    warnings.push(
      `${fmtInt(inputs.devices)} devices exceed IoT Core's default quota of ${fmtInt(IOT_CONNECTIONS_QUOTA)} connections per account (adjustable: request an increase)`,
    );
  }
  if (messagesPerSecond > IOT_INBOUND_PUBLISHES_PER_SECOND_QUOTA) {
    warnings.push(
      `${fmtInt(messagesPerSecond)} messages/s exceed IoT Core's default ${fmtInt(IOT_INBOUND_PUBLISHES_PER_SECOND_QUOTA)} inbound publishes/s and rule publishes/s per account (adjustable); more readings per message lower the rate`,
    );
  }

  // Kinesis: one record per message, partitioned by device.
  const neededShards = Math.max(
    1,
    Math.ceil(
      Math.max(
        messagesPerSecond / SHARD_RECORDS_PER_SECOND,
        (messagesPerSecond * payloadBytes) / SHARD_BYTES_PER_SECOND,
      ),
    ),
  );
  let shards: number;
  if (inputs.stream.mode === 'provisioned') {
    shards = inputs.stream.shardCount;
    if (shards < neededShards) {
      warnings.push(
        `the stream's ${shards} provisioned shard(s) take at most ${fmtInt(shards * SHARD_RECORDS_PER_SECOND)} records/s; this load needs ${neededShards} (IoT rule actions would be throttled): raise stream.capacity.shardCount or use on-demand`,
      );
    }
    add({
      service: 'Kinesis',
      item: `${shards} provisioned shard(s)`,
      quantity: shards * HOURS_PER_MONTH,
      unit: 'shard-hours',
      monthlyUsd: shards * HOURS_PER_MONTH * p.kinesisShardHour.usd,
      fixed: true,
    });
    const putUnits = messagesPerMonth * Math.ceil(payloadBytes / KINESIS_PUT_UNIT_BYTES);
    add({
      service: 'Kinesis',
      item: 'PUT payload units',
      quantity: putUnits,
      unit: '25 KB units',
      monthlyUsd: (putUnits / 1e6) * p.kinesisPutPayloadUnitsPerMillion.usd,
      fixed: false,
    });
  } else {
    shards = Math.max(ON_DEMAND_MIN_SHARDS, neededShards);
    add({
      service: 'Kinesis',
      item: 'on-demand stream',
      quantity: HOURS_PER_MONTH,
      unit: 'stream-hours',
      monthlyUsd: HOURS_PER_MONTH * p.kinesisOnDemandStreamHour.usd,
      fixed: true,
    });
    const ingressGb =
      (messagesPerMonth *
        Math.ceil(payloadBytes / KINESIS_ON_DEMAND_RECORD_BYTES) *
        KINESIS_ON_DEMAND_RECORD_BYTES) /
      1024 ** 3;
    add({
      service: 'Kinesis',
      item: 'data in (records rounded up to 1 KB)',
      quantity: ingressGb,
      unit: 'GB',
      monthlyUsd: ingressGb * p.kinesisOnDemandIngressPerGb.usd,
      fixed: false,
    });
    const egressGb = (messagesPerMonth * payloadBytes) / 1024 ** 3;
    add({
      service: 'Kinesis',
      item: 'data out to the validator',
      quantity: egressGb,
      unit: 'GB',
      monthlyUsd: egressGb * p.kinesisOnDemandEgressPerGb.usd,
      fixed: false,
    });
  }

  // Lambda: per shard, a batch closes at batchSize records or when the window (at least one poll) ends.
  const recordsPerShardPerSecond = messagesPerSecond / shards;
  const windowSeconds = Math.max(inputs.validator.maxBatchingWindowSeconds, MIN_POLL_SECONDS);
  const recordsPerInvocation = Math.max(
    1,
    Math.min(inputs.validator.batchSize, recordsPerShardPerSecond * windowSeconds),
  );
  const invocationsPerMonth = messagesPerMonth / recordsPerInvocation;
  const readingsPerInvocation = recordsPerInvocation * inputs.readingsPerMessage;
  const secondsPerInvocation =
    (a.validatorMsPerInvocation.value + readingsPerInvocation * a.validatorMsPerReading.value) / 1000;
  const gbSeconds = invocationsPerMonth * secondsPerInvocation * (inputs.validator.memoryMb / 1024);
  add({
    service: 'Lambda',
    item: 'validator invocations',
    quantity: invocationsPerMonth,
    unit: 'invocations',
    monthlyUsd: (invocationsPerMonth / 1e6) * p.lambdaRequestsPerMillion.usd,
    fixed: false,
  });
  add({
    service: 'Lambda',
    item: `validator compute (${inputs.validator.memoryMb} MB, arm64)`,
    quantity: gbSeconds,
    unit: 'GB-seconds',
    monthlyUsd: gbSeconds * p.lambdaGbSecondArm64.usd,
    fixed: false,
  });

  // S3: a raw object per invocation; storage accumulates until each zone's retention.
  add({
    service: 'S3',
    item: 'raw object PUTs',
    quantity: invocationsPerMonth,
    unit: 'PUT requests',
    monthlyUsd: (invocationsPerMonth / 1000) * p.s3PutPerThousand.usd,
    fixed: false,
  });
  const rawGbPerMonth = (eventsPerMonth * inputs.readingBytes) / a.rawGzipRatio.value / 1024 ** 3;
  const storedMonths = (retentionDays: number | null) =>
    retentionDays === null
      ? inputs.monthsInService
      : Math.min(inputs.monthsInService, retentionDays / DAYS_PER_MONTH);
  const rawStoredGb = rawGbPerMonth * storedMonths(inputs.rawRetentionDays);
  const curatedStoredGb =
    rawGbPerMonth * a.curatedBytesPerRawByte.value * storedMonths(inputs.curatedRetentionDays);
  add({
    service: 'S3',
    item: `raw and curated storage in month ${inputs.monthsInService}`,
    quantity: rawStoredGb + curatedStoredGb,
    unit: 'GB-months',
    monthlyUsd: (rawStoredGb + curatedStoredGb) * p.s3StandardGbMonth.usd,
    fixed: false,
  });

  if (inputs.etl.enabled) {
    const dpu = GLUE_DPU_PER_WORKER[inputs.etl.workerType];
    if (dpu === undefined) {
      throw new CostInputError(
        `etl worker type: received ${JSON.stringify(inputs.etl.workerType)}, expected one of ${Object.keys(GLUE_DPU_PER_WORKER).join(', ')}`,
      );
    }
    const billedMinutes = Math.max(1, inputs.etl.minutesPerRun);
    const dpuHours = inputs.etl.runsPerDay * DAYS_PER_MONTH * inputs.etl.workers * dpu * (billedMinutes / 60);
    add({
      service: 'Glue',
      item: `ETL: ${fmtNumber(inputs.etl.runsPerDay)} run(s)/day x ${inputs.etl.workers} ${inputs.etl.workerType} x ${fmtNumber(billedMinutes)} min`,
      quantity: dpuHours,
      unit: 'DPU-hours',
      monthlyUsd: dpuHours * p.glueDpuHour.usd,
      fixed: true,
    });
  }

  if (inputs.endpoints.enabled) {
    const e = inputs.endpoints;
    const hourly = e.usdPerInstanceHour ?? p.sagemakerInstanceHour.usd[e.instanceType];
    if (hourly === undefined) {
      throw new CostInputError(
        `endpoint instance type: received ${JSON.stringify(e.instanceType)}, which the price file does not price (it has ${Object.keys(p.sagemakerInstanceHour.usd).join(', ')}); give its price with --endpoint-usd-per-hour`,
      );
    }
    const instanceHours = e.endpoints * e.variants * e.instancesPerVariant * HOURS_PER_MONTH;
    add({
      service: 'SageMaker',
      item: `${e.endpoints} endpoint(s) x ${e.variants} variant(s) x ${e.instancesPerVariant} ${e.instanceType}`,
      quantity: instanceHours,
      unit: 'instance-hours',
      monthlyUsd: instanceHours * hourly,
      fixed: true,
    });
  }

  if (inputs.warehouse.enabled) {
    const rpuHours = inputs.warehouse.baseCapacityRpu * inputs.warehouse.hoursPerDay * DAYS_PER_MONTH;
    add({
      service: 'Redshift Serverless',
      item: `${inputs.warehouse.baseCapacityRpu} RPU x ${fmtNumber(inputs.warehouse.hoursPerDay)} h/day`,
      quantity: rpuHours,
      unit: 'RPU-hours',
      monthlyUsd: rpuHours * p.redshiftServerlessRpuHour.usd,
      fixed: true,
    });
  }

  const byService: Partial<Record<CostService, number>> = {};
  for (const line of lines) byService[line.service] = (byService[line.service] ?? 0) + line.monthlyUsd;
  const monthlyUsd = lines.reduce((sum, line) => sum + line.monthlyUsd, 0);
  const fixedMonthlyUsd = lines.filter((line) => line.fixed).reduce((sum, line) => sum + line.monthlyUsd, 0);
  const [dominantService, dominantUsd] = Object.entries(byService).sort((x, y) => y[1] - x[1])[0] as [
    CostService,
    number,
  ];
  const perMillion = (usd: number) => (eventsPerMonth > 0 ? (usd / eventsPerMonth) * 1e6 : 0);
  return {
    load: {
      eventsPerSecond,
      eventsPerMonth,
      messagesPerSecond,
      messageBytes,
      shards,
      readingsPerInvocation,
      invocationsPerMonth,
    },
    lines,
    byService,
    monthlyUsd,
    fixedMonthlyUsd,
    usdPerMillionEvents: perMillion(monthlyUsd),
    variableUsdPerMillionEvents: perMillion(monthlyUsd - fixedMonthlyUsd),
    dominant: { service: dominantService, share: monthlyUsd > 0 ? dominantUsd / monthlyUsd : 0 },
    warnings,
    notModelled: NOT_MODELLED,
    prices: { region: prices.region, asOf: prices.asOf },
  };
}

function fmtInt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function fmtNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
