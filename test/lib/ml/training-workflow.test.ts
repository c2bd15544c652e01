import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import aslValidator from 'asl-validator';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseEvaluationEvent } from '../../../lambdas/model-evaluation/evaluation-event.ts';
import { MODEL_EVALUATION_ENV, TRAINING_RUN_LAYOUT } from '../../../lambdas/model-evaluation/names.ts';
import { GLUE_SCRIPTS_DIR } from '../../../lib/batch/etl-manifest.ts';
import { STATE_MACHINE_DATA_KEY_REUSE_SECONDS } from '../../../lib/batch/state-machine-encryption.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { XGBOOST_IMAGE_ACCOUNTS } from '../../../lib/ml/model-endpoints.ts';
import {
  CHALLENGER_VARIANT,
  CHAMPION_VARIANT,
  DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
  DEFAULT_TRAINING_INSTANCE_TYPE,
  DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
  ENDPOINT_MAX_POLLS,
  EVALUATION_TASK_TIMEOUT_MARGIN_SECONDS,
  EVALUATION_TIMEOUT_SECONDS,
  HOLDOUT_DAYS,
  LABELS_PREFIX,
  MAX_NAME_PREFIX_LENGTH,
  MAX_TRAINING_WINDOW_DAYS,
  ML_SCRIPT_PREFIX,
  SHARED_ETL_MODULES,
  TRAINING_CURATED_PREFIXES,
  TRAINING_DATA_JOB_ARGUMENTS,
  TRAINING_DATA_JOB_SCRIPT,
  TRAINING_FAILED_ALARM_ID,
  TRAINING_RESULT_STATUSES,
  TRAINING_WINDOW_DAYS,
  TrainingWorkflow,
  type TrainingWorkflowProps,
  xgboostImageUri,
} from '../../../lib/ml/training-workflow.ts';
import {
  loadModelSpec,
  MODEL_NAMES,
  type ModelName,
  sagemakerHyperParameters,
} from '../../../ml/model-spec.ts';
import {
  definitionOf,
  flatten,
  grantsOf,
  nagFindings,
  resourceOf,
  type StatementJson,
  statementsOfRole,
  testApp,
} from '../support/cdk.ts';

/** The JSONata engine asl-validator checks expressions with; here it evaluates them. */
const jsonata = createRequire(createRequire(import.meta.url).resolve('asl-validator'))('jsonata') as (
  expression: string,
) => { evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown> };

interface StateJson {
  readonly Type: string;
  readonly Resource?: string;
  readonly TimeoutSeconds?: number;
  readonly Retry?: {
    ErrorEquals: string[];
    IntervalSeconds: number;
    MaxAttempts: number;
    BackoffRate: number;
    MaxDelaySeconds?: number;
    JitterStrategy?: string;
  }[];
  readonly Catch?: { ErrorEquals: string[]; Next: string; Assign?: Record<string, unknown> }[];
  readonly Next?: string;
  readonly Default?: string;
  readonly Choices?: { Condition: string; Next: string }[];
  readonly Arguments?: Record<string, unknown> | string;
  readonly Assign?: Record<string, unknown>;
  readonly Output?: unknown;
  readonly Items?: unknown[];
  readonly ItemSelector?: Record<string, string>;
  readonly MaxConcurrency?: number;
  readonly ItemProcessor?: { StartAt: string; States: Record<string, StateJson> };
  readonly Cause?: string;
}

interface Definition {
  readonly StartAt: string;
  readonly QueryLanguage: string;
  readonly States: Record<string, StateJson>;
}

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const EXECUTION_ID = `arn:aws:states:${REGION}:${ACCOUNT}:execution:sdap-test-ml-training:run-1`;
const CONTEXT = {
  Execution: { Id: EXECUTION_ID, Name: 'run-1' },
  StateMachine: { Name: 'sdap-test-ml-training' },
};
const ENDPOINTS: Record<ModelName, string> = {
  anomaly: 'sdap-test-anomaly',
  failure: 'sdap-test-failure',
  energy: 'sdap-test-energy',
};
const spec = loadModelSpec();
/** The share the main test stack gives a challenger (the stage default, 0, deploys none). */
const CHALLENGER_SHARE = 10;

/** Step Functions' own JSONata function, for evaluating the definition here. */
const hash = (value: string, algorithm: string) =>
  createHash(algorithm.replace('-', '').toLowerCase()).update(value).digest('hex');

/** Evaluates a `{% ... %}` field of the definition as Step Functions would. */
async function evaluate(field: unknown, bindings: Record<string, unknown> = {}): Promise<unknown> {
  const text = String(field);
  expect(text.startsWith('{% ') && text.endsWith(' %}'), `not a JSONata field: ${text}`).toBe(true);
  return jsonata(text.slice(3, -3)).evaluate(
    {},
    { hash, ...bindings, states: { context: CONTEXT, ...(bindings.states as object) } },
  );
}

/** Evaluates every `{% ... %}` field of an object (nested objects and arrays too). */
async function evaluateObject(fields: unknown, bindings: Record<string, unknown>): Promise<unknown> {
  if (typeof fields === 'string') return fields.startsWith('{% ') ? evaluate(fields, bindings) : fields;
  if (Array.isArray(fields)) return Promise.all(fields.map((field) => evaluateObject(field, bindings)));
  if (fields === null || typeof fields !== 'object') return fields;
  const entries = await Promise.all(
    Object.entries(fields).map(async ([key, value]) => [key, await evaluateObject(value, bindings)] as const),
  );
  return Object.fromEntries(entries);
}

/** The state a Choice goes to for the given bindings. */
async function choose(
  state: StateJson | undefined,
  bindings: Record<string, unknown>,
): Promise<string | undefined> {
  for (const choice of state?.Choices ?? []) {
    if ((await evaluate(choice.Condition, bindings)) === true) return choice.Next;
  }
  return state?.Default;
}

/** Every state of the definition, the Map's iteration included, by name. */
function allStates(definition: Definition): Record<string, StateJson> {
  const states: Record<string, StateJson> = {};
  const visit = (map: Record<string, StateJson>) => {
    for (const [name, state] of Object.entries(map)) {
      states[name] = state;
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
    }
  };
  visit(definition.States);
  return states;
}

/**
 * The workflow in a test stack of `region` (null: a region-agnostic stack); `overrides` may be built
 * in that stack.
 */
function build(
  overrides: Partial<TrainingWorkflowProps> | ((stack: Stack) => Partial<TrainingWorkflowProps>) = {},
  region: string | null = REGION,
) {
  const stack = new Stack(testApp(), 'Test', region ? { env: { account: ACCOUNT, region } } : {});
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const onCallKey = new kms.Key(stack, 'OnCallKey', { enableKeyRotation: true });
  const onCallTopic = new sns.Topic(stack, 'OnCallTopic', { masterKey: onCallKey, enforceSSL: true });
  const workflow = new TrainingWorkflow(stack, 'Training', {
    lake,
    onCallTopic,
    namePrefix: 'sdap-test',
    endpointNames: ENDPOINTS,
    removalPolicy: RemovalPolicy.DESTROY,
    ...(typeof overrides === 'function' ? overrides(stack) : overrides),
  });
  const template = Template.fromStack(stack);
  return { stack, workflow, template };
}

