/**
 * The warehouse's `SqlExecutor` over the Amazon Redshift Data API, shared by the schema function
 * (migrations on deploy) and the load function (curated partitions after each ETL window).
 *
 * - A transaction is ONE BatchExecuteStatement: the Data API runs its statements in order as a
 *   single transaction and rolls all of them back when one fails. It takes at most
 *   {@link MAX_BATCH_STATEMENTS} statements, so a longer transaction is refused rather than split
 *   (splitting would silently give up atomicity).
 * - A query is ExecuteStatement, then GetStatementResult, page by page.
 * - Both are asynchronous in the Data API: the statement is polled with DescribeStatement, waiting
 *   longer each time, until it is FINISHED, FAILED or ABORTED; a failure surfaces Redshift's own
 *   error message (and, in a batch, which statement failed).
 *
 * Authentication: as the namespace's admin user, through the secret Redshift manages for it
 * (`SecretArn`). The schema's tables and views are created by that user and owned by it; an
 * IAM-derived database user (`IAMR:<role>`) would start without any privilege on them, so both
 * functions use the one identity that owns what they change.
 */
import {
  BatchExecuteStatementCommand,
  CancelStatementCommand,
  DescribeStatementCommand,
  type DescribeStatementResponse,
  ExecuteStatementCommand,
  type Field,
  GetStatementResultCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import type { SqlExecutor } from '../../warehouse/migration-runner.ts';
import { type ClientOverrides, commonClientConfig } from './aws-clients.ts';

/** BatchExecuteStatement's limit on the statements of one call, i.e. of one transaction. */
export const MAX_BATCH_STATEMENTS = 40;

/** Where statements run: a Redshift Serverless workgroup's database, as the secret's user. */
export interface RedshiftDataTarget {
  readonly workgroupName: string;
  readonly database: string;
  /** ARN (or name) of a Secrets Manager secret with `username` and `password`. */
  readonly secretArn: string;
}

export interface RedshiftDataExecutorOptions {
  /** Shown in the Data API's statement list and Redshift's query history. @default - none */
  readonly statementName?: string;
  /** First wait before polling a statement again. @default {@link DEFAULT_POLL_INITIAL_DELAY_MS} = 200 */
  readonly pollInitialDelayMs?: number;
  /** Longest wait between two polls. @default {@link DEFAULT_POLL_MAX_DELAY_MS} = 5000 */
  readonly pollMaxDelayMs?: number;
  /**
   * Epoch milliseconds after which a statement still running is cancelled (a cancelled batch rolls
   * back) and the call fails with {@link StatementDeadlineError}. @default - no deadline
   */
  readonly deadlineMs?: number;
  /** @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default - Date.now */
  readonly now?: () => number;
}

/** Short statements finish in well under a second: poll soon, then back off. */
export const DEFAULT_POLL_INITIAL_DELAY_MS = 200;
/** A COPY or MERGE of a large partition takes minutes; every 5 s is often enough. */
export const DEFAULT_POLL_MAX_DELAY_MS = 5000;
const POLL_BACKOFF_RATE = 2;
/** Characters of a failed statement quoted in an error message. */
const QUOTED_SQL_LENGTH = 300;

/** A statement Redshift ran and failed, or that was aborted; the message carries Redshift's error. */
export class RedshiftStatementError extends Error {
  override readonly name = 'RedshiftStatementError';
  constructor(
    message: string,
    /** The Data API's statement id. */
    readonly statementId: string,
    readonly status: 'FAILED' | 'ABORTED',
    /** Redshift's error message, as DescribeStatement reports it. */
    readonly redshiftError: string | undefined,
  ) {
    super(message);
  }
}

/** A statement still running at the executor's deadline; it was cancelled, so a batch rolled back. */
export class StatementDeadlineError extends Error {
  override readonly name = 'StatementDeadlineError';
}

/**
 * Errors worth running the same work again for: a transaction that lost a conflict with a
 * concurrent one (Redshift's serializable isolation, error 1023), the Data API's concurrency and
 * throttling limits and internal errors, a dropped connection, and a statement cancelled at the
 * deadline. Anything else (bad data, a wrong column, missing permissions) fails the same way again.
 */
export function isTransientRedshiftError(error: unknown): boolean {
  if (error instanceof StatementDeadlineError) return true;
  if (error instanceof RedshiftStatementError) {
    return /serializable isolation violation|conflict with concurrent transaction|connection (was )?(reset|closed|lost)/i.test(
      error.redshiftError ?? error.message,
    );
  }
  const name = (error as { name?: unknown } | null)?.name;
  return (
    typeof name === 'string' &&
    [
      'ActiveStatementsExceededException',
      'ActiveSessionsExceededException',
      'ActiveWaitingRequestsExceededException',
      'DatabaseConnectionException',
      'InternalServerException',
      'ThrottlingException',
      'TimeoutError',
    ].includes(name)
  );
}

/** SDK attempts per Data API call: its throttling limits are per second, so a retry soon succeeds. */
const MAX_ATTEMPTS = 5;

/** A Data API client; the twin and tests pass overrides as for every other client. */
export function createRedshiftDataClient(overrides: ClientOverrides = {}): RedshiftDataClient {
  return new RedshiftDataClient(commonClientConfig(overrides, MAX_ATTEMPTS));
}

export class RedshiftDataExecutor implements SqlExecutor {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly client: RedshiftDataClient,
    private readonly target: RedshiftDataTarget,
    private readonly options: RedshiftDataExecutorOptions = {},
  ) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
  }

  /** Runs `sql` and returns its rows, each keyed by column name; `[]` for a statement without rows. */
  async query(sql: string): Promise<ReadonlyArray<Record<string, unknown>>> {
    const { Id } = await this.client.send(new ExecuteStatementCommand({ ...this.location(), Sql: sql }));
    const described = await this.wait(requiredId(Id, 'ExecuteStatement'), [sql]);
    if (!described.HasResultSet) return [];
    const rows: Record<string, unknown>[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new GetStatementResultCommand({ Id: described.Id, NextToken: nextToken }),
      );
      const names = (page.ColumnMetadata ?? []).map((column, index) => column.name ?? `column${index + 1}`);
      for (const record of page.Records ?? []) {
        rows.push(Object.fromEntries(record.map((field, index) => [names[index], fieldValue(field)])));
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return rows;
  }

  /** Runs `statements` as one transaction (one BatchExecuteStatement): all of them, or none. */
  async transaction(statements: readonly string[]): Promise<void> {
    if (statements.length === 0) return;
    if (statements.length > MAX_BATCH_STATEMENTS) {
      throw new Error(
        `Redshift Data API transaction: received ${statements.length} statements, expected at most ${MAX_BATCH_STATEMENTS} (BatchExecuteStatement runs at most ${MAX_BATCH_STATEMENTS} statements as one transaction); split the work into transactions that are each safe on their own`,
      );
    }
    const { Id } = await this.client.send(
      new BatchExecuteStatementCommand({ ...this.location(), Sqls: [...statements] }),
    );
    await this.wait(requiredId(Id, 'BatchExecuteStatement'), statements);
  }

  private location() {
    return {
      WorkgroupName: this.target.workgroupName,
      Database: this.target.database,
      SecretArn: this.target.secretArn,
      ...(this.options.statementName && { StatementName: this.options.statementName }),
    };
  }

  /** Polls the statement until it ends; returns its description when FINISHED, throws otherwise. */
  private async wait(id: string, statements: readonly string[]): Promise<DescribeStatementResponse> {
    let delay = this.options.pollInitialDelayMs ?? DEFAULT_POLL_INITIAL_DELAY_MS;
    const maxDelay = this.options.pollMaxDelayMs ?? DEFAULT_POLL_MAX_DELAY_MS;
    for (;;) {
      const described = await this.client.send(new DescribeStatementCommand({ Id: id }));
      switch (described.Status) {
        case 'FINISHED':
          return described;
        case 'FAILED':
          throw new RedshiftStatementError(
            failureMessage(id, described, statements),
            id,
            'FAILED',
            described.Error,
          );
        case 'ABORTED':
          throw new RedshiftStatementError(
            `Redshift statement ${id} was aborted (cancelled before it finished)${described.Error ? `: ${described.Error}` : ''}`,
            id,
            'ABORTED',
            described.Error,
          );
      }
      const deadline = this.options.deadlineMs;
      if (deadline !== undefined && this.now() + delay > deadline) {
        await this.cancel(id);
        throw new StatementDeadlineError(
          `Redshift statement ${id} was still ${described.Status ?? 'running'} at the deadline; it was cancelled, and a transaction rolls back when cancelled`,
        );
      }
      await this.sleep(delay);
      delay = Math.min(delay * POLL_BACKOFF_RATE, maxDelay);
    }
  }

  private async cancel(id: string): Promise<void> {
    try {
      await this.client.send(new CancelStatementCommand({ Id: id }));
    } catch {
      // It ended meanwhile (committed or failed): running the work again is safe either way.
    }
  }
}

function requiredId(id: string | undefined, operation: string): string {
  if (!id) throw new Error(`Redshift Data API ${operation} returned no statement id`);
  return id;
}

/** Redshift's error, and in a batch which statement raised it (numbered from 1), quoted in part. */
function failureMessage(
  id: string,
  described: DescribeStatementResponse,
  statements: readonly string[],
): string {
  const error = described.Error ?? 'no error message';
  const failed = described.SubStatements?.find((sub) => sub.Status === 'FAILED');
  if (failed === undefined) return `Redshift statement ${id} failed: ${error}`;
  const index = Number(failed.Id?.split(':').at(-1));
  const sql = failed.QueryString ?? (Number.isInteger(index) ? statements[index - 1] : undefined) ?? '';
  const quoted = sql.length > QUOTED_SQL_LENGTH ? `${sql.slice(0, QUOTED_SQL_LENGTH)}…` : sql;
  return `Redshift statement ${Number.isInteger(index) ? index : '?'} of ${statements.length} in batch ${id} failed: ${failed.Error ?? error} (SQL: ${quoted}); the transaction was rolled back`;
}

function fieldValue(field: Field): unknown {
  if (field.isNull) return null;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return field.blobValue;
  return null;
}
