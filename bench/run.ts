/**
 * `npm run bench`: the validator's CPU path against a floor and a peer, on one generated data set,
 * in one process.
 *
 *   (1) FLOOR  decode each Kinesis record's data (base64) and JSON.parse the rule envelope: the
 *              least any consumer of this stream must do.
 *   (1b)       the floor plus decoding and JSON.parsing the device payload: what any validator must
 *              do before it can look at a single field (shown to size the floor target).
 *   (2) OURS   `planBatch`: decode, validate, enrich, alerts, serialise, gzip (no I/O).
 *   (3) PEER   the same work the Powertools way (see peer.ts), and the same peer with a plain
 *              base64 helper instead of the documented `Base64Encoded`, to show what that costs.
 *   (4) the validator bundle's size, and what it is made of.
 *   (5) gzip levels 1, 3, 6 on the raw NDJSON the validator writes.
 *   (6) the local twin end to end, paced, and hop by hop (see twin.ts).
 *   (7) the batch ETL (glue-scripts/sql in DuckDB) on one day against a DuckDB floor (see etl.ts).
 *   (8) the fault matrix: the twin with its batch stage under each injected fault, ten seeds each;
 *       conservation, duplicates downstream, losses (see faults.ts).
 *   (9) 100,000 generated malformed and mutated payloads through the validator's classification
 *       path: crashes, inputs not classified exactly once (see fuzz.ts).
 *
 * Correctness is checked before anything is timed: both variants must agree, record by record,
 * with each other and with what the generator meant; otherwise the speed numbers mean nothing.
 *
 * Flags: --quick (small data, 3 runs), --json (one JSON object on stdout), --readings N, --runs N,
 * --seed N, --inner-schema (also time the peer wired with `innerSchema`), --strict (exit 2 when a
 * target is missed), --skip-twin, --twin-only, --twin-runs N (runs of each twin part; --runs, --seed
 * and --readings apply to (1)-(5) only), --skip-etl, --etl-only, --etl-readings N, --etl-runs N,
 * --skip-faults, --faults-only, --fault-seeds N, --skip-fuzz, --fuzz-only, --fuzz-inputs N.
 * Progress goes to stderr.
 */

// First: the handlers' logs stay quiet while the bench runs them (see the module).
import '../local/quiet-handler-logs.ts';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { RAW_GZIP_LEVEL } from '../lambdas/shared/lake-objects.ts';
import { RAW_PREFIX } from '../lambdas/shared/pipeline-names.ts';
import type { ValidatorTargets } from '../lambdas/validator/process-batch.ts';
import { type BundleReport, measureValidatorBundle } from './bundle-size.ts';
import { type Dataset, EXPECTED_CODE, generateDataset, type MessageKind, prng } from './data.ts';
import { type EtlBenchReport, etlBenchConfig, renderEtlTable, runEtlBench } from './etl.ts';
import { type FaultBenchReport, faultBenchConfig, renderFaultTable, runFaultBench } from './faults.ts';
import { type FuzzBenchReport, fuzzBenchConfig, renderFuzzTable, runFuzzBench } from './fuzz.ts';
import type { Peer } from './peer.ts';
import type * as Suite from './suite.ts';
import { renderTwinTable, runTwinBench, type TwinBenchReport, twinBenchConfig } from './twin.ts';

/** Targets the validator must meet. */
const TARGETS = {
  /** Ours as a share of the floor's records/s. */
  oursVsFloor: 0.18,
  /** Ours as a multiple of the peer's records/s. */
  oursVsPeer: 3,
} as const;

const GZIP_LEVELS = [1, 3, 6] as const;

/**
 * Full run: 80k readings (~11k records), 5 timed runs per variant. The peer handles ~8-10k
 * readings/s on one core, so the correctness pass plus 5 runs of ours and both peers stay near
 * 2 minutes on 2 idle cores only up to about this size; `--readings 300000 --runs 3` is the longer
 * alternative. Quick run: enough to exercise every path (each invalid kind occurs) in under half a
 * minute.
 */
const PRESETS = {
  full: { readings: 80_000, runs: 5 },
  quick: { readings: 15_000, runs: 3 },
} as const;

/**
 * A floor pass takes a few tens of milliseconds, too short to time on a shared machine: each run
 * times this many passes back to back and reports the time per pass.
 */
const FLOOR_PASSES_PER_RUN = 5;

/** Any fixed seed will do; fixed so that every run measures the same bytes. */
const DEFAULT_SEED = 20261127;

/** Event size range: the event source mapping's batch size is 100-500 in our deployments. */
const RECORDS_PER_EVENT = { min: 100, max: 500 } as const;

