/**
 * `sdap cost`: the monthly bill of a stage and its cost per million events, from the stage's
 * configuration (cdk.json overrides included) and a load its owner knows. `--reference` prints the
 * three reference loads of the README.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  buildStageConfig,
  type StageConfig,
  schedulePeriodHours,
  stageOverrideContextKey,
} from '../lib/config.ts';
import { DEFAULT_VALIDATOR_MEMORY_MB } from '../lib/ingestion/telemetry-validator.ts';
import { MODEL_NAMES } from '../ml/model-spec.ts';
import {
  type CostEstimate,
  CostInputError,
  type CostInputs,
  estimateMonthlyCost,
  loadPrices,
  type PriceFile,
} from './cost-model.ts';
import { parseStage, table, UsageError } from './stack-outputs.ts';

/** Defaults of the load: what a user who passes nothing gets. */
export const COST_DEFAULTS = {
  stage: 'dev',
  devices: 1000,
  intervalSeconds: 60,
  readingsPerMessage: 1,
  /** The reading the AWS facts' cost model was measured with. */
  readingBytes: 311,
  /** `$aws/rules/<rule>/dt/sdap/<device id>/telemetry`, about this long. */
  topicBytes: 64,
  /** [E] measure yours: the Glue job run's duration in the console or `sdap status`. */
  etlMinutesPerRun: 5,
  /** [E] the hourly loads and a few analysts' queries. */
  warehouseHoursPerDay: 2,
  monthsInService: 12,
} as const;

/** The README's reference loads, in readings per second. */
export const REFERENCE_LOADS: ReadonlyArray<{ readonly label: string; readonly eventsPerSecond: number }> = [
  { label: '1M events/day', eventsPerSecond: 1e6 / 86_400 },
  { label: '10k events/s', eventsPerSecond: 10_000 },
  { label: '100k events/s', eventsPerSecond: 100_000 },
];

