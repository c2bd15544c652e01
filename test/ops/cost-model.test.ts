import { describe, expect, it } from 'vitest';
import {
  CostInputError,
  type CostInputs,
  type CostLine,
  estimateMonthlyCost,
  loadPrices,
} from '../../ops/cost-model.ts';
import pricesJson from '../../ops/prices.json' with { type: 'json' };

/**
 * A small stage, every figure computed by hand below: 1,000 devices every 60 s = 16.667 readings/s,
 * 43.8 million a month (730 h); one 311-byte reading per 375-byte message; one provisioned shard.
 */
const SMALL: CostInputs = {
  devices: 1000,
  reportingIntervalSeconds: 60,
  readingsPerMessage: 1,
  readingBytes: 311,
  topicBytes: 64,
  basicIngest: false,
  stream: { mode: 'provisioned', shardCount: 1 },
  validator: { batchSize: 100, maxBatchingWindowSeconds: 1, memoryMb: 1024 },
  rawRetentionDays: null,
  curatedRetentionDays: null,
  monthsInService: 1,
  etl: { enabled: false },
  endpoints: { enabled: false },
  warehouse: { enabled: false },
};

const line = (lines: readonly CostLine[], item: string) => {
  const found = lines.find((l) => l.item.startsWith(item));
  if (!found) throw new Error(`no line ${item}: ${lines.map((l) => l.item).join(', ')}`);
  return found;
};

