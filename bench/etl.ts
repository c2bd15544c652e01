/**
 * `npm run bench`, batch section: the batch ETL (glue-scripts/sql in DuckDB) on one day of raw
 * telemetry, against a floor measured in the same run.
 *
 *   FLOOR  DuckDB reads the same raw objects (gzip NDJSON, the raw table's typed columns) and writes
 *          them to one Parquet file: no transform, the least any batch job over this zone must do.
 *   OURS   `runPipeline` over the day: parse and flag malformed lines, de-duplicate, curate, data
 *          quality, window aggregates, daily health, energy, baselines, ML features, and one
 *          Parquet file per output partition. Files are local on both sides: the S3 transfers of
 *          the twin's batch stage are not part of either figure.
 *
 * The data is generated (deterministically) as the validator would have written it: one object per
 * device type and ingest hour for every ~1,000 readings, with duplicate deliveries, late arrivals,
 * lost readings and a few malformed lines, plus the registry export, weather and quarantine
 * objects. Before anything is timed, the pipeline's counts must match what the generator injected.
 */
import { stat as fileStat, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DeviceType } from '../lambdas/shared/contract.ts';
import { RAW_GZIP_LEVEL } from '../lambdas/shared/lake-objects.ts';
import { rawTableColumns } from '../lib/lake/raw-table-columns.ts';
import { createEtlSession, runPipeline, type SourceFiles } from '../local/etl/duckdb-runner.ts';
import { localSourceFiles } from '../local/etl/local-lake.ts';
import { loadPipeline, type Pipeline } from '../local/etl/manifest.ts';
import { DAY_MS, etlWindow, HOUR_MS } from '../local/etl/window.ts';
import { makeReading } from '../test/support/readings.ts';
import { prng } from './data.ts';

/** The issue's target: curating and aggregating a day takes at most this multiple of the floor. */
export const ETL_TARGET_RATIO_TO_FLOOR = 3;

/** Full: the issue's day of at least a million readings, 3 rounds. Quick: a tenth, 2 rounds. */
export const ETL_PRESETS = {
  full: { readings: 1_000_000, runs: 3 },
  quick: { readings: 100_000, runs: 2 },
} as const;

/** The generated day (UTC). */
const DAY = '2026-11-27';
/** Devices in the fleet; the reporting interval follows from the reading count. */
const DEVICES = 2_400;
const SITES = 20;
/** Readings per raw object: a validator batch at this fleet's rate. */
const LINES_PER_OBJECT = 1_000;
/** Injected shares, about what the twin's default transport faults produce. */
const DUPLICATE_SHARE = 0.005;
const LATE_SHARE = 0.002;
const LOST_SHARE = 0.003;
const MALFORMED_SHARE = 0.0001;
/** Weather hours recorded as gaps instead of values. */
const WEATHER_GAP_SHARE = 0.05;
const SEED = 20261127;
const DEVICE_MIX: ReadonlyArray<readonly [DeviceType, number]> = [
  ['sensor', 0.4],
  ['thermostat', 0.2],
  ['smart_lock', 0.2],
  ['camera', 0.2],
];

export interface EtlBenchConfig {
  readonly readings: number;
  readonly runs: number;
  /** Under the gitignored `out/`, one per process; removed when the section passes. */
  readonly outDir: string;
}

export function etlBenchConfig(quick: boolean, readings?: number, runs?: number): EtlBenchConfig {
  const preset = quick ? ETL_PRESETS.quick : ETL_PRESETS.full;
  return {
    readings: readings ?? preset.readings,
    runs: runs ?? preset.runs,
    outDir: `out/bench/etl-${process.pid}`,
  };
}

/** What the generator put in the lake, for the correctness check. */
interface Generated {
  readonly readings: number;
  readonly lines: number;
  readonly duplicates: number;
  readonly late: number;
  readonly malformed: number;
  readonly objects: number;
  readonly rawBytes: number;
}

function deviceTypeOf(index: number): DeviceType {
  let share = (index + 0.5) / DEVICES;
  for (const [type, weight] of DEVICE_MIX) {
    if (share < weight) return type;
    share -= weight;
  }
  return 'sensor';
}

