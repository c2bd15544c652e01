/**
 * `sdap erase` on a real twin run (batch stage and warehouse on): afterwards no object, no file and
 * no warehouse row of the device remains (every byte searched, objects decoded on their own terms:
 * gunzip, Parquet through DuckDB, base64 payloads), the audit record holds the right counts and
 * nothing else of the device, and every other device's data is what it was: objects that never held
 * the device are the same files, the others hold the same rows minus the device's.
 */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErasureAuditRecord } from '../../lambdas/shared/erasure.ts';
import { TWIN_AUDIT_BUCKET } from '../../local/erase.ts';
import { eraseCommand } from '../../local/erase-command.ts';
import { runTwin } from '../../local/twin.ts';
import { WAREHOUSE_FILE } from '../../local/twin-output.ts';
import { TWIN_BUCKETS } from '../../local/twin-pipeline.ts';

const OBJECT_SUFFIX = '._S3rver_object';

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else files.push(path);
  }
  return files.sort();
}

async function erase(...args: string[]) {
  const out: string[] = [];
  const errors: string[] = [];
  const code = await eraseCommand(args, {
    out: (text) => out.push(text),
    error: (text) => errors.push(text),
  });
  return { code, out: out.join('\n'), err: errors.join('\n') };
}

/** Every base64 string in a JSON value, decoded (and what it holds, decoded again). */
function decodedStrings(value: unknown): string[] {
  if (typeof value === 'string') {
    const texts = [value];
    if (value.length >= 16 && /^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      texts.push(decoded, ...(decoded.startsWith('{') ? decodedStrings(JSON.parse(decoded)) : []));
    }
    if (value.startsWith('{')) {
      try {
        texts.push(...decodedStrings(JSON.parse(value)));
      } catch {}
    }
    return texts;
  }
  if (Array.isArray(value)) return value.flatMap(decodedStrings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(decodedStrings);
  return [];
}

/**
 * The records of one stored object, each as text, read by its own format and independently of the
 * erasure's code: NDJSON lines, Parquet rows as JSON (DuckDB), a JSON document with its base64
 * payloads decoded.
 */
async function recordsOf(db: Db, file: string, key: string): Promise<string[]> {
  const body = await readFile(file);
  if (key.endsWith('.gz')) return gunzipSync(body).toString('utf8').split('\n').filter(Boolean);
  if (key.endsWith('.ndjson')) return body.toString('utf8').split('\n').filter(Boolean);
  if (key.endsWith('.parquet')) {
    const rows = await db.runAndReadAll(`SELECT * FROM read_parquet('${file}')`);
    return rows.getRowObjectsJson().map((row) => JSON.stringify(row));
  }
  if (key.endsWith('.json')) return [decodedStrings(JSON.parse(body.toString('utf8'))).join('\n')];
  return [body.toString('utf8')];
}

type Db = Awaited<ReturnType<DuckDBInstance['connect']>>;

/** The lake's objects (not the audit bucket) by `<bucket>/<key>`, with their files. */
async function lakeObjects(outDir: string): Promise<Map<string, string>> {
  const lake = join(outDir, 'lake');
  const objects = new Map<string, string>();
  for (const file of await walk(lake)) {
    if (!file.endsWith(OBJECT_SUFFIX)) continue;
    const name = relative(lake, file).split(sep).join('/').slice(0, -OBJECT_SUFFIX.length);
    if (!name.startsWith(`${TWIN_AUDIT_BUCKET}/`)) objects.set(name, file);
  }
  return objects;
}

/** Every table of every schema, each row as JSON, sorted. */
async function warehouseRows(path: string): Promise<Map<string, string[]>> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const tables = (
      await connection.runAndReadAll(
        `SELECT table_schema, table_name FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1, 2`,
      )
    ).getRows();
    const rows = new Map<string, string[]>();
    for (const [schema, table] of tables) {
      const reader = await connection.runAndReadAll(`SELECT * FROM "${schema}"."${table}"`);
      rows.set(
        `${schema}.${table}`,
        reader
          .getRowObjectsJson()
          .map((row) => JSON.stringify(row))
          .sort(),
      );
    }
    return rows;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('sdap erase over a twin output', () => {
  let outDir: string;
  let before: string;
  let db: Db;
  let closeDb: () => void;
  let deviceId: string;
  let firstRun: Awaited<ReturnType<typeof erase>>;
  let dryRun: Awaited<ReturnType<typeof erase>>;
  let dryRunFilesUnchanged: boolean;
  let deviceWasQuarantined: boolean;

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), 'sdap-erase-'));
    outDir = join(root, 'twin');
    before = join(root, 'before');
    await runTwin({
      outDir,
      shards: 1,
      speed: 0,
      simulation: { devices: 12, durationHours: 2, seed: 5, readingsPerMessage: 4 },
    });
    await cp(outDir, before, { recursive: true });
    const instance = await DuckDBInstance.create();
    db = await instance.connect();
    closeDb = () => {
      db.closeSync();
      instance.closeSync();
    };
    // The device with a quarantined message when there is one: it reaches the most zones.
    const quarantined = [...(await lakeObjects(outDir))].filter(([name]) =>
      name.startsWith(`${TWIN_BUCKETS.quarantine}/`),
    );
    const topicDevices = await Promise.all(
      quarantined.map(
        async ([, file]) =>
          (JSON.parse(await readFile(file, 'utf8')) as { topicDeviceId?: string }).topicDeviceId,
      ),
    );
    deviceWasQuarantined = topicDevices.some((id) => typeof id === 'string');
    const [someDevice] =
      (await warehouseRows(join(outDir, WAREHOUSE_FILE))).get('analytics.dim_device') ?? [];
    deviceId =
      topicDevices.find((id): id is string => typeof id === 'string') ??
      (JSON.parse(someDevice ?? '{}') as { device_id: string }).device_id;

    const snapshot = async () =>
      Promise.all(
        (await walk(outDir)).map(async (file) => `${file}:${(await readFile(file)).toString('base64')}`),
      );
    const untouched = await snapshot();
    dryRun = await erase('--device', deviceId, '--out', outDir, '--dry-run', '--json');
    const afterDryRun = await snapshot();
    // The S3 stand-in may create the (empty) audit bucket's directory; no file may change.
    dryRunFilesUnchanged = JSON.stringify(untouched) === JSON.stringify(afterDryRun);
    firstRun = await erase('--device', deviceId, '--out', outDir, '--requested-by', 'ticket DPO-7', '--json');
  }, 150_000);

  afterAll(async () => {
    closeDb?.();
    if (outDir) await rm(join(outDir, '..'), { recursive: true, force: true });
  });

  it('erases the device and verifies it, exiting 0', () => {
    expect(firstRun.err).toBe('');
    expect(firstRun.code).toBe(0);
    const result = JSON.parse(firstRun.out);
    expect(result).toMatchObject({ status: 'erased', deviceId, remaining: [] });
  });

  it('leaves no object, file or warehouse row naming the device anywhere in the output', async () => {
    const leftovers: string[] = [];
    for (const [name, file] of await lakeObjects(outDir)) {
      if ((await recordsOf(db, file, name)).some((record) => record.includes(deviceId))) leftovers.push(name);
    }
    for (const file of await walk(outDir)) {
      if (relative(outDir, file).startsWith(join('lake', TWIN_AUDIT_BUCKET))) continue;
      if ((await readFile(file)).includes(deviceId)) leftovers.push(file);
    }
    for (const [table, rows] of await warehouseRows(join(outDir, WAREHOUSE_FILE))) {
      if (rows.some((row) => row.includes(deviceId))) leftovers.push(table);
    }

    expect(leftovers).toEqual([]);
  });

  it("keeps every other device's data: untouched objects are the same files, the others the same records minus the device's", async () => {
    const beforeObjects = await lakeObjects(before);
    const afterObjects = await lakeObjects(outDir);
    const changed: string[] = [];
    let held = 0;
    for (const [name, beforeFile] of beforeObjects) {
      const records = await recordsOf(db, beforeFile, name);
      const afterFile = afterObjects.get(name);
      if (!records.some((record) => record.includes(deviceId))) {
        if (afterFile === undefined || !(await readFile(afterFile)).equals(await readFile(beforeFile)))
          changed.push(name);
        continue;
      }
      held++;
      const others = records.filter((record) => !record.includes(deviceId)).sort();
      const after = afterFile === undefined ? [] : (await recordsOf(db, afterFile, name)).sort();
      // A quarantined message is one device's original bytes: it goes whole.
      expect(after, name).toEqual(name.endsWith('.json') ? [] : others);
      if (name.endsWith('.parquet') && afterFile !== undefined) {
        const schema = async (file: string) =>
          JSON.stringify(
            (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).getRows(),
          );
        expect(await schema(afterFile), name).toBe(await schema(beforeFile));
      }
    }
    expect(changed).toEqual([]);
    expect(held).toBeGreaterThan(0);
    expect([...afterObjects.keys()].filter((name) => !beforeObjects.has(name))).toEqual([]);

    const beforeTables = await warehouseRows(join(before, WAREHOUSE_FILE));
    const afterTables = await warehouseRows(join(outDir, WAREHOUSE_FILE));
    expect([...afterTables.keys()]).toEqual([...beforeTables.keys()]);
    for (const [table, rows] of beforeTables) {
      expect(afterTables.get(table), table).toEqual(rows.filter((row) => !row.includes(deviceId)));
    }
  });

  it('writes an audit record with who, what, when and the right counts, and nothing else of the device', async () => {
    const files = (await walk(join(outDir, 'lake', TWIN_AUDIT_BUCKET))).filter((f) =>
      f.endsWith(OBJECT_SUFFIX),
    );
    expect(files).toHaveLength(1);
    const text = await readFile(files[0] as string, 'utf8');
    const record = JSON.parse(text) as ErasureAuditRecord;

    expect(record).toMatchObject({
      kind: 'device-erasure',
      deviceId,
      requestedBy: 'ticket DPO-7',
      objectVersionsDeleted: 0,
      verification: { remainingMentions: 0 },
    });
    expect(record.command).toContain(`sdap erase --device ${deviceId}`);
    expect(Date.parse(record.finishedAt)).toBeGreaterThanOrEqual(Date.parse(record.startedAt));
    // Counts as the test finds them in the snapshot taken before.
    const expectedRecords: Record<string, number> = {};
    for (const [name, file] of await lakeObjects(before)) {
      const [bucket, segment] = name.split('/');
      const role = Object.entries(TWIN_BUCKETS).find(([, b]) => b === bucket)?.[0];
      const removed = (await recordsOf(db, file, name)).filter((record) => record.includes(deviceId)).length;
      if (removed > 0)
        expectedRecords[`${role}/${segment}`] = (expectedRecords[`${role}/${segment}`] ?? 0) + removed;
    }
    const auditedRecords = Object.fromEntries(
      Object.entries(record.lake)
        .filter(([, counts]) => counts.recordsRemoved > 0)
        .map(([zone, counts]) => [zone, counts.recordsRemoved]),
    );
    expect(auditedRecords).toEqual(expectedRecords);
    expect(Object.keys(auditedRecords)).toEqual(
      expect.arrayContaining([
        'raw/telemetry',
        'curated/curated_telemetry',
        ...(deviceWasQuarantined ? ['quarantine/rejected'] : []),
      ]),
    );
    const expectedRows = Object.fromEntries(
      [...(await warehouseRows(join(before, WAREHOUSE_FILE)))]
        .map(([table, rows]) => [table, rows.filter((row) => row.includes(deviceId)).length] as const)
        .filter(([, n]) => n > 0),
    );
    expect(record.warehouse).toEqual(expectedRows);
    expect(record.warehouse['analytics.dim_device']).toBe(1);
    // The id appears where the record names the subject and the command, nowhere else: no readings,
    // no site or room, no object keys.
    const { deviceId: _id, command: _command, ...rest } = record;
    expect(JSON.stringify(rest)).not.toContain(deviceId);
    expect(JSON.stringify(rest)).not.toMatch(/site_id|siteId|s0\d-b\d|\.parquet|\.ndjson\.gz/);
  });

  it('dry run: reports the same counts, changes no file and writes no audit record', () => {
    expect(dryRun.code).toBe(0);
    const planned = JSON.parse(dryRun.out);
    const erased = JSON.parse(firstRun.out);
    expect(planned.status).toBe('planned');
    expect(planned.lake).toEqual(erased.lake);
    expect(planned.warehouse).toEqual(erased.warehouse);
    expect(planned.other).toEqual(erased.other);
    expect(dryRunFilesUnchanged).toBe(true);
  });

  it('a second erasure of the same device is a no-op that says so', async () => {
    const files = async () =>
      Promise.all((await walk(outDir)).map(async (f) => `${f}:${(await readFile(f)).toString('base64')}`));
    const beforeSecond = await files();

    const second = await erase('--device', deviceId, '--out', outDir);

    expect(second.code).toBe(0);
    expect(second.out).toMatch(
      new RegExp(`nothing to do: ${deviceId} holds no data .*erased before on .*audit erasure/`),
    );
    expect(await files()).toEqual(beforeSecond);
  }, 60_000);

  it('fails with exit 1 when no data and no audit record name the device', async () => {
    const unknown = await erase('--device', 'thermostat-s99-b9-r99-9999', '--out', outDir);

    expect(unknown.code).toBe(1);
    expect(unknown.out).toContain('--device thermostat-s99-b9-r99-9999: nothing in');
    expect(unknown.out).toContain('no audit record says it was erased before');
  }, 60_000);

  it('fails when the device id is not what the contract allows, naming the flag, the value and the pattern', async () => {
    const bad = await erase('--device', 'lock 1/../x', '--out', outDir);

    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--device: received 'lock 1/../x', expected a device id of 1 to 128 letters");
  });

  it('fails when --device is missing or there is no twin lake', async () => {
    expect((await erase('--out', outDir)).err).toContain('--device: missing');
    const nowhere = await erase('--device', deviceId, '--out', join(outDir, 'nothing-here'));
    expect(nowhere.code).toBe(2);
    expect(nowhere.err).toMatch(/nothing-here: no twin lake there/);
  });
});