const FLAGS = {
  stage: { type: 'string' },
  devices: { type: 'string' },
  'events-per-second': { type: 'string' },
  'interval-seconds': { type: 'string' },
  'readings-per-message': { type: 'string' },
  'reading-bytes': { type: 'string' },
  'no-basic-ingest': { type: 'boolean' },
  stream: { type: 'string' },
  shards: { type: 'string' },
  'etl-minutes': { type: 'string' },
  'warehouse-hours-per-day': { type: 'string' },
  'endpoint-usd-per-hour': { type: 'string' },
  months: { type: 'string' },
  reference: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COST_USAGE = `usage: sdap cost [options]

Estimates a stage's monthly AWS bill by service and its cost per million events, from the stage's
configuration (lib/config.ts and cdk.json) and the load you give. Prices: ops/prices.json (each with
its source and date).

  --stage NAME                 the stage whose configuration to price (default ${COST_DEFAULTS.stage})
  --devices N                  devices reporting (default ${COST_DEFAULTS.devices})
  --events-per-second X        the load as readings/s instead (devices = X * interval)
  --interval-seconds S         seconds between a device's readings (default ${COST_DEFAULTS.intervalSeconds})
  --readings-per-message N     readings a device batches per MQTT message, 1..64 (default ${COST_DEFAULTS.readingsPerMessage})
  --reading-bytes B            size of one reading's JSON (default ${COST_DEFAULTS.readingBytes})
  --no-basic-ingest            devices publish to the plain topic (IoT messaging is charged)
  --stream on-demand|provisioned   override the stage's stream capacity mode
  --shards N                   provisioned shards (implies --stream provisioned)
  --etl-minutes M              billed minutes of one ETL run (default ${COST_DEFAULTS.etlMinutesPerRun}, an estimate: measure yours)
  --warehouse-hours-per-day H  hours a day the warehouse runs queries (default ${COST_DEFAULTS.warehouseHoursPerDay})
  --endpoint-usd-per-hour X    instance-hour price for an endpoint type ops/prices.json does not list
  --months N                   month in service the storage is priced at (default ${COST_DEFAULTS.monthsInService})
  --reference                  the README's three reference loads (1M events/day, 10k/s, 100k/s)
  --json                       the estimate(s) as JSON`;

export interface CostOptions {
  readonly stage: string;
  readonly devices?: number;
  readonly eventsPerSecond?: number;
  readonly intervalSeconds: number;
  readonly readingsPerMessage: number;
  readonly readingBytes: number;
  readonly basicIngest: boolean;
  readonly stream?: 'on-demand' | 'provisioned';
  readonly shards?: number;
  readonly etlMinutesPerRun: number;
  readonly warehouseHoursPerDay: number;
  readonly endpointUsdPerHour?: number;
  readonly monthsInService: number;
  readonly reference: boolean;
  readonly json: boolean;
}

function number(flag: string, raw: string | undefined, min: number, max: number, integer: boolean) {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (
    raw.trim() === '' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new UsageError(
      `--${flag}: received '${raw}', expected ${integer ? 'an integer' : 'a number'} from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}`,
    );
  }
  return value;
}

/** Parses the flags; throws {@link UsageError} naming the flag, the value and what is expected. */
export function parseCostArgs(args: readonly string[]): CostOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const str = (name: keyof typeof FLAGS) => values[name] as string | undefined;
  if (str('devices') !== undefined && str('events-per-second') !== undefined) {
    throw new UsageError('--devices and --events-per-second: received both, expected one of them');
  }
  const stream = str('stream');
  if (stream !== undefined && stream !== 'on-demand' && stream !== 'provisioned') {
    throw new UsageError(`--stream: received '${stream}', expected on-demand or provisioned`);
  }
  const shards = number('shards', str('shards'), 1, 10_000, true);
  if (shards !== undefined && stream === 'on-demand') {
    throw new UsageError(
      '--shards: received with --stream on-demand, expected --stream provisioned (or no --stream)',
    );
  }
  const options: CostOptions = {
    stage: parseStage(str('stage') ?? COST_DEFAULTS.stage),
    ...optional('devices', number('devices', str('devices'), 1, 100_000_000, true)),
    ...optional(
      'eventsPerSecond',
      number('events-per-second', str('events-per-second'), 0.001, 10_000_000, false),
    ),
    intervalSeconds:
      number('interval-seconds', str('interval-seconds'), 1, 86_400, false) ?? COST_DEFAULTS.intervalSeconds,
    readingsPerMessage:
      number('readings-per-message', str('readings-per-message'), 1, 64, true) ??
      COST_DEFAULTS.readingsPerMessage,
    readingBytes:
      number('reading-bytes', str('reading-bytes'), 50, 16_384, true) ?? COST_DEFAULTS.readingBytes,
    basicIngest: values['no-basic-ingest'] !== true,
    ...optional('stream', shards !== undefined ? 'provisioned' : (stream as CostOptions['stream'])),
    ...optional('shards', shards),
    etlMinutesPerRun:
      number('etl-minutes', str('etl-minutes'), 1, 2880, false) ?? COST_DEFAULTS.etlMinutesPerRun,
    warehouseHoursPerDay:
      number('warehouse-hours-per-day', str('warehouse-hours-per-day'), 0, 24, false) ??
      COST_DEFAULTS.warehouseHoursPerDay,
    ...optional(
      'endpointUsdPerHour',
      number('endpoint-usd-per-hour', str('endpoint-usd-per-hour'), 0, 1000, false),
    ),
    monthsInService: number('months', str('months'), 1, 120, true) ?? COST_DEFAULTS.monthsInService,
    reference: values.reference === true,
    json: values.json === true,
  };
  if (options.reference && (options.devices !== undefined || options.eventsPerSecond !== undefined)) {
    throw new UsageError(
      '--reference: received with a load (--devices or --events-per-second), expected one or the other',
    );
  }
  return options;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** The stage's configuration with the override cdk.json's context gives it, as `cdk synth` would build it. */
export function stageConfigFromCdkJson(stage: string, cdkJsonPath = 'cdk.json'): StageConfig {
  let override: unknown;
  try {
    const context = (JSON.parse(readFileSync(cdkJsonPath, 'utf8')) as { context?: Record<string, unknown> })
      .context;
    override = context?.[stageOverrideContextKey(stage)];
  } catch {
    override = undefined;
  }
  return buildStageConfig(stage, override);
}

/** The model's inputs: the stage's configuration, the load and the flags' overrides. */
export function costInputs(config: StageConfig, options: CostOptions, devices: number): CostInputs {
  const capacity =
    options.stream === 'provisioned'
      ? {
          mode: 'provisioned' as const,
          shardCount:
            options.shards ??
            (config.stream.capacity.mode === 'provisioned' ? config.stream.capacity.shardCount : 1),
        }
      : options.stream === 'on-demand'
        ? { mode: 'on-demand' as const }
        : config.stream.capacity;
  const period = schedulePeriodHours(config.etl.scheduleExpression) ?? 1;
  const endpoints = config.ml.endpoints;
  return {
    devices,
    reportingIntervalSeconds: options.intervalSeconds,
    readingsPerMessage: options.readingsPerMessage,
    readingBytes: options.readingBytes,
    topicBytes: COST_DEFAULTS.topicBytes,
    basicIngest: options.basicIngest,
    stream: capacity,
    validator: {
      batchSize: config.validator.batchSize,
      maxBatchingWindowSeconds: config.validator.maxBatchingWindowSeconds,
      memoryMb: DEFAULT_VALIDATOR_MEMORY_MB,
    },
    rawRetentionDays: config.lake.raw.expireAfterDays,
    curatedRetentionDays: config.lake.curated.expireAfterDays,
    monthsInService: options.monthsInService,
    etl: config.etl.enabled
      ? {
          enabled: true,
          runsPerDay: 24 / period,
          workerType: config.etl.workerType,
          workers: config.etl.numberOfWorkers,
          minutesPerRun: options.etlMinutesPerRun,
        }
      : { enabled: false },
    endpoints: endpoints.enabled
      ? {
          enabled: true,
          endpoints: MODEL_NAMES.length,
          variants: endpoints.challengerTrafficPercent > 0 ? 2 : 1,
          instancesPerVariant: endpoints.instanceCount,
          instanceType: endpoints.instanceType,
          ...optional('usdPerInstanceHour', options.endpointUsdPerHour),
        }
      : { enabled: false },
    warehouse: config.warehouse.enabled
      ? {
          enabled: true,
          baseCapacityRpu: config.warehouse.baseCapacityRpu,
          hoursPerDay: options.warehouseHoursPerDay,
        }
      : { enabled: false },
  };
}

const usd = (value: number) =>
  `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const count = (value: number) =>
  value >= 100
    ? Math.round(value).toLocaleString('en-US')
    : value.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** One estimate as lines of text. */
export function formatEstimate(stage: string, inputs: CostInputs, estimate: CostEstimate): string[] {
  const { load } = estimate;
  return [
    `stage ${stage}: ${count(inputs.devices)} devices every ${count(inputs.reportingIntervalSeconds)} s = ${count(load.eventsPerSecond)} readings/s, ${count(load.eventsPerMonth / 1e6)} million a month; ${inputs.readingsPerMessage} reading(s) per message (${load.messageBytes} bytes), Basic Ingest ${inputs.basicIngest ? 'on' : 'off'}`,
    `stream: ${inputs.stream.mode}, ${load.shards} shard(s); the validator takes ${count(load.readingsPerInvocation)} readings an invocation`,
    `prices: ${estimate.prices.region}, as of ${estimate.prices.asOf} (ops/prices.json)`,
    '',
    ...table(
      ['service', 'item', 'quantity', 'per month'],
      [
        ...estimate.lines.map((line) => [
          line.service,
          line.item,
          `${count(line.quantity)} ${line.unit}`,
          usd(line.monthlyUsd),
        ]),
        ['total', '', '', usd(estimate.monthlyUsd)],
      ],
    ),
    '',
    `per million events: ${usd(estimate.usdPerMillionEvents)} (traffic-driven part ${usd(estimate.variableUsdPerMillionEvents)}; fixed ${usd(estimate.fixedMonthlyUsd)} a month)`,
    `largest: ${estimate.dominant.service}, ${Math.round(estimate.dominant.share * 100)} % of the bill`,
    ...estimate.warnings.map((warning) => `warning: ${warning}`),
    `not modelled: ${estimate.notModelled.join('; ')}`,
  ];
}

export interface ReferenceRow {
  readonly label: string;
  readonly inputs: CostInputs;
  readonly estimate: CostEstimate;
}

/** The reference loads on a stage, as the README's table. */
export function formatReference(stage: string, rows: readonly ReferenceRow[]): string[] {
  return table(
    ['load', 'devices', 'per month', 'per million events', 'fixed share', 'largest'],
    rows.map(({ label, inputs, estimate }) => [
      label,
      count(inputs.devices),
      usd(estimate.monthlyUsd),
      usd(estimate.usdPerMillionEvents),
      `${Math.round((estimate.fixedMonthlyUsd / estimate.monthlyUsd) * 100)} %`,
      `${estimate.dominant.service} (${Math.round(estimate.dominant.share * 100)} %)`,
    ]),
  ).concat(
    `(stage ${stage}; devices report every ${rows[0]?.inputs.reportingIntervalSeconds ?? '-'} s)`,
    rows.flatMap(({ label, estimate }) =>
      estimate.warnings.map((warning) => `${label}: warning: ${warning}`),
    ),
  );
}

/** Runs `sdap cost`; returns the exit code. */
export async function costCommand(
  args: readonly string[],
  log: (line: string) => void = console.log,
  prices: PriceFile = loadPrices(),
): Promise<number> {
  let options: CostOptions | 'help';
  try {
    options = parseCostArgs(args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`sdap cost: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    log(COST_USAGE);
    return 0;
  }
  try {
    const config = stageConfigFromCdkJson(options.stage);
    if (options.reference) {
      const rows = REFERENCE_LOADS.map(({ label, eventsPerSecond }) => {
        const inputs = costInputs(config, options, eventsPerSecond * options.intervalSeconds);
        return { label, inputs, estimate: estimateMonthlyCost(inputs, prices) };
      });
      if (options.json)
        log(
          JSON.stringify(
            rows.map(({ label, estimate }) => ({ label, ...estimate })),
            null,
            2,
          ),
        );
      else for (const line of formatReference(options.stage, rows)) log(line);
      return 0;
    }
    const devices =
      options.devices ??
      (options.eventsPerSecond !== undefined
        ? options.eventsPerSecond * options.intervalSeconds
        : COST_DEFAULTS.devices);
    const inputs = costInputs(config, options, devices);
    const estimate = estimateMonthlyCost(inputs, prices);
    if (options.json) log(JSON.stringify({ stage: options.stage, inputs, ...estimate }, null, 2));
    else for (const line of formatEstimate(options.stage, inputs, estimate)) log(line);
    return 0;
  } catch (error) {
    if (error instanceof CostInputError || (error as Error).name === 'StageConfigError') {
      console.error(`sdap cost: ${(error as Error).message}`);
      return 2;
    }
    throw error;
  }
}
