/**
 * cdk-nag's SageMaker rules cover notebooks only, so the endpoints' security settings (KMS on the
 * endpoint configuration, least-privilege model roles, encrypted captures and logs) are asserted
 * here, on the template.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { modelArchive } from '../../../lib/ml/model-archive.ts';
import {
  DATA_CAPTURE_PREFIX,
  ModelEndpoints,
  type ModelEndpointsProps,
  XGBOOST_IMAGE_ACCOUNTS,
} from '../../../lib/ml/model-endpoints.ts';
import { MODEL_NAMES, type ModelName } from '../../../ml/model-spec.ts';
import { buildModelJson } from '../../ml/xgboost-model-builder.ts';
import { grantsOf, nagFindings, resourceOf, statementsOfRole, testApp, testStack } from '../support/cdk.ts';
import { type TestModels, testModelJson, writeTestModels } from '../support/test-models.ts';

interface Built {
  readonly stack: Stack;
  readonly lake: TelemetryLake;
  readonly endpoints: ModelEndpoints;
  readonly template: Template;
}

let models: TestModels;

function build(
  overrides: Partial<Omit<ModelEndpointsProps, 'dataCaptureBucket'>> = {},
  stack: Stack = testStack(),
  beforeSynthesis: (endpoints: ModelEndpoints) => void = () => {},
): Built {
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const endpoints = new ModelEndpoints(stack, 'Ml', {
    namePrefix: 'sdap-test',
    modelPath: models.modelPath,
    dataCaptureBucket: lake.rawBucket,
    ...overrides,
  });
  beforeSynthesis(endpoints);
  return { stack, lake, endpoints, template: Template.fromStack(stack) };
}

const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });

beforeAll(() => {
  models = writeTestModels();
});
afterAll(() => models.remove());

describe('ModelEndpoints', () => {
  describe('with the prod defaults (champion only, 2 instances, 10 % capture)', () => {
    let built: Built;
    const idOf = (type: string, prefix = '') => resourceOf(built.template, type, prefix).id;

    beforeAll(() => {
      built = build();
    });

    it.each(MODEL_NAMES)('names the %s endpoint for the stage and the model', (name) => {
      // Act
      const endpoint = resourceOf(built.template, 'AWS::SageMaker::Endpoint', `Ml${pascal(name)}`).properties;

      // Assess
      expect(endpoint.EndpointName).toBe(`sdap-test-${name}`);
      expect(built.endpoints.endpointNames[name]).toBe(`sdap-test-${name}`);
      expect(endpoint.EndpointConfigName).toEqual(
        getAtt(idOf('AWS::SageMaker::EndpointConfig', `Ml${pascal(name)}`), 'EndpointConfigName'),
      );
    });

    it('serves each model from one champion variant of two ml.m5.large instances, encrypted with its own rotating key', () => {
      // Prepare
      const key = idOf('AWS::KMS::Key', 'MlKey');

      // Assess
      built.template.resourcePropertiesCountIs(
        'AWS::SageMaker::EndpointConfig',
        {
          KmsKeyId: getAtt(key),
          ProductionVariants: [
            Match.objectLike({
              VariantName: 'champion',
              InitialVariantWeight: 100,
              InitialInstanceCount: 2,
              InstanceType: 'ml.m5.large',
            }),
          ],
        },
        3,
      );
      expect(resourceOf(built.template, 'AWS::KMS::Key', 'MlKey').properties.EnableKeyRotation).toBe(true);
      expect(built.endpoints.variantNames).toEqual(['champion']);
    });

    it('captures 10 % of the requests, input and output, CSV and JSON as text, into the lake under ml-data-capture/<model>/ with the lake key', () => {
      // Prepare
      const raw = idOf('AWS::S3::Bucket', 'LakeRawBucket');
      const lakeKey = idOf('AWS::KMS::Key', 'LakeKey');

      // Act
      const config = resourceOf(built.template, 'AWS::SageMaker::EndpointConfig', 'MlFailure').properties;

      // Assess
      expect(config.DataCaptureConfig).toEqual({
        EnableCapture: true,
        InitialSamplingPercentage: 10,
        DestinationS3Uri: { 'Fn::Join': ['', ['s3://', { Ref: raw }, `/${DATA_CAPTURE_PREFIX}/failure/`]] },
        KmsKeyId: getAtt(lakeKey),
        CaptureOptions: [{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }],
        CaptureContentTypeHeader: { CsvContentTypes: ['text/csv'], JsonContentTypes: ['application/json'] },
      });
    });

    it("scales each variant between its minimum and maximum on invocations per instance, through SageMaker's service-linked role", () => {
      // Prepare
      const endpoint = idOf('AWS::SageMaker::Endpoint', 'MlEnergy');

      // Act
      const target = resourceOf(
        built.template,
        'AWS::ApplicationAutoScaling::ScalableTarget',
        'MlEnergyChampion',
      );

      // Assess
      expect(target.properties).toMatchObject({
        ServiceNamespace: 'sagemaker',
        ResourceId: 'endpoint/sdap-test-energy/variant/champion',
        ScalableDimension: 'sagemaker:variant:DesiredInstanceCount',
        MinCapacity: 2,
        MaxCapacity: 4,
      });
      expect(JSON.stringify(target.properties.RoleARN)).toContain(
        ':role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint',
      );
      expect(built.template.toJSON().Resources[target.id].DependsOn).toContain(endpoint);
      built.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        ScalingTargetId: { Ref: target.id },
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' },
          TargetValue: 1000,
          ScaleOutCooldown: 60,
          ScaleInCooldown: 300,
        }),
      });
    });

    it('keeps the instance counts autoscaling set across updates, but takes weights and capture from the new configuration', () => {
      built.template.allResourcesProperties('AWS::SageMaker::Endpoint', {
        RetainAllVariantProperties: true,
        ExcludeRetainedVariantProperties: [
          { VariantPropertyType: 'DesiredWeight' },
          { VariantPropertyType: 'DataCaptureConfig' },
        ],
      });
    });

    it("runs the built-in XGBoost 1.7-1 image of the deployment's region, from the accounts AWS publishes it in", () => {
      // Act
      const container = resourceOf(built.template, 'AWS::SageMaker::Model', 'MlAnomaly').properties
        .PrimaryContainer;
      const [mappingId, mapping] = Object.entries(built.template.toJSON().Mappings)[0] as [
        string,
        Record<string, { account: string }>,
      ];

      // Assess
      expect(container.Image).toEqual({
        'Fn::Join': [
          '',
          [
            { 'Fn::FindInMap': [mappingId, { Ref: 'AWS::Region' }, 'account'] },
            '.dkr.ecr.',
            { Ref: 'AWS::Region' },
            '.',
            { Ref: 'AWS::URLSuffix' },
            '/sagemaker-xgboost:1.7-1',
          ],
        ],
      });
      expect(mapping['us-east-1']).toEqual({ account: '683313688378' });
      expect(mapping['eu-west-1']).toEqual({ account: '141502667606' });
      expect(Object.keys(mapping)).toEqual(Object.keys(XGBOOST_IMAGE_ACCOUNTS));
    });

    it('lets each model role read its own artefact, write its own logs, streams and captures, and nothing else', () => {
      // Prepare
      const raw = idOf('AWS::S3::Bucket', 'LakeRawBucket');
      const lakeKey = idOf('AWS::KMS::Key', 'LakeKey');
      const { artifact } = built.endpoints.parts.anomaly;
      const group = 'log-group:/aws/sagemaker/Endpoints/sdap-test-anomaly';

      // Act
      const statements = statementsOfRole(built.template, 'MlAnomalyRole');

      // Assess
      expect(statements.flatMap((statement) => [statement.Action].flat()).sort()).toEqual(
        [
          'cloudwatch:PutMetricData',
          'kms:GenerateDataKey',
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:DescribeLogStreams',
          'logs:PutLogEvents',
          's3:GetObject',
          's3:PutObject',
        ].sort(),
      );
      expect(grantsOf(statements, 's3:GetObject')).toEqual([
        expect.stringMatching(new RegExp(`cdk-hnb659fds-assets-.*/${artifact.assetHash}\\.gz$`)),
      ]);
      expect(grantsOf(statements, 'logs:CreateLogStream')).toEqual([
        `arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:${group}`,
      ]);
      expect(grantsOf(statements, 'logs:PutLogEvents')).toEqual([
        `arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:${group}:log-stream:*`,
      ]);
      expect(grantsOf(statements, 's3:PutObject')).toEqual([`<${raw}.Arn>/${DATA_CAPTURE_PREFIX}/anomaly/*`]);
      expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([`<${lakeKey}.Arn>`]);
      expect(statements.find((statement) => statement.Action === 'cloudwatch:PutMetricData')).toMatchObject({
        Resource: '*',
        Condition: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/Endpoints' } },
      });
      expect(JSON.stringify(statements)).not.toContain('ecr:');
    });

    it('trusts SageMaker alone with the model roles, and creates each model once its role may read the artefact', () => {
      // Prepare
      const role = resourceOf(built.template, 'AWS::IAM::Role', 'MlFailureRole');
      const policy = resourceOf(built.template, 'AWS::IAM::Policy', 'MlFailureRole');

      // Act
      const model = built.template.toJSON().Resources[idOf('AWS::SageMaker::Model', 'MlFailure')];

      // Assess
      expect(role.properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'sagemaker.amazonaws.com' } },
      ]);
      expect(model.Properties.ExecutionRoleArn).toEqual(getAtt(role.id));
      expect(model.DependsOn).toEqual(expect.arrayContaining([role.id, policy.id]));
    });

    it('writes each endpoint to its own log group, encrypted with the key, whose policy lets CloudWatch Logs use it for those groups only', () => {
      // Prepare
      const key = idOf('AWS::KMS::Key', 'MlKey');
      const names = MODEL_NAMES.map((name) => `/aws/sagemaker/Endpoints/sdap-test-${name}`);

      // Act
      const keyPolicy = resourceOf(built.template, 'AWS::KMS::Key', 'MlKey').properties.KeyPolicy.Statement;

      // Assess
      for (const name of names) {
        built.template.hasResourceProperties('AWS::Logs::LogGroup', {
          LogGroupName: name,
          KmsKeyId: getAtt(key),
          RetentionInDays: 90,
        });
      }
      const logsStatement = keyPolicy.find(
        (statement: { Sid?: string }) => statement.Sid === 'CloudWatchLogsEncryptEndpointLogs',
      );
      const arns = logsStatement.Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn'].map(
        (arn: { 'Fn::Join': [string, unknown[]] }) => arn['Fn::Join'][1].at(-1),
      );
      expect(arns).toEqual(names.map((name) => `:log-group:${name}`));
    });

    it('lets a grantee invoke one endpoint and no other', () => {
      // Act
      const { template } = build({}, testStack(), (endpoints) => {
        const role = new iam.Role(endpoints, 'Caller', {
          assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        });
        endpoints.grantInvoke(role, 'anomaly');
      });

      // Assess
      expect(statementsOfRole(template, 'MlCaller')).toEqual([
        {
          Effect: 'Allow',
          Action: 'sagemaker:InvokeEndpoint',
          Resource: { Ref: resourceOf(template, 'AWS::SageMaker::Endpoint', 'MlAnomaly').id },
        },
      ]);
    });

    it("gives metrics of a variant with its endpoint and variant dimensions, and the drift metric with its caller's dimensions", () => {
      // Act
      const latency = built.stack.resolve(built.endpoints.metricModelLatency('anomaly').toMetricConfig());
      const stream = built.endpoints.metricHighScoreShare('anomaly');
      const etl = built.endpoints.metricHighScoreShare('energy');

      // Assess
      expect(latency.metricStat).toMatchObject({
        namespace: 'AWS/SageMaker',
        metricName: 'ModelLatency',
        statistic: 'p99',
        dimensions: [
          { name: 'EndpointName', value: 'sdap-test-anomaly' },
          { name: 'VariantName', value: 'champion' },
        ],
      });
      expect(stream).toMatchObject({
        namespace: 'Sdap',
        metricName: 'HighScoreShare',
        dimensions: { service: 'telemetry-validator', Model: 'anomaly' },
        statistic: 'Average',
      });
      expect(etl.dimensions).toEqual({ Model: 'energy' });
    });

    it('fails when a metric is asked of a variant the endpoints do not have', () => {
      expect(() => built.endpoints.metricInvocations('anomaly', 'challenger')).toThrow(
        "ModelEndpoints metric: received variant 'challenger', expected one of champion",
      );
    });

    it('tells who calls each endpoint from the model table: the stream for readings, the ETL for ml_features', () => {
      expect(built.endpoints.callers).toEqual({ anomaly: 'stream', failure: 'etl', energy: 'etl' });
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(built.stack)).toEqual([]);
    });
  });

  describe('with a challenger taking 20 % of the traffic', () => {
    let built: Built;

    beforeAll(() => {
      built = build({ challengerTrafficPercent: 20 });
    });

    it('routes 80 % to the champion and 20 % to the challenger, both serving the committed model for now', () => {
      // Prepare
      const model = resourceOf(built.template, 'AWS::SageMaker::Model', 'MlAnomaly').id;

      // Act
      const variants = resourceOf(built.template, 'AWS::SageMaker::EndpointConfig', 'MlAnomaly').properties
        .ProductionVariants;

      // Assess
      expect(variants).toEqual([
        expect.objectContaining({
          VariantName: 'champion',
          InitialVariantWeight: 80,
          InitialInstanceCount: 2,
        }),
        expect.objectContaining({
          VariantName: 'challenger',
          InitialVariantWeight: 20,
          InitialInstanceCount: 2,
        }),
      ]);
      for (const variant of variants) expect(variant.ModelName).toEqual(getAtt(model, 'ModelName'));
    });

    it('scales the challenger like the champion', () => {
      built.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        ResourceId: 'endpoint/sdap-test-anomaly/variant/challenger',
        MinCapacity: 2,
        MaxCapacity: 4,
      });
      built.template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 6);
      built.template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 6);
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(built.stack)).toEqual([]);
    });
  });

  describe('with capture off and dev sizes', () => {
    let built: Built;

    beforeAll(() => {
      built = build({
        dataCapturePercent: 0,
        instanceType: 'ml.t2.medium',
        instanceCount: 1,
        maxInstanceCount: 2,
      });
    });

    it('captures nothing and may not write to the lake', () => {
      // Act
      const statements = statementsOfRole(built.template, 'MlEnergyRole');

      // Assess
      built.template.allResourcesProperties('AWS::SageMaker::EndpointConfig', {
        DataCaptureConfig: Match.absent(),
      });
      expect(grantsOf(statements, 's3:PutObject')).toEqual([]);
      expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([]);
    });

    it('starts one small instance that may scale to two', () => {
      built.template.resourcePropertiesCountIs(
        'AWS::SageMaker::EndpointConfig',
        { ProductionVariants: [Match.objectLike({ InitialInstanceCount: 1, InstanceType: 'ml.t2.medium' })] },
        3,
      );
      built.template.resourcePropertiesCountIs(
        'AWS::ApplicationAutoScaling::ScalableTarget',
        { MinCapacity: 1, MaxCapacity: 2 },
        3,
      );
    });

    it('has no unacknowledged cdk-nag findings', () => {
      expect(nagFindings(built.stack)).toEqual([]);
    });
  });

  describe('the model artefact', () => {
    it("is uploaded under the model's own hash, the same from one synthesis to the next", () => {
      // Act
      const first = build().endpoints.parts.failure.artifact;
      const second = build().endpoints.parts.failure.artifact;

      // Assess
      expect(second.assetHash).toBe(first.assetHash);
      expect(second.s3ObjectKey).toBe(first.s3ObjectKey);
    });

    it('changes when the model changes, and only that model', () => {
      // Prepare
      const dir = mkdtempSync(join(tmpdir(), 'sdap-retrained-'));
      const retrained = (name: ModelName) =>
        name === 'energy' ? join(dir, 'energy.json') : models.modelPath(name);
      writeFileSync(join(dir, 'energy.json'), testModelJson('energy', 0.5));

      try {
        // Act
        const before = build().endpoints.parts;
        const after = build({ modelPath: retrained }).endpoints.parts;

        // Assess
        expect(after.energy.artifact.assetHash).not.toBe(before.energy.artifact.assetHash);
        expect(after.anomaly.artifact.assetHash).toBe(before.anomaly.artifact.assetHash);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('is staged into the cloud assembly as the model.tar.gz of the committed JSON', () => {
      // Prepare
      const outdir = mkdtempSync(join(tmpdir(), 'sdap-endpoints-synth-'));
      const app = testApp({}, { outdir });

      try {
        // Act
        const { endpoints } = build({}, new Stack(app, 'Staged'));
        app.synth();

        // Assess
        const staged = readFileSync(join(outdir, endpoints.parts.anomaly.artifact.assetPath));
        expect(endpoints.parts.anomaly.artifact.assetPath).toMatch(/\.tar\.gz$/);
        expect(Buffer.compare(staged, modelArchive(Buffer.from(testModelJson('anomaly'))))).toBe(0);
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    });
  });

  it.each([
    [
      'challengerTrafficPercent',
      { challengerTrafficPercent: 60 },
      'received 60, expected an integer from 0 to 50',
    ],
    ['dataCapturePercent', { dataCapturePercent: 12.5 }, 'received 12.5, expected an integer from 0 to 100'],
    [
      'maxInstanceCount',
      { instanceCount: 3, maxInstanceCount: 2 },
      'received 2, expected an integer from 3 to 100',
    ],
  ])('fails when %s is out of range, before anything reaches CloudFormation', (name, overrides, expected) => {
    expect(() => build(overrides)).toThrow(`ModelEndpoints ${name}: ${expected}`);
  });

  describe('the region', () => {
    it("resolves the image at synthesis when the stack's region is known", () => {
      // Prepare
      const stack = new Stack(testApp(), 'Dublin', {
        env: { account: '123456789012', region: 'eu-west-1' },
      });

      // Act
      const { endpoints, template } = build({}, stack);

      // Assess
      expect(stack.resolve(endpoints.imageUri)).toEqual({
        'Fn::Join': [
          '',
          ['141502667606.dkr.ecr.eu-west-1.', { Ref: 'AWS::URLSuffix' }, '/sagemaker-xgboost:1.7-1'],
        ],
      });
      expect(template.toJSON().Mappings).toBeUndefined();
    });

    it('fails when the region has no built-in XGBoost image, naming the regions that have one', () => {
      // Prepare
      const stack = new Stack(testApp(), 'Nowhere', {
        env: { account: '123456789012', region: 'xx-nowhere-1' },
      });

      // Act & Assess
      expect(() => build({}, stack)).toThrow(
        "ModelEndpoints: region 'xx-nowhere-1' has no SageMaker built-in XGBoost 1.7-1 image known here; expected one of af-south-1, ap-east-1,",
      );
    });
  });

  describe('refuses a model the endpoint could not serve to its callers', () => {
    let dir: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'sdap-bad-models-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const withFailure = (content: string | undefined) => {
      const path = join(dir, `failure-${Math.random().toString(36).slice(2)}.json`);
      if (content !== undefined) writeFileSync(path, content);
      return (name: ModelName) => (name === 'failure' ? path : models.modelPath(name));
    };

    it('fails when the trained model is missing, saying how to get one or switch the endpoints off', () => {
      expect(() => build({ modelPath: withFailure(undefined) })).toThrow(
        /^ModelEndpoints: no trained model 'failure' at .*failure-\w+\.json \(ENOENT\): train and commit it \(see ml\/README\.md\), or set ml\.endpoints\.enabled to false$/,
      );
    });

    it('fails when the model has another feature count than ml/models.json defines', () => {
      // Prepare
      const json = JSON.stringify(
        buildModelJson({ objective: 'binary:logistic', featureCount: 27, trees: [{ leaf: 0.1 }] }),
      );

      // Act & Assess
      expect(() => build({ modelPath: withFailure(json) })).toThrow(
        /learner\.learner_model_param\.num_feature: received 27, expected 28, the features of failure in ml\/models\.json$/,
      );
    });

    it('fails when the model has another objective than ml/models.json defines', () => {
      // Prepare
      const json = JSON.stringify(
        buildModelJson({ objective: 'reg:tweedie', featureCount: 28, trees: [{ leaf: 0.1 }] }),
      );

      // Act & Assess
      expect(() => build({ modelPath: withFailure(json) })).toThrow(
        /learner\.objective\.name: received 'reg:tweedie', expected 'binary:logistic' \(ml\/models\.json, failure\)$/,
      );
    });

    it('fails when the model was trained with features in another order', () => {
      // Prepare
      const names = Array.from({ length: 28 }, (_, index) => `f${index}`);
      const json = JSON.stringify(
        buildModelJson({
          objective: 'binary:logistic',
          featureCount: 28,
          featureNames: names,
          trees: [{ leaf: 0.1 }],
        }),
      );

      // Act & Assess
      expect(() => build({ modelPath: withFailure(json) })).toThrow(
        /learner\.feature_names: received \["f0","f1",/,
      );
    });

    it('fails when the file is not an XGBoost model, naming the file', () => {
      expect(() => build({ modelPath: withFailure('{"learner":{}}') })).toThrow(
        /failure-\w+\.json: learner\./,
      );
    });
  });
});

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
