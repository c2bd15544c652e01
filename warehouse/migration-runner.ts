/**
 * Applies a migration plan through any SQL executor: the Redshift Data API on deploy (the plan
 * arrives rendered, as custom-resource properties), DuckDB in the twin, PGlite in the tests.
 *
 * - A migration is a list of steps, each one transaction of at most {@link MAX_STATEMENTS_PER_STEP}
 *   statements: Redshift's BatchExecuteStatement, one transaction, takes at most 40, and the last
 *   step also carries the rows recording the migration. Every statement is idempotent (`IF NOT
 *   EXISTS`, `COMMENT ON`, drop-and-create for views), so a migration that failed part-way is
 *   simply run again, whole, by the next deploy.
 * - A versioned migration runs once; its checksum is recorded, and a plan whose migration of the
 *   same version has another checksum fails (an applied migration was edited: add a new one).
 * - The views are a repeatable migration: they hold no data, so whenever their SQL changes they are
 *   dropped and created again, after the versioned migrations.
 *
 * This module imports nothing but node:crypto, so a Lambda function can bundle it.
 */
import { createHash } from 'node:crypto';

/** Statements in one step; two more (the version rows) fit in Redshift's 40 a transaction. */
export const MAX_STATEMENTS_PER_STEP = 38;

export interface Migration {
  readonly version: number;
  readonly description: string;
  /** Each step is one transaction of at most {@link MAX_STATEMENTS_PER_STEP} statements. */
  readonly steps: ReadonlyArray<readonly string[]>;
}

/** Everything a warehouse needs, rendered for one dialect. */
export interface MigrationPlan {
  /** Creates the schema and the version table when missing; safe to run every time. */
  readonly bootstrap: readonly string[];
  /** The version table, schema-qualified. */
  readonly versionTable: string;
  /** Oldest first. */
  readonly versioned: readonly Migration[];
  /** The repeatable step, recorded under version 0. */
  readonly repeatable: Migration;
}

/** sha256 of the statements, hex: what the version table records. */
export function checksum(migration: Migration): string {
  const hash = createHash('sha256');
  for (const step of migration.steps) {
    for (const statement of step) hash.update(statement).update('\n;\n');
    hash.update('\n--\n');
  }
  return hash.digest('hex');
}

/** An applied migration no longer renders the SQL it was applied with. */
export class AppliedMigrationChangedError extends Error {
  override readonly name = 'AppliedMigrationChangedError';
}

/** Runs SQL somewhere. `transaction` runs the statements atomically: all or none. */
export interface SqlExecutor {
  query(sql: string): Promise<ReadonlyArray<Record<string, unknown>>>;
  transaction(statements: readonly string[]): Promise<void>;
}

/** What one `applyMigrations` did. */
export interface MigrationReport {
  readonly applied: number[];
  readonly viewsRecreated: boolean;
}

/**
 * Brings the warehouse to the current spec: creates what is missing, applies the versioned
 * migrations not yet applied, and recreates the views when their SQL changed. Running it again
 * changes nothing.
 */
export async function applyMigrations(executor: SqlExecutor, plan: MigrationPlan): Promise<MigrationReport> {
  await executor.transaction(plan.bootstrap);
  const rows = await executor.query(`SELECT version, checksum FROM ${plan.versionTable}`);
  const recorded = new Map(rows.map((row) => [Number(row.version), String(row.checksum)]));
  const applied: number[] = [];
  for (const migration of plan.versioned) {
    const sum = checksum(migration);
    const previous = recorded.get(migration.version);
    if (previous !== undefined) {
      if (previous !== sum)
        throw new AppliedMigrationChangedError(
          `warehouse migration ${migration.version} (${migration.description}) was applied with checksum ${previous}, the code now renders ${sum}: applied migrations must not change; add a new migration instead`,
        );
      continue;
    }
    await runSteps(executor, migration, [recordStatement(plan.versionTable, migration, sum)]);
    applied.push(migration.version);
  }
  const views = plan.repeatable;
  const viewsSum = checksum(views);
  const viewsRecreated = recorded.get(views.version) !== viewsSum;
  if (viewsRecreated)
    await runSteps(executor, views, [
      `DELETE FROM ${plan.versionTable} WHERE version = ${views.version}`,
      recordStatement(plan.versionTable, views, viewsSum),
    ]);
  return { applied, viewsRecreated };
}

/** Each step in its own transaction; `record` joins the last one, so the record means "all applied". */
async function runSteps(
  executor: SqlExecutor,
  migration: Migration,
  record: readonly string[],
): Promise<void> {
  const steps = migration.steps.length === 0 ? [[]] : migration.steps;
  for (const [index, step] of steps.entries()) {
    if (step.length > MAX_STATEMENTS_PER_STEP)
      throw new Error(
        `warehouse migration ${migration.version} step ${index + 1}: received ${step.length} statements, expected at most ${MAX_STATEMENTS_PER_STEP}`,
      );
    await executor.transaction(index === steps.length - 1 ? [...step, ...record] : step);
  }
}

function recordStatement(versionTable: string, migration: Migration, sum: string): string {
  const description = migration.description.replaceAll("'", "''");
  return `INSERT INTO ${versionTable} (version, description, checksum, applied_at) VALUES (${migration.version}, '${description}', '${sum}', CURRENT_TIMESTAMP)`;
}
