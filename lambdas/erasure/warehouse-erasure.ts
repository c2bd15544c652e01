/**
 * The device's rows out of the Redshift warehouse: count them, DELETE them from every table with a
 * `device_id` column in one transaction, then `VACUUM DELETE ONLY … TO 100 PERCENT` each table that
 * had any (a DELETE only marks rows; the vacuum reclaims their blocks, and its default threshold of
 * 95 percent could leave some), and count again: any row left fails the erasure.
 */
import type { SqlExecutor } from '../../warehouse/migration-runner.ts';
import { WAREHOUSE_SCHEMA } from '../../warehouse/spec.ts';
import { WAREHOUSE_TABLES } from '../../warehouse/tables.ts';
import { checkedDeviceId } from '../shared/erasure.ts';
import { ErasureIncompleteError, type WarehouseErasureResult } from './erasure-event.ts';

/** The column that names the device in the warehouse's dimension and facts. */
export const DEVICE_COLUMN = 'device_id';

/** `analytics.<table>` of every table holding a device's rows. */
export function tablesWithDevices(): string[] {
  return WAREHOUSE_TABLES.filter((table) =>
    table.columns.some((column) => column.name === DEVICE_COLUMN),
  ).map((table) => `${WAREHOUSE_SCHEMA}.${table.name}`);
}

/** One query counting the device's rows in every table: `table_name`, `n`. */
export function countRowsSql(deviceId: string, tables: readonly string[]): string {
  // The id matched the contract's pattern: letters, digits, ':', '_' and '-', nothing to escape.
  const id = checkedDeviceId(deviceId);
  return tables
    .map(
      (table) =>
        `SELECT '${table}' AS table_name, COUNT(*) AS n FROM ${table} WHERE ${DEVICE_COLUMN} = '${id}'`,
    )
    .join(' UNION ALL ');
}

/** The DELETE of one table. */
export function deleteSql(deviceId: string, table: string): string {
  return `DELETE FROM ${table} WHERE ${DEVICE_COLUMN} = '${checkedDeviceId(deviceId)}'`;
}

/** Redshift's vacuum that reclaims every deleted row's space, and only that (no re-sort). */
export function vacuumSql(table: string): string {
  return `VACUUM DELETE ONLY ${table} TO 100 PERCENT`;
}

async function rowCounts(executor: SqlExecutor, deviceId: string, tables: readonly string[]) {
  const rows = await executor.query(countRowsSql(deviceId, tables));
  return Object.fromEntries(rows.map((row) => [String(row.table_name), Number(row.n)]));
}

/** Erases the device from the warehouse (see the module's comment). */
export async function eraseFromWarehouse(
  executor: SqlExecutor,
  deviceId: string,
): Promise<WarehouseErasureResult> {
  const tables = tablesWithDevices();
  const before = await rowCounts(executor, deviceId, tables);
  const holding = tables.filter((table) => (before[table] ?? 0) > 0);
  if (holding.length === 0) return { rowsDeleted: {} };
  await executor.transaction(holding.map((table) => deleteSql(deviceId, table)));
  // VACUUM cannot run inside a transaction block: one statement at a time.
  for (const table of holding) await executor.query(vacuumSql(table));
  const after = await rowCounts(executor, deviceId, tables);
  const left = Object.entries(after).filter(([, n]) => n > 0);
  if (left.length > 0)
    throw new ErasureIncompleteError(
      `warehouse: rows of the device left after DELETE: ${left.map(([table, n]) => `${table} ${n}`).join(', ')}`,
    );
  return { rowsDeleted: Object.fromEntries(holding.map((table) => [table, before[table] ?? 0])) };
}
