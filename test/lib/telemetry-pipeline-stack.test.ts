import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelVersionOf } from '../../lambdas/failure-scoring/names.ts';
import { buildStageConfig, PROD_STREAM_RETENTION_HOURS, type StageName } from '../../lib/config.ts';
import { DEFAULT_ITERATOR_AGE_ALARM_FRACTION } from '../../lib/monitoring/ingest-alarms.ts';
import { stackNameOf, TelemetryPipelineStack } from '../../lib/telemetry-pipeline-stack.ts';
import { definitionOf, grantsOf, nagFindings, resourceOf, statementsOfRole, testApp } from './support/cdk.ts';
import { type TestModels, writeTestModels } from './support/test-models.ts';

// Prod deploys the models' endpoints: small models stand in for the committed ones.
let models: TestModels;
beforeAll(() => {
  models = writeTestModels();
});
afterAll(() => models.remove());

describe('TelemetryPipelineStack', () => {
  const templates = {} as Record<StageName, Template>;

  beforeAll(() => {
    for (const stage of ['dev', 'prod'] as const) {
      const stack = new TelemetryPipelineStack(testApp(), stackNameOf(stage), {
        config: buildStageConfig(stage),
        modelPath: models.modelPath,
      });
      templates[stage] = Template.fromStack(stack);
    }
  });

  it('names one stack per stage', () => {
    expect(stackNameOf('dev')).toBe('Sdap-dev');
    expect(stackNameOf('prod')).toBe('Sdap-prod');
  });

  describe.each(['dev', 'prod'] as const)('%s', (stage) => {
    let template: Template;

    beforeAll(() => {
      template = templates[stage];
    });

    it('blocks public access to every bucket and denies every request without TLS', () => {
      // Prepare
      const buckets = template.findResources('AWS::S3::Bucket');
      const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));

      // Assess
      // The lake's five and the erasure audit bucket; prod also keeps the training workflow's artifacts.
      expect(Object.keys(buckets)).toHaveLength(stage === 'prod' ? 7 : 6);
      for (const [bucketId, bucket] of Object.entries(buckets)) {
        expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
        const policy = policies.find((candidate) => candidate.Properties.Bucket.Ref === bucketId);
        expect(policy?.Properties.PolicyDocument.Statement).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
    });

    it('encrypts every data bucket, the stream, the topics and the bus with a customer-managed key', () => {
      // Prepare
      const keyIds = Object.keys(template.findResources('AWS::KMS::Key'));
      const isCustomerKey = (value: unknown) =>
        keyIds.some((keyId) => JSON.stringify(value) === JSON.stringify({ 'Fn::GetAtt': [keyId, 'Arn'] }));

      // Assess
      for (const [bucketId, bucket] of Object.entries(template.findResources('AWS::S3::Bucket'))) {
        const [rule] = bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration;
        if (bucketId.startsWith('LakeAccessLogsBucket')) {
          expect(rule.ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
        } else {
          expect(rule.ServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
          expect(isCustomerKey(rule.ServerSideEncryptionByDefault.KMSMasterKeyID)).toBe(true);
        }
      }
      const stream = resourceOf(template, 'AWS::Kinesis::Stream').properties.StreamEncryption;
      expect(stream.EncryptionType).toBe('KMS');
      expect(isCustomerKey(stream.KeyId)).toBe(true);
      for (const topic of Object.values(template.findResources('AWS::SNS::Topic'))) {
        expect(isCustomerKey(topic.Properties.KmsMasterKeyId)).toBe(true);
      }
      expect(isCustomerKey(resourceOf(template, 'AWS::Events::EventBus').properties.KmsKeyIdentifier)).toBe(
        true,
      );
      for (const key of Object.values(template.findResources('AWS::KMS::Key'))) {
        expect(key.Properties.EnableKeyRotation).toBe(true);
      }
    });

    it('stops retrying records before the stream trims them, and alarms on lag at a quarter of the retention', () => {
      // Prepare
      const retentionHours = resourceOf(template, 'AWS::Kinesis::Stream').properties.RetentionPeriodHours;
      const iteratorAlarm = Object.values(template.findResources('AWS::CloudWatch::Alarm')).find(
        (alarm) => alarm.Properties.MetricName === 'GetRecords.IteratorAgeMilliseconds',
      );

      // Assess
      expect(
        resourceOf(template, 'AWS::Lambda::EventSourceMapping').properties.MaximumRecordAgeInSeconds,
      ).toBeLessThan(retentionHours * 3600);
      expect(iteratorAlarm?.Properties.Threshold).toBe(
        retentionHours * 3_600_000 * DEFAULT_ITERATOR_AGE_ALARM_FRACTION,
      );
    });

    it('lets the validator write raw and quarantine objects, and the rule put records and error documents', () => {
      // Prepare
      const raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;
      const quarantine = resourceOf(template, 'AWS::S3::Bucket', 'LakeQuarantineBucket').id;
      const failures = resourceOf(template, 'AWS::S3::Bucket', 'LakeFailuresBucket').id;
      const stream = resourceOf(template, 'AWS::Kinesis::Stream').id;

      // Act
      const validator = statementsOfRole(template, 'ValidatorRole');
      const rule = statementsOfRole(template, 'GatewayRuleRole');

      // Assess
      expect(grantsOf(validator, 's3:PutObject').sort()).toEqual(
        [
          `<${failures}.Arn>/aws/lambda/*`,
          `<${quarantine}.Arn>/rejected/*`,
          `<${raw}.Arn>/telemetry/*`,
          `<${raw}.Arn>/alerts/*`,
        ].sort(),
      );
      expect(grantsOf(rule, 'kinesis:PutRecord')).toEqual([`<${stream}.Arn>`]);
      expect(grantsOf(rule, 's3:PutObject')).toEqual([`<${failures}.Arn>/iot-rule-errors/*`]);
      expect(grantsOf(rule, 'kms:GenerateDataKey')).toHaveLength(1);
    });

    it('publishes the names the tools and the twin need as outputs', () => {
      expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
        [
          'AlertBusName',
          'CriticalAlertTopicArn',
          'CuratedBucketName',
          'DevicePolicyName',
          'ErasureAuditBucketName',
          'ErasureStateMachineArn',
          'EtlJobName',
          'EtlStateMachineArn',
          'FailuresBucketName',
          'GlueDatabaseName',
          'OnCallTopicArn',
          'QuarantineBucketName',
          'RawBucketName',
          'RawTableName',
          'RegistryExportFunctionName',
          'TelemetryStreamName',
          'TopicRuleName',
          'ValidatorFunctionName',
          // The warehouse and the endpoints are on in prod only.
          ...(stage === 'prod'
            ? [
                'AnomalyEndpointName',
                'EnergyEndpointName',
                'FailureEndpointName',
                'FailureScoringFunctionName',
                'WarehouseAdminSecretArn',
                'WarehouseDatabaseName',
                'WarehouseLoadFunctionName',
                'WarehouseWorkgroupName',
              ]
            : []),
        ].sort(),
      );
      expect(template.toJSON().Outputs.TopicRuleName.Value).toBe(`sdap_${stage}_telemetry`);
      expect(template.toJSON().Outputs.EtlJobName.Value).toBe(`sdap-${stage}-etl`);
      expect(template.toJSON().Outputs.EtlStateMachineArn.Value).toEqual({
        Ref: resourceOf(template, 'AWS::StepFunctions::StateMachine', 'EtlWorkflow').id,
      });
    });

    it('runs the ETL with the stage settings: Glue 5.0 workers, the schedule, the backfill concurrency', () => {
      // Prepare
      const { etl } = buildStageConfig(stage);

      // Assess
      expect(resourceOf(template, 'AWS::Glue::Job', 'EtlJob').properties).toMatchObject({
        GlueVersion: '5.0',
        WorkerType: etl.workerType,
        NumberOfWorkers: etl.numberOfWorkers,
        Timeout: etl.timeoutMinutes,
        ExecutionProperty: { MaxConcurrentRuns: etl.backfillMaxConcurrency + 1 },
      });
      expect(
        resourceOf(template, 'AWS::Scheduler::Schedule', 'EtlWorkflow').properties.ScheduleExpression,
      ).toBe(etl.scheduleExpression);
      expect(definitionOf(template, 'EtlWorkflow').States).toMatchObject({
        RunWindows: { MaxConcurrency: etl.backfillMaxConcurrency },
      });
    });

    it('exports the IoT registry hourly into iot-registry/ of the raw bucket, alarmed, before the ETL reads it', () => {
      // Prepare
      const { registryExport } = buildStageConfig(stage);
      const raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;
      const fn = resourceOf(template, 'AWS::Lambda::Function', 'RegistryExportFunction').id;
      const alarm = Object.values(template.findResources('AWS::CloudWatch::Alarm')).find(
        (candidate) => candidate.Properties.AlarmName === `sdap-${stage}-registry-export-errors-count`,
      );

      // Assess
      expect(
        resourceOf(template, 'AWS::Scheduler::Schedule', 'RegistryExport').properties.ScheduleExpression,
      ).toBe(registryExport.scheduleExpression);
      expect(grantsOf(statementsOfRole(template, 'RegistryExportRole'), 's3:PutObject').sort()).toEqual([
        `<${raw}.Arn>/iot-registry/thing-groups.ndjson`,
        `<${raw}.Arn>/iot-registry/things.ndjson`,
      ]);
      expect(alarm?.Properties).toMatchObject({
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
        AlarmActions: [{ Ref: resourceOf(template, 'AWS::SNS::Topic', 'AlarmsOnCallTopic').id }],
      });
      expect(template.toJSON().Outputs.RegistryExportFunctionName.Value).toEqual({ Ref: fn });
    });

    it('lets the ETL read the raw zone and rewrite the curated zone, and never write raw', () => {
      // Prepare
      const raw = resourceOf(template, 'AWS::S3::Bucket', 'LakeRawBucket').id;
      const curated = resourceOf(template, 'AWS::S3::Bucket', 'LakeCuratedBucket').id;

      // Act
      const job = statementsOfRole(template, 'EtlJobRole');

      // Assess
      expect(grantsOf(job, 's3:GetObject')).toContain(`<${raw}.Arn>/telemetry/*`);
      expect(grantsOf(job, 's3:PutObject').every((arn) => arn.startsWith(`<${curated}.Arn>/`))).toBe(true);
    });
  });

  it('destroys dev data with the stack and retains prod data', () => {
    // Act
    const deletionPolicies = (stage: StageName, type: string) =>
      new Set(Object.values(templates[stage].findResources(type)).map((resource) => resource.DeletionPolicy));

    // Assess
    for (const type of ['AWS::S3::Bucket', 'AWS::Kinesis::Stream', 'AWS::KMS::Key', 'AWS::Logs::LogGroup']) {
      expect(deletionPolicies('dev', type)).toEqual(new Set(['Delete']));
      expect(deletionPolicies('prod', type)).toEqual(new Set(['Retain']));
    }
    templates.dev.resourceCountIs('Custom::S3AutoDeleteObjects', 6);
    templates.prod.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('sizes the stream per stage: one provisioned shard for a day in dev, on-demand for a week in prod', () => {
    expect(resourceOf(templates.dev, 'AWS::Kinesis::Stream').properties).toMatchObject({
      ShardCount: 1,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      RetentionPeriodHours: 24,
    });
    expect(resourceOf(templates.prod, 'AWS::Kinesis::Stream').properties).toMatchObject({
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      RetentionPeriodHours: PROD_STREAM_RETENTION_HOURS,
    });
  });

  it('leaves the ETL out, with its outputs, when the stage switches it off', () => {
    // Prepare
    const config = buildStageConfig('dev', { etl: { enabled: false } });

    // Act
    const stack = new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config });
    const template = Template.fromStack(stack);

    // Assess
    expect(stack.etl).toBeUndefined();
    for (const type of ['AWS::Glue::Job', 'AWS::Scheduler::Schedule']) {
      template.resourceCountIs(type, 0);
    }
    // The erasure workflow's is the only state machine left.
    expect(resourceOf(template, 'AWS::StepFunctions::StateMachine').id).toMatch(/^Erasure/);
    expect(Object.keys(template.toJSON().Outputs)).not.toContain('EtlStateMachineArn');
    expect(Object.keys(template.toJSON().Outputs)).toContain('CuratedBucketName');
    // The registry export follows the ETL unless the stage keeps it.
    expect(stack.registryExport).toBeUndefined();
    expect(Object.keys(template.toJSON().Outputs)).not.toContain('RegistryExportFunctionName');
  });

  it('keeps the registry export without the ETL when the stage asks for it', () => {
    // Prepare
    const config = buildStageConfig('dev', { etl: { enabled: false }, registryExport: { enabled: true } });

    // Act
    const stack = new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config });
    const template = Template.fromStack(stack);

    // Assess
    expect(stack.registryExport).toBeDefined();
    // The erasure workflow's only.
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    expect(Object.keys(template.toJSON().Outputs)).toContain('RegistryExportFunctionName');
  });

  it('adds the warehouse in prod, loaded by the ETL, and leaves it out in dev', () => {
    // Assess
    templates.dev.resourceCountIs('AWS::RedshiftServerless::Workgroup', 0);
    templates.prod.resourceCountIs('AWS::RedshiftServerless::Workgroup', 1);
    expect(JSON.stringify(definitionOf(templates.prod, 'EtlWorkflow'))).toContain('"LoadWarehouse"');
    expect(JSON.stringify(definitionOf(templates.dev, 'EtlWorkflow'))).not.toContain('"LoadWarehouse"');
  });

  it('deploys the three model endpoints in prod, each variant on at least two instances, with their alarms, and none in dev', () => {
    // Assess
    templates.dev.resourceCountIs('AWS::SageMaker::Endpoint', 0);
    templates.prod.resourceCountIs('AWS::SageMaker::Endpoint', 3);
    for (const config of Object.values(templates.prod.findResources('AWS::SageMaker::EndpointConfig'))) {
      expect(config.Properties.KmsKeyId).toBeDefined();
      for (const variant of config.Properties.ProductionVariants) {
        expect(variant.InitialInstanceCount).toBeGreaterThanOrEqual(2);
      }
    }
    for (const target of Object.values(
      templates.prod.findResources('AWS::ApplicationAutoScaling::ScalableTarget'),
    )) {
      expect(target.Properties.MinCapacity).toBeGreaterThanOrEqual(2);
    }
    expect(templates.prod.toJSON().Outputs.AnomalyEndpointName.Value).toBe('sdap-prod-anomaly');
    templates.prod.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'sdap-prod-anomaly-endpoint-5xx-count',
    });
  });

  it('lets the validator score with the anomaly endpoint in prod: its name, the invoke grant and a read of the baselines only', () => {
    // Act
    const validator = resourceOf(templates.prod, 'AWS::Lambda::Function', 'ValidatorFunction');
    const statements = statementsOfRole(templates.prod, 'ValidatorRole');
    const devValidator = resourceOf(templates.dev, 'AWS::Lambda::Function', 'ValidatorFunction');

    // Assess
    const env = (validator.properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.ANOMALY_ENDPOINT_NAME).toBe('sdap-prod-anomaly');
    expect(env.CURATED_BUCKET_NAME).toBeDefined();
    expect(grantsOf(statements, 'sagemaker:InvokeEndpoint')).toEqual([
      expect.stringMatching(/^<ModelEndpointsAnomalyEndpoint/),
    ]);
    expect(grantsOf(statements, 's3:GetObject').filter((r) => r.includes('Curated'))).toEqual([
      expect.stringMatching(/Curated.*\/device_baselines\/\*$/),
    ]);
    const list = statements.find(
      (st) => [st.Action].flat().includes('s3:ListBucket') && JSON.stringify(st).includes('Curated'),
    );
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['device_baselines/*'] } });
    expect(
      (devValidator.properties.Environment as { Variables: Record<string, unknown> }).Variables
        .ANOMALY_ENDPOINT_NAME,
    ).toBeUndefined();
  });

  it('scores each ETL window with the failure endpoint in prod, before the load: the champion, the model version, its invoke grant only', () => {
    // Act
    const fn = resourceOf(templates.prod, 'AWS::Lambda::Function', 'FailureScoringFunction');
    const statements = statementsOfRole(templates.prod, 'FailureScoringRole');
    const env = (fn.properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const states = JSON.stringify(definitionOf(templates.prod, 'EtlWorkflow'));

    // Assess
    expect(env).toMatchObject({
      FAILURE_ENDPOINT_NAME: 'sdap-prod-failure',
      FAILURE_ENDPOINT_VARIANT: 'champion',
      FAILURE_MODEL_VERSION: modelVersionOf(readFileSync(models.modelPath('failure'))),
    });
    expect(grantsOf(statements, 'sagemaker:InvokeEndpoint')).toEqual([
      expect.stringMatching(/^<ModelEndpointsFailureEndpoint/),
    ]);
    expect(grantsOf(statements, 's3:PutObject')).toEqual([
      expect.stringMatching(/Curated.*\/predictions$/),
      expect.stringMatching(/Curated.*\/predictions\/\*$/),
    ]);
    expect(states).toContain('"ScorePredictions"');
    expect(JSON.stringify(definitionOf(templates.dev, 'EtlWorkflow'))).not.toContain('"ScorePredictions"');
    templates.dev.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      { Environment: { Variables: { FAILURE_ENDPOINT_NAME: 'sdap-dev-failure' } } },
      0,
    );
  });

  it('retrains the models weekly in prod, alarmed on a failed execution, and not in dev', () => {
    // Assess
    templates.prod.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'sdap-prod-ml-training',
    });
    templates.dev.resourcePropertiesCountIs(
      'AWS::StepFunctions::StateMachine',
      { StateMachineName: 'sdap-dev-ml-training' },
      0,
    );
    const alarm = resourceOf(templates.prod, 'AWS::CloudWatch::Alarm', 'TrainingAlarmsmltrainingfailed');
    expect(alarm.properties).toMatchObject({
      AlarmName: 'sdap-prod-ml-training-failed-executions-count',
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      Statistic: 'Sum',
      Period: 86_400,
      Threshold: 1,
    });
    expect(JSON.stringify(alarm.properties.Dimensions)).toContain('StateMachineArn');
    expect(String(alarm.properties.AlarmDescription)).toContain(
      'docs/runbook.md#ml-training-failed-executions-count',
    );
  });

  it('leaves the endpoints out of prod when the stage switches them off, needing no trained model', () => {
    // Prepare
    const config = buildStageConfig('prod', { ml: { endpoints: { enabled: false } } });

    // Act
    const stack = new TelemetryPipelineStack(testApp(), 'Sdap-prod', {
      config,
      modelPath: () => '/nonexistent/model.json',
    });

    // Assess
    expect(stack.ml).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::SageMaker::Endpoint', 0);
  });

  it('keeps the warehouse but loads nothing into it when the stage switches the ETL off', () => {
    // Prepare
    const config = buildStageConfig('prod', { etl: { enabled: false } });

    // Act
    const stack = new TelemetryPipelineStack(testApp(), 'Sdap-prod', { config, modelPath: models.modelPath });
    const template = Template.fromStack(stack);

    // Assess
    expect(stack.warehouse).toBeDefined();
    expect(stack.etl).toBeUndefined();
    template.resourceCountIs('AWS::RedshiftServerless::Namespace', 1);
    template.resourceCountIs('Custom::WarehouseSchema', 1);
    expect(Object.keys(template.toJSON().Outputs)).toContain('WarehouseWorkgroupName');
    expect(Object.keys(template.toJSON().Outputs)).not.toContain('WarehouseLoadFunctionName');
    expect(
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
        (alarm) => alarm.Properties.AlarmName as string,
      ),
    ).not.toContain('sdap-prod-warehouse-load-failures-count');
  });

  it('adds the weather function, its schedule and output when the stage switches weather on', () => {
    // Prepare
    const config = buildStageConfig('prod', {
      weather: { enabled: true, apiKeySecretName: 'sdap/prod/weather-api-key' },
    });

    // Act
    const stack = new TelemetryPipelineStack(testApp(), 'Sdap-prod', { config, modelPath: models.modelPath });
    const template = Template.fromStack(stack);

    // Assess
    expect(stack.weather).toBeDefined();
    expect(templates.prod.toJSON().Outputs.WeatherFunctionName).toBeUndefined();
    expect(Object.keys(template.toJSON().Outputs)).toContain('WeatherFunctionName');
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: config.weather.scheduleExpression,
    });
    // The weather function reads its sites from the registry export, deployed with it.
    expect(stack.registryExport).toBeDefined();
    expect(nagFindings(stack)).toEqual([]);
  });

  it('leaves account-wide IoT logging out when the stage disables it', () => {
    // Prepare
    const config = buildStageConfig('dev', { iotLogging: { enabled: false } });

    // Act
    const template = Template.fromStack(new TelemetryPipelineStack(testApp(), 'Sdap-dev', { config }));

    // Assess
    templates.dev.resourceCountIs('AWS::IoT::Logging', 1);
    template.resourceCountIs('AWS::IoT::Logging', 0);
  });
});
