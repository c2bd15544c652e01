/**
 * The Data API executor against a mocked Redshift Data API (there is no local stand-in): one
 * BatchExecuteStatement per transaction, polling with growing waits until the statement ends,
 * Redshift's error surfaced on FAILED, rows read page by page, and a statement cancelled at the
 * deadline.
 */
import {
  BatchExecuteStatementCommand,
  CancelStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_POLL_INITIAL_DELAY_MS,
  isTransientRedshiftError,
  MAX_BATCH_STATEMENTS,
  RedshiftDataExecutor,
  type RedshiftDataExecutorOptions,
  RedshiftStatementError,
  StatementDeadlineError,
} from '../../../lambdas/shared/redshift-data.ts';

const TARGET = {
  workgroupName: 'sdap-test-warehouse',
  database: 'sdap',
  secretArn:
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift!sdap-test-warehouse-sdap_admin-AbCdEf',
};
const dataApi = mockClient(RedshiftDataClient);

/** An executor whose waits are recorded instead of slept, on a clock that advances with them. */
function executor(options: RedshiftDataExecutorOptions = {}) {
  const waits: number[] = [];
  let clock = 1_000_000;
  const instance = new RedshiftDataExecutor(new RedshiftDataClient({ region: 'eu-west-1' }), TARGET, {
    statementName: 'sdap-test',
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
    now: () => clock,
    ...options,
  });
  return { instance, waits };
}

beforeEach(() => {
  dataApi.reset();
});