/** Writes the day's lake under `<root>/<bucket role>/` (exported for profiling a step on the same data). */
export async function generateLake(root: string, target: number): Promise<Generated> {
  const random = prng(SEED);
  const dayStart = Date.parse(`${DAY}T00:00:00Z`);
  const intervalMs = Math.floor((DEVICES * DAY_MS) / target);
  const partitions = new Map<string, string[]>();
  const put = (type: DeviceType, arrivalMs: number, line: string) => {
    const iso = new Date(arrivalMs).toISOString();
    const key = `telemetry/device_type=${type}/ingest_date=${iso.slice(0, 10)}/ingest_hour=${iso.slice(11, 13)}`;
    const lines = partitions.get(key) ?? [];
    if (lines.length === 0) partitions.set(key, lines);
    lines.push(line);
  };
  let readings = 0;
  let duplicates = 0;
  let late = 0;
  let malformed = 0;
  let sequence = 0n;
  const things: string[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const type = deviceTypeOf(d);
    const deviceId = `${type}-${String(d).padStart(5, '0')}`;
    const siteId = `site-${String(d % SITES).padStart(2, '0')}`;
    things.push(
      JSON.stringify({
        thingName: deviceId,
        thingTypeName: type,
        attributes: {
          siteId,
          buildingId: `${siteId}-b1`,
          roomId: `${siteId}-b1-r${d % 7}`,
          reportingIntervalS: String(intervalMs / 1000),
        },
        thingGroupNames: [`room-${siteId}-b1-r${d % 7}`],
      }),
    );
    const phase = Math.floor(random() * intervalMs);
    for (let seq = 0, ts = dayStart + phase; ts < dayStart + DAY_MS; seq++, ts += intervalMs) {
      if (random() < LOST_SHARE) continue;
      const n = d * 1_000_003 + seq;
      const reading = { ...makeReading(type, n, new Date(ts).toISOString(), deviceId), seq };
      const isLate = random() < LATE_SHARE;
      const arrivalMs =
        ts +
        (isLate ? 10 * 60_000 + Math.floor(random() * 80 * 60_000) : 1_000 + Math.floor(random() * 2_000));
      const ingest = (at: number, shard: number) => {
        sequence += 1n;
        const suffix = JSON.stringify({
          ingestArrivedAt: new Date(at).toISOString(),
          ingestBrokerReceivedAt: new Date(at - 40).toISOString(),
          ingestShardId: `shardId-00000000000${shard}`,
          ingestSequenceNumber: (
            49650000000000000000000000000000000000000000000000000000n + sequence
          ).toString(),
        });
        return `${JSON.stringify(reading).slice(0, -1)},${suffix.slice(1)}`;
      };
      put(type, arrivalMs, ingest(arrivalMs, d % 4));
      readings++;
      if (isLate) late++;
      if (random() < DUPLICATE_SHARE) {
        put(type, arrivalMs + 3_000, ingest(arrivalMs + 3_000, (d + 1) % 4));
        duplicates++;
      }
      if (random() < MALFORMED_SHARE) {
        put(type, arrivalMs, ingest(arrivalMs, d % 4).slice(0, 40));
        malformed++;
      }
    }
  }
  let objects = 0;
  let rawBytes = 0;
  let lines = 0;
  for (const [key, partLines] of [...partitions].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines += partLines.length;
    for (let start = 0; start < partLines.length; start += LINES_PER_OBJECT) {
      const text = partLines
        .slice(start, start + LINES_PER_OBJECT)
        .map((line) => `${line}\n`)
        .join('');
      const path = join(root, 'raw', key, `part-${String(objects).padStart(5, '0')}.ndjson.gz`);
      await mkdir(dirname(path), { recursive: true });
      const body = gzipSync(text, { level: RAW_GZIP_LEVEL });
      await writeFile(path, body);
      objects++;
      rawBytes += body.byteLength;
    }
  }
  const registry = join(root, 'raw', 'iot-registry', 'things.ndjson');
  await mkdir(dirname(registry), { recursive: true });
  await writeFile(registry, things.map((t) => `${t}\n`).join(''));
  for (let s = 0; s < SITES; s++) {
    const siteId = `site-${String(s).padStart(2, '0')}`;
    const weather: string[] = [];
    for (let h = 0; h < 24; h++) {
      const hour = new Date(dayStart + h * HOUR_MS).toISOString().replace('.000Z', 'Z');
      weather.push(
        JSON.stringify(
          random() < WEATHER_GAP_SHARE
            ? { siteId, hour, gap: true, reason: 'provider returned no data' }
            : {
                siteId,
                hour,
                outdoorTemperatureC: Math.round((5 + 6 * Math.sin((h / 24) * 2 * Math.PI) + s / 4) * 10) / 10,
                relativeHumidityPct: 70 + (h % 10),
                source: 'bench',
              },
        ),
      );
    }
    const path = join(root, 'raw', 'weather', `weather_date=${DAY}`, `${siteId}.ndjson`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, weather.map((w) => `${w}\n`).join(''));
  }
  for (let h = 0; h < 24; h += 3) {
    const arrivedAt = new Date(dayStart + h * HOUR_MS + 60_000).toISOString();
    const doc = {
      arrivedAt,
      topicDeviceId: `sensor-${String(h).padStart(5, '0')}`,
      readingCount: 3,
      validCount: 1,
      rejections: [],
    };
    const path = join(
      root,
      'quarantine',
      'rejected',
      `ingest_date=${DAY}`,
      `ingest_hour=${arrivedAt.slice(11, 13)}`,
      `shardId-000000000000-${h}.json`,
    );
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(doc));
  }
  return { readings, lines, duplicates, late, malformed, objects, rawBytes };
}

