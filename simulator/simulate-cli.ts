/**
 * `sdap simulate`: runs the fleet simulation and publishes it over MQTT — to a serving twin, or to
 * a real AWS IoT Core endpoint over mutual TLS — or, with `--dry-run`, only writes the ground truth,
 * the registry and the messages to files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FLEET_FLAGS, FlagError, parseFleetFlags } from './fleet-flags.ts';
import { writeGroundTruth } from './injections.ts';
import { createFleetPublisher, PublisherError } from './mqtt-publisher.ts';
import { SimulationOptionsError } from './options.ts';
import { writeRegistry } from './registry.ts';
import { simulateFleet } from './simulate.ts';

export const SIMULATE_USAGE = `usage: sdap simulate [options]

  --endpoint URL            mqtts://<prefix>-ats.iot.<region>.amazonaws.com:8883, a serving twin
                            (mqtts://127.0.0.1:8883, see sdap twin --help), or mqtt://host:port
  --cert-dir DIR            with mqtts: <deviceId>.cert.pem and <deviceId>.private.key per device
                            (a serving twin's: <out>/certs/devices, filled by sdap twin certs)
  --ca FILE                 with mqtts: the CA of the endpoint (Amazon Root CA 1; a twin's <out>/certs/ca.cert.pem)
  --basic-ingest RULE       publish to $aws/rules/RULE/dt/sdap/<thing>/telemetry (no messaging charge)
  --devices N --hours H --seed N --readings-per-message N
  --start ISO               fleet time of the first reading (default: now minus --hours)
  --speed X                 fleet seconds per wall second; 0 = as fast as possible (default 0)
  --out DIR                 ground truth and registry (default out/simulate)
  --dry-run                 publish nothing: write messages.ndjson (topic, payload) instead
  --quiet                   no progress display`;

export async function simulateCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        ...FLEET_FLAGS,
        endpoint: { type: 'string' },
        'cert-dir': { type: 'string' },
        ca: { type: 'string' },
        'basic-ingest': { type: 'string' },
        start: { type: 'string' },
        out: { type: 'string' },
        'dry-run': { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(SIMULATE_USAGE);
    return 0;
  }
  const outDir = typeof values.out === 'string' ? values.out : 'out/simulate';
  const dryRun = values['dry-run'] === true;
  if (!dryRun && typeof values.endpoint !== 'string') {
    console.error(`--endpoint is required unless --dry-run\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  try {
    const { devices, seed, readingsPerMessage, ...fleet } = parseFleetFlags(
      values as Partial<Record<keyof typeof FLEET_FLAGS, string>>,
    );
    const hours = fleet.hours ?? 1;
    const sim = simulateFleet({
      durationHours: hours,
      start: typeof values.start === 'string' ? values.start : Math.floor(Date.now() - hours * 3_600_000),
      ...(devices !== undefined && { devices }),
      ...(seed !== undefined && { seed }),
      ...(readingsPerMessage !== undefined && { readingsPerMessage }),
      ...(typeof values['basic-ingest'] === 'string' && {
        basicIngest: { ruleName: values['basic-ingest'] },
      }),
    });
    const speed = fleet.speed ?? 0;
    await mkdir(outDir, { recursive: true });
    await writeGroundTruth(sim.groundTruth(), outDir);
    await writeRegistry(sim.registry(), outDir);
    const progress = process.stderr.isTTY && values.quiet !== true && process.env.CI === undefined;
    if (dryRun) {
      const lines: string[] = [];
      for (const m of sim)
        lines.push(JSON.stringify({ topic: m.topic, payload: m.payload.toString('utf8') }));
      await writeFile(join(outDir, 'messages.ndjson'), `${lines.join('\n')}\n`);
    } else {
      const publisher = createFleetPublisher({
        url: values.endpoint as string,
        ...(typeof values['cert-dir'] === 'string' &&
          typeof values.ca === 'string' && {
            credentials: { certDir: values['cert-dir'], caFile: values.ca },
          }),
      });
      const wallStart = Date.now();
      try {
        for (const message of sim) {
          if (speed > 0) {
            const wait = wallStart + (message.publishAtMs - sim.startMs) / speed - Date.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          await publisher.publish(message);
          if (progress && publisher.stats.published % 500 === 0) {
            process.stderr.write(`\r  published ${publisher.stats.published} messages   `);
          }
        }
      } finally {
        await publisher.close();
      }
      if (publisher.stats.failed > 0) console.error(publisher.errors.slice(-5).join('\n'));
    }
    const summary = sim.summary();
    console.log(
      `sdap simulate: ${summary.devices} devices, ${summary.messages} messages, ${summary.readings} readings, ` +
        `${Object.values(summary.injections).reduce((a, b) => a + b, 0)} labelled injections; ground truth and registry in ${outDir}`,
    );
    return 0;
  } catch (error) {
    if (
      error instanceof SimulationOptionsError ||
      error instanceof PublisherError ||
      error instanceof FlagError
    ) {
      console.error(`sdap simulate: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