describe('RedshiftDataExecutor', () => {
  describe('transaction', () => {
    it('runs every statement in one BatchExecuteStatement and waits, backing off, until it is FINISHED', async () => {
      // Prepare
      dataApi.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-1' });
      dataApi
        .on(DescribeStatementCommand)
        .resolvesOnce({ Id: 'batch-1', Status: 'SUBMITTED' })
        .resolvesOnce({ Id: 'batch-1', Status: 'STARTED' })
        .resolvesOnce({ Id: 'batch-1', Status: 'STARTED' })
        .resolves({ Id: 'batch-1', Status: 'FINISHED' });
      const { instance, waits } = executor();
      const statements = ['CREATE TEMP TABLE s (a INTEGER)', 'INSERT INTO s VALUES (1)', 'DROP TABLE s'];

      // Act
      await instance.transaction(statements);

      // Assess
      const batches = dataApi.commandCalls(BatchExecuteStatementCommand);
      expect(batches).toHaveLength(1);
      expect(batches[0]?.args[0].input).toEqual({
        WorkgroupName: TARGET.workgroupName,
        Database: TARGET.database,
        SecretArn: TARGET.secretArn,
        StatementName: 'sdap-test',
        Sqls: statements,
      });
      expect(dataApi.commandCalls(DescribeStatementCommand)).toHaveLength(4);
      expect(waits).toEqual([
        DEFAULT_POLL_INITIAL_DELAY_MS,
        2 * DEFAULT_POLL_INITIAL_DELAY_MS,
        4 * DEFAULT_POLL_INITIAL_DELAY_MS,
      ]);
      expect(dataApi.commandCalls(ExecuteStatementCommand)).toHaveLength(0);
    });

    it("fails when a statement of the batch FAILED, with Redshift's error, the statement and its SQL", async () => {
      // Prepare
      dataApi.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-2' });
      dataApi.on(DescribeStatementCommand).resolves({
        Id: 'batch-2',
        Status: 'FAILED',
        Error:
          "ERROR: Load into table 'stage_dim_device_0' failed. Check 'sys_load_error_detail' system table for details.",
        SubStatements: [
          { Id: 'batch-2:1', Status: 'FINISHED' },
          {
            Id: 'batch-2:2',
            Status: 'FAILED',
            Error: "ERROR: Load into table 'stage_dim_device_0' failed.",
            QueryString: "COPY stage_dim_device_0 FROM 's3://curated/device_registry/event_date=2026-11-27/'",
          },
          { Id: 'batch-2:3', Status: 'ABORTED' },
        ],
      });
      const { instance } = executor();

      // Act
      const failure = instance.transaction([
        'CREATE TEMP TABLE stage_dim_device_0 (a INTEGER)',
        'COPY …',
        'MERGE …',
      ]);

      // Assess
      await expect(failure).rejects.toBeInstanceOf(RedshiftStatementError);
      await expect(failure).rejects.toThrow(
        "Redshift statement 2 of 3 in batch batch-2 failed: ERROR: Load into table 'stage_dim_device_0' failed. (SQL: COPY stage_dim_device_0 FROM 's3://curated/device_registry/event_date=2026-11-27/'); the transaction was rolled back",
      );
      await expect(failure).rejects.toMatchObject({ status: 'FAILED', statementId: 'batch-2' });
      expect(dataApi.commandCalls(DescribeStatementCommand)).toHaveLength(1);
    });

    it('fails when the statement was ABORTED', async () => {
      // Prepare
      dataApi.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-3' });
      dataApi.on(DescribeStatementCommand).resolves({ Id: 'batch-3', Status: 'ABORTED' });

      // Act & Assess
      await expect(executor().instance.transaction(['SELECT 1'])).rejects.toMatchObject({
        name: 'RedshiftStatementError',
        status: 'ABORTED',
        message: 'Redshift statement batch-3 was aborted (cancelled before it finished)',
      });
    });

    it(`takes up to ${MAX_BATCH_STATEMENTS} statements and fails on more without calling the Data API`, async () => {
      // Prepare
      dataApi.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-4' });
      dataApi.on(DescribeStatementCommand).resolves({ Id: 'batch-4', Status: 'FINISHED' });
      const { instance } = executor();
      const statements = (count: number) => Array.from({ length: count }, (_, index) => `SELECT ${index}`);

      // Act
      await instance.transaction(statements(MAX_BATCH_STATEMENTS));
      const tooMany = instance.transaction(statements(MAX_BATCH_STATEMENTS + 1));

      // Assess
      await expect(tooMany).rejects.toThrow(
        `Redshift Data API transaction: received ${MAX_BATCH_STATEMENTS + 1} statements, expected at most ${MAX_BATCH_STATEMENTS}`,
      );
      expect(dataApi.commandCalls(BatchExecuteStatementCommand)).toHaveLength(1);
    });

    it('sends nothing for an empty transaction', async () => {
      await executor().instance.transaction([]);
      expect(dataApi.calls()).toHaveLength(0);
    });

    it('cancels a statement still running at the deadline and fails as transient', async () => {
      // Prepare
      dataApi.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-5' });
      dataApi.on(DescribeStatementCommand).resolves({ Id: 'batch-5', Status: 'STARTED' });
      dataApi.on(CancelStatementCommand).resolves({ Status: true });
      const { instance, waits } = executor({ deadlineMs: 1_000_000 + 5_000, pollMaxDelayMs: 1_000 });

      // Act
      const failure = instance.transaction(['MERGE …']);

      // Assess
      await expect(failure).rejects.toBeInstanceOf(StatementDeadlineError);
      await expect(failure).rejects.toThrow(
        'Redshift statement batch-5 was still STARTED at the deadline; it was cancelled',
      );
      expect(dataApi.commandCalls(CancelStatementCommand)[0]?.args[0].input).toEqual({ Id: 'batch-5' });
      expect(waits.reduce((sum, wait) => sum + wait, 0)).toBeLessThanOrEqual(5_000);
      expect(Math.max(...waits)).toBe(1_000);
      expect(isTransientRedshiftError(await failure.catch((error: unknown) => error))).toBe(true);
    });
  });

  describe('query', () => {
    it('runs ExecuteStatement, waits, and reads every page of the result as rows keyed by column', async () => {
      // Prepare
      dataApi.on(ExecuteStatementCommand).resolves({ Id: 'query-1' });
      dataApi
        .on(DescribeStatementCommand)
        .resolvesOnce({ Id: 'query-1', Status: 'PICKED' })
        .resolves({ Id: 'query-1', Status: 'FINISHED', HasResultSet: true });
      const columns = [{ name: 'version' }, { name: 'checksum' }, { name: 'ratio' }, { name: 'ok' }];
      dataApi
        .on(GetStatementResultCommand, { Id: 'query-1', NextToken: undefined })
        .resolves({
          ColumnMetadata: columns,
          Records: [[{ longValue: 0 }, { stringValue: 'abc' }, { doubleValue: 0.5 }, { booleanValue: true }]],
          NextToken: 'page-2',
        })
        .on(GetStatementResultCommand, { Id: 'query-1', NextToken: 'page-2' })
        .resolves({
          ColumnMetadata: columns,
          Records: [[{ longValue: 1 }, { stringValue: 'def' }, { isNull: true }, { booleanValue: false }]],
        });
      const { instance } = executor();

      // Act
      const rows = await instance.query(
        'SELECT version, checksum, ratio, ok FROM analytics.schema_migrations',
      );

      // Assess
      expect(rows).toEqual([
        { version: 0, checksum: 'abc', ratio: 0.5, ok: true },
        { version: 1, checksum: 'def', ratio: null, ok: false },
      ]);
      expect(dataApi.commandCalls(ExecuteStatementCommand)[0]?.args[0].input).toEqual({
        WorkgroupName: TARGET.workgroupName,
        Database: TARGET.database,
        SecretArn: TARGET.secretArn,
        StatementName: 'sdap-test',
        Sql: 'SELECT version, checksum, ratio, ok FROM analytics.schema_migrations',
      });
      expect(dataApi.commandCalls(GetStatementResultCommand)).toHaveLength(2);
    });

    it('returns no rows for a statement without a result set, without asking for one', async () => {
      // Prepare
      dataApi.on(ExecuteStatementCommand).resolves({ Id: 'query-2' });
      dataApi
        .on(DescribeStatementCommand)
        .resolves({ Id: 'query-2', Status: 'FINISHED', HasResultSet: false });

      // Act & Assess
      expect(await executor().instance.query('CREATE SCHEMA IF NOT EXISTS analytics')).toEqual([]);
      expect(dataApi.commandCalls(GetStatementResultCommand)).toHaveLength(0);
    });

    it("fails with Redshift's error when the query FAILED", async () => {
      // Prepare
      dataApi.on(ExecuteStatementCommand).resolves({ Id: 'query-3' });
      dataApi.on(DescribeStatementCommand).resolves({
        Id: 'query-3',
        Status: 'FAILED',
        Error: 'ERROR: relation "analytics.nope" does not exist',
      });

      // Act & Assess
      await expect(executor().instance.query('SELECT * FROM analytics.nope')).rejects.toThrow(
        'Redshift statement query-3 failed: ERROR: relation "analytics.nope" does not exist',
      );
    });
  });

  describe('isTransientRedshiftError', () => {
    const failed = (error: string) => new RedshiftStatementError(error, 'id', 'FAILED', error);

    it.each([
      [
        'a serializable isolation violation',
        failed(
          'ERROR: 1023 DETAIL: Serializable isolation violation on table - 100, transactions forming the cycle are: 1, 2',
        ),
      ],
      [
        'a conflict with a concurrent transaction',
        failed('ERROR: could not complete because of conflict with concurrent transaction'),
      ],
      ['a statement cancelled at the deadline', new StatementDeadlineError('late')],
      ['Data API throttling', Object.assign(new Error('slow down'), { name: 'ThrottlingException' })],
      [
        'too many active statements',
        Object.assign(new Error('busy'), { name: 'ActiveStatementsExceededException' }),
      ],
    ])('retries %s', (_name, error) => {
      expect(isTransientRedshiftError(error)).toBe(true);
    });

    it.each([
      ['a COPY of bad data', failed("ERROR: Load into table 'stage' failed.")],
      ['a missing table', failed('ERROR: relation "analytics.fact" does not exist')],
      ['a validation error', Object.assign(new Error('bad'), { name: 'ValidationException' })],
      ['a plain error', new Error('bug')],
    ])('does not retry %s', (_name, error) => {
      expect(isTransientRedshiftError(error)).toBe(false);
    });
  });
});
