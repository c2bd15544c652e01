/**
 * Right to erasure on a twin's output (RELIABILITY.md, item 14): every lake object holding the
 * device is rewritten without it (or deleted when nothing else is left), the device's rows are
 * deleted from the warehouse and the warehouse file is rewritten so that no freed page keeps them,
 * the output files beside the lake are cleaned, all of it is checked again, and an audit record is
 * written to the lake's audit bucket.
 *
 * The lake is served through the S3 stand-in, as `sdap etl` serves it, so objects are rewritten and
 * deleted through the same API the deployed workflow uses; the per-object decision is the functions'
 * own (`lambdas/shared/erasure.ts`). Nothing else may write the output meanwhile: a twin serving or
 * running on the same directory would write around the erasure.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { createS3Client } from '../lambdas/shared/aws-clients.ts';
import {
  deviceMention,
  deviceTokenPattern,
  ERASURE_AUDIT_PREFIX,
  type ErasureAuditRecord,
  eraseFromObject,
  erasureAuditKey,
  lakeObjectFormat,
  type ObjectErasure,
  type ZoneErasureCounts,
} from '../lambdas/shared/erasure.ts';
import { encodeRawObject } from '../lambdas/shared/lake-objects.ts';
import { listObjects } from '../lambdas/shared/s3-listing.ts';
import { deleteObject, getObject, mapLimit, S3_CONCURRENCY } from './etl/lake-io.ts';
import { writeWarehouseReport } from './report/warehouse-report.ts';
import { startS3StandIn } from './s3-stand-in.ts';
import { REPORT_FILE, WAREHOUSE_FILE } from './twin-output.ts';
import { TWIN_BUCKETS } from './twin-pipeline.ts';

/** The twin's bucket of audit records, beside its other buckets in `<out>/lake`. */
export const TWIN_AUDIT_BUCKET = 'sdap-twin-audit';

/**
 * Why the whole lake is searched. Kept in the audit record so that a reader knows no zone was
 * skipped.
 */
export const TWIN_SEARCH_SCOPE =
  'every object of every bucket: no zone is partitioned by device (raw by device type and ingest ' +
  'hour, curated by event date, hour and device type, quarantine and failures by ingest hour), and ' +
  "a device type would not narrow it safely: a reading's type is what the device claimed";

const ATTEMPTS = 3;

