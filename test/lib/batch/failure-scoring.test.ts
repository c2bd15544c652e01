import { RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAILURE_SCORING_ENV, SCORING_VARIANT } from '../../../lambdas/failure-scoring/names.ts';
import {
  FAILURE_SCORING_MEMORY_MB,
  FAILURE_SCORING_TIMEOUT_SECONDS,
  FailureScoring,
} from '../../../lib/batch/failure-scoring.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { VARIANT_NAMES } from '../../../lib/ml/model-endpoints.ts';
import {
  grantsOf,
  nagFindings,
  resourceOf,
  type StatementJson,
  statementsOfRole,
  testStack,
} from '../support/cdk.ts';

function build(modelVersion = '0123456789abcdef') {
  const stack = testStack();
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const scoring = new FailureScoring(stack, 'FailureScoring', {
    lake,
    endpointName: 'sdap-test-failure',
    modelVersion,
  });
  return { stack, scoring, template: Template.fromStack(stack) };
}

describe('FailureScoring', () => {
  let built: ReturnType<typeof build>;
  let statements: StatementJson[];
  const curated = () => `<${resourceOf(built.template, 'AWS::S3::Bucket', 'LakeCuratedBucket').id}.Arn>`;

  beforeAll(() => {
    built = build();
    statements = statementsOfRole(built.template, 'FailureScoringRole');
  });

  it('tells its function the curated bucket, the endpoint, the champion variant and the model version', () => {
    // Act
    const fn = resourceOf(built.template, 'AWS::Lambda::Function', 'FailureScoringFunction').properties;

    // Assess
    expect(fn.Environment.Variables).toMatchObject({
      [FAILURE_SCORING_ENV.curatedBucket]: {
        Ref: resourceOf(built.template, 'AWS::S3::Bucket', 'LakeCuratedBucket').id,
      },
      [FAILURE_SCORING_ENV.endpointName]: 'sdap-test-failure',
      [FAILURE_SCORING_ENV.endpointVariant]: 'champion',
      [FAILURE_SCORING_ENV.modelVersion]: '0123456789abcdef',
      POWERTOOLS_SERVICE_NAME: 'failure-scoring',
    });
    expect(fn).toMatchObject({
      Timeout: FAILURE_SCORING_TIMEOUT_SECONDS,
      MemorySize: FAILURE_SCORING_MEMORY_MB,
      TracingConfig: { Mode: 'Active' },
    });
  });

  it('scores on the variant the endpoints name their champion', () => {
    expect(SCORING_VARIANT).toBe(VARIANT_NAMES[0]);
  });

  it('reads ml_features/ and rewrites predictions/ of the curated bucket, and nothing else of the lake', () => {
    // Act
    const reads = grantsOf(statements, 's3:GetObject');
    const writes = grantsOf(statements, 's3:PutObject');
    const deletes = grantsOf(statements, 's3:DeleteObject');
    const listings = statements.filter((statement) => [statement.Action].flat().includes('s3:ListBucket'));

    // Assess
    expect(reads.sort()).toEqual(
      [
        `${curated()}/ml_features`,
        `${curated()}/ml_features/*`,
        `${curated()}/predictions`,
        `${curated()}/predictions/*`,
      ].sort(),
    );
    expect(writes).toEqual([`${curated()}/predictions`, `${curated()}/predictions/*`]);
    expect(deletes).toEqual([`${curated()}/predictions`, `${curated()}/predictions/*`]);
    expect(listings.map((statement) => statement.Condition)).toEqual([
      { StringLike: { 's3:prefix': ['ml_features', 'ml_features/*'] } },
      { StringLike: { 's3:prefix': ['predictions', 'predictions/*'] } },
    ]);
    const lakeKey = `<${resourceOf(built.template, 'AWS::KMS::Key', 'LakeKey').id}.Arn>`;
    expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([lakeKey]);
    expect(new Set(grantsOf(statements, 'kms:Decrypt'))).toEqual(new Set([lakeKey]));
  });

  it('may invoke no endpoint by itself: the stack grants the failure endpoint only', () => {
    expect(grantsOf(statements, 'sagemaker:InvokeEndpoint')).toEqual([]);
  });

  it('fails on a model version that is not 16 hex digits, naming the value', () => {
    expect(() => build('latest')).toThrow(
      "FailureScoring modelVersion: received 'latest', expected 16 hex digits (modelVersionOf the model's JSON)",
    );
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });
});
