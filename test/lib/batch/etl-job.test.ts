import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ETL_GLUE_VERSION,
  ETL_JOB_ARGUMENTS,
  ETL_RUNS_PREFIX,
  ETL_STAGING_PREFIX,
  EtlJob,
  RUN_SUMMARY_DQ_SCORE_FIELD,
} from '../../../lib/batch/etl-job.ts';
import { ETL_SQL_DIR, etlOutputs, etlSourceKeys, loadEtlManifest } from '../../../lib/batch/etl-manifest.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { flatten, grantsOf, nagFindings, resourceOf, statementsOfRole, testStack } from '../support/cdk.ts';

describe('EtlJob', () => {
  let stack: Stack;
  let job: EtlJob;
  let template: Template;
  let ids: Record<'key' | 'raw' | 'quarantine' | 'curated', string>;
  const manifest = loadEtlManifest();

  beforeAll(() => {
    stack = testStack();
    const lake = new TelemetryLake(stack, 'Lake', {
      databaseName: 'sdap_test',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    job = new EtlJob(stack, 'EtlJob', {
      lake,
      namePrefix: 'sdap-test',
      workerType: 'G.2X',
      numberOfWorkers: 3,
      timeoutMinutes: 20,
      maxConcurrentRuns: 5,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    template = Template.fromStack(stack);
    ids = {
      key: resourceOf(template, 'AWS::KMS::Key').id,
      raw: resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id,
      quarantine: resourceOf(template, 'AWS::S3::Bucket', 'LakeQuarantineBucket').id,
      curated: resourceOf(template, 'AWS::S3::Bucket', 'LakeCuratedBucket').id,
    };
  });

  it('runs PySpark on Glue 5.0 with the given workers, timeout and concurrency, without Glue retries', () => {
    template.hasResourceProperties('AWS::Glue::Job', {
      Name: 'sdap-test-etl',
      GlueVersion: '5.0',
      Command: Match.objectLike({ Name: 'glueetl', PythonVersion: '3' }),
      WorkerType: 'G.2X',
      NumberOfWorkers: 3,
      Timeout: 20,
      MaxRetries: 0,
      ExecutionClass: 'STANDARD',
      ExecutionProperty: { MaxConcurrentRuns: 5 },
    });
    expect(ETL_GLUE_VERSION).toBe('5.0');
  });

  it('encrypts its S3 output, logs and bookmarks with the lake key through a security configuration', () => {
    // Prepare
    const keyArn = { 'Fn::GetAtt': [ids.key, 'Arn'] };

    // Act
    const configuration = resourceOf(template, 'AWS::Glue::SecurityConfiguration');

    // Assess
    expect(configuration.properties.EncryptionConfiguration).toEqual({
      S3Encryptions: [{ S3EncryptionMode: 'SSE-KMS', KmsKeyArn: keyArn }],
      CloudWatchEncryption: { CloudWatchEncryptionMode: 'SSE-KMS', KmsKeyArn: keyArn },
      JobBookmarksEncryption: { JobBookmarksEncryptionMode: 'CSE-KMS', KmsKeyArn: keyArn },
    });
    template.hasResourceProperties('AWS::Glue::Job', {
      SecurityConfiguration: { Ref: configuration.id },
    });
  });

  it('logs continuously into its own encrypted group with a retention', () => {
    // Act
    const group = resourceOf(template, 'AWS::Logs::LogGroup', 'EtlJobLogGroup');

    // Assess
    expect(group.properties).toMatchObject({
      LogGroupName: '/aws-glue/jobs/sdap-test-etl',
      KmsKeyId: { 'Fn::GetAtt': [ids.key, 'Arn'] },
      RetentionInDays: 30,
    });
    template.hasResourceProperties('AWS::Glue::Job', {
      DefaultArguments: Match.objectLike({
        '--enable-continuous-cloudwatch-log': 'true',
        '--continuous-log-logGroup': { Ref: group.id },
        '--enable-metrics': 'true',
        '--job-bookmark-option': 'job-bookmark-disable',
      }),
    });
  });

  it('passes the buckets, the database and the SQL archive as job arguments', () => {
    // Act
    const args = resourceOf(template, 'AWS::Glue::Job').properties.DefaultArguments;

    // Assess
    expect(args[ETL_JOB_ARGUMENTS.fixed.rawBucket]).toEqual({ Ref: ids.raw });
    expect(args[ETL_JOB_ARGUMENTS.fixed.quarantineBucket]).toEqual({ Ref: ids.quarantine });
    expect(args[ETL_JOB_ARGUMENTS.fixed.curatedBucket]).toEqual({ Ref: ids.curated });
    expect(args[ETL_JOB_ARGUMENTS.fixed.databaseName]).toBe('sdap_test');
    expect(flatten(args[ETL_JOB_ARGUMENTS.fixed.sqlLocation])).toMatch(/^\{"Fn::Sub":"s3:\/\/.+\.zip"\}$/);
    for (const name of Object.values(ETL_JOB_ARGUMENTS.perRun)) expect(args[name]).toBeUndefined();
  });

  it('reads its script and SQL archive by exact key, never a wildcard on the assets bucket', () => {
    // Prepare
    const args = resourceOf(template, 'AWS::Glue::Job').properties;
    const objectKey = (url: unknown) =>
      String((url as { 'Fn::Sub': string })['Fn::Sub'])
        .split('/')
        .pop();

    // Act
    const assetReads = grantsOf(statementsOfRole(template, 'EtlJobRole'), 's3:GetObject').filter((arn) =>
      arn.includes('cdk-'),
    );

    // Assess
    const modules = (args.DefaultArguments['--extra-py-files']['Fn::Join'][1] as unknown[])
      .filter((part) => part !== ',')
      .map(objectKey);
    expect(modules).toHaveLength(2);
    expect(assetReads.map((arn) => arn.split('/').pop()).sort()).toEqual(
      [
        objectKey(args.Command.ScriptLocation),
        objectKey(args.DefaultArguments['--sql_location']),
        ...modules,
      ].sort(),
    );
  });

  it('reads exactly the manifest sources and rewrites exactly its outputs, staging and run summaries', () => {
    // Prepare
    const sources = etlSourceKeys(manifest);
    const expand = (bucket: string, patterns: readonly string[]) =>
      patterns.flatMap((pattern) =>
        pattern.endsWith('/')
          ? [`<${bucket}.Arn>/${pattern.slice(0, -1)}`, `<${bucket}.Arn>/${pattern}*`]
          : [`<${bucket}.Arn>/${pattern}`],
      );
    const writes = [
      ...etlOutputs(manifest).map((output) => output.prefix),
      ETL_STAGING_PREFIX,
      ETL_RUNS_PREFIX,
    ];

    // Act
    const statements = statementsOfRole(template, 'EtlJobRole');
    const lakeGrants = (action: string) =>
      grantsOf(statements, action)
        .filter((arn) => !arn.includes('cdk-'))
        .sort();

    // Assess
    expect(lakeGrants('s3:GetObject')).toEqual(
      [
        ...expand(ids.raw, sources.raw),
        ...expand(ids.quarantine, sources.quarantine),
        ...expand(ids.curated, [...new Set(writes)]),
      ].sort(),
    );
    for (const action of ['s3:PutObject', 's3:DeleteObject']) {
      expect(lakeGrants(action)).toEqual(expand(ids.curated, [...new Set(writes)]).sort());
    }
    expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([`<${ids.key}.Arn>`]);
  });

  it('manages exactly the output tables of the Glue database', () => {
    // Act
    const tables = grantsOf(statementsOfRole(template, 'EtlJobRole'), 'glue:CreateTable').filter((arn) =>
      arn.includes(':table/'),
    );

    // Assess
    expect(tables.map((arn) => arn.split(':table/')[1]).sort()).toEqual(
      etlOutputs(manifest)
        .map((output) => `sdap_test/${output.view}`)
        .sort(),
    );
    expect(job.outputs).toEqual(etlOutputs(manifest));
  });

  it('writes logs only under /aws-glue/jobs/, and lets CloudWatch Logs use the key there', () => {
    // Act
    const logGrants = grantsOf(statementsOfRole(template, 'EtlJobRole'), 'logs:AssociateKmsKey');
    const keyStatements = resourceOf(template, 'AWS::KMS::Key').properties.KeyPolicy.Statement as {
      Sid?: string;
      Condition?: { ArnLike: Record<string, unknown[]> };
    }[];

    // Assess
    expect(logGrants).toEqual([
      'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/jobs/*',
    ]);
    expect(
      keyStatements
        .find((statement) => statement.Sid === 'CloudWatchLogsEncryptLogGroups')
        ?.Condition?.ArnLike['kms:EncryptionContext:aws:logs:arn']?.map(flatten),
    ).toEqual(['arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/jobs/*']);
  });

  it(`summarizes each run with the ${RUN_SUMMARY_DQ_SCORE_FIELD} the workflow gates on`, () => {
    // Prepare
    const step = manifest.steps.find((candidate) => candidate.view === 'run_summary');

    // Act
    const sql = readFileSync(join(ETL_SQL_DIR, step?.file ?? 'missing'), 'utf8');

    // Assess
    expect(step?.output).toBeUndefined();
    expect(sql).toMatch(new RegExp(`\\bAS ${RUN_SUMMARY_DQ_SCORE_FIELD}\\b`));
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