export interface TwinErasureOptions {
  /** The twin's output directory (`<out>/lake`, `<out>/warehouse.duckdb`, ...). */
  readonly outDir: string;
  /** Already checked against the contract's pattern. */
  readonly deviceId: string;
  readonly requestedBy: string;
  /** How the erasure was asked for, for the audit record. */
  readonly command: string;
  /** Find and count only: change nothing, write no audit record. */
  readonly dryRun?: boolean;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** What an erasure found and did. */
export interface TwinErasureResult {
  /**
   * - `erased`: the device's data was removed and the audit record written.
   * - `planned`: a dry run found data to erase.
   * - `already-erased`: nothing holds the device, and an earlier erasure's audit record exists.
   * - `not-found`: nothing holds the device and it was never erased: probably a wrong id.
   */
  readonly status: 'erased' | 'planned' | 'already-erased' | 'not-found';
  readonly deviceId: string;
  readonly lake: Readonly<Record<string, ZoneErasureCounts>>;
  readonly warehouse: Readonly<Record<string, number>>;
  readonly other: Readonly<Record<string, number>>;
  /** What still names the device after the erasure (or, in a dry run, what cannot be erased). */
  readonly remaining: readonly string[];
  /** The audit record written by this run (status `erased`). */
  readonly audit?: { readonly bucket: string; readonly key: string; readonly record: ErasureAuditRecord };
  /** Earlier audit records of the device (status `already-erased`). */
  readonly earlier: ReadonlyArray<{ readonly key: string; readonly finishedAt: string }>;
}

/** Erases the device from the twin output at `outDir` (see the module's comment). */
export async function eraseDeviceFromTwin(options: TwinErasureOptions): Promise<TwinErasureResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const mentions = deviceMention(options.deviceId);
  const dryRun = options.dryRun ?? false;
  const lakeDir = join(options.outDir, 'lake');
  const buckets = (await readdir(lakeDir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && entry.name !== TWIN_AUDIT_BUCKET)
    .map((entry) => entry.name)
    .sort();
  const served = await startS3StandIn({ buckets: [...buckets, TWIN_AUDIT_BUCKET], directory: lakeDir });
  const s3 = createS3Client(served.clientOverrides, ATTEMPTS);
  try {
    const lakePass = await eraseFromLake(s3, buckets, mentions, dryRun);
    const other = await eraseFromOutputFiles(options.outDir, mentions, { dryRun, checkReport: false });
    const warehouse = await eraseFromWarehouse(options.outDir, options.deviceId, dryRun);
    const found =
      Object.values(lakePass.zones).some((zone) => zone.recordsRemoved > 0) ||
      Object.values(warehouse).some((rows) => rows > 0) ||
      Object.values(other.removed).some((records) => records > 0) ||
      lakePass.unreadable.length > 0;
    const base = {
      deviceId: options.deviceId,
      lake: lakePass.zones,
      warehouse,
      other: other.removed,
    };
    if (!found) {
      const earlier = await earlierErasures(s3, options.deviceId);
      return {
        ...base,
        status: earlier.length > 0 ? 'already-erased' : 'not-found',
        remaining: other.unhandled,
        earlier,
      };
    }
    if (dryRun)
      return {
        ...base,
        status: 'planned',
        remaining: [...lakePass.unreadable, ...other.unhandled],
        earlier: [],
      };

    // The report was rebuilt from the cleaned warehouse: now it is checked like any other file.
    const outputFilesAfter = await eraseFromOutputFiles(options.outDir, mentions, {
      dryRun: true,
      checkReport: true,
    });
    const remaining = [
      ...(await remainingInLake(s3, buckets, mentions)),
      ...(await remainingOnDisk(lakeDir, options.deviceId)),
      ...Object.keys(outputFilesAfter.removed).map((name) => join(options.outDir, name)),
      ...outputFilesAfter.unhandled,
      ...(await remainingInWarehouse(options.outDir, options.deviceId)),
    ];
    const record: ErasureAuditRecord = {
      kind: 'device-erasure',
      version: 1,
      erasureId: randomUUID(),
      deviceId: options.deviceId,
      requestedBy: options.requestedBy,
      startedAt,
      finishedAt: now().toISOString(),
      command: options.command,
      lake: lakePass.zones,
      warehouse,
      other: other.removed,
      // s3rver keeps one copy of a key: a PUT or DELETE leaves no older version behind.
      objectVersionsDeleted: 0,
      verification: {
        remainingMentions: remaining.length,
        checked: [
          'every lake object read back and searched (gzip, Parquet and base64 payloads decoded)',
          'every file under the lake directory searched byte for byte',
          'every text column of every warehouse table queried, and the warehouse file searched byte for byte',
          'the output files beside the lake searched',
        ],
      },
      searchScope: TWIN_SEARCH_SCOPE,
    };
    const key = erasureAuditKey(record);
    await s3.send(
      new PutObjectCommand({
        Bucket: TWIN_AUDIT_BUCKET,
        Key: key,
        Body: `${JSON.stringify(record, null, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
    return {
      ...base,
      status: 'erased',
      remaining,
      audit: { bucket: TWIN_AUDIT_BUCKET, key, record },
      earlier: [],
    };
  } finally {
    s3.destroy();
    await served.close();
  }
}

/** The zone of a key: the bucket's role (raw, curated, ...) and the key's first segment. */
function zoneOf(bucket: string, key: string): string {
  const role = Object.entries(TWIN_BUCKETS).find(([, name]) => name === bucket)?.[0] ?? bucket;
  const segment = key.includes('/') ? key.slice(0, key.indexOf('/')) : '(top)';
  return `${role}/${segment}`;
}

function emptyCounts(): ZoneErasureCounts {
  return { objectsExamined: 0, objectsRewritten: 0, objectsDeleted: 0, recordsRemoved: 0 };
}

async function eraseFromLake(
  s3: S3Client,
  buckets: readonly string[],
  mentions: (text: string) => boolean,
  dryRun: boolean,
): Promise<{ zones: Record<string, ZoneErasureCounts>; unreadable: string[] }> {
  const zones: Record<string, ZoneErasureCounts> = {};
  const unreadable: string[] = [];
  for (const bucket of buckets) {
    const keys = (await listObjects(s3, bucket)).flatMap((object) => (object.Key ? [object.Key] : []));
    await mapLimit(keys, S3_CONCURRENCY, async (key) => {
      const body = await getObject(s3, bucket, key);
      if (body === undefined) return;
      const outcome = await eraseFromObject(key, body, mentions);
      zones[zoneOf(bucket, key)] ??= emptyCounts();
      const counts = zones[zoneOf(bucket, key)] as ZoneErasureCounts;
      counts.objectsExamined++;
      if (outcome.action === 'unreadable') {
        unreadable.push(`s3://${bucket}/${key}: ${outcome.reason}`);
        return;
      }
      if (outcome.action === 'untouched') return;
      counts.recordsRemoved += outcome.recordsRemoved;
      if (outcome.action === 'rewrite') {
        counts.objectsRewritten++;
        if (!dryRun) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: outcome.body }));
      } else {
        counts.objectsDeleted++;
        if (!dryRun) await deleteObject(s3, bucket, key);
      }
    });
  }
  return {
    zones: Object.fromEntries(Object.entries(zones).sort(([a], [b]) => a.localeCompare(b))),
    unreadable,
  };
}

