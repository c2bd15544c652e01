/**
 * `sdap erase --device ID`: the right to erasure over a twin's output (see erase.ts). Exit codes:
 * 0 erased (or planned, or already erased before), 1 nothing found for a device never erased, or
 * data left after the erasure, 2 usage.
 */
import { stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkedDeviceId, DeviceIdError } from '../lambdas/shared/erasure.ts';
import { eraseDeviceFromTwin, type TwinErasureResult } from './erase.ts';
import { DEFAULT_OUT_DIR } from './twin-output.ts';

export const ERASE_USAGE = `usage: sdap erase --device ID [--out DIR] [--requested-by WHO] [--dry-run] [--json]

Erases one device from a twin's output (right to erasure): every lake object holding it is
rewritten without its records (or deleted when nothing else is left), its rows are deleted from
<out>/warehouse.duckdb and the file is rewritten so their bytes are gone, the report and the NDJSON
files beside the lake are cleaned, everything is searched again, and an audit record (who, which
device, when, how many records per zone and table) goes to <out>/lake's audit bucket.
Stop any twin using the directory first: nothing else may write it meanwhile.

  --device ID         the device (its IoT thing name), as the contract allows it
  --out DIR           the twin's output directory (default ${DEFAULT_OUT_DIR})
  --requested-by WHO  who asked for the erasure, for the audit record (default: your user name)
  --dry-run           find and count only; change nothing and write no audit record
  --json              print the result as JSON`;

/** Where the command writes: results to `out`, messages to `error`. */
export interface EraseIo {
  readonly out: (text: string) => void;
  readonly error: (text: string) => void;
}

const CONSOLE_IO: EraseIo = { out: (text) => console.log(text), error: (text) => console.error(text) };

const FLAGS = {
  device: { type: 'string' },
  out: { type: 'string' },
  'requested-by': { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Runs the command; returns the exit code. */
export async function eraseCommand(args: string[], io: EraseIo = CONSOLE_IO): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>['values'];
  let deviceId: string;
  let requestedBy: string;
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
    if (values.help) {
      io.out(ERASE_USAGE);
      return 0;
    }
    if (values.device === undefined) throw new Error('--device: missing; name the device to erase');
    deviceId = checkedDeviceId(values.device, '--device');
    requestedBy = (values['requested-by'] ?? userInfo().username).trim();
    if (requestedBy === '')
      throw new Error(
        `--requested-by: received '${values['requested-by'] ?? ''}', expected a person or a ticket`,
      );
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    io.error(`sdap erase: ${error.message}\n\n${ERASE_USAGE}`);
    return 2;
  }
  const outDir = resolve(values.out ?? DEFAULT_OUT_DIR);
  const isTwinOutput = await stat(join(outDir, 'lake')).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isTwinOutput) {
    io.error(
      `sdap erase: --out ${outDir}: no twin lake there (expected ${join(outDir, 'lake')}); run sdap twin first`,
    );
    return 2;
  }
  let result: TwinErasureResult;
  try {
    result = await eraseDeviceFromTwin({
      outDir,
      deviceId,
      requestedBy,
      command: ['sdap', 'erase', ...args].map(shellWord).join(' '),
      dryRun: values['dry-run'] ?? false,
    });
  } catch (error) {
    if (error instanceof DeviceIdError) {
      io.error(`sdap erase: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (values.json) io.out(JSON.stringify(result, null, 2));
  else io.out(formatErasure(result, outDir).join('\n'));
  if (result.status === 'not-found') {
    if (values.json) io.error(notFoundMessage(result.deviceId, outDir));
    return 1;
  }
  return result.status === 'erased' && result.remaining.length > 0 ? 1 : 0;
}

/** An argument as a shell would need it to read it back as one word. */
function shellWord(arg: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

function notFoundMessage(deviceId: string, outDir: string): string {
  return `sdap erase: --device ${deviceId}: nothing in ${outDir} holds this device, and no audit record says it was erased before; check the id (sdap query "SELECT device_id FROM analytics.dim_device")`;
}

/** The result as lines for a person. */
export function formatErasure(result: TwinErasureResult, outDir: string): string[] {
  const { deviceId } = result;
  if (result.status === 'not-found') return [notFoundMessage(deviceId, outDir)];
  if (result.status === 'already-erased') {
    const last = result.earlier.at(-1);
    return [
      `sdap erase: nothing to do: ${deviceId} holds no data in ${outDir}; erased before on ${last?.finishedAt} (audit ${last?.key})`,
    ];
  }
  const zones = Object.entries(result.lake)
    .filter(([, counts]) => counts.recordsRemoved > 0)
    .map(
      ([zone, c]) =>
        `  ${zone.padEnd(40)} ${String(c.recordsRemoved).padStart(6)} records  ${c.objectsRewritten} objects rewritten, ${c.objectsDeleted} deleted (of ${c.objectsExamined} examined)`,
    );
  const tables = Object.entries(result.warehouse).map(
    ([table, rows]) => `  ${`warehouse ${table}`.padEnd(40)} ${String(rows).padStart(6)} rows`,
  );
  const files = Object.entries(result.other).map(
    ([file, records]) => `  ${file.padEnd(40)} ${String(records).padStart(6)} records`,
  );
  const heading =
    result.status === 'planned'
      ? `dry run: erasing ${deviceId} from ${outDir} would remove`
      : `erased ${deviceId} from ${outDir}`;
  return [
    heading,
    ...zones,
    ...tables,
    ...files,
    ...(result.audit
      ? [`  audit record                             s3://${result.audit.bucket}/${result.audit.key}`]
      : []),
    ...(result.remaining.length > 0
      ? [
          result.status === 'planned'
            ? '  cannot be erased automatically:'
            : '  STILL NAMING THE DEVICE after the erasure:',
          ...result.remaining.map((item) => `    ${item}`),
        ]
      : result.status === 'erased'
        ? [
            '  verified                                 nothing in the lake, the warehouse or the output files names the device',
          ]
        : []),
  ];
}
