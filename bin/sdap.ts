#!/usr/bin/env node
/**
 * `sdap`: the project's command-line tool.
 *
 *   sdap start            the local twin with defaults that show the product (what `npm start` runs)
 *   sdap twin [options]   the local twin: simulated fleet -> MQTT -> rule -> Kinesis -> validator -> S3
 *   sdap twin --serve     the same pipeline kept running for real devices and tools (docs/twin-serve.md)
 *   sdap twin certs       device certificates from the twin's own CA, for a serving twin
 *   sdap simulate [opts]  the device fleet, published over MQTT to a twin or to AWS IoT Core (mTLS)
 *   sdap etl [--out DIR]  rerun the batch stage over a twin's lake (an hour range, or all of it)
 *   sdap etl --stage S    start a deployed stage's ETL workflow over an hour range (backfill)
 *   sdap status --stage S latest ETL executions and Glue job runs of a deployed stage
 *   sdap query "SQL"      SQL against the twin's DuckDB warehouse, opened read only (table, csv, json)
 *   sdap erase --device D erase one device from a twin's output (right to erasure), with an audit record
 *   sdap schema [--check] write (or check) the contract's JSON Schema file
 *   sdap cost [options]   a stage's monthly AWS bill by service and its cost per million events
 *
 * Every command validates its flags and fails with a message naming the flag, the value received
 * and what is allowed, never with a stack trace.
 */
// First: the handlers' logs stay quiet in the local tools (see the module).
import '../local/quiet-handler-logs.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { telemetryJsonSchemaText } from '../lambdas/shared/json-schema.ts';
import { START_DEFAULTS, twinCommand } from '../local/twin-cli.ts';
import { simulateCommand } from '../simulator/simulate-cli.ts';

// The local tools run on Node 20 (TOOLCHAIN.md); the deployed functions run on the newest Lambda
// runtime. The SDK's reminder about Node 20 would only clutter every twin run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// `sdap cost | head`: a reader that closed the pipe has all it wanted; stop without a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

/** Where the contract's JSON Schema is committed. */
export const JSON_SCHEMA_PATH = 'schema/telemetry-message.schema.json';

type Command = (args: string[]) => Promise<number>;

/** Whether a command's arguments name a deployed stage (`--stage`) rather than a twin output. */
const targetsDeployedStage = (args: readonly string[]) =>
  args.some((arg) => arg === '--stage' || arg.startsWith('--stage='));

const commands: Record<string, { summary: string; run: Command }> = {
  start: {
    summary: 'the local twin with the defaults of npm start (see sdap twin --help)',
    run: (args) => twinCommand(args, START_DEFAULTS),
  },
  twin: {
    summary:
      'run the streaming path locally: fleet -> MQTT -> rule -> Kinesis -> validator -> S3 (--serve: for your own clients; certs: their certificates)',
    run: (args) => twinCommand(args),
  },
  simulate: {
    summary: 'simulate the fleet and publish it to a twin or to AWS IoT Core (see sdap simulate --help)',
    run: simulateCommand,
  },
  etl: {
    summary: "rerun the batch stage over a twin's lake, or with --stage start a deployed stage's ETL",
    // Imported when used: the AWS clients and DuckDB would slow every other command's start.
    run: async (args) =>
      targetsDeployedStage(args)
        ? (await import('../ops/etl-command.ts')).etlCommand(args)
        : (await import('../local/twin-etl.ts')).twinEtlCommand(args),
  },
  requeue: {
    summary:
      'after a fix, put quarantined originals back on the stream of a twin output or, with --stage, a deployed stage (see sdap requeue --help)',
    // Imported when used, as etl: the AWS clients and the twin would slow every other command's start.
    run: async (args) => (await import('../ops/requeue-command.ts')).requeueCommand(args),
  },
  cost: {
    summary: "estimate a stage's monthly AWS bill and cost per million events (see sdap cost --help)",
    run: async (args) => (await import('../ops/cost-command.ts')).costCommand(args),
  },
  replay: {
    summary:
      "rebuild curated data, predictions and warehouse facts for a time range from the raw zone and compare checksums (twin), or with --stage start a deployed stage's backfill",
    // Imported when used, as etl: the AWS clients and DuckDB would slow every other command's start.
    run: async (args) =>
      targetsDeployedStage(args)
        ? (await import('../ops/etl-command.ts')).etlCommand(args)
        : (await import('../local/twin-replay.ts')).twinReplayCommand(args),
  },
  train: {
    summary:
      'train the models on twin output with XGBoost 1.7, gate them and log the run (see sdap train --help)',
    // Imported when used, as etl: DuckDB and the twin would slow every other command's start.
    run: async (args) => (await import('../local/ml/train-command.ts')).trainCommand(args),
  },
  status: {
    summary: 'latest ETL executions and Glue job runs of a deployed stage (see sdap status --help)',
    run: async (args) => (await import('../ops/status-command.ts')).statusCommand(args),
  },
  query: {
    summary: "run SQL against the twin's DuckDB warehouse, read only (see sdap query --help)",
    // Imported when used, as etl: DuckDB would slow every other command's start.
    run: async (args) => (await import('../local/query-command.ts')).queryCommand(args),
  },
  erase: {
    summary: "erase one device from a twin's output, with an audit record (see sdap erase --help)",
    // Imported when used, as query: DuckDB and the S3 stand-in would slow every other command's start.
    run: async (args) => (await import('../local/erase-command.ts')).eraseCommand(args),
  },
  schema: {
    summary: 'write the contract JSON Schema (--check: fail if the committed file is stale)',
    run: async (args) => {
      const unknown = args.filter((a) => a !== '--check');
      if (unknown.length > 0) return usageError(`schema: unknown option ${unknown[0]}; allowed: --check`);
      const text = telemetryJsonSchemaText();
      if (args.includes('--check')) {
        const committed = await readFile(JSON_SCHEMA_PATH, 'utf8').catch(() => '');
        if (committed !== text) {
          console.error(`${JSON_SCHEMA_PATH} is stale: run npm run schema`);
          return 1;
        }
        console.log(`${JSON_SCHEMA_PATH} is up to date`);
        return 0;
      }
      await writeFile(JSON_SCHEMA_PATH, text);
      console.log(`wrote ${JSON_SCHEMA_PATH}`);
      return 0;
    },
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, { summary }]) => `  ${name.padEnd(10)} ${summary}`);
  return `usage: sdap <command> [options]\n\ncommands:\n${lines.join('\n')}`;
}

function usageError(message: string): number {
  console.error(`${message}\n\n${usage()}`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(usage());
    return 0;
  }
  const command = commands[name];
  if (!command) return usageError(`unknown command '${name}'`);
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`sdap: ${error instanceof Error ? error.message : String(error)}`);
    // An unexpected failure is a bug to report: SDAP_DEBUG=1 adds the stack trace for it.
    if (process.env.SDAP_DEBUG && error instanceof Error) console.error(error.stack);
    process.exitCode = 1;
  },
);