const BUCKETS: ValidatorTargets = {
  rawBucket: 'bench-raw',
  quarantineBucket: 'bench-quarantine',
  alertBusName: 'bench-alerts',
  criticalAlertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:bench-critical',
};

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    readings: { type: 'string' },
    runs: { type: 'string' },
    seed: { type: 'string' },
    'inner-schema': { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    'skip-twin': { type: 'boolean', default: false },
    'twin-only': { type: 'boolean', default: false },
    'twin-runs': { type: 'string' },
    'skip-etl': { type: 'boolean', default: false },
    'etl-only': { type: 'boolean', default: false },
    'etl-readings': { type: 'string' },
    'etl-runs': { type: 'string' },
    'skip-faults': { type: 'boolean', default: false },
    'faults-only': { type: 'boolean', default: false },
    'fault-seeds': { type: 'string' },
    'skip-fuzz': { type: 'boolean', default: false },
    'fuzz-only': { type: 'boolean', default: false },
    'fuzz-inputs': { type: 'string' },
  },
});

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} must be a positive integer, received '${raw}'`);
  }
  return value;
}

const preset = flags.quick ? PRESETS.quick : PRESETS.full;
const config = {
  readings: positiveInt('readings', flags.readings, preset.readings),
  runs: positiveInt('runs', flags.runs, preset.runs),
  seed: positiveInt('seed', flags.seed, DEFAULT_SEED),
};

const log = (message: string) => process.stderr.write(`${message}\n`);

/**
 * A full GC before every timed run, so that one variant's garbage is not collected on another's
 * clock. `--expose-gc` cannot be passed through `npm run bench`, hence the flag set at runtime.
 */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as (() => void) | undefined;

// ---------------------------------------------------------------------------------------------
// The timed code, bundled (see suite.ts for why)

/**
 * Where the bundle goes for the run: the gitignored output folder, so that the AWS SDK imports it
 * leaves external resolve from the project's node_modules. Removed once loaded.
 */
const SUITE_OUT_DIR = new URL('../out/bench/', import.meta.url);

async function loadSuite(): Promise<typeof Suite> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./suite.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    // Only the command classes of the write path are referenced; they are never called here.
    external: ['@aws-sdk/*'],
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.contents;
  if (!code) throw new Error('esbuild produced no bundle for bench/suite.ts');
  // The first directory mkdir created, if any: remove what this run created, and nothing else.
  const created = await mkdir(SUITE_OUT_DIR, { recursive: true });
  const file = new URL(`suite-${process.pid}.mjs`, SUITE_OUT_DIR);
  await writeFile(file, code);
  try {
    return (await import(file.href)) as typeof Suite;
  } finally {
    await rm(file, { force: true });
    if (created) await removeEmptyDirectories(fileURLToPath(SUITE_OUT_DIR), created);
  }
}

/** Removes `dir` and its parents up to `top` while they are empty (another process may use them). */
async function removeEmptyDirectories(dir: string, top: string): Promise<void> {
  for (let current = dir; current.startsWith(top); current = dirname(current)) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Correctness

interface SideCounts {
  recordsOk: number;
  recordsRejected: number;
  readingsValid: number;
  readingsInvalid: number;
}

interface Correctness {
  readonly ours: SideCounts;
  readonly peer: SideCounts;
  /** Records where ours and the peer disagree on "whole record valid", by the generator's kind. */
  readonly verdictMismatches: Partial<Record<MessageKind, number>>;
  /** Records where ours did not do what the generator meant, by kind. */
  readonly oursVsGenerator: Partial<Record<MessageKind, number>>;
  /** Records where the peer with the plain base64 helper decides otherwise than the peer. */
  readonly plainPeerDisagreements: number;
  /** Peer NDJSON lines that are not byte-identical to one of ours. */
  readonly peerLinesNotInOurs: number;
  /** Valid readings ours keeps and the peer drops, and how many the data says that should be. */
  readonly oursOnlyLines: number;
  readonly expectedOursOnlyLines: number;
  readonly ok: boolean;
  /** Ours' raw NDJSON bodies, uncompressed: the input of the gzip-level comparison. */
  readonly rawBodies: readonly Buffer[];
  readonly rawCompressedBytes: number;
}

const bump = <K extends string>(counts: Partial<Record<K, number>>, key: K) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** Runs ours and the peers once over everything (this is also their warm-up) and compares them. */
async function checkCorrectness(
  suite: typeof Suite,
  dataset: Dataset,
  peer: Peer,
  plainPeer: Peer,
): Promise<Correctness> {
  const ours: SideCounts = { recordsOk: 0, recordsRejected: 0, readingsValid: 0, readingsInvalid: 0 };
  const theirs: SideCounts = { recordsOk: 0, recordsRejected: 0, readingsValid: 0, readingsInvalid: 0 };
  const verdictMismatches: Partial<Record<MessageKind, number>> = {};
  const oursVsGenerator: Partial<Record<MessageKind, number>> = {};
  const rawBodies: Buffer[] = [];
  let rawCompressedBytes = 0;
  let peerLinesNotInOurs = 0;
  let oursOnlyLines = 0;
  let expectedOursOnlyLines = 0;
  let plainPeerDisagreements = 0;

  for (const [e, event] of dataset.events.entries()) {
    const meta = dataset.meta[e] ?? [];
    const plan = suite.planBatch(event, BUCKETS);
    const peerResult = await peer.processEvent(event);
    const failed = new Set(peerResult.failedSequenceNumbers);
    const plainResult = await plainPeer.processEvent(event);
    const plainFailed = new Set(plainResult.failedSequenceNumbers);

    plan.records.forEach(({ record, classified }, i) => {
      const intent = meta[i];
      if (!intent) throw new Error(`event ${e} record ${i} has no generator metadata`);
      const oursOk = classified.rejected.length === 0;
      const peerOk = !failed.has(record.kinesis.sequenceNumber);
      const valid = intent.kind === 'single' || intent.kind === 'batch';

      ours.recordsOk += oursOk ? 1 : 0;
      ours.recordsRejected += oursOk ? 0 : 1;
      ours.readingsValid += classified.valid.length;
      ours.readingsInvalid += classified.rejected.length;
      theirs.recordsOk += peerOk ? 1 : 0;
      theirs.recordsRejected += peerOk ? 0 : 1;
      theirs.readingsValid += peerOk ? intent.readings : 0;
      theirs.readingsInvalid += peerOk ? 0 : intent.readings;

      if (oursOk !== peerOk) bump(verdictMismatches, intent.kind);
      if (plainFailed.has(record.kinesis.sequenceNumber) === peerOk) plainPeerDisagreements++;
      const meant = valid
        ? oursOk && classified.valid.length === intent.readings
        : !oursOk &&
          classified.rejected[0]?.reasons[0]?.code === EXPECTED_CODE[intent.kind] &&
          classified.valid.length ===
            (intent.kind === 'batch_with_one_out_of_range' ? intent.readings - 1 : 0);
      if (!meant) bump(oursVsGenerator, intent.kind);
      if (intent.kind === 'batch_with_one_out_of_range') expectedOursOnlyLines += intent.readings - 1;
    });

    // Every line the peer writes must be one of ours, byte for byte (same enrichment, same order
    // of fields); what only ours writes must be exactly the valid readings of partly bad batches.
    const lines = new Map<string, number>();
    for (const object of plan.objects) {
      // Telemetry only: the validator also archives alerts in the raw bucket, under their own prefix.
      if (object.bucket !== BUCKETS.rawBucket || !object.key.startsWith(`${RAW_PREFIX}/`)) continue;
      const text = gunzipSync(object.body);
      rawBodies.push(text);
      rawCompressedBytes += object.body.byteLength;
      for (const line of text.toString('utf8').split('\n')) {
        if (line) lines.set(line, (lines.get(line) ?? 0) + 1);
      }
    }
    for (const object of peerResult.objects) {
      for (const line of gunzipSync(object.body).toString('utf8').split('\n')) {
        if (!line) continue;
        const left = lines.get(line) ?? 0;
        if (left === 0) peerLinesNotInOurs++;
        else lines.set(line, left - 1);
      }
    }
    for (const left of lines.values()) oursOnlyLines += left;
  }

  const ok =
    Object.keys(verdictMismatches).length === 0 &&
    Object.keys(oursVsGenerator).length === 0 &&
    plainPeerDisagreements === 0 &&
    peerLinesNotInOurs === 0 &&
    oursOnlyLines === expectedOursOnlyLines;
  return {
    ours,
    peer: theirs,
    verdictMismatches,
    oursVsGenerator,
    plainPeerDisagreements,
    peerLinesNotInOurs,
    oursOnlyLines,
    expectedOursOnlyLines,
    ok,
    rawBodies,
    rawCompressedBytes,
  };
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Variant {
  readonly id: string;
  readonly run: () => unknown;
  /** Passes timed back to back per run; the recorded time is per pass. */
  readonly passes?: number;
}

interface Timing {
  readonly runsMs: readonly number[];
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** (max - min) / median, in percent. */
  readonly spreadPct: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function summarise(runsMs: readonly number[]): Timing {
  const medianMs = median(runsMs);
  const minMs = Math.min(...runsMs);
  const maxMs = Math.max(...runsMs);
  return { runsMs, medianMs, minMs, maxMs, spreadPct: ((maxMs - minMs) / medianMs) * 100 };
}

/**
 * Per variant, the wall-clock time of each run and the process CPU time of the same run. Other
 * processes share these cores: wall time is what the targets are about, CPU time is the steadier
 * signal when the machine is busy (it includes V8's GC helper threads, which work for the variant).
 */
interface RoundTimes {
  readonly wall: ReadonlyMap<string, number[]>;
  readonly cpu: ReadonlyMap<string, number[]>;
}

/**
 * Runs every variant once per round, in an order shuffled anew each round (seeded, so runs are
 * repeatable): a noisy neighbour or a thermal dip is spread over all variants instead of landing on
 * one, and no variant always follows the same one. A fixed rotation did not do that: whatever ran
 * right after the peer (whose heap is the largest) paid for it in every round.
 */
async function timeRounds(variants: readonly Variant[], rounds: number, seed: number): Promise<RoundTimes> {
  const wall = new Map<string, number[]>(variants.map((variant) => [variant.id, []]));
  const cpu = new Map<string, number[]>(variants.map((variant) => [variant.id, []]));
  const random = prng(seed);
  for (let round = 0; round < rounds; round++) {
    const order = [...variants];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] as Variant, order[i] as Variant];
    }
    const line: string[] = [];
    for (const variant of order) {
      collectGarbage?.();
      const passes = variant.passes ?? 1;
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      for (let pass = 0; pass < passes; pass++) await variant.run();
      const elapsed = (performance.now() - start) / passes;
      const used = process.cpuUsage(cpuStart);
      wall.get(variant.id)?.push(elapsed);
      cpu.get(variant.id)?.push((used.user + used.system) / 1000 / passes);
      line.push(`${variant.id} ${Math.round(elapsed)} ms`);
    }
    log(`  round ${round + 1}/${rounds}: ${line.join(', ')}`);
  }
  return { wall, cpu };
}

/** Per-round ratios (noise within a round hits both sides), then their median and range. */
function pairedRatio(numeratorMs: readonly number[], denominatorMs: readonly number[]) {
  const ratios = numeratorMs.map((ms, i) => ms / (denominatorMs[i] as number));
  return { value: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

// ---------------------------------------------------------------------------------------------

const fmt = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (share: number, digits = 1) => `${(share * 100).toFixed(digits)} %`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const pad = (text: string, width: number) => text.padEnd(width);
const lpad = (text: string, width: number) => text.padStart(width);

/** (6) The twin section; undefined when skipped. */
async function twinSection(): Promise<TwinBenchReport | undefined> {
  if (flags['skip-twin']) return undefined;
  const runs = flags['twin-runs'];
  const twinConfig = twinBenchConfig(
    flags.quick,
    runs === undefined ? undefined : positiveInt('twin-runs', runs, 1),
  );
  log(
    `twin: ${twinConfig.runs} runs at full speed, ${twinConfig.runs} paced, ${twinConfig.runs} rounds of hops...`,
  );
  return runTwinBench(twinConfig, log, collectGarbage);
}

/** (7) The batch ETL section; undefined when skipped. */
async function etlSection(): Promise<EtlBenchReport | undefined> {
  if (flags['skip-etl']) return undefined;
  const readings = flags['etl-readings'];
  const runs = flags['etl-runs'];
  const etlConfig = etlBenchConfig(
    flags.quick,
    readings === undefined ? undefined : positiveInt('etl-readings', readings, 1),
    runs === undefined ? undefined : positiveInt('etl-runs', runs, 1),
  );
  return runEtlBench(etlConfig, log);
}

/** (8) The fault matrix; undefined when skipped. */
async function faultSection(): Promise<FaultBenchReport | undefined> {
  if (flags['skip-faults']) return undefined;
  const seeds = flags['fault-seeds'];
  const faultConfig = faultBenchConfig(
    flags.quick,
    seeds === undefined ? undefined : positiveInt('fault-seeds', seeds, 1),
  );
  log(`faults: the twin with its batch stage under each fault, ${faultConfig.seeds} seeds each...`);
  return runFaultBench(faultConfig, log);
}

/** (9) The fuzz section; undefined when skipped. */
function fuzzSection(): FuzzBenchReport | undefined {
  if (flags['skip-fuzz']) return undefined;
  const inputs = flags['fuzz-inputs'];
  const fuzzConfig = fuzzBenchConfig(
    flags.quick,
    inputs === undefined ? undefined : positiveInt('fuzz-inputs', inputs, 1),
  );
  log(`fuzz: ${fmt(fuzzConfig.inputs)} generated inputs through the classification path...`);
  return runFuzzBench(fuzzConfig, log);
}

async function main(): Promise<number> {
  if (flags['faults-only']) {
    const faults = (await faultSection()) as FaultBenchReport;
    process.stdout.write(flags.json ? `${JSON.stringify({ faults }, null, 2)}\n` : renderFaultTable(faults));
    return faults.ok ? 0 : 1;
  }
  if (flags['fuzz-only']) {
    const fuzz = fuzzSection() as FuzzBenchReport;
    process.stdout.write(flags.json ? `${JSON.stringify({ fuzz }, null, 2)}\n` : renderFuzzTable(fuzz));
    return fuzz.ok ? 0 : 1;
  }
  if (flags['etl-only']) {
    const etl = (await etlSection()) as EtlBenchReport;
    process.stdout.write(flags.json ? `${JSON.stringify({ etl }, null, 2)}\n` : renderEtlTable(etl));
    if (!etl.ok) return 1;
    return flags.strict && !etl.target.met ? 2 : 0;
  }
  if (flags['twin-only']) {
    const twin = (await twinSection()) as TwinBenchReport;
    process.stdout.write(flags.json ? `${JSON.stringify({ twin }, null, 2)}\n` : renderTwinTable(twin));
    if (!twin.ok) return 1;
    return flags.strict && !twin.target.met ? 2 : 0;
  }
  const started = performance.now();
  const startLoad = loadavg()[0] ?? 0;
  log(`generating ${fmt(config.readings)} readings (seed ${config.seed})...`);
  const dataset = generateDataset({
    readings: config.readings,
    seed: config.seed,
    minBatchRecords: RECORDS_PER_EVENT.min,
    maxBatchRecords: RECORDS_PER_EVENT.max,
  });
  const { events } = dataset;
  log('bundling the timed code...');
  const suite = await loadSuite();
  const { floorPass, payloadFloorPass, oursPass, peerPass, gzipPass } = suite;
  const peer = suite.createPeer();
  const plainPeer = suite.createPeer({ base64: 'plain' });
  const innerPeer = flags['inner-schema'] ? suite.createPeer({ wiring: 'innerSchema' }) : undefined;

  log('correctness pass (also the warm-up of ours and the peers)...');
  const correctness = await checkCorrectness(suite, dataset, peer, plainPeer);
  if (innerPeer) await peerPass(innerPeer, events);
  // Reproduce ours' raw objects from the NDJSON, so that (5) measures exactly what (2) compresses.
  const reproduced = gzipPass(correctness.rawBodies, RAW_GZIP_LEVEL);
  if (reproduced !== correctness.rawCompressedBytes) {
    throw new Error(
      `gzip level ${RAW_GZIP_LEVEL} of the raw NDJSON gives ${reproduced} bytes, the validator wrote ${correctness.rawCompressedBytes}: the gzip comparison would not measure the validator's compression`,
    );
  }
  floorPass(events);
  payloadFloorPass(events);
  for (const level of GZIP_LEVELS) gzipPass(correctness.rawBodies, level);

  const variants: Variant[] = [
    { id: 'floor', run: () => floorPass(events), passes: FLOOR_PASSES_PER_RUN },
    { id: 'floor-payload', run: () => payloadFloorPass(events) },
    { id: 'ours', run: () => oursPass(events, BUCKETS) },
    { id: 'peer', run: () => peerPass(peer, events) },
    { id: 'peer-plain', run: () => peerPass(plainPeer, events) },
    ...(innerPeer ? [{ id: 'peer-inner', run: () => peerPass(innerPeer, events) }] : []),
    ...GZIP_LEVELS.map((level) => ({
      id: `gzip-${level}`,
      run: () => gzipPass(correctness.rawBodies, level),
    })),
  ];
  log(`timing: ${config.runs} rounds of ${variants.length} variants, order shuffled each round...`);
  const times = await timeRounds(variants, config.runs, config.seed);

  log('bundling the validator...');
  const bundle = await measureValidatorBundle();
  const compressedBytes = new Map(
    GZIP_LEVELS.map((level) => [level, gzipPass(correctness.rawBodies, level)]),
  );
  const report = buildReport({ dataset, correctness, times, compressedBytes, bundle, started, startLoad });

  const twin = await twinSection();
  const etl = await etlSection();
  const faults = await faultSection();
  const fuzz = fuzzSection();

  if (flags.json) {
    const sections = {
      ...(twin && { twin }),
      ...(etl && { etl }),
      ...(faults && { faults }),
      ...(fuzz && { fuzz }),
    };
    process.stdout.write(`${JSON.stringify({ ...report, ...sections }, null, 2)}\n`);
  } else {
    process.stdout.write(
      renderTable(report) +
        (twin ? renderTwinTable(twin) : '') +
        (etl ? renderEtlTable(etl) : '') +
        (faults ? renderFaultTable(faults) : '') +
        (fuzz ? renderFuzzTable(fuzz) : ''),
    );
  }
  const failed = [correctness.ok, twin?.ok, etl?.ok, faults?.ok, fuzz?.ok].includes(false);
  if (failed) return 1;
  const { pass } = report;
  if (
    flags.strict &&
    !(
      pass.oursVsFloor &&
      pass.oursVsPeer &&
      pass.bundle &&
      (twin?.target.met ?? true) &&
      (etl?.target.met ?? true)
    )
  )
    return 2;
  return 0;
}

