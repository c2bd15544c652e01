import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildStageConfig } from '../../lib/config.ts';
import {
  COST_DEFAULTS,
  costCommand,
  costInputs,
  formatReference,
  parseCostArgs,
  REFERENCE_LOADS,
  stageConfigFromCdkJson,
} from '../../ops/cost-command.ts';
import { estimateMonthlyCost } from '../../ops/cost-model.ts';

afterEach(() => vi.restoreAllMocks());

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((line: string) => void err.push(line));
  const code = await costCommand(args, (line) => out.push(line));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('parseCostArgs', () => {
  it.each([
    [['--devices', '0'], /--devices: received '0', expected an integer from 1 to 100,000,000/],
    [['--devices', '10', '--events-per-second', '5'], /received both, expected one of them/],
    [['--stream', 'fast'], /--stream: received 'fast', expected on-demand or provisioned/],
    [['--stream', 'on-demand', '--shards', '2'], /--shards: received with --stream on-demand/],
    [
      ['--readings-per-message', '65'],
      /--readings-per-message: received '65', expected an integer from 1 to 64/,
    ],
    [['--stage', 'qa'], /--stage: received 'qa', expected one of dev, prod/],
    [['--reference', '--devices', '5'], /--reference: received with a load/],
    [['--colour'], /Unknown option '--colour'/],
  ])('fails on %j, naming the flag', (args, message) => {
    expect(() => parseCostArgs(args)).toThrow(message);
  });

  it('defaults to the dev stage and a thousand devices a minute, Basic Ingest on', () => {
    expect(parseCostArgs([])).toMatchObject({
      stage: 'dev',
      intervalSeconds: 60,
      readingsPerMessage: 1,
      basicIngest: true,
      reference: false,
    });
    expect(parseCostArgs(['--shards', '3'])).toMatchObject({ stream: 'provisioned', shards: 3 });
  });
});

describe('costInputs', () => {
  it("takes the stage's stream, batching, ETL size, endpoints and warehouse", () => {
    const options = parseCostArgs(['--stage', 'prod']);
    if (options === 'help') throw new Error('unexpected help');

    const prod = costInputs(buildStageConfig('prod'), options, 100);
    const dev = costInputs(buildStageConfig('dev'), options, 100);

    expect(prod.stream).toEqual({ mode: 'on-demand' });
    expect(prod.etl).toEqual({
      enabled: true,
      runsPerDay: 24,
      workerType: 'G.1X',
      workers: 4,
      minutesPerRun: 5,
    });
    expect(prod.endpoints).toMatchObject({
      enabled: true,
      endpoints: 3,
      variants: 1,
      instancesPerVariant: 2,
    });
    expect(prod.warehouse).toEqual({ enabled: true, baseCapacityRpu: 8, hoursPerDay: 2 });
    expect(prod.rawRetentionDays).toBe(1095);
    expect(dev.stream).toEqual({ mode: 'provisioned', shardCount: 1 });
    expect(dev.endpoints.enabled).toBe(false);
    expect(dev.warehouse.enabled).toBe(false);
  });

  it('counts a challenger variant and a two-hourly ETL schedule', () => {
    const options = parseCostArgs([]);
    if (options === 'help') throw new Error('unexpected help');
    const config = buildStageConfig('prod', {
      etl: { scheduleExpression: 'rate(2 hours)' },
      ml: { endpoints: { challengerTrafficPercent: 10 } },
    });

    const inputs = costInputs(config, options, 100);

    expect(inputs.etl).toMatchObject({ runsPerDay: 12 });
    expect(inputs.endpoints).toMatchObject({ variants: 2 });
  });

  it("applies the stage's override from cdk.json, as cdk synth does", () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdap-cost-'));
    const path = join(dir, 'cdk.json');
    writeFileSync(
      path,
      JSON.stringify({
        context: { 'sdap:dev': { stream: { capacity: { mode: 'provisioned', shardCount: 3 } } } },
      }),
    );

    expect(stageConfigFromCdkJson('dev', path).stream.capacity).toEqual({
      mode: 'provisioned',
      shardCount: 3,
    });
    expect(stageConfigFromCdkJson('dev', join(dir, 'absent.json')).stream.capacity).toEqual({
      mode: 'provisioned',
      shardCount: 1,
    });
  });
});

describe('sdap cost', () => {
  it('prints the bill by service, the total and the cost per million events', async () => {
    const { code, out } = await run(['--stage', 'prod', '--devices', '10000']);

    expect(code).toBe(0);
    expect(out).toMatch(/stage prod: 10,000 devices every 60 s = 167 readings\/s, 438 million a month/);
    expect(out).toMatch(
      /SageMaker\s+3 endpoint\(s\) x 1 variant\(s\) x 2 ml\.m5\.large\s+4,380 instance-hours\s+\$503\.70/,
    );
    expect(out).toMatch(/^total\s+\$[\d,]+\.\d\d$/m);
    expect(out).toMatch(/per million events: \$\d+\.\d\d \(traffic-driven part/);
    expect(out).toMatch(/not modelled: CloudWatch/);
  });

  it('exits 2 with the message for a bad flag or an unpriced endpoint type', async () => {
    expect(await run(['--devices', 'many'])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--devices: received 'many'/),
    });
    const dir = mkdtempSync(join(tmpdir(), 'sdap-cost-'));
    const cwd = process.cwd();
    writeFileSync(
      join(dir, 'cdk.json'),
      JSON.stringify({ context: { 'sdap:prod': { ml: { endpoints: { instanceType: 'ml.c5.xlarge' } } } } }),
    );
    process.chdir(dir);
    try {
      const result = await run(['--stage', 'prod']);
      expect(result.code).toBe(2);
      expect(result.err).toMatch(/"ml.c5.xlarge", which the price file does not price/);
      expect((await run(['--stage', 'prod', '--endpoint-usd-per-hour', '0.2'])).code).toBe(0);
    } finally {
      process.chdir(cwd);
    }
  });

  it('prints the JSON estimate with --json', async () => {
    const { code, out } = await run(['--json', '--events-per-second', '100']);
    const parsed = JSON.parse(out) as { inputs: { devices: number }; usdPerMillionEvents: number };

    expect(code).toBe(0);
    expect(parsed.inputs.devices).toBe(6000);
    expect(parsed.usdPerMillionEvents).toBeGreaterThan(0);
  });

  it("keeps the README's reference loads current", () => {
    const options = parseCostArgs(['--stage', 'prod', '--reference']);
    if (options === 'help') throw new Error('unexpected help');
    const config = buildStageConfig('prod');
    const rows = REFERENCE_LOADS.map(({ label, eventsPerSecond }) => {
      const inputs = costInputs(config, options, eventsPerSecond * COST_DEFAULTS.intervalSeconds);
      return { label, inputs, estimate: estimateMonthlyCost(inputs) };
    });
    const readme = readFileSync('README.md', 'utf8');

    for (const line of formatReference('prod', rows).filter((l) => !l.includes('warning'))) {
      expect(readme, 'run `npx sdap cost --stage prod --reference` and update the README').toContain(line);
    }
  });
});