/** The floor's SQL: the raw files with the raw table's typed columns, straight into Parquet. */
function floorSql(files: readonly string[], target: string): string {
  const duckdbType = {
    string: 'VARCHAR',
    int: 'INTEGER',
    bigint: 'BIGINT',
    double: 'DOUBLE',
    boolean: 'BOOLEAN',
  } as const;
  const columns = rawTableColumns()
    .map((c) => `'${c.jsonKey}': '${duckdbType[c.type]}'`)
    .join(', ');
  const list = files.map((f) => `'${f.replaceAll("'", "''")}'`).join(', ');
  return `COPY (SELECT * FROM read_json([${list}], format = 'newline_delimited', columns = {${columns}}, ignore_errors = true)) TO '${target}' (FORMAT parquet, COMPRESSION snappy)`;
}

export interface EtlBenchReport {
  readonly data: Generated & { readonly day: string; readonly devices: number };
  readonly method: {
    readonly runs: number;
    readonly node: string;
    readonly loadAverage: { readonly start: number; readonly end: number };
    readonly statistic: string;
  };
  readonly correctness: {
    readonly ok: boolean;
    readonly curatedRows: number;
    readonly expectedCuratedRows: number;
    readonly duplicatesRemoved: number;
    readonly malformedLines: number;
    readonly lateReadings: number;
  };
  readonly floorSeconds: Stat;
  readonly oursSeconds: Stat;
  /** Ours / floor, per round, then median and range. */
  readonly ratio: Stat;
  /** The same on process CPU time: steadier when other processes share the cores. */
  readonly floorCpuSeconds: Stat;
  readonly oursCpuSeconds: Stat;
  readonly cpuRatio: Stat;
  /** Median seconds of each step of ours (query, then Parquet writes). */
  readonly steps: ReadonlyArray<{
    readonly file: string;
    readonly querySeconds: number;
    readonly writeSeconds: number;
  }>;
  readonly outputs: { readonly files: number; readonly bytes: number };
  readonly target: { readonly ratio: number; readonly met: boolean };
  readonly ok: boolean;
  readonly elapsedSeconds: number;
}

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly values: readonly number[];
}

function stat(values: readonly number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN, values };
}

/** Wall and process CPU seconds (DuckDB's threads run in this process, so CPU time includes them). */
interface Timed {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<Timed & { readonly value: T }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return {
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    value,
  };
}