interface Throughput extends Timing {
  readonly description: string;
  /** Median process CPU time of a run. */
  readonly cpuMedianMs: number;
  readonly recordsPerSec: number;
  /** Null for variants that do not look at readings. */
  readonly readingsPerSec: number | null;
}

interface ReportInputs {
  readonly dataset: Dataset;
  readonly correctness: Correctness;
  readonly times: RoundTimes;
  /** Compressed size of all raw NDJSON bodies, by gzip level. */
  readonly compressedBytes: ReadonlyMap<number, number>;
  readonly bundle: BundleReport;
  readonly started: number;
  readonly startLoad: number;
}

/** Everything the run found, as printed in the table and emitted with --json. */
function buildReport({
  dataset,
  correctness,
  times,
  compressedBytes,
  bundle,
  started,
  startLoad,
}: ReportInputs) {
  const { events } = dataset;
  const runsOf = (id: string) => times.wall.get(id) ?? [];
  const cpuRunsOf = (id: string) => times.cpu.get(id) ?? [];
  const timing = (id: string) => summarise(runsOf(id));

  const perSecond = (count: number, ms: number) => count / (ms / 1000);
  const throughput = (id: string, description: string, withReadings: boolean): Throughput => {
    const t = timing(id);
    return {
      description,
      recordsPerSec: perSecond(dataset.records, t.medianMs),
      readingsPerSec: withReadings ? perSecond(dataset.readings, t.medianMs) : null,
      cpuMedianMs: median(cpuRunsOf(id)),
      ...t,
    };
  };
  const results = {
    floor: throughput(
      'floor',
      `base64-decode kinesis.data + JSON.parse of the rule envelope; device payload left encoded (${FLOOR_PASSES_PER_RUN} passes per run)`,
      false,
    ),
    floorPayload: throughput(
      'floor-payload',
      'FLOOR + base64/UTF-8/JSON.parse of the device payload; nothing validated, enriched or written',
      true,
    ),
    ours: throughput(
      'ours',
      'planBatch: decode, validate (zod contract), enrich, alerts, NDJSON, gzip, object keys, quarantine documents',
      true,
    ),
    peer: throughput(
      'peer',
      'Powertools BatchProcessor + parser (KinesisDataStreamRecord.extend, Base64Encoded x2, telemetryMessage), same enrichment, alerts, NDJSON, gzip, keys',
      true,
    ),
    peerPlainBase64: throughput(
      'peer-plain',
      'as PEER, with a plain base64 + JSON.parse helper in place of Base64Encoded (no gunzip attempt, one decode)',
      true,
    ),
    ...(times.wall.has('peer-inner') && {
      peerInnerSchema: throughput(
        'peer-inner',
        "as PEER, wired with innerSchema + transformer 'base64' (the processor re-extends its schema per record)",
        true,
      ),
    }),
  };
  /** Share of the peer's time that Base64Encoded costs over the plain helper, per round. */
  const helperShare = (of: (id: string) => number[]) => {
    const plain = of('peer-plain');
    const shares = of('peer').map((ms, i) => 1 - (plain[i] as number) / ms);
    return { value: median(shares), min: Math.min(...shares), max: Math.max(...shares) };
  };
  const base64EncodedCost = { wall: helperShare(runsOf), cpu: helperShare(cpuRunsOf) };
  const ratios = {
    oursVsFloor: {
      ...pairedRatio(runsOf('floor'), runsOf('ours')),
      target: TARGETS.oursVsFloor,
      onCpuTime: pairedRatio(cpuRunsOf('floor'), cpuRunsOf('ours')),
    },
    /** Not a target: how much of the floor target merely parsing the payload already uses. */
    payloadFloorVsFloor: pairedRatio(runsOf('floor'), runsOf('floor-payload')),
    oursVsPeer: {
      ...pairedRatio(runsOf('peer'), runsOf('ours')),
      target: TARGETS.oursVsPeer,
      onCpuTime: pairedRatio(cpuRunsOf('peer'), cpuRunsOf('ours')),
    },
    /** Not a target: ours against a peer that avoids Base64Encoded. */
    oursVsPeerPlain: {
      ...pairedRatio(runsOf('peer-plain'), runsOf('ours')),
      onCpuTime: pairedRatio(cpuRunsOf('peer-plain'), cpuRunsOf('ours')),
    },
  };
  const rawBytes = correctness.rawBodies.reduce((sum, body) => sum + body.byteLength, 0);
  const rawReadings = correctness.ours.readingsValid;
  const oursMs = timing('ours').medianMs;
  const currentGzipMs = timing(`gzip-${RAW_GZIP_LEVEL}`).medianMs;
  const gzip = GZIP_LEVELS.map((level) => {
    const t = timing(`gzip-${level}`);
    const compressed = compressedBytes.get(level) ?? Number.NaN;
    return {
      level,
      current: level === RAW_GZIP_LEVEL,
      ...t,
      inputMBPerSec: rawBytes / 1e6 / (t.medianMs / 1000),
      readingsPerSec: perSecond(rawReadings, t.medianMs),
      recordsPerSec: perSecond(dataset.records, t.medianMs),
      compressionRatio: rawBytes / compressed,
      compressedBytes: compressed,
      cpuMedianMs: median(cpuRunsOf(`gzip-${level}`)),
      shareOfOurs: t.medianMs / oursMs,
      shareOfOursCpu: median(cpuRunsOf(`gzip-${level}`)) / median(cpuRunsOf('ours')),
      /** Ours with this level instead of the current one: swap the gzip time, keep the rest. */
      estimatedOursRecordsPerSec: perSecond(dataset.records, oursMs - currentGzipMs + t.medianMs),
    };
  });
  const pass = {
    oursVsFloor: ratios.oursVsFloor.value >= TARGETS.oursVsFloor,
    oursVsPeer: ratios.oursVsPeer.value >= TARGETS.oursVsPeer,
    bundle: bundle.pass,
  };
  const recordsPerEvent = events.map((event) => event.Records.length);
  const invalidMessages = dataset.records - dataset.messagesByKind.single - dataset.messagesByKind.batch;
  const report = {
    data: {
      seed: config.seed,
      readings: dataset.readings,
      records: dataset.records,
      events: events.length,
      recordsPerEvent: {
        min: Math.min(...recordsPerEvent),
        max: Math.max(...recordsPerEvent),
        mean: dataset.records / events.length,
      },
      messagesByKind: dataset.messagesByKind,
      invalidMessageShare: invalidMessages / dataset.records,
      kinesisDataBytes: dataset.kinesisDataChars,
      devicePayloadBytes: dataset.payloadBytes,
      rawNdjsonBytes: rawBytes,
    },
    method: {
      runs: config.runs,
      warmUp: 'one full pass of every variant (for ours and the peer: the correctness pass)',
      order: 'every round runs each variant once, in a seeded random order drawn anew each round',
      fullGcBeforeEachRun: collectGarbage !== undefined,
      statistic: 'median of runs; spread = (max - min) / median; ratios = median of per-round ratios',
      floorPassesPerRun: FLOOR_PASSES_PER_RUN,
      node: process.version,
      /** 1-minute load average before and after: other processes share these cores. */
      loadAverage: { start: startLoad, end: loadavg()[0] ?? 0 },
    },
    correctness: {
      ok: correctness.ok,
      ours: correctness.ours,
      peer: correctness.peer,
      verdictMismatches: correctness.verdictMismatches,
      plainPeerDisagreements: correctness.plainPeerDisagreements,
      oursVsGenerator: correctness.oursVsGenerator,
      peerLinesNotInOurs: correctness.peerLinesNotInOurs,
      oursOnlyLines: correctness.oursOnlyLines,
      expectedOursOnlyLines: correctness.expectedOursOnlyLines,
    },
    throughput: results,
    base64EncodedCost,
    ratios,
    bundle,
    gzip,
    pass,
    elapsedSeconds: (performance.now() - started) / 1000,
  };

  return report;
}

