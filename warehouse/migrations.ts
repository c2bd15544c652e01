/**
 * The warehouse's migrations, rendered per dialect from the spec (`migration-runner.ts` applies
 * them). Migration 1 creates the star schema as the spec describes it; a later change to a table
 * is a new migration, never an edit of an applied one (`test/warehouse/migrations.test.ts` pins
 * migration 1's checksum).
 */
import { commentSql, createTableSql, type Dialect, qualified } from './ddl.ts';
import { MAX_STATEMENTS_PER_STEP, type Migration, type MigrationPlan } from './migration-runner.ts';
import { WAREHOUSE_SCHEMA } from './spec.ts';
import { WAREHOUSE_TABLES } from './tables.ts';
import { viewSql, WAREHOUSE_VIEWS } from './views.ts';

/** The version table. Its own DDL never changes: it is how every other change is tracked. */
export const MIGRATIONS_TABLE = qualified('schema_migrations');

/** The repeatable step's pseudo-version in the version table. */
export const VIEWS_VERSION = 0;

/** Splits statements into steps of at most {@link MAX_STATEMENTS_PER_STEP}. */
function stepsOf(statements: readonly string[]): string[][] {
  const steps: string[][] = [];
  for (let start = 0; start < statements.length; start += MAX_STATEMENTS_PER_STEP)
    steps.push(statements.slice(start, start + MAX_STATEMENTS_PER_STEP));
  return steps;
}

/** The versioned migrations for `dialect`, oldest first. */
export function versionedMigrations(dialect: Dialect): Migration[] {
  return [
    {
      version: 1,
      description: 'star schema: dimensions and facts',
      // A table with its comments per step where it fits, so a table is never left undescribed.
      steps: WAREHOUSE_TABLES.flatMap((table) =>
        stepsOf([createTableSql(dialect, table), ...commentSql('TABLE', table)]),
      ),
    },
  ];
}

/** The repeatable migration: each view dropped and created again with its comments, one step each. */
export function viewMigration(): Migration {
  return {
    version: VIEWS_VERSION,
    description: 'analyst views',
    steps: WAREHOUSE_VIEWS.flatMap((view) =>
      stepsOf([
        `DROP VIEW IF EXISTS ${qualified(view.name)}`,
        `CREATE VIEW ${qualified(view.name)} AS\n${viewSql(view)}`,
        ...commentSql('VIEW', view),
      ]),
    ),
  };
}

/** Statements that create the schema and the version table when they are missing. */
export function bootstrapStatements(dialect: Dialect): string[] {
  const text = dialect === 'duckdb' ? 'VARCHAR' : 'VARCHAR(256)';
  return [
    `CREATE SCHEMA IF NOT EXISTS ${WAREHOUSE_SCHEMA}`,
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version INTEGER NOT NULL, description ${text}, checksum ${text} NOT NULL, applied_at TIMESTAMP NOT NULL, PRIMARY KEY (version))`,
  ];
}

/** The whole plan for `dialect`. */
export function migrationPlan(dialect: Dialect): MigrationPlan {
  return {
    bootstrap: bootstrapStatements(dialect),
    versionTable: MIGRATIONS_TABLE,
    versioned: versionedMigrations(dialect),
    repeatable: viewMigration(),
  };
}