describe('estimateMonthlyCost', () => {
  it('prices a small stage as computed by hand', () => {
    // Prepare
    const prices = loadPrices();

    // Act
    const estimate = estimateMonthlyCost(SMALL, prices);

    // Assess
    expect(estimate.load.eventsPerMonth).toBeCloseTo(43_800_000, 0);
    // IoT: 43.8 M connection-minutes x $0.08/M; 43.8 M messages x $1/M; rule + action x $0.30/M.
    expect(line(estimate.lines, 'connectivity').monthlyUsd).toBeCloseTo(3.504, 6);
    expect(line(estimate.lines, 'messaging').monthlyUsd).toBeCloseTo(43.8, 6);
    expect(line(estimate.lines, 'rule triggered').monthlyUsd).toBeCloseTo(13.14, 6);
    // Kinesis: 730 shard-hours x $0.015; one 25 KB PUT unit a record x $0.014/M.
    expect(line(estimate.lines, '1 provisioned shard').monthlyUsd).toBeCloseTo(10.95, 6);
    expect(line(estimate.lines, 'PUT payload units').monthlyUsd).toBeCloseTo(0.6132, 6);
    // Lambda: 16.667 records a second on the shard, a batch a second: 2,628,000 invocations of
    // 40 ms + 16.667 x 0.0165 ms = 40.275 ms at 1 GB.
    expect(estimate.load.invocationsPerMonth).toBeCloseTo(2_628_000, 0);
    expect(line(estimate.lines, 'validator invocations').monthlyUsd).toBeCloseTo(0.5256, 6);
    expect(line(estimate.lines, 'validator compute').quantity).toBeCloseTo(105_842.7, 0);
    expect(line(estimate.lines, 'validator compute').monthlyUsd).toBeCloseTo(1.41124, 4);
    // S3: a PUT an invocation x $0.005/1000; 43.8 M x 311 B / 9.7 = 1.30787 GB raw, as much curated.
    expect(line(estimate.lines, 'raw object PUTs').monthlyUsd).toBeCloseTo(13.14, 6);
    expect(line(estimate.lines, 'raw and curated storage').quantity).toBeCloseTo(2.61574, 4);
    expect(estimate.monthlyUsd).toBeCloseTo(87.1442, 3);
    expect(estimate.usdPerMillionEvents).toBeCloseTo(87.1442 / 43.8, 4);
    expect(estimate.fixedMonthlyUsd).toBeCloseTo(10.95, 6);
    expect(estimate.dominant.service).toBe('IoT Core');
    expect(estimate.warnings).toEqual([]);
  });

  it('prices the fixed parts: a Glue minute minimum, endpoint variants and warehouse hours', () => {
    const estimate = estimateMonthlyCost({
      ...SMALL,
      etl: { enabled: true, runsPerDay: 24, workerType: 'G.2X', workers: 2, minutesPerRun: 0.5 },
      endpoints: {
        enabled: true,
        endpoints: 3,
        variants: 2,
        instancesPerVariant: 2,
        instanceType: 'ml.t2.medium',
      },
      warehouse: { enabled: true, baseCapacityRpu: 8, hoursPerDay: 2 },
    });

    // 24 x 30.4167 runs x 2 workers x 2 DPU x 1 billed minute = 48.667 DPU-h x $0.44.
    expect(line(estimate.lines, 'ETL').quantity).toBeCloseTo(48.6667, 3);
    expect(line(estimate.lines, 'ETL').monthlyUsd).toBeCloseTo(21.4133, 3);
    // 3 x 2 x 2 instances x 730 h x $0.056.
    expect(line(estimate.lines, '3 endpoint(s)').monthlyUsd).toBeCloseTo(490.56, 6);
    // 8 RPU x 2 h x 30.4167 days x $0.375.
    expect(line(estimate.lines, '8 RPU').monthlyUsd).toBeCloseTo(182.5, 6);
    expect(estimate.dominant.service).toBe('SageMaker');
    expect(estimate.fixedMonthlyUsd).toBeCloseTo(10.95 + 21.4133 + 490.56 + 182.5, 3);
  });

  it('charges no IoT messaging with Basic Ingest, and batching divides the IoT bill per event', () => {
    const plain = estimateMonthlyCost(SMALL);
    const basic = estimateMonthlyCost({ ...SMALL, basicIngest: true });
    const batched = estimateMonthlyCost({ ...SMALL, basicIngest: true, readingsPerMessage: 10 });

    expect(plain.monthlyUsd - basic.monthlyUsd).toBeCloseTo(43.8, 6);
    expect(line(basic.lines, 'messaging').monthlyUsd).toBe(0);
    // 10 readings (3,174 bytes with the topic) still fit one 5 KB unit: a tenth of the rule charges.
    expect(line(batched.lines, 'rule triggered').monthlyUsd).toBeCloseTo(1.314, 6);
    // 17 readings (5,351 bytes) take two units.
    const over = estimateMonthlyCost({ ...SMALL, readingsPerMessage: 17 });
    expect(line(over.lines, 'rule triggered').quantity).toBeCloseTo((43_800_000 / 17) * 2, 0);
  });

  it('rounds on-demand records up to 1 KB in and starts at four shards', () => {
    const estimate = estimateMonthlyCost({ ...SMALL, readingsPerMessage: 4, stream: { mode: 'on-demand' } });

    // 10.95 M records of 1,244 bytes: 2 KB each in, 1,244 bytes out.
    expect(line(estimate.lines, 'data in').quantity).toBeCloseTo((10_950_000 * 2048) / 1024 ** 3, 6);
    expect(line(estimate.lines, 'data out').quantity).toBeCloseTo((10_950_000 * 1244) / 1024 ** 3, 6);
    expect(line(estimate.lines, 'on-demand stream').monthlyUsd).toBeCloseTo(29.2, 6);
    expect(estimate.load.shards).toBe(4);
  });

  it('keeps storage no longer than the zone retention', () => {
    const kept = estimateMonthlyCost({
      ...SMALL,
      monthsInService: 12,
      rawRetentionDays: 30,
      curatedRetentionDays: null,
    });

    // Raw: 30 of 30.4167 days; curated: all 12 months.
    expect(line(kept.lines, 'raw and curated storage').quantity).toBeCloseTo(
      1.30787 * (30 / 30.41667 + 12),
      3,
    );
  });

  it('warns when the load outgrows the shards or the account quotas', () => {
    const estimate = estimateMonthlyCost({ ...SMALL, devices: 600_000, reportingIntervalSeconds: 1 });

    expect(estimate.warnings.join('\n')).toMatch(
      /provisioned shard\(s\) take at most 1,000 records\/s; this load needs 600/,
    );
    expect(estimate.warnings.join('\n')).toMatch(
      /600,000 devices exceed IoT Core's default quota of 500,000/,
    );
    expect(estimate.warnings.join('\n')).toMatch(/600,000 messages\/s exceed IoT Core's default 20,000/);
  });

  it('fails when a message exceeds 128 KB, naming both flags and the size', () => {
    expect(() => estimateMonthlyCost({ ...SMALL, readingsPerMessage: 64, readingBytes: 4096 })).toThrow(
      /--readings-per-message x --reading-bytes: received 64 x 4096 bytes \(262,208 bytes with the topic\), expected a message of at most 131,072 bytes/,
    );
  });

  it('fails on an endpoint type without a price, unless one is given', () => {
    const endpoints = {
      enabled: true as const,
      endpoints: 1,
      variants: 1,
      instancesPerVariant: 1,
      instanceType: 'ml.c5.xlarge',
    };
    expect(() => estimateMonthlyCost({ ...SMALL, endpoints })).toThrow(CostInputError);
    expect(() => estimateMonthlyCost({ ...SMALL, endpoints })).toThrow(
      /received "ml.c5.xlarge".*--endpoint-usd-per-hour/,
    );
    const priced = estimateMonthlyCost({ ...SMALL, endpoints: { ...endpoints, usdPerInstanceHour: 0.2 } });
    expect(line(priced.lines, '1 endpoint(s)').monthlyUsd).toBeCloseTo(146, 6);
  });
});

describe('loadPrices', () => {
  it('gives every price a source', () => {
    const prices = loadPrices();
    for (const [name, price] of Object.entries(prices.prices))
      expect(price.source, name).toMatch(/^\[[ASME]/);
  });

  it('fails on a price file with a missing price, naming it', () => {
    const broken = structuredClone(pricesJson) as { prices: Record<string, unknown> };
    delete broken.prices.glueDpuHour;
    expect(() => loadPrices(broken)).toThrow(/ops\/prices.json: prices.glueDpuHour/);
  });
});