/** The variables of one model's run, as the iteration's first state assigns them. */
const RUN = {
  model: 'failure',
  endpointName: ENDPOINTS.failure,
  modelPackageGroupName: 'sdap-test-failure',
  hyperParameters: sagemakerHyperParameters(spec.models.failure),
  runId: '20261102-20261130-1a2b3c4d',
  runName: 'sdap-test-failure-20261102-20261130-1a2b3c4d',
  window: { start: '2026-11-02T00:00:00Z', splitAt: '2026-11-23T00:00:00Z', end: '2026-11-30T00:00:00Z' },
  trainingJobName: 'sdap-test-failure-20261102-20261130-1a2b3c4d',
  modelDataUrl:
    's3://artifacts/training/20261102-20261130-1a2b3c4d/failure/output/sdap-test-failure-20261102-20261130-1a2b3c4d/output/model.tar.gz',
  endpointExists: true,
  championVariant: {
    VariantName: CHAMPION_VARIANT,
    ModelName: 'sdap-test-failure-committed',
    InstanceType: 'ml.m5.large',
    InitialInstanceCount: 2,
    InitialVariantWeight: 1,
  },
  evaluation: {
    metric: 'rocAuc',
    candidate: 0.91,
    champion: 0.9,
    baseline: null,
    rows: 4032,
    passed: true,
    reason: "the candidate's ROC-AUC 0.91 meets the target >= 0.85, stays within 0.01 of the champion's 0.9",
    artifactSha256: 'ab'.repeat(32),
    evaluationUrl: 's3://artifacts/training/20261102-20261130-1a2b3c4d/failure/evaluation.json',
  },
  modelPackageArn: `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/sdap-test-failure/3`,
  failedState: null,
};