async function timeFloor(pipeline: Pipeline, files: readonly string[], target: string): Promise<Timed> {
  const session = await createEtlSession(pipeline);
  try {
    return await timed(() => session.connection.run(floorSql(files, target)));
  } finally {
    session.close();
  }
}

async function timeOurs(pipeline: Pipeline, files: SourceFiles, outDir: string) {
  const window = etlWindow(
    `${DAY}T00:00:00Z`,
    new Date(Date.parse(`${DAY}T00:00:00Z`) + DAY_MS).toISOString(),
  );
  const session = await createEtlSession(pipeline);
  try {
    await rm(outDir, { recursive: true, force: true });
    const run = await timed(() => runPipeline(session, pipeline, { window, files, outDir }));
    return { ...run, result: run.value };
  } finally {
    session.close();
  }
}

/** Generates the day, checks the pipeline's counts, then times floor and ours in alternating rounds. */
export async function runEtlBench(
  config: EtlBenchConfig,
  log: (line: string) => void,
): Promise<EtlBenchReport> {
  const started = performance.now();
  const startLoad = loadavg()[0] ?? 0;
  const outDir = resolve(config.outDir);
  const lakeDir = join(outDir, 'lake');
  await rm(outDir, { recursive: true, force: true });
  log(`etl: generating ${config.readings.toLocaleString('en-US')} readings of ${DAY}...`);
  const generated = await generateLake(lakeDir, config.readings);
  const pipeline = await loadPipeline();
  const window = etlWindow(
    `${DAY}T00:00:00Z`,
    new Date(Date.parse(`${DAY}T00:00:00Z`) + DAY_MS).toISOString(),
  );
  const files = await localSourceFiles(pipeline, window, lakeDir);
  const rawFiles = files.raw_telemetry ?? [];

  log('etl: correctness pass (also the warm-up)...');
  const warm = await timeOurs(pipeline, files, join(outDir, 'ours'));
  await timeFloor(pipeline, rawFiles, join(outDir, 'floor.parquet'));
  const s = warm.result.summary;
  const correctness = {
    curatedRows: s.curated_rows ?? Number.NaN,
    expectedCuratedRows: generated.readings,
    duplicatesRemoved: s.duplicates_removed ?? Number.NaN,
    malformedLines: s.malformed_lines ?? Number.NaN,
    lateReadings: s.late_readings ?? Number.NaN,
  };
  const ok =
    correctness.curatedRows === generated.readings &&
    correctness.duplicatesRemoved === generated.duplicates &&
    correctness.malformedLines === generated.malformed &&
    correctness.lateReadings >= generated.late;

  const floor: number[] = [];
  const ours: number[] = [];
  const floorCpu: number[] = [];
  const oursCpu: number[] = [];
  const stepRuns: Array<ReadonlyArray<{ file: string; queryMs: number; writeMs: number }>> = [];
  let outputs = { files: 0, bytes: 0 };
  for (let round = 0; round < config.runs; round++) {
    // Alternate which goes first, so that neither always runs on a warmer or cooler machine.
    const order = round % 2 === 0 ? (['floor', 'ours'] as const) : (['ours', 'floor'] as const);
    for (const variant of order) {
      if (variant === 'floor') {
        const run = await timeFloor(pipeline, rawFiles, join(outDir, 'floor.parquet'));
        floor.push(run.seconds);
        floorCpu.push(run.cpuSeconds);
      } else {
        const { seconds, cpuSeconds, result } = await timeOurs(pipeline, files, join(outDir, 'ours'));
        ours.push(seconds);
        oursCpu.push(cpuSeconds);
        stepRuns.push(result.stepTimings);
        let bytes = 0;
        for (const output of result.outputs) bytes += (await fileStat(output.path)).size;
        outputs = { files: result.outputs.length, bytes };
      }
    }
    log(
      `  round ${round + 1}/${config.runs}: floor ${floor.at(-1)?.toFixed(2)} s (cpu ${floorCpu.at(-1)?.toFixed(2)}), ours ${ours.at(-1)?.toFixed(2)} s (cpu ${oursCpu.at(-1)?.toFixed(2)})`,
    );
  }
  const ratio = stat(ours.map((o, i) => o / (floor[i] as number)));
  const cpuRatio = stat(oursCpu.map((o, i) => o / (floorCpu[i] as number)));
  const steps = (stepRuns[0] ?? []).map(({ file }, i) => ({
    file,
    querySeconds: stat(stepRuns.map((run) => (run[i]?.queryMs ?? 0) / 1000)).median,
    writeSeconds: stat(stepRuns.map((run) => (run[i]?.writeMs ?? 0) / 1000)).median,
  }));
  if (ok) await rm(outDir, { recursive: true, force: true });
  return {
    data: { ...generated, day: DAY, devices: DEVICES },
    method: {
      runs: config.runs,
      node: process.version,
      loadAverage: { start: startLoad, end: loadavg()[0] ?? 0 },
      statistic:
        'median [min-max] of rounds; each round runs floor and ours once, alternating which goes first; ratio = median of per-round ratios',
    },
    correctness: { ok, ...correctness },
    floorSeconds: stat(floor),
    oursSeconds: stat(ours),
    ratio,
    floorCpuSeconds: stat(floorCpu),
    oursCpuSeconds: stat(oursCpu),
    cpuRatio,
    steps,
    outputs,
    target: { ratio: ETL_TARGET_RATIO_TO_FLOOR, met: ratio.median <= ETL_TARGET_RATIO_TO_FLOOR },
    ok,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
}

const fmt = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const range = (s: Stat, digits = 2) =>
  `${fmt(s.median, digits)} [${fmt(s.min, digits)}-${fmt(s.max, digits)}]`;

export function renderEtlTable(report: EtlBenchReport): string {
  const { data, correctness: c } = report;
  const heaviest = [...report.steps]
    .sort((a, b) => b.querySeconds + b.writeSeconds - (a.querySeconds + a.writeSeconds))
    .slice(0, 5);
  return [
    '',
    `sdap batch ETL bench (${report.method.node}; DuckDB, glue-scripts/sql over one day)`,
    `  data: ${fmt(data.readings)} readings of ${data.devices} devices on ${data.day} in ${fmt(data.objects)} raw objects (${(data.rawBytes / 1e6).toFixed(1)} MB gzip), ${fmt(data.lines)} lines: ${fmt(data.duplicates)} duplicate deliveries, ${fmt(data.late)} late, ${fmt(data.malformed)} malformed`,
    `  method: warm-up pass, then ${report.method.runs} rounds of floor and ours, order alternating; load average ${report.method.loadAverage.start.toFixed(2)} at start, ${report.method.loadAverage.end.toFixed(2)} at end`,
    `  correctness: curated ${fmt(c.curatedRows)} rows (expected ${fmt(c.expectedCuratedRows)}), ${fmt(c.duplicatesRemoved)} duplicates removed, ${fmt(c.malformedLines)} malformed lines, ${fmt(c.lateReadings)} late => ${c.ok ? 'OK' : 'FAILED'}`,
    '',
    `                                                      wall s, median [min-max]    cpu s`,
    `  FLOOR  DuckDB: raw gzip NDJSON -> one Parquet file     ${range(report.floorSeconds).padEnd(28)}${range(report.floorCpuSeconds)}`,
    `  OURS   curate and aggregate, ${fmt(report.outputs.files)} Parquet files      ${range(report.oursSeconds).padEnd(28)}${range(report.oursCpuSeconds)}`,
    `  OURS / FLOOR                                         ${`${range(report.ratio)}x`.padEnd(28)}${range(report.cpuRatio)}x   target <= ${report.target.ratio}x (wall): ${report.target.met ? 'MET' : 'NOT MET'}`,
    '  heaviest steps (query s + Parquet write s):',
    ...heaviest.map(
      (step) =>
        `    ${step.file.padEnd(34)}${fmt(step.querySeconds, 2).padStart(7)} + ${fmt(step.writeSeconds, 2)}`,
    ),
    '',
    `done in ${report.elapsedSeconds.toFixed(0)} s`,
    '',
  ].join('\n');
}