type Report = ReturnType<typeof buildReport>;

function renderTable(report: Report): string {
  const { data, correctness: c, bundle } = report;
  const kinds = data.messagesByKind;
  const share = (n: number) => pct(n / data.records);
  const out: string[] = [];
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  out.push(
    '',
    `sdap validator bench (${report.method.node}, seed ${data.seed})`,
    `  data: ${fmt(data.readings)} readings in ${fmt(data.records)} Kinesis records, ${fmt(data.events)} events of ${data.recordsPerEvent.min}-${data.recordsPerEvent.max} records (mean ${fmt(data.recordsPerEvent.mean)}), one shard per event, 4 device types`,
    `  messages: ${share(kinds.single)} single reading, ${share(kinds.batch)} batched (2-32 readings), ${pct(data.invalidMessageShare)} invalid: not JSON ${share(kinds.not_json)}, out of range ${share(kinds.out_of_range)}, unknown device type ${share(kinds.unknown_device_type)}, batch with one out-of-range reading ${share(kinds.batch_with_one_out_of_range)}`,
    `  bytes: ${mb(data.kinesisDataBytes)} of kinesis.data (base64 rule envelopes), ${mb(data.devicePayloadBytes)} of device payloads, ${mb(data.rawNdjsonBytes)} of raw NDJSON written`,
    `  method: warm-up pass, then ${report.method.runs} rounds; each round runs every variant once in a freshly shuffled order; full GC before each run; median [min-max], spread = (max-min)/median`,
    `  machine: load average ${report.method.loadAverage.start.toFixed(2)} at start, ${report.method.loadAverage.end.toFixed(2)} at end (other processes share the cores; spreads above ~20 % mean noise)`,
    '',
    'Correctness (before timing)              records ok / rejected     readings valid / invalid',
  );
  const side = (label: string, s: SideCounts) =>
    `  ${pad(label, 38)}${lpad(fmt(s.recordsOk), 10)} / ${pad(fmt(s.recordsRejected), 12)}${lpad(fmt(s.readingsValid), 10)} / ${fmt(s.readingsInvalid)}`;
  out.push(side('(2) OURS', c.ours), side('(3) PEER (rejected = batchItemFailures)', c.peer));
  const mismatches = Object.entries(c.verdictMismatches);
  out.push(
    mismatches.length === 0
      ? `  record verdicts agree on all ${fmt(data.records)} records; ours matches the generator's intent on every record: ${Object.keys(c.oursVsGenerator).length === 0 ? 'yes' : `NO ${JSON.stringify(c.oursVsGenerator)}`}`
      : `  RECORD VERDICTS DIFFER: ${mismatches.map(([kind, n]) => `${kind} ${n}`).join(', ')}`,
    `  readings differ by design: the peer validates a message as a whole, so a batch with one bad reading loses all of them; ours keeps ${fmt(c.oursOnlyLines)} valid readings of such batches (expected ${fmt(c.expectedOursOnlyLines)}) and quarantines only the bad one`,
    `  the peer reports invalid messages as failures (retried, shard blocked; RELIABILITY.md point 5); ours quarantines them and reports success`,
    `  NDJSON: ${c.peerLinesNotInOurs === 0 ? 'every line the peer writes is byte-identical to one of ours' : `${fmt(c.peerLinesNotInOurs)} peer lines are not in ours`}`,
    `  => correctness ${c.ok ? 'OK' : 'FAILED'}`,
    '',
    `Throughput                        records/s    readings/s    median ms  [min-max]          spread   cpu ms`,
  );
  const row = (label: string, t: Throughput | undefined) =>
    t
      ? `  ${pad(label, 30)}${lpad(fmt(t.recordsPerSec), 11)}${lpad(t.readingsPerSec === null ? '-' : fmt(t.readingsPerSec), 14)}${lpad(fmt(t.medianMs), 13)}  ${pad(`[${fmt(t.minMs)}-${fmt(t.maxMs)}]`, 19)}${lpad(`${t.spreadPct.toFixed(1)} %`, 7)}${lpad(fmt(t.cpuMedianMs), 9)}`
      : '';
  const th = report.throughput;
  out.push(
    row('(1) FLOOR', th.floor),
    `        ${th.floor?.description}`,
    row('(1b) FLOOR + payload parse', th.floorPayload),
    `        ${th.floorPayload?.description}`,
    row('(2) OURS', th.ours),
    `        ${th.ours?.description}`,
    row('(3) PEER', th.peer),
    `        ${th.peer?.description}`,
    row("(3') PEER, plain base64 helper", th.peerPlainBase64),
    `        ${th.peerPlainBase64?.description}`,
  );
  if (th.peerInnerSchema)
    out.push(row('(3b) PEER, innerSchema', th.peerInnerSchema), `        ${th.peerInnerSchema.description}`);
  const cost = report.base64EncodedCost;
  out.push(
    `  Base64Encoded costs PEER ${pct(cost.cpu.value)} of its CPU time (${pct(cost.wall.value)} of its wall time [${pct(cost.wall.min)}-${pct(cost.wall.max)}]): (3) vs (3'); same verdicts on every record: ${c.plainPeerDisagreements === 0 ? 'yes' : `NO (${c.plainPeerDisagreements} records differ)`}`,
  );
  out.push(
    '  (Base64Encoded tries to gunzip every value and catches the failure, then decodes the base64 a second time; PEER applies it twice per record)',
  );
  const r = report.ratios;
  out.push(
    '',
    'Ratios (median of per-round ratios [min-max])      result                   target     ',
    `  (2)/(1) ours vs floor                            ${pad(`${pct(r.oursVsFloor.value)} [${pct(r.oursVsFloor.min)}-${pct(r.oursVsFloor.max)}]`, 25)}>= ${pct(r.oursVsFloor.target, 0)}   ${verdict(report.pass.oursVsFloor)}   on CPU time: ${pct(r.oursVsFloor.onCpuTime.value)}`,
    `  (2)/(3) ours vs peer                             ${pad(`${r.oursVsPeer.value.toFixed(2)}x [${r.oursVsPeer.min.toFixed(2)}-${r.oursVsPeer.max.toFixed(2)}]`, 25)}>= ${r.oursVsPeer.target}x      ${verdict(report.pass.oursVsPeer)}   on CPU time: ${r.oursVsPeer.onCpuTime.value.toFixed(2)}x`,
    `  (2)/(3') ours vs peer with plain base64 helper   ${pad(`${r.oursVsPeerPlain.value.toFixed(2)}x [${r.oursVsPeerPlain.min.toFixed(2)}-${r.oursVsPeerPlain.max.toFixed(2)}]`, 25)}(no target)   on CPU time: ${r.oursVsPeerPlain.onCpuTime.value.toFixed(2)}x`,
    `  (1b)/(1) payload parse alone vs floor           ${pad(`${pct(r.payloadFloorVsFloor.value)} [${pct(r.payloadFloorVsFloor.min)}-${pct(r.payloadFloorVsFloor.max)}]`, 25)}(no target: decoding alone already runs at this share of the floor)`,
    '',
    `(4) Validator bundle (${bundle.entry}; esbuild, platform node, esm, target node22, minify, external @aws-sdk/*)`,
    `  ${fmt(bundle.bytes)} bytes = ${(bundle.bytes / 1024).toFixed(1)} KB (1 KB = 1024 B)       target <= ${bundle.budgetBytes / 1024} KB   ${verdict(bundle.pass)}`,
    '  top contributors (bytes in output):',
  );
  const shown = bundle.contributors.slice(0, 10);
  for (const contributor of shown) {
    out.push(
      `    ${pad(contributor.name, 44)}${lpad(fmt(contributor.bytes), 9)}  ${lpad(pct(contributor.bytes / bundle.bytes), 7)}`,
    );
  }
  const rest = bundle.contributors.slice(shown.length);
  if (rest.length > 0) {
    out.push(
      `    ${pad(`${rest.length} more`, 44)}${lpad(fmt(rest.reduce((sum, x) => sum + x.bytes, 0)), 9)}`,
    );
  }
  out.push(
    '',
    `(5) gzip level of the raw NDJSON (${mb(data.rawNdjsonBytes)}, one gzip call per raw object as the validator does; RAW_GZIP_LEVEL = ${RAW_GZIP_LEVEL})`,
    '  level   ratio   MB/s in   readings/s   records/s   median ms [min-max]    cpu ms   share of OURS (cpu)   est. OURS records/s',
  );
  for (const level of report.gzip) {
    out.push(
      `  ${pad(`${level.level}${level.current ? '*' : ''}`, 6)}${lpad(`${level.compressionRatio.toFixed(2)}x`, 7)}${lpad(fmt(level.inputMBPerSec), 10)}${lpad(fmt(level.readingsPerSec), 13)}${lpad(fmt(level.recordsPerSec), 12)}${lpad(fmt(level.medianMs), 10)} ${pad(`[${fmt(level.minMs)}-${fmt(level.maxMs)}]`, 13)}${lpad(fmt(level.cpuMedianMs), 7)}${lpad(`${pct(level.shareOfOurs)} (${pct(level.shareOfOursCpu)})`, 22)}${lpad(fmt(level.estimatedOursRecordsPerSec), 22)}`,
    );
  }
  out.push(
    '  (* = current level; records/s = all records / gzip time alone; est. = OURS with its gzip time swapped for this level)',
    '',
    `done in ${report.elapsedSeconds.toFixed(0)} s`,
    '',
  );
  return out.join('\n');
}

process.exitCode = await main();