/** Every lake object read back through the API: each must now be `untouched`. */
async function remainingInLake(
  s3: S3Client,
  buckets: readonly string[],
  mentions: (text: string) => boolean,
): Promise<string[]> {
  const remaining: string[] = [];
  for (const bucket of buckets) {
    const keys = (await listObjects(s3, bucket)).flatMap((object) => (object.Key ? [object.Key] : []));
    await mapLimit(keys, S3_CONCURRENCY, async (key) => {
      const body = await getObject(s3, bucket, key);
      if (body === undefined) return;
      const outcome: ObjectErasure = await eraseFromObject(key, body, mentions);
      if (outcome.action !== 'untouched') remaining.push(`s3://${bucket}/${key}`);
    });
  }
  return remaining.sort();
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/**
 * Every file the S3 stand-in keeps under the lake directory (objects and their metadata), searched
 * byte for byte for the id: a stray file or a leftover copy would show here even where the API no
 * longer lists it. Compressed objects were searched decoded by {@link remainingInLake}.
 */
async function remainingOnDisk(lakeDir: string, deviceId: string): Promise<string[]> {
  const needle = Buffer.from(deviceId);
  const files = (await walk(lakeDir)).filter(
    (path) => !relative(lakeDir, path).startsWith(`${TWIN_AUDIT_BUCKET}${sep}`),
  );
  const remaining: string[] = [];
  for (const path of files) {
    if ((await readFile(path)).includes(needle)) remaining.push(path);
  }
  return remaining;
}

/**
 * The output files beside the lake: NDJSON (the alert sink's events, the simulator's registry and
 * ground truth) is cleaned line by line as the lake's NDJSON is; the report is rebuilt from the
 * warehouse; any other file that names the device is reported, not guessed at.
 */
async function eraseFromOutputFiles(
  outDir: string,
  mentions: (text: string) => boolean,
  { dryRun, checkReport }: { readonly dryRun: boolean; readonly checkReport: boolean },
): Promise<{ removed: Record<string, number>; unhandled: string[] }> {
  const removed: Record<string, number> = {};
  const unhandled: string[] = [];
  const skipped = new Set([WAREHOUSE_FILE, `${WAREHOUSE_FILE}.wal`, ...(checkReport ? [] : [REPORT_FILE])]);
  for (const path of await walk(outDir)) {
    const name = relative(outDir, path).split(sep).join('/');
    if (name.startsWith('lake/') || skipped.has(name)) continue;
    const format = lakeObjectFormat(name);
    const body = await readFile(path);
    if (format === 'ndjson' || format === 'ndjson-gzip') {
      const outcome = await eraseFromObject(name, body, mentions);
      if (outcome.action === 'untouched') continue;
      if (outcome.action === 'unreadable') {
        unhandled.push(`${path}: ${outcome.reason}`);
        continue;
      }
      removed[name] = outcome.recordsRemoved;
      if (dryRun) continue;
      // A file left without records stays, empty: the tools that read it expect it there.
      if (outcome.action === 'rewrite') await writeFile(path, outcome.body);
      else await writeFile(path, format === 'ndjson-gzip' ? encodeRawObject([]) : '');
    } else if (mentions(body.toString('utf8'))) {
      unhandled.push(`${path}: names the device, and is not NDJSON: edit or delete it by hand`);
    }
  }
  return { removed, unhandled };
}

interface WarehouseTableText {
  readonly table: string;
  readonly textColumns: readonly string[];
}

/** The base tables of every schema with their text columns. */
async function textColumnsOf(connection: Awaited<ReturnType<DuckDBInstance['connect']>>) {
  const rows = (
    await connection.runAndReadAll(
      `SELECT c.table_schema, c.table_name, c.column_name
         FROM information_schema.columns c
         JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE t.table_type = 'BASE TABLE' AND c.data_type = 'VARCHAR'
          AND c.table_catalog = current_database()
        ORDER BY 1, 2, c.ordinal_position`,
    )
  ).getRowObjectsJson() as Array<{ table_schema: string; table_name: string; column_name: string }>;
  const tables = new Map<string, string[]>();
  for (const row of rows) {
    const table = `${quoteIdentifier(row.table_schema)}.${quoteIdentifier(row.table_name)}`;
    tables.set(table, [...(tables.get(table) ?? []), quoteIdentifier(row.column_name)]);
  }
  return [...tables].map(([table, textColumns]): WarehouseTableText => ({ table, textColumns }));
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function mentionClause(columns: readonly string[], pattern: string): string {
  return columns.map((column) => `regexp_matches(${column}, '${pattern}')`).join(' OR ');
}

/**
 * Deletes the rows naming the device from every table (a dimension's and the facts' `device_id`,
 * and any other text column, in one transaction), rebuilds the report from what is left, then
 * rewrites the file. DuckDB's CHECKPOINT, its nearest thing to VACUUM, marks the rows deleted but
 * leaves their bytes in the file's blocks; copying the database into a new file and putting it in
 * place of the old one is what leaves no trace (as `VACUUM DELETE ONLY … TO 100 PERCENT` in Redshift).
 */
async function eraseFromWarehouse(
  outDir: string,
  deviceId: string,
  dryRun: boolean,
): Promise<Record<string, number>> {
  const path = join(outDir, WAREHOUSE_FILE);
  if (!(await stat(path).catch(() => undefined))?.isFile()) return {};
  const pattern = deviceTokenPattern(deviceId);
  const rows: Record<string, number> = {};
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  let compact = false;
  try {
    const tables = await textColumnsOf(connection);
    await connection.run('BEGIN TRANSACTION');
    try {
      for (const { table, textColumns } of tables) {
        const where = mentionClause(textColumns, pattern);
        const result = dryRun
          ? Number(
              (
                await connection.runAndReadAll(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`)
              ).getRows()[0]?.[0] ?? 0,
            )
          : (await connection.run(`DELETE FROM ${table} WHERE ${where}`)).rowsChanged;
        if (result > 0) rows[displayName(table)] = result;
      }
      await connection.run(dryRun ? 'ROLLBACK' : 'COMMIT');
    } catch (error) {
      await connection.run('ROLLBACK');
      throw error;
    }
    compact = !dryRun && Object.keys(rows).length > 0;
    if (compact) {
      await writeWarehouseReport(connection, join(outDir, REPORT_FILE));
      await connection.run('CHECKPOINT');
      await copyDatabase(connection, `${path}.erasing`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  if (compact) {
    await rename(`${path}.erasing`, path);
    await rm(`${path}.wal`, { force: true });
  }
  return rows;
}

/** `"analytics"."dim_device"` → `analytics.dim_device`. */
function displayName(table: string): string {
  return table.replaceAll('"', '');
}

/** Copies the open database (schemas, tables, views, macros, data) into a new file at `target`. */
async function copyDatabase(
  connection: Awaited<ReturnType<DuckDBInstance['connect']>>,
  target: string,
): Promise<void> {
  await rm(target, { force: true });
  await rm(`${target}.wal`, { force: true });
  const [row] = (await connection.runAndReadAll('SELECT current_database()')).getRows();
  const source = quoteIdentifier(String(row?.[0]));
  await connection.run(`ATTACH '${target.replaceAll("'", "''")}' AS erasure_copy`);
  try {
    await connection.run(`COPY FROM DATABASE ${source} TO erasure_copy`);
  } finally {
    await connection.run('DETACH erasure_copy');
  }
}

/** Tables still holding a row that names the device, and the file, if its bytes still spell the id. */
async function remainingInWarehouse(outDir: string, deviceId: string): Promise<string[]> {
  const path = join(outDir, WAREHOUSE_FILE);
  if (!(await stat(path).catch(() => undefined))?.isFile()) return [];
  const remaining: string[] = [];
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    for (const { table, textColumns } of await textColumnsOf(connection)) {
      const [row] = (
        await connection.runAndReadAll(
          `SELECT COUNT(*) FROM ${table} WHERE ${mentionClause(textColumns, deviceTokenPattern(deviceId))}`,
        )
      ).getRows();
      if (Number(row?.[0] ?? 0) > 0) remaining.push(`${path}: ${displayName(table)}`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  if ((await readFile(path)).includes(Buffer.from(deviceId))) remaining.push(`${path}: the file's bytes`);
  return remaining;
}

/** The audit records of earlier erasures of the device. */
async function earlierErasures(
  s3: S3Client,
  deviceId: string,
): Promise<Array<{ key: string; finishedAt: string }>> {
  const keys = (await listObjects(s3, TWIN_AUDIT_BUCKET, ERASURE_AUDIT_PREFIX)).flatMap((object) =>
    object.Key ? [object.Key] : [],
  );
  const earlier: Array<{ key: string; finishedAt: string }> = [];
  for (const key of keys) {
    const body = await getObject(s3, TWIN_AUDIT_BUCKET, key);
    const record = body && (JSON.parse(body.toString('utf8')) as Partial<ErasureAuditRecord>);
    if (record?.deviceId === deviceId) earlier.push({ key, finishedAt: record.finishedAt ?? '' });
  }
  return earlier.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}