describe('TrainingWorkflow', () => {
  let built: ReturnType<typeof build>;
  let definition: Definition;
  let states: Record<string, StateJson>;
  let tasks: [string, StateJson][];
  let ids: { key: string; bucket: string; executionRole: string };

  beforeAll(() => {
    built = build({ challengerTrafficPercent: CHALLENGER_SHARE });
    definition = definitionOf(built.template) as unknown as Definition;
    states = allStates(definition);
    tasks = Object.entries(states).filter(([, state]) => state.Type === 'Task');
    ids = {
      key: resourceOf(built.template, 'AWS::KMS::Key', 'TrainingKey').id,
      bucket: resourceOf(built.template, 'AWS::S3::Bucket', 'TrainingArtifactsBucket').id,
      executionRole: resourceOf(built.template, 'AWS::IAM::Role', 'TrainingExecutionRole').id,
    };
  });

  describe('the definition', () => {
    it('is valid Amazon States Language (asl-validator), in JSONata', () => {
      // Act
      const { isValid, errorsText } = aslValidator(structuredClone(definition));

      // Assess
      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
      expect(definition.QueryLanguage).toBe('JSONata');
    });

    it('runs every step of a model in order, in one iteration per model', () => {
      // Assess
      expect(states.TrainModels).toMatchObject({ Type: 'Map', MaxConcurrency: MODEL_NAMES.length });
      expect(states.TrainModels?.Items?.map((item) => (item as { model: string }).model)).toEqual([
        ...MODEL_NAMES,
      ]);
      const order = [
        'PrepareModelRun',
        'BuildTrainingData',
        'TrainCandidate',
        'CreateCandidateModel',
        'ScoreCandidate',
        'FindEndpoint',
        'HasEndpoint',
      ];
      expect(states.TrainModels?.ItemProcessor?.StartAt).toBe(order[0]);
      for (const [index, name] of order.slice(0, -1).entries())
        expect(states[name]?.Next).toBe(order[index + 1]);
      expect(states.DescribeEndpoint?.Next).toBe('DescribeEndpointConfig');
      expect(states.DescribeChampionModel?.Next).toBe('CreateChampionModel');
      expect(states.CreateChampionModel?.Next).toBe('ScoreChampion');
      expect(states.ScoreChampion?.Next).toBe('EvaluateCandidate');
      expect(states.EvaluateCandidate?.Next).toBe('RegisterModelPackage');
      expect(states.RegisterModelPackage?.Next).toBe('GatePassed');
      expect(states.CreateEndpointConfig?.Next).toBe('UpdateEndpoint');
      expect(states.UpdateEndpoint?.Next).toBe('WaitForEndpoint');
    });

    it('gives every task a timeout', () => {
      expect(tasks.length).toBeGreaterThanOrEqual(16);
      for (const [name, task] of tasks) expect(task.TimeoutSeconds, name).toBeGreaterThan(0);
    });

    it('retries every task on named transient errors with exponential backoff, a cap and full jitter', () => {
      for (const [name, task] of tasks) {
        expect(task.Retry?.length, name).toBeGreaterThan(0);
        for (const retrier of task.Retry ?? []) {
          expect(retrier, name).toMatchObject({ JitterStrategy: 'FULL' });
          expect(retrier.BackoffRate, name).toBeGreaterThan(1);
          expect(retrier.MaxDelaySeconds, name).toBeGreaterThan(retrier.IntervalSeconds);
          // A failed job or a bad candidate would only fail again.
          expect(retrier.ErrorEquals, name).not.toContain('States.ALL');
          expect(retrier.ErrorEquals, name).not.toContain('States.TaskFailed');
        }
      }
    });

    it("retries SageMaker's throttling and unavailability, and Lambda's own errors", () => {
      for (const [name, task] of tasks.filter(([, state]) => state.Resource?.includes(':sagemaker:'))) {
        expect(task.Retry?.[0]?.ErrorEquals, name).toEqual(
          expect.arrayContaining(['SageMaker.AmazonSageMakerException', 'SageMaker.ThrottlingException']),
        );
      }
      expect(states.EvaluateCandidate?.Retry?.[0]?.ErrorEquals).toEqual(
        expect.arrayContaining([
          'Lambda.ServiceException',
          'Lambda.AWSLambdaException',
          'Lambda.SdkClientException',
          'Lambda.ClientExecutionTimeoutException',
        ]),
      );
      expect(states.BuildTrainingData?.Retry?.[0]?.ErrorEquals).toContain(
        'Glue.ConcurrentRunsExceededException',
      );
    });

    it("catches every error of a model's task into its FAILED result, and the rest into the on-call notification", () => {
      // Prepare
      const inIteration = new Set(Object.keys(states.TrainModels?.ItemProcessor?.States ?? {}));

      // Assess
      for (const [name, task] of tasks) {
        const catchAll = task.Catch?.find((catcher) => catcher.ErrorEquals.includes('States.ALL'));
        expect(catchAll, name).toBeDefined();
        if (inIteration.has(name)) {
          expect(catchAll?.Next, name).toBe('ModelFailed');
          expect(catchAll?.Assign, name).toEqual({ failedState: name });
        } else {
          expect(catchAll?.Next, name).toBe('TrainingFailed');
        }
      }
      expect(JSON.stringify(states.ModelFailed?.Output)).toContain(
        `'status': '${TRAINING_RESULT_STATUSES.failed}'`,
      );
      expect(states.TrainModels?.Catch?.[0]).toMatchObject({
        ErrorEquals: ['States.ALL'],
        Next: 'NotifyOnCall',
      });
      expect(states.NotifyOnCall?.Next).toBe('TrainingFailed');
      expect(states.TrainingFailed?.Type).toBe('Fail');
      expect(states.EndpointUpdateFailed?.Next).toBe('ModelFailed');
      expect(states.NoChampionVariant?.Next).toBe('ModelFailed');
    });

    it("times the tasks by their jobs' own limits", () => {
      expect(states.EvaluateCandidate?.TimeoutSeconds).toBe(
        EVALUATION_TIMEOUT_SECONDS + EVALUATION_TASK_TIMEOUT_MARGIN_SECONDS,
      );
      const train = states.TrainCandidate?.Arguments as {
        StoppingCondition: { MaxRuntimeInSeconds: number };
      };
      expect(states.TrainCandidate?.TimeoutSeconds).toBeGreaterThan(
        train.StoppingCondition.MaxRuntimeInSeconds,
      );
      const job = resourceOf(built.template, 'AWS::Glue::Job').properties;
      expect(states.BuildTrainingData?.TimeoutSeconds).toBeGreaterThan(job.Timeout * 60);
    });
  });

  describe('the window', () => {
    const plan = async (input: unknown) => {
      const next = await choose(states.ReadInput, { states: { input } });
      const assign = next ? states[next]?.Assign : undefined;
      return { state: next, window: assign && (await evaluate(assign.window, { states: { input } })) };
    };

    it(`trains the scheduler's run on the ${TRAINING_WINDOW_DAYS} days before its day, the last ${HOLDOUT_DAYS} held out`, async () => {
      expect(await plan({ trigger: 'schedule', scheduledTime: '2026-11-30T04:00:00Z' })).toEqual({
        state: 'PlanScheduledRun',
        window: {
          start: '2026-11-02T00:00:00Z',
          splitAt: '2026-11-23T00:00:00Z',
          end: '2026-11-30T00:00:00Z',
        },
      });
    });

    it('trains on the default window ending at the start of today when started with {}', async () => {
      // Prepare
      const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
      const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

      // Act
      const { state, window } = await plan({});

      // Assess
      expect(state).toBe('PlanDefaultRun');
      expect(window).toEqual({
        start: iso(today - TRAINING_WINDOW_DAYS * 86_400_000),
        splitAt: iso(today - HOLDOUT_DAYS * 86_400_000),
        end: iso(today),
      });
    });

    it('trains on a requested window as it is', async () => {
      // Prepare
      const input = {
        windowStart: '2026-09-01T00:00:00Z',
        splitAt: '2026-10-15T00:00:00Z',
        windowEnd: '2026-11-01T00:00:00Z',
      };

      // Act & Assess
      expect(await plan(input)).toEqual({
        state: 'PlanRequestedRun',
        window: { start: input.windowStart, splitAt: input.splitAt, end: input.windowEnd },
      });
    });

    it.each([
      [
        'a start after the split',
        {
          windowStart: '2026-11-24T00:00:00Z',
          splitAt: '2026-11-23T00:00:00Z',
          windowEnd: '2026-11-30T00:00:00Z',
        },
      ],
      [
        'a split at the end',
        {
          windowStart: '2026-11-02T00:00:00Z',
          splitAt: '2026-11-30T00:00:00Z',
          windowEnd: '2026-11-30T00:00:00Z',
        },
      ],
      [
        'a bound that is not a midnight',
        {
          windowStart: '2026-11-02T06:00:00Z',
          splitAt: '2026-11-23T00:00:00Z',
          windowEnd: '2026-11-30T00:00:00Z',
        },
      ],
      [
        'a day not in the calendar',
        {
          windowStart: '2026-02-30T00:00:00Z',
          splitAt: '2026-03-23T00:00:00Z',
          windowEnd: '2026-03-30T00:00:00Z',
        },
      ],
      [
        `a window longer than ${MAX_TRAINING_WINDOW_DAYS} days`,
        {
          windowStart: '2026-01-01T00:00:00Z',
          splitAt: '2026-11-23T00:00:00Z',
          windowEnd: '2026-11-30T00:00:00Z',
        },
      ],
      [
        'a window without its split',
        { windowStart: '2026-11-02T00:00:00Z', windowEnd: '2026-11-30T00:00:00Z' },
      ],
      [
        'an unknown key',
        {
          windowStart: '2026-11-02T00:00:00Z',
          splitAt: '2026-11-23T00:00:00Z',
          windowEnd: '2026-11-30T00:00:00Z',
          model: 'energy',
        },
      ],
      ['a scheduler input without its time', { trigger: 'schedule' }],
    ])('fails on %s with a cause saying what is expected', async (_name, input) => {
      // Act
      const { state } = await plan(input);
      const cause = await evaluate(states.InvalidInput?.Cause, { states: { input } });

      // Assess
      expect(state).toBe('InvalidInput');
      expect(cause).toContain(`input: received ${JSON.stringify(input)}, expected {}, {"windowStart"`);
    });

    it('names the run after its window and its execution, short enough for every SageMaker name', async () => {
      // Act
      const runId = (await evaluate(states.NameRun?.Assign?.runId, { window: RUN.window })) as string;
      const prepared = (await evaluateObject(states.PrepareModelRun?.Assign, {
        states: { input: { ...(states.TrainModels?.Items?.[1] as object), runId, window: RUN.window } },
      })) as Record<string, string>;

      // Assess
      expect(runId).toBe(`20261102-20261130-${hash(EXECUTION_ID, 'SHA-256').slice(0, 8)}`);
      expect(prepared).toMatchObject({
        runName: `sdap-test-failure-${runId}`,
        dataPrefix: `training/${runId}/failure/`,
        hyperParameters: sagemakerHyperParameters(spec.models.failure),
      });
      // The longest name: a prefix of the longest allowed length, the longest model, the champion's copy.
      const longest = `${'p'.repeat(MAX_NAME_PREFIX_LENGTH)}-anomaly-${runId}-champ`;
      expect(longest.length).toBeLessThanOrEqual(63);
    });
  });

  describe('the training job', () => {
    const trainArguments = () => states.TrainCandidate?.Arguments as Record<string, Record<string, unknown>>;

    it("uses the region's built-in XGBoost 1.7-1 image, for training, the models and the registry", () => {
      // Prepare
      const image = `141502667606.dkr.ecr.${REGION}.amazonaws.com/sagemaker-xgboost:1.7-1`;

      // Assess
      expect(spec.sagemakerXgboostVersion).toBe('1.7-1');
      expect(built.workflow.xgboostImage).toBe(image);
      expect(trainArguments().AlgorithmSpecification).toEqual({
        TrainingImage: image,
        TrainingInputMode: 'File',
      });
      expect(
        (states.CreateCandidateModel?.Arguments as { PrimaryContainer: unknown } | undefined)
          ?.PrimaryContainer,
      ).toEqual({
        Image: image,
        ModelDataUrl: '{% $modelDataUrl %}',
      });
      expect(JSON.stringify(states.RegisterModelPackage?.Arguments)).toContain(`"Image":"${image}"`);
    });

    it.each([
      ['us-east-1', '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1'],
      ['us-west-2', '246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1'],
      ['eu-central-1', '492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-xgboost:1.7-1'],
      ['ap-southeast-2', '783357654285.dkr.ecr.ap-southeast-2.amazonaws.com/sagemaker-xgboost:1.7-1'],
      ['cn-north-1', '450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1'],
    ])('resolves the image in %s', (region, image) => {
      expect(xgboostImageUri(region, '1.7-1')).toBe(image);
    });

    it('looks the image up per region at deploy time in a region-agnostic stack', () => {
      // Act
      const agnostic = build({}, null);
      const mappings = agnostic.template.toJSON().Mappings as Record<
        string,
        Record<string, { account: string }>
      >;
      const mapping =
        Object.entries(mappings).find(([id]) => id.startsWith('TrainingXgboostRegistry'))?.[1] ?? {};
      const machine = resourceOf(agnostic.template, 'AWS::StepFunctions::StateMachine').properties;

      // Assess
      expect(
        Object.fromEntries(Object.entries(mapping).map(([region, row]) => [region, row.account])),
      ).toEqual(XGBOOST_IMAGE_ACCOUNTS);
      expect(JSON.stringify(machine.DefinitionString)).toContain('"Fn::FindInMap"');
      expect(nagFindings(agnostic.stack)).toEqual([]);
    });

    it('refuses a region without the image, or another image version, saying what is known', () => {
      expect(() => xgboostImageUri('xx-nowhere-1', '1.7-1')).toThrow(
        /^XGBoost image region: received 'xx-nowhere-1', expected one of af-south-1, /,
      );
      expect(() => xgboostImageUri('eu-west-1', '2.1-0')).toThrow(
        "XGBoost image version: received '2.1-0', expected one of 1.7-1",
      );
    });

    it('trains each model with the hyperparameters of models.json, as SageMaker takes them', async () => {
      // Act
      const items = states.TrainModels?.Items as { model: ModelName; hyperParameters: unknown }[];

      // Assess
      for (const item of items)
        expect(item.hyperParameters, item.model).toEqual(sagemakerHyperParameters(spec.models[item.model]));
      expect(trainArguments().HyperParameters).toBe('{% $hyperParameters %}');
      expect(states.TrainModels?.ItemSelector?.hyperParameters).toBe(
        '{% $states.context.Map.Item.Value.hyperParameters %}',
      );
      expect(states.PrepareModelRun?.Assign?.hyperParameters).toBe('{% $states.input.hyperParameters %}');
    });

    it('reads the train channel and the hold-out as validation, as headerless CSV', async () => {
      // Act
      const channels = (await evaluateObject(trainArguments().InputDataConfig, {
        dataUrl: 's3://artifacts/training/r/failure/',
      })) as {
        ChannelName: string;
        ContentType: string;
        DataSource: { S3DataSource: { S3Uri: string } };
      }[];

      // Assess
      expect(
        channels.map((channel) => [
          channel.ChannelName,
          channel.ContentType,
          channel.DataSource.S3DataSource.S3Uri,
        ]),
      ).toEqual([
        ['train', 'text/csv', `s3://artifacts/training/r/failure/${TRAINING_RUN_LAYOUT.trainChannel}`],
        ['validation', 'text/csv', `s3://artifacts/training/r/failure/${TRAINING_RUN_LAYOUT.holdoutChannel}`],
      ]);
    });

    it('encrypts the model output and the volume with the key, in network isolation, on the configured instance', () => {
      // Prepare
      const key = `${ids.key}.Arn`;

      // Assess
      expect(trainArguments()).toMatchObject({
        OutputDataConfig: { KmsKeyId: key },
        ResourceConfig: {
          InstanceType: DEFAULT_TRAINING_INSTANCE_TYPE,
          InstanceCount: 1,
          VolumeKmsKeyId: key,
        },
        EnableNetworkIsolation: true,
        RoleArn: `${ids.executionRole}.Arn`,
      });
      for (const name of ['ScoreCandidate', 'ScoreChampion']) {
        expect(states[name]?.Arguments, name).toMatchObject({
          TransformOutput: { KmsKeyId: key, Accept: 'text/csv', AssembleWith: 'Line' },
          TransformResources: { InstanceType: DEFAULT_TRAINING_INSTANCE_TYPE, VolumeKmsKeyId: key },
          // Features only to the model; the label back beside each score.
          DataProcessing: { InputFilter: '$[1:]', JoinSource: 'Input', OutputFilter: '$[0,-1]' },
        });
      }
      expect(build({ instanceType: 'ml.c5.xlarge' }).workflow.instanceType).toBe('ml.c5.xlarge');
    });

    it('names the run in every job and model, and scores into the places the evaluation reads', async () => {
      // Act
      const [candidate, champion] = await Promise.all(
        ['ScoreCandidate', 'ScoreChampion'].map((name) =>
          evaluateObject(states[name]?.Arguments, { runName: RUN.runName, dataUrl: 's3://artifacts/p/' }),
        ),
      );

      // Assess
      expect(candidate).toMatchObject({
        TransformJobName: `${RUN.runName}-cand`,
        ModelName: RUN.runName,
        TransformOutput: { S3OutputPath: `s3://artifacts/p/${TRAINING_RUN_LAYOUT.candidateScores}` },
      });
      expect(champion).toMatchObject({
        TransformJobName: `${RUN.runName}-champ`,
        ModelName: `${RUN.runName}-champ`,
        TransformOutput: { S3OutputPath: `s3://artifacts/p/${TRAINING_RUN_LAYOUT.championScores}` },
      });
      // Batch transform names its output after the input file.
      expect(TRAINING_RUN_LAYOUT.candidateScoresFile).toBe(
        `${TRAINING_RUN_LAYOUT.candidateScores}${TRAINING_RUN_LAYOUT.holdoutFile.split('/').pop()}.out`,
      );
    });
  });

  describe('the champion', () => {
    it("finds the endpoint by its exact name, and the champion variant's model in its current config", async () => {
      // Act
      const exists = (endpoints: string[]) =>
        evaluate(states.FindEndpoint?.Assign?.endpointExists, {
          endpointName: ENDPOINTS.failure,
          states: { result: { Endpoints: endpoints.map((EndpointName) => ({ EndpointName })) } },
        });
      const variant = (variants: unknown[]) =>
        evaluate(states.DescribeEndpointConfig?.Assign?.championVariant, {
          states: { result: { ProductionVariants: variants } },
        });

      // Assess
      expect(await exists([`${ENDPOINTS.failure}-old`, ENDPOINTS.failure])).toBe(true);
      expect(await exists([ENDPOINTS.failure])).toBe(true);
      expect(await exists([`${ENDPOINTS.failure}-old`])).toBe(false);
      expect(await exists([])).toBe(false);
      expect(await variant([{ VariantName: CHALLENGER_VARIANT }, RUN.championVariant])).toEqual(
        RUN.championVariant,
      );
      expect(await variant([{ VariantName: 'blue' }])).toBeNull();
      expect(await choose(states.HasEndpoint, { endpointExists: false })).toBe('EvaluateCandidate');
      expect(await choose(states.HasEndpoint, { endpointExists: true })).toBe('DescribeEndpoint');
      expect(await choose(states.HasChampion, { championVariant: null })).toBe('NoChampionVariant');
    });

    it('scores a copy of the champion under the execution role, from its own container', async () => {
      // Act
      const container = await evaluate(states.DescribeChampionModel?.Assign?.championContainer, {
        states: {
          result: { PrimaryContainer: { Image: 'image:1', ModelDataUrl: 's3://models/champion.tar.gz' } },
        },
      });
      const args = await evaluateObject(states.CreateChampionModel?.Arguments, {
        runName: RUN.runName,
        championContainer: container,
      });

      // Assess
      expect(args).toEqual({
        ModelName: `${RUN.runName}-champ`,
        PrimaryContainer: { Image: 'image:1', ModelDataUrl: 's3://models/champion.tar.gz' },
        ExecutionRoleArn: `${ids.executionRole}.Arn`,
        EnableNetworkIsolation: true,
      });
    });
  });

  describe('the evaluation and the gate', () => {
    it('sends the evaluation function an event it accepts, with or without a champion', async () => {
      // Act
      const withChampion = await evaluateObject(
        (states.EvaluateCandidate?.Arguments as { Payload: unknown } | undefined)?.Payload,
        RUN,
      );
      const without = await evaluateObject(
        (states.EvaluateCandidate?.Arguments as { Payload: unknown } | undefined)?.Payload,
        {
          ...RUN,
          championVariant: null,
        },
      );

      // Assess
      expect(parseEvaluationEvent(withChampion)).toMatchObject({
        championModelName: 'sdap-test-failure-committed',
      });
      expect(parseEvaluationEvent(without)).toMatchObject({ championModelName: null, runId: RUN.runId });
    });

    it('deploys an approved candidate where an endpoint serves the model, registers it elsewhere, holds a rejected one', async () => {
      const gate = (passed: boolean, endpointExists: boolean) =>
        choose(states.GatePassed, { evaluation: { ...RUN.evaluation, passed }, endpointExists });
      expect(await gate(true, true)).toBe('CreateEndpointConfig');
      expect(await gate(true, false)).toBe('Registered');
      expect(await gate(false, true)).toBe('GateHeld');
      expect(await gate(false, false)).toBe('GateHeld');
    });

    it('registers every evaluated candidate in its model package group, Approved or Rejected by the gate', async () => {
      // Act
      const approved = (await evaluateObject(states.RegisterModelPackage?.Arguments, RUN)) as Record<
        string,
        unknown
      >;
      const rejected = (await evaluateObject(states.RegisterModelPackage?.Arguments, {
        ...RUN,
        evaluation: { ...RUN.evaluation, passed: false },
      })) as Record<string, unknown>;

      // Assess
      expect(approved).toMatchObject({
        ModelPackageGroupName: 'sdap-test-failure',
        ModelApprovalStatus: 'Approved',
        InferenceSpecification: {
          Containers: [{ ModelDataUrl: RUN.modelDataUrl }],
          SupportedContentTypes: ['text/csv'],
        },
        ModelMetrics: {
          ModelQuality: {
            Statistics: { ContentType: 'application/json', S3Uri: RUN.evaluation.evaluationUrl },
          },
        },
      });
      expect(String(approved.ClientToken)).toMatch(/^[0-9a-f]{36}$/);
      expect(rejected.ModelApprovalStatus).toBe('Rejected');
      for (const model of MODEL_NAMES) {
        resourceOf(built.template, 'AWS::SageMaker::ModelPackageGroup', `TrainingModelPackageGroup${model}`);
        expect(built.workflow.modelPackageGroups[model].modelPackageGroupName).toBe(`sdap-test-${model}`);
      }
    });

    it('records the run in the package: window, parameters, figures, verdict and artefact hash', async () => {
      // Act
      const args = (await evaluateObject(states.RegisterModelPackage?.Arguments, {
        ...RUN,
        evaluation: { ...RUN.evaluation, reason: 'x'.repeat(300) },
      })) as { CustomerMetadataProperties: Record<string, string> };
      const properties = args.CustomerMetadataProperties;

      // Assess
      expect(properties).toMatchObject({
        model: 'failure',
        runId: RUN.runId,
        windowStart: RUN.window.start,
        splitAt: RUN.window.splitAt,
        windowEnd: RUN.window.end,
        trainingJobName: RUN.trainingJobName,
        metric: 'rocAuc',
        candidate: '0.91',
        champion: '0.9',
        baseline: 'none',
        holdoutRows: '4032',
        passed: 'true',
        championModel: 'sdap-test-failure-committed',
        artifactSha256: RUN.evaluation.artifactSha256,
        evaluation: RUN.evaluation.evaluationUrl,
        execution: EXECUTION_ID,
      });
      for (const [name, value] of Object.entries(sagemakerHyperParameters(spec.models.failure))) {
        expect(properties[`hyperparameter:${name}`], name).toBe(value);
      }
      // SageMaker's limits: 50 entries, keys of 128 and values of 256 characters.
      expect(Object.keys(properties).length).toBeLessThanOrEqual(50);
      for (const [name, value] of Object.entries(properties)) {
        expect(typeof value, name).toBe('string');
        expect(name.length, name).toBeLessThanOrEqual(128);
        expect(value.length, name).toBeLessThanOrEqual(256);
      }
    });
  });

  describe('the challenger', () => {
    it(`keeps the champion and adds the candidate as ${CHALLENGER_VARIANT} with the stage's share of the traffic, on the config's key and data capture`, async () => {
      // Prepare
      const dataCapture = {
        EnableCapture: true,
        InitialSamplingPercentage: 20,
        DestinationS3Uri: 's3://capture/',
      };

      // Act
      const args = await evaluate(states.CreateEndpointConfig?.Arguments, {
        ...RUN,
        endpointConfig: {
          KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/endpoint',
          DataCaptureConfig: dataCapture,
        },
      });

      // Assess
      expect(args).toEqual({
        EndpointConfigName: RUN.runName,
        ProductionVariants: [
          {
            VariantName: CHAMPION_VARIANT,
            ModelName: 'sdap-test-failure-committed',
            InitialVariantWeight: 100 - CHALLENGER_SHARE,
            InstanceType: 'ml.m5.large',
            InitialInstanceCount: 2,
          },
          {
            VariantName: CHALLENGER_VARIANT,
            ModelName: RUN.runName,
            InitialVariantWeight: CHALLENGER_SHARE,
            InstanceType: 'ml.m5.large',
            InitialInstanceCount: 2,
          },
        ],
        KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/endpoint',
        DataCaptureConfig: dataCapture,
      });
    });

    it('copies a serverless champion and leaves out settings the current config lacks', async () => {
      // Prepare
      const serverless = {
        VariantName: CHAMPION_VARIANT,
        ModelName: 'm',
        ServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 5 },
      };

      const quarter = allStates(
        definitionOf(build({ challengerTrafficPercent: 25 }).template) as unknown as Definition,
      );

      // Act
      const args = await evaluate(quarter.CreateEndpointConfig?.Arguments, {
        ...RUN,
        championVariant: serverless,
        endpointConfig: { EndpointConfigName: 'old' },
      });

      // Assess
      expect(args).toEqual({
        EndpointConfigName: RUN.runName,
        ProductionVariants: [
          {
            VariantName: CHAMPION_VARIANT,
            ModelName: 'm',
            InitialVariantWeight: 75,
            ServerlessConfig: serverless.ServerlessConfig,
          },
          {
            VariantName: CHALLENGER_VARIANT,
            ModelName: RUN.runName,
            InitialVariantWeight: 25,
            ServerlessConfig: serverless.ServerlessConfig,
          },
        ],
      });
    });

    it(`registers an approved candidate without deploying it when the stage gives a challenger no traffic (default ${DEFAULT_CHALLENGER_TRAFFIC_PERCENT} %)`, async () => {
      // Act
      const quiet = build();
      const quietStates = allStates(definitionOf(quiet.template) as unknown as Definition);
      const statements = statementsOfRole(quiet.template, 'TrainingStateMachineRole');

      // Assess
      expect(DEFAULT_CHALLENGER_TRAFFIC_PERCENT).toBe(0);
      expect(quiet.workflow.deploysChallengers).toBe(false);
      expect(
        await choose(quietStates.GatePassed, {
          evaluation: { ...RUN.evaluation, passed: true },
          endpointExists: true,
        }),
      ).toBe('Registered');
      expect(Object.keys(quietStates)).not.toContain('CreateEndpointConfig');
      expect(Object.keys(quietStates)).not.toContain('UpdateEndpoint');
      expect(grantsOf(statements, 'sagemaker:UpdateEndpoint')).toEqual([]);
      expect(grantsOf(statements, 'sagemaker:CreateEndpointConfig')).toEqual([]);
      expect(nagFindings(quiet.stack)).toEqual([]);
    });

    it('waits until the endpoint serves the new config, and fails the model when the update rolls back', async () => {
      const next = (EndpointStatus: string, EndpointConfigName: string, polls = 1) =>
        choose(states.EndpointUpdated, {
          runName: RUN.runName,
          polls,
          states: { input: { EndpointStatus, EndpointConfigName } },
        });
      expect(await next('Updating', 'old')).toBe('WaitForEndpoint');
      expect(await next('InService', RUN.runName)).toBe('Deployed');
      expect(await next('InService', 'old')).toBe('EndpointUpdateFailed');
      expect(await next('Failed', 'old')).toBe('EndpointUpdateFailed');
      expect(await next('Updating', 'old', ENDPOINT_MAX_POLLS)).toBe('EndpointUpdateFailed');
      expect(
        await evaluateObject(states.EndpointUpdateFailed?.Output, {
          ...RUN,
          polls: 3,
          states: {
            input: { EndpointStatus: 'InService', EndpointConfigName: 'old', FailureReason: 'health check' },
          },
        }),
      ).toEqual({
        Error: 'EndpointUpdateFailed',
        Cause: `endpoint ${ENDPOINTS.failure} is InService with config old after 3 checks, expected InService with ${RUN.runName}: health check`,
      });
    });
  });

  describe('the outcome', () => {
    it('reports each model with its figures', async () => {
      expect(
        await evaluate(states.GateHeld?.Output, { ...RUN, evaluation: { ...RUN.evaluation, passed: false } }),
      ).toMatchObject({
        model: 'failure',
        status: TRAINING_RESULT_STATUSES.gateHeld,
        metric: 'rocAuc',
        candidate: 0.91,
        champion: 0.9,
        passed: false,
        reason: RUN.evaluation.reason,
        modelPackageArn: RUN.modelPackageArn,
      });
      expect(
        await evaluate(states.ModelFailed?.Output, {
          ...RUN,
          evaluation: null,
          failedState: 'TrainCandidate',
          states: { input: { Error: 'States.TaskFailed', Cause: 'AlgorithmError: ...' } },
        }),
      ).toEqual({
        model: 'failure',
        status: TRAINING_RESULT_STATUSES.failed,
        runName: RUN.runName,
        modelPackageArn: RUN.modelPackageArn,
        endpointName: ENDPOINTS.failure,
        failedState: 'TrainCandidate',
        error: 'States.TaskFailed',
        cause: 'AlgorithmError: ...',
      });
    });

    it('tells on-call the figures of a held candidate, and the runbook entry explaining them', async () => {
      // Prepare
      const results = [
        { model: 'anomaly', status: TRAINING_RESULT_STATUSES.deployed },
        {
          model: 'failure',
          status: TRAINING_RESULT_STATUSES.gateHeld,
          metric: 'rocAuc',
          candidate: 0.8,
          champion: 0.9,
        },
      ];

      // Act
      const args = (await evaluateObject(states.NotifyGateHeld?.Arguments, {
        trigger: 'schedule',
        window: RUN.window,
        runId: RUN.runId,
        results,
      })) as { Subject: string; Message: string };

      // Assess
      expect(args.Subject).toBe('sdap sdap-test-ml-training: candidate held at the gate (failure)');
      expect(JSON.parse(args.Message)).toEqual({
        execution: EXECUTION_ID,
        trigger: 'schedule',
        window: RUN.window,
        runId: RUN.runId,
        results,
        runbook: `docs/runbook.md#${TRAINING_FAILED_ALARM_ID}`,
      });
    });

    it('fails the execution after telling on-call when a model failed, succeeds after telling on-call about a held candidate', async () => {
      const verdict = (...statuses: string[]) =>
        choose(states.AllModelsTrained, {
          results: statuses.map((status, i) => ({ model: MODEL_NAMES[i], status })),
        });
      const { deployed, registered, gateHeld, failed } = TRAINING_RESULT_STATUSES;
      expect(await verdict(deployed, registered, deployed)).toBe('Done');
      expect(await verdict(deployed, gateHeld, deployed)).toBe('NotifyGateHeld');
      expect(await verdict(failed, gateHeld, deployed)).toBe('NotifyOnCall');
      expect(states.NotifyGateHeld?.Next).toBe('Done');
      expect(states.Done?.Type).toBe('Succeed');
      expect(
        await evaluate(states.TrainingFailed?.Cause, {
          failure: null,
          results: [
            { model: 'energy', status: failed, failedState: 'BuildTrainingData', error: 'States.TaskFailed' },
          ],
        }),
      ).toBe('energy failed at BuildTrainingData: States.TaskFailed');
    });
  });

  describe('the state machine', () => {
    it("keeps executions' data under the workflow's key", () => {
      expect(
        resourceOf(built.template, 'AWS::StepFunctions::StateMachine').properties.EncryptionConfiguration,
      ).toEqual({
        Type: 'CUSTOMER_MANAGED_KMS_KEY',
        KmsKeyId: { 'Fn::GetAtt': [ids.key, 'Arn'] },
        KmsDataKeyReusePeriodSeconds: STATE_MACHINE_DATA_KEY_REUSE_SECONDS,
      });
    });
  });

  describe('the schedule', () => {
    it(`starts the workflow ${DEFAULT_TRAINING_SCHEDULE_EXPRESSION} (UTC) with its scheduled time, encrypted`, () => {
      // Act
      const schedule = resourceOf(built.template, 'AWS::Scheduler::Schedule').properties;

      // Assess
      expect(schedule).toMatchObject({
        ScheduleExpression: DEFAULT_TRAINING_SCHEDULE_EXPRESSION,
        FlexibleTimeWindow: { Mode: 'OFF' },
        KmsKeyArn: { 'Fn::GetAtt': [ids.key, 'Arn'] },
      });
      expect(JSON.parse(schedule.Target.Input)).toEqual({
        trigger: 'schedule',
        scheduledTime: '<aws.scheduler.scheduled-time>',
      });
    });

    it("starts executions with a role of its own that may use the workflow's key, as its encryption requires", () => {
      // Prepare
      const schedule = resourceOf(built.template, 'AWS::Scheduler::Schedule').properties;
      const role = resourceOf(built.template, 'AWS::IAM::Role', 'TrainingScheduleRole');
      const statements = statementsOfRole(built.template, 'TrainingScheduleRole');
      const machine = resourceOf(built.template, 'AWS::StepFunctions::StateMachine').id;

      // Assess
      expect(schedule.Target.RoleArn).toEqual({ 'Fn::GetAtt': [role.id, 'Arn'] });
      expect(role.properties.AssumeRolePolicyDocument.Statement).toEqual([
        expect.objectContaining({
          Principal: { Service: 'scheduler.amazonaws.com' },
          // The stack's own account: no other account's schedules may use the role.
          Condition: { StringEquals: { 'aws:SourceAccount': expect.anything() } },
        }),
      ]);
      expect(grantsOf(statements, 'kms:GenerateDataKey')).toEqual([`<${ids.key}.Arn>`]);
      expect(grantsOf(statements, 'states:StartExecution')).toEqual([`<${machine}>`]);
    });

    it("takes the stage's expression and refuses one EventBridge Scheduler would not", () => {
      expect(
        resourceOf(build({ scheduleExpression: 'cron(30 2 ? * SUN *)' }).template, 'AWS::Scheduler::Schedule')
          .properties.ScheduleExpression,
      ).toBe('cron(30 2 ? * SUN *)');
      expect(() => build({ scheduleExpression: 'weekly' })).toThrow(
        'TrainingWorkflow scheduleExpression: received "weekly", expected an EventBridge Scheduler expression',
      );
    });
  });

  describe('the training-data job', () => {
    it('runs PySpark on Glue 5.0 with a security configuration encrypting S3, logs and bookmarks with the key', () => {
      // Prepare
      const keyArn = { 'Fn::GetAtt': [ids.key, 'Arn'] };
      const configuration = resourceOf(built.template, 'AWS::Glue::SecurityConfiguration');

      // Assess
      expect(configuration.properties.EncryptionConfiguration).toEqual({
        S3Encryptions: [{ S3EncryptionMode: 'SSE-KMS', KmsKeyArn: keyArn }],
        CloudWatchEncryption: { CloudWatchEncryptionMode: 'SSE-KMS', KmsKeyArn: keyArn },
        JobBookmarksEncryption: { JobBookmarksEncryptionMode: 'CSE-KMS', KmsKeyArn: keyArn },
      });
      built.template.hasResourceProperties('AWS::Glue::Job', {
        Name: 'sdap-test-ml-training-data',
        GlueVersion: '5.0',
        MaxRetries: 0,
        ExecutionProperty: { MaxConcurrentRuns: MODEL_NAMES.length },
        SecurityConfiguration: { Ref: configuration.id },
      });
    });

    it("ships its entry point, its own modules and the ETL's argument reading, and passes the buckets, the queries and models.json", () => {
      // Prepare
      const job = resourceOf(built.template, 'AWS::Glue::Job').properties;
      const args = job.DefaultArguments;
      const modules = readdirSync(GLUE_SCRIPTS_DIR).filter(
        (name) =>
          name.startsWith(ML_SCRIPT_PREFIX) && name.endsWith('.py') && name !== TRAINING_DATA_JOB_SCRIPT,
      );

      // Assess
      expect(modules.length).toBeGreaterThan(0);
      expect(flatten(args['--extra-py-files']).split(',')).toHaveLength(
        modules.length + SHARED_ETL_MODULES.length,
      );
      expect(args[TRAINING_DATA_JOB_ARGUMENTS.fixed.rawBucket]).toEqual({
        Ref: resourceOf(built.template, 'AWS::S3::Bucket', 'LakeRawBucket').id,
      });
      expect(args[TRAINING_DATA_JOB_ARGUMENTS.fixed.curatedBucket]).toEqual({
        Ref: resourceOf(built.template, 'AWS::S3::Bucket', 'LakeCuratedBucket').id,
      });
      expect(args[TRAINING_DATA_JOB_ARGUMENTS.fixed.artifactsBucket]).toEqual({ Ref: ids.bucket });
      expect(flatten(args[TRAINING_DATA_JOB_ARGUMENTS.fixed.sqlLocation])).toMatch(/^s3:\/\/.+\.zip$/);
      expect(flatten(args[TRAINING_DATA_JOB_ARGUMENTS.fixed.modelSpecLocation])).toMatch(/^s3:\/\/.+\.json$/);
      for (const name of Object.values(TRAINING_DATA_JOB_ARGUMENTS.perRun))
        expect(args[name]).toBeUndefined();
    });

    it("passes each run's model, window and output prefix", async () => {
      // Act
      const args = await evaluateObject(
        (states.BuildTrainingData?.Arguments as { Arguments: unknown } | undefined)?.Arguments,
        {
          model: 'energy',
          window: RUN.window,
          dataPrefix: 'training/r/energy/',
        },
      );

      // Assess
      expect(states.BuildTrainingData?.Resource).toBe('arn:aws:states:::glue:startJobRun.sync');
      expect(args).toEqual({
        [TRAINING_DATA_JOB_ARGUMENTS.perRun.model]: 'energy',
        [TRAINING_DATA_JOB_ARGUMENTS.perRun.windowStart]: RUN.window.start,
        [TRAINING_DATA_JOB_ARGUMENTS.perRun.splitAt]: RUN.window.splitAt,
        [TRAINING_DATA_JOB_ARGUMENTS.perRun.windowEnd]: RUN.window.end,
        [TRAINING_DATA_JOB_ARGUMENTS.perRun.outputPrefix]: 'training/r/energy/',
      });
    });

    it('reads the labels and the curated tables the queries name, and writes under training/ only', () => {
      // Prepare
      const statements = statementsOfRole(built.template, 'TrainingTrainingDataRole');
      const lakeId = (name: string) => resourceOf(built.template, 'AWS::S3::Bucket', name).id;
      const reads = grantsOf(statements, 's3:GetObject').filter((arn) => !arn.includes('cdk-'));

      // Assess
      expect(reads.sort()).toEqual(
        [
          `<${lakeId('LakeRawBucket')}.Arn>/${LABELS_PREFIX.slice(0, -1)}`,
          `<${lakeId('LakeRawBucket')}.Arn>/${LABELS_PREFIX}*`,
          ...TRAINING_CURATED_PREFIXES.flatMap((prefix) => [
            `<${lakeId('LakeCuratedBucket')}.Arn>/${prefix.slice(0, -1)}`,
            `<${lakeId('LakeCuratedBucket')}.Arn>/${prefix}*`,
          ]),
          `<${ids.bucket}.Arn>/training/*`,
        ].sort(),
      );
      expect(grantsOf(statements, 's3:PutObject')).toEqual([`<${ids.bucket}.Arn>/training/*`]);
      expect(grantsOf(statements, 's3:DeleteObject')).toEqual([`<${ids.bucket}.Arn>/training/*`]);
    });
  });

  describe('the roles', () => {
    const passRoles = (statements: readonly StatementJson[]) =>
      statements.filter((statement) => [statement.Action].flat().includes('iam:PassRole'));

    it('lets the workflow pass the execution role, to SageMaker only, and no other role', () => {
      // Act
      const statements = passRoles(statementsOfRole(built.template, 'TrainingStateMachineRole'));

      // Assess
      expect(statements).toEqual([
        {
          Effect: 'Allow',
          Action: 'iam:PassRole',
          Resource: { 'Fn::GetAtt': [ids.executionRole, 'Arn'] },
          Condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
        },
      ]);
      for (const role of ['TrainingTrainingDataRole', 'TrainingExecutionRole', 'TrainingEvaluationRole']) {
        expect(passRoles(statementsOfRole(built.template, role)), role).toEqual([]);
      }
    });

    it("scopes the workflow's SageMaker writes to this stage's names and endpoints", () => {
      // Prepare
      const statements = statementsOfRole(built.template, 'TrainingStateMachineRole');
      const arn = (resource: string) => `arn:aws:sagemaker:${REGION}:${ACCOUNT}:${resource}`;

      // Assess
      expect(grantsOf(statements, 'sagemaker:CreateTrainingJob')).toEqual([arn('training-job/sdap-test-*')]);
      expect(grantsOf(statements, 'sagemaker:CreateTransformJob')).toEqual([
        arn('transform-job/sdap-test-*'),
      ]);
      expect(grantsOf(statements, 'sagemaker:CreateModel')).toEqual([arn('model/sdap-test-*')]);
      expect(grantsOf(statements, 'sagemaker:CreateEndpointConfig')).toEqual([
        arn('endpoint-config/sdap-test-*'),
      ]);
      expect(grantsOf(statements, 'sagemaker:UpdateEndpoint').sort()).toEqual(
        [
          ...Object.values(ENDPOINTS).map((name) => arn(`endpoint/${name}`)),
          arn('endpoint-config/sdap-test-*'),
        ].sort(),
      );
      expect(grantsOf(statements, 'sagemaker:CreateModelPackage').sort()).toEqual(
        MODEL_NAMES.flatMap((model) => [
          arn(`model-package/sdap-test-${model}/*`),
          arn(`model-package-group/sdap-test-${model}`),
        ]).sort(),
      );
      const fn = resourceOf(built.template, 'AWS::Lambda::Function', 'TrainingEvaluationFunction').id;
      expect(grantsOf(statements, 'lambda:InvokeFunction').sort()).toEqual([`<${fn}.Arn>`, `<${fn}.Arn>:*`]);
    });

    it("lets SageMaker read a run's objects, write only models and scores, and use the key for volumes", () => {
      // Act
      const statements = statementsOfRole(built.template, 'TrainingExecutionRole');

      // Assess
      expect(grantsOf(statements, 's3:GetObject')).toEqual([`<${ids.bucket}.Arn>/training/*`]);
      expect(grantsOf(statements, 's3:PutObject').sort()).toEqual(
        [
          `<${ids.bucket}.Arn>/training/*/${TRAINING_RUN_LAYOUT.modelOutput}*`,
          `<${ids.bucket}.Arn>/training/*/${TRAINING_RUN_LAYOUT.candidateScores}*`,
          `<${ids.bucket}.Arn>/training/*/${TRAINING_RUN_LAYOUT.championScores}*`,
        ].sort(),
      );
      expect(
        statements.find((statement) => [statement.Action].flat().includes('kms:CreateGrant'))?.Condition,
      ).toEqual({
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      });
      expect(
        statements
          .flatMap((statement) => [statement.Action].flat())
          .filter((action) => action.startsWith('ecr:')),
      ).toEqual([]);
    });

    it('lets the evaluation read a run and write its report only', () => {
      // Act
      const statements = statementsOfRole(built.template, 'TrainingEvaluationRole');

      // Assess
      expect(grantsOf(statements, 's3:GetObject')).toEqual([`<${ids.bucket}.Arn>/training/*`]);
      expect(grantsOf(statements, 's3:PutObject')).toEqual([
        `<${ids.bucket}.Arn>/training/*/${TRAINING_RUN_LAYOUT.evaluationFile}`,
      ]);
      built.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: { [MODEL_EVALUATION_ENV.artifactsBucket]: { Ref: ids.bucket } } },
      });
    });

    it("lets SageMaker read the endpoints' champion artefacts and write a challenger's captures, when given", () => {
      // Prepare
      const endpointsOf = (prefix: string) => (stack: Stack) => {
        const captureKey = new kms.Key(stack, 'CaptureKey', { enableKeyRotation: true });
        const captureBucket = new s3.Bucket(stack, 'Capture', {
          encryption: s3.BucketEncryption.KMS,
          encryptionKey: captureKey,
        });
        const assets = s3.Bucket.fromBucketName(
          stack,
          'CdkAssets',
          `cdk-hnb659fds-assets-${ACCOUNT}-${REGION}`,
        );
        return {
          challengerTrafficPercent: CHALLENGER_SHARE,
          championModelArtifacts: [{ bucket: assets, s3ObjectKey: 'abc123.tar.gz' }],
          dataCapture: { bucket: captureBucket, prefix },
        };
      };

      // Act
      const withEndpoints = build(endpointsOf('ml-data-capture/'));
      const statements = statementsOfRole(withEndpoints.template, 'TrainingExecutionRole');

      // Assess
      expect(grantsOf(statements, 's3:GetObject')).toContain(
        `arn:aws:s3:::cdk-hnb659fds-assets-${ACCOUNT}-${REGION}/abc123.tar.gz`,
      );
      expect(
        grantsOf(statements, 's3:PutObject').filter((arn) => arn.includes('ml-data-capture')),
      ).toHaveLength(1);
      expect(grantsOf(statements, 'kms:GenerateDataKey').length).toBeGreaterThanOrEqual(2);
      // The test's own capture bucket is not under review.
      expect(nagFindings(withEndpoints.stack).filter((finding) => finding.includes('/Training/'))).toEqual(
        [],
      );
      expect(() => build(endpointsOf('ml-data-capture'))).toThrow(
        `TrainingWorkflow dataCapture.prefix: received "ml-data-capture", expected a key prefix ending in '/'`,
      );
    });

    it("lets the workflow use the endpoints' key when the stage has one", () => {
      // Act
      const withKey = build({
        challengerTrafficPercent: CHALLENGER_SHARE,
        endpointEncryptionKey: kms.Key.fromKeyArn(
          new Stack(),
          'K',
          `arn:aws:kms:${REGION}:${ACCOUNT}:key/endpoints`,
        ),
      });

      // Assess
      expect(
        grantsOf(statementsOfRole(withKey.template, 'TrainingStateMachineRole'), 'kms:CreateGrant'),
      ).toEqual([`arn:aws:kms:${REGION}:${ACCOUNT}:key/endpoints`]);
      expect(
        grantsOf(statementsOfRole(built.template, 'TrainingStateMachineRole'), 'kms:CreateGrant'),
      ).toEqual([]);
    });
  });

  describe('the artifacts and logs', () => {
    it('keeps the artifacts versioned, KMS-encrypted with the key, TLS-only, with access logs', () => {
      // Act
      const bucket = resourceOf(built.template, 'AWS::S3::Bucket', 'TrainingArtifactsBucket').properties;
      const policy = resourceOf(
        built.template,
        'AWS::S3::BucketPolicy',
        'TrainingArtifactsBucketPolicy',
      ).properties;

      // Assess
      expect(bucket).toMatchObject({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [ids.key, 'Arn'] },
              },
            },
          ],
        },
        LoggingConfiguration: {
          DestinationBucketName: {
            Ref: resourceOf(built.template, 'AWS::S3::Bucket', 'LakeAccessLogsBucket').id,
          },
          LogFilePrefix: 'ml-artifacts/',
        },
      });
      expect(JSON.stringify(policy.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    });

    it('logs every event of the workflow, traced, into a group encrypted with the key', () => {
      // Act
      const machine = resourceOf(built.template, 'AWS::StepFunctions::StateMachine').properties;
      const group = resourceOf(built.template, 'AWS::Logs::LogGroup', 'TrainingLogGroup').properties;

      // Assess
      expect(machine).toMatchObject({
        StateMachineName: 'sdap-test-ml-training',
        LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
        TracingConfiguration: { Enabled: true },
      });
      expect(group).toMatchObject({
        LogGroupName: '/aws/vendedlogs/states/sdap-test-ml-training',
        KmsKeyId: { 'Fn::GetAtt': [ids.key, 'Arn'] },
      });
    });

    it('exposes failed executions as a metric of the state machine', () => {
      // Act
      const failed = Stack.of(built.workflow).resolve(
        built.workflow.metricExecutionsFailed().toMetricConfig().metricStat,
      );

      // Assess
      const machine = resourceOf(built.template, 'AWS::StepFunctions::StateMachine').id;
      expect(failed).toMatchObject({
        namespace: 'AWS/States',
        metricName: 'ExecutionsFailed',
        statistic: 'Sum',
        dimensions: [{ name: 'StateMachineArn', value: { Ref: machine } }],
      });
    });
  });

  describe('its props', () => {
    it.each([
      [
        { namePrefix: 'sdap-a-very-long-stage-name' },
        `TrainingWorkflow namePrefix: received "sdap-a-very-long-stage-name", expected at most ${MAX_NAME_PREFIX_LENGTH} lowercase`,
      ],
      [{ namePrefix: 'Sdap_Dev' }, 'TrainingWorkflow namePrefix: received "Sdap_Dev"'],
      [
        { challengerTrafficPercent: 60 },
        'TrainingWorkflow challengerTrafficPercent: received 60, expected an integer from 0 to 50',
      ],
      [
        { instanceType: 'm5.large' },
        'TrainingWorkflow instanceType: received "m5.large", expected a SageMaker instance type such as ml.m5.large',
      ],
      [
        { endpointNames: { ...ENDPOINTS, energy: 'energy endpoint' } },
        'TrainingWorkflow endpointNames.energy: received "energy endpoint"',
      ],
    ])('refuses %o, saying what is expected', (props, message) => {
      expect(() => build(props as Partial<TrainingWorkflowProps>)).toThrow(message);
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });
});
