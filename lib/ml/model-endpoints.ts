import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ArnFormat,
  AssetHashType,
  Aws,
  CfnMapping,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
} from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import {
  METRICS_NAMESPACE,
  SCORING_DIMENSIONS,
  SCORING_METRICS,
  VALIDATOR_SERVICE_NAME,
} from '../../lambdas/shared/pipeline-names.ts';
import { parseXgboostModel } from '../../lambdas/shared/xgboost.ts';
import {
  committedModelPath,
  featureNames,
  loadModelSpec,
  MODEL_NAMES,
  type ModelDefinition,
  type ModelName,
  type ModelSpec,
} from '../../ml/model-spec.ts';
import {
  DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
  DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE,
  MAX_CHALLENGER_TRAFFIC_PERCENT,
  PROD_DATA_CAPTURE_PERCENT,
  PROD_ENDPOINT_INSTANCE_COUNT,
  PROD_ENDPOINT_INSTANCE_TYPE,
  PROD_ENDPOINT_MAX_INSTANCE_COUNT,
} from '../config.ts';
import { acknowledge } from '../nag.ts';
import { modelArchive, modelArchiveHash } from './model-archive.ts';

// The endpoints' defaults are the prod stage's; re-exported as this construct's own.
export {
  DEFAULT_CHALLENGER_TRAFFIC_PERCENT,
  DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE,
  PROD_DATA_CAPTURE_PERCENT,
  PROD_ENDPOINT_INSTANCE_COUNT,
  PROD_ENDPOINT_INSTANCE_TYPE,
  PROD_ENDPOINT_MAX_INSTANCE_COUNT,
};

/** Production variants: the model in service and, when it gets traffic, the one being tried. */
export const VARIANT_NAMES = ['champion', 'challenger'] as const;
export type VariantName = (typeof VARIANT_NAMES)[number];

/** Who calls a model's endpoint: the stream scores each batch of readings, the ETL each hour. */
export type ModelCaller = 'stream' | 'etl';

/**
 * Where captured requests and responses land in the capture bucket: `ml-data-capture/<model>/`, then
 * SageMaker's own `<endpoint>/<variant>/yyyy/mm/dd/hh/` below it. Apart from `telemetry/`, so that
 * nothing reading the readings ever sees a capture.
 */
export const DATA_CAPTURE_PREFIX = 'ml-data-capture';

/**
 * The `service` dimension each caller puts `HighScoreShare` with, beside `Model`: a CloudWatch metric
 * is its full set of dimensions, so the drift alarm must name exactly these. Powertools adds its
 * service name to every metric the stream's validator puts; the ETL's scoring is to put the metric
 * with `Model` alone.
 */
export const HIGH_SCORE_SHARE_SERVICE: Readonly<Record<ModelCaller, string | undefined>> = {
  stream: VALIDATOR_SERVICE_NAME,
  etl: undefined,
};

/** The repository of SageMaker's built-in XGBoost images. */
export const XGBOOST_IMAGE_REPOSITORY = 'sagemaker-xgboost';
/**
 * The accounts AWS publishes the built-in XGBoost 1.7-1 inference image from, per region, as the
 * SageMaker Python SDK's image URI table lists them (SageMaker's "Docker registry paths" pages give
 * the same paths). The image is `<account>.dkr.ecr.<region>.<url suffix>/sagemaker-xgboost:<version>`.
 * SageMaker pulls its own images with service credentials, so the model's role needs no ECR
 * permission.
 */
export const XGBOOST_IMAGE_ACCOUNTS: Readonly<Record<string, string>> = {
  'af-south-1': '510948584623',
  'ap-east-1': '651117190479',
  'ap-northeast-1': '354813040037',
  'ap-northeast-2': '366743142698',
  'ap-northeast-3': '867004704886',
  'ap-south-1': '720646828776',
  'ap-south-2': '628508329040',
  'ap-southeast-1': '121021644041',
  'ap-southeast-2': '783357654285',
  'ap-southeast-3': '951798379941',
  'ap-southeast-4': '106583098589',
  'ca-central-1': '341280168497',
  'ca-west-1': '190319476487',
  'cn-north-1': '450853457545',
  'cn-northwest-1': '451049120500',
  'eu-central-1': '492215442770',
  'eu-central-2': '680994064768',
  'eu-north-1': '662702820516',
  'eu-south-1': '978288397137',
  'eu-south-2': '104374241257',
  'eu-west-1': '141502667606',
  'eu-west-2': '764974769150',
  'eu-west-3': '659782779980',
  'il-central-1': '898809789911',
  'me-central-1': '272398656194',
  'me-south-1': '801668240914',
  'sa-east-1': '737474898029',
  'us-east-1': '683313688378',
  'us-east-2': '257758044811',
  'us-gov-east-1': '237065988967',
  'us-gov-west-1': '414596584902',
  'us-west-1': '746614075791',
  'us-west-2': '246618743249',
};

/**
 * Scale out within a minute of a surge; scale in only after five quiet minutes, so a bursty stream
 * does not make the variant flap between sizes.
 */
export const SCALE_OUT_COOLDOWN = Duration.minutes(1);
export const SCALE_IN_COOLDOWN = Duration.minutes(5);
export const DEFAULT_ENDPOINT_LOG_RETENTION_DAYS = logs.RetentionDays.THREE_MONTHS;

/** The name of the service-linked role Application Auto Scaling uses for SageMaker variants. */
const SAGEMAKER_SCALING_ROLE =
  'aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint';
/** The namespace SageMaker puts an endpoint's instance metrics (CPU, memory, disk) in. */
const ENDPOINT_INSTANCE_METRICS_NAMESPACE = '/aws/sagemaker/Endpoints';

export interface ModelEndpointsProps {
  /** Prefix of the endpoint names (`<prefix>-<model>`), e.g. `sdap-dev`. */
  readonly namePrefix: string;
  /**
   * Where each model's trained XGBoost JSON is read at synthesis.
   * @default - {@link committedModelPath}: the models committed under ml/models/
   */
  readonly modelPath?: (name: ModelName) => string;
  /**
   * The models' definitions; each trained model must match its objective and feature count.
   * @default - ml/models.json, read with {@link loadModelSpec}
   */
  readonly spec?: ModelSpec;
  /** @default {@link PROD_ENDPOINT_INSTANCE_TYPE} = "ml.m5.large" */
  readonly instanceType?: string;
  /** Instances a variant starts with and keeps at least. @default {@link PROD_ENDPOINT_INSTANCE_COUNT} = 2 */
  readonly instanceCount?: number;
  /** @default {@link PROD_ENDPOINT_MAX_INSTANCE_COUNT} = 4 */
  readonly maxInstanceCount?: number;
  /** Per instance and minute. @default {@link DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE} = 1000 */
  readonly targetInvocationsPerInstance?: number;
  /** 0 deploys the champion alone. @default {@link DEFAULT_CHALLENGER_TRAFFIC_PERCENT} = 0 */
  readonly challengerTrafficPercent?: number;
  /** 0 captures nothing. @default {@link PROD_DATA_CAPTURE_PERCENT} = 10 */
  readonly dataCapturePercent?: number;
  /**
   * The bucket the captures go to (under {@link DATA_CAPTURE_PREFIX}); encrypted with its own key
   * when it has one.
   */
  readonly dataCaptureBucket: s3.IBucket;
  /** Of the endpoints' log groups. @default {@link DEFAULT_ENDPOINT_LOG_RETENTION_DAYS} = 90 */
  readonly logRetentionDays?: logs.RetentionDays;
  /** For the key and the log groups. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** One model's endpoint and what it is built from. */
export interface ModelEndpointParts {
  readonly endpointName: string;
  /** The model's `model.tar.gz` in the CDK asset bucket. */
  readonly artifact: s3assets.Asset;
  /** Assumed by SageMaker to read the artefact, write the logs and the captures. */
  readonly role: iam.Role;
  readonly model: sagemaker.CfnModel;
  readonly endpointConfig: sagemaker.CfnEndpointConfig;
  readonly endpoint: sagemaker.CfnEndpoint;
  readonly logGroup: logs.LogGroup;
  /** One per variant. */
  readonly scalableTargets: Readonly<Partial<Record<VariantName, appscaling.ScalableTarget>>>;
}

/**
 * The SageMaker real-time endpoints of the models in `ml/models.json`, one per model, named
 * `<prefix>-<model>`: each serves its trained model (`ml/models/<model>.json`, archived at synthesis
 * into the `model.tar.gz` the built-in XGBoost container reads) from a `champion` variant and, when
 * asked, a `challenger` variant with a share of the traffic; instance storage and logs encrypted with
 * the construct's own key; a sample of requests and responses captured into the lake; each variant
 * scaled on its invocations per instance.
 */
export class ModelEndpoints extends Construct {
  /** Encrypts the instances' storage volumes and the endpoints' log groups. */
  public readonly key: kms.Key;
  /** The built-in XGBoost container image of the stack's region. */
  public readonly imageUri: string;
  public readonly parts: Readonly<Record<ModelName, ModelEndpointParts>>;
  public readonly endpointNames: Readonly<Record<ModelName, string>>;
  /** The variants every endpoint has, champion first. */
  public readonly variantNames: readonly VariantName[];
  /** Who calls each endpoint, from the model's table in the spec. */
  public readonly callers: Readonly<Record<ModelName, ModelCaller>>;

  private readonly captureBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: ModelEndpointsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const spec = props.spec ?? loadModelSpec();
    const modelPath = props.modelPath ?? committedModelPath;
    const challengerPercent = props.challengerTrafficPercent ?? DEFAULT_CHALLENGER_TRAFFIC_PERCENT;
    this.variantNames = challengerPercent > 0 ? ['champion', 'challenger'] : ['champion'];
    this.captureBucket = props.dataCaptureBucket;
    this.endpointNames = Object.fromEntries(
      MODEL_NAMES.map((name) => [name, `${props.namePrefix}-${name}`]),
    ) as Record<ModelName, string>;
    this.callers = Object.fromEntries(
      MODEL_NAMES.map((name) => [name, spec.models[name].table === 'reading' ? 'stream' : 'etl']),
    ) as Record<ModelName, ModelCaller>;
    this.imageUri = this.xgboostImage(spec.sagemakerXgboostVersion);

    const logGroupNames = MODEL_NAMES.map((name) => endpointLogGroupName(this.endpointNames[name]));
    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts the ${props.namePrefix} SageMaker endpoints' instance storage and logs`,
      enableKeyRotation: true,
      removalPolicy,
    });
    // CloudWatch Logs encrypts a log group with a KMS key only when the key policy lets it, for
    // exactly these log groups.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptEndpointLogs',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnEquals: {
            'kms:EncryptionContext:aws:logs:arn': logGroupNames.map((name) => logGroupArn(stack, name)),
          },
        },
      }),
    );
    // Application Auto Scaling creates its service-linked role on first use when given its ARN.
    const scalingRole = iam.Role.fromRoleArn(
      this,
      'ScalingRole',
      stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: SAGEMAKER_SCALING_ROLE }),
      { mutable: false },
    );

    const settings: EndpointSettings = {
      instanceType: props.instanceType ?? PROD_ENDPOINT_INSTANCE_TYPE,
      instanceCount: props.instanceCount ?? PROD_ENDPOINT_INSTANCE_COUNT,
      maxInstanceCount: props.maxInstanceCount ?? PROD_ENDPOINT_MAX_INSTANCE_COUNT,
      targetInvocationsPerInstance:
        props.targetInvocationsPerInstance ?? DEFAULT_ENDPOINT_TARGET_INVOCATIONS_PER_INSTANCE,
      challengerPercent,
      dataCapturePercent: props.dataCapturePercent ?? PROD_DATA_CAPTURE_PERCENT,
      logRetentionDays: props.logRetentionDays ?? DEFAULT_ENDPOINT_LOG_RETENTION_DAYS,
      removalPolicy,
      scalingRole,
    };
    validateSettings(settings);
    this.parts = Object.fromEntries(
      MODEL_NAMES.map((name) => [
        name,
        this.buildEndpoint(name, modelPath(name), spec.models[name], settings),
      ]),
    ) as Record<ModelName, ModelEndpointParts>;
  }

  /** Lets `grantee` call `InvokeEndpoint` on the endpoint of `model`, and on no other. */
  public grantInvoke(grantee: iam.IGrantable, model: ModelName): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['sagemaker:InvokeEndpoint'],
      // The Ref of an AWS::SageMaker::Endpoint is its ARN.
      resourceArns: [this.parts[model].endpoint.ref],
    });
  }

  /** Requests routed to a variant of the endpoint of `model` (AWS/SageMaker `Invocations`, Sum). */
  public metricInvocations(
    model: ModelName,
    variant: VariantName = 'champion',
    props?: cloudwatch.MetricOptions,
  ): cloudwatch.Metric {
    return this.endpointMetric('Invocations', model, variant, cloudwatch.Stats.SUM, props);
  }

  /** Requests a variant's model answered with a 5xx status (`Invocation5XXErrors`, Sum). */
  public metricInvocation5xxErrors(
    model: ModelName,
    variant: VariantName = 'champion',
    props?: cloudwatch.MetricOptions,
  ): cloudwatch.Metric {
    return this.endpointMetric('Invocation5XXErrors', model, variant, cloudwatch.Stats.SUM, props);
  }

  /**
   * Requests a variant's model did not answer with a 2xx status: its 4xx and 5xx answers, timeouts,
   * dropped connections and malformed responses (`InvocationModelErrors`, Sum). The caller receives
   * these as `ModelError`.
   */
  public metricInvocationModelErrors(
    model: ModelName,
    variant: VariantName = 'champion',
    props?: cloudwatch.MetricOptions,
  ): cloudwatch.Metric {
    return this.endpointMetric('InvocationModelErrors', model, variant, cloudwatch.Stats.SUM, props);
  }

  /**
   * The time a variant's container took to answer, in microseconds (`ModelLatency`), p99 unless
   * `props.statistic` says otherwise.
   */
  public metricModelLatency(
    model: ModelName,
    variant: VariantName = 'champion',
    props?: cloudwatch.MetricOptions,
  ): cloudwatch.Metric {
    return this.endpointMetric('ModelLatency', model, variant, cloudwatch.Stats.p(99), props);
  }

  /**
   * The share (percent) of a scored batch's rows at or above the model's threshold, as its caller's
   * scoring code puts it (`HighScoreShare`, namespace `Sdap`, dimension `Model` and the caller's
   * {@link HIGH_SCORE_SHARE_SERVICE}); hourly average unless `props` say otherwise.
   */
  public metricHighScoreShare(model: ModelName, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    const service = HIGH_SCORE_SHARE_SERVICE[this.callers[model]];
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: SCORING_METRICS.highScoreShare,
      dimensionsMap: { ...(service && { service }), [SCORING_DIMENSIONS.model]: model },
      statistic: cloudwatch.Stats.AVERAGE,
      period: Duration.hours(1),
      ...props,
    });
  }

  private endpointMetric(
    metricName: string,
    model: ModelName,
    variant: VariantName,
    statistic: string,
    props?: cloudwatch.MetricOptions,
  ): cloudwatch.Metric {
    if (!this.variantNames.includes(variant)) {
      throw new Error(
        `ModelEndpoints metric: received variant '${variant}', expected one of ${this.variantNames.join(', ')}`,
      );
    }
    return new cloudwatch.Metric({
      namespace: 'AWS/SageMaker',
      metricName,
      dimensionsMap: { EndpointName: this.endpointNames[model], VariantName: variant },
      statistic,
      period: Duration.minutes(5),
      ...props,
    });
  }

  /**
   * The built-in XGBoost image of the stack's region: looked up at synthesis when the region is
   * known (an unknown one fails here, naming the regions that have it), else through a mapping that
   * CloudFormation resolves in the deployment's region (where an unknown region fails the deploy).
   */
  private xgboostImage(version: string): string {
    const stack = Stack.of(this);
    const image = (account: string) =>
      `${account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${XGBOOST_IMAGE_REPOSITORY}:${version}`;
    if (!Token.isUnresolved(stack.region)) {
      const account = XGBOOST_IMAGE_ACCOUNTS[stack.region];
      if (account === undefined) {
        throw new Error(
          `ModelEndpoints: region '${stack.region}' has no SageMaker built-in XGBoost ${version} image known here; expected one of ${Object.keys(XGBOOST_IMAGE_ACCOUNTS).join(', ')}`,
        );
      }
      return image(account);
    }
    const mapping = new CfnMapping(this, 'XgboostImageAccounts', {
      mapping: Object.fromEntries(
        Object.entries(XGBOOST_IMAGE_ACCOUNTS).map(([region, account]) => [region, { account }]),
      ),
    });
    return image(mapping.findInMap(Aws.REGION, 'account'));
  }

  private buildEndpoint(
    name: ModelName,
    path: string,
    definition: ModelDefinition,
    settings: EndpointSettings,
  ): ModelEndpointParts {
    const scope = new Construct(this, pascalCase(name));
    const stack = Stack.of(this);
    const endpointName = this.endpointNames[name];
    const modelJson = readDeployableModel(name, path, definition);

    const artifact = new s3assets.Asset(scope, 'Artifact', {
      path: writeArchive(modelJson),
      // The model's identity, not the archive's bytes: a new zlib must not redeploy the same model.
      assetHash: modelArchiveHash(modelJson),
      assetHashType: AssetHashType.CUSTOM,
      displayName: `${endpointName} model.tar.gz`,
    });

    const logGroupName = endpointLogGroupName(endpointName);
    const logGroup = new logs.LogGroup(scope, 'LogGroup', {
      logGroupName,
      encryptionKey: this.key,
      retention: settings.logRetentionDays,
      removalPolicy: settings.removalPolicy,
    });

    const role = new iam.Role(scope, 'Role', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: `Assumed by SageMaker for ${endpointName}: reads its model artefact, writes its logs and captures`,
    });
    // Exactly the one object: SageMaker downloads it on every instance it starts.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [artifact.bucket.arnForObjects(artifact.s3ObjectKey)],
      }),
    );
    const groupArn = logGroupArn(stack, logGroupName);
    const streamsArn = `${groupArn}:log-stream:*`;
    // The group exists before the endpoint; CreateLogGroup only keeps the logging agent's attempt
    // from failing.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams'],
        resources: [groupArn],
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:PutLogEvents'], resources: [streamsArn] }));
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::${nagString(stack, streamsArn)}]`,
      `Writes the streams of ${logGroupName} only; SageMaker names one stream per variant and instance, not known at deploy time.`,
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': ENDPOINT_INSTANCE_METRICS_NAMESPACE } },
      }),
    );
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      `PutMetricData takes no resource; the condition limits it to ${ENDPOINT_INSTANCE_METRICS_NAMESPACE}, where SageMaker puts the instances' CPU, memory and disk metrics.`,
    );

    const capturePrefix = `${DATA_CAPTURE_PREFIX}/${name}/`;
    const captureKey = this.captureBucket.encryptionKey;
    if (settings.dataCapturePercent > 0) {
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [this.captureBucket.arnForObjects(`${capturePrefix}*`)],
        }),
      );
      if (captureKey) {
        role.addToPolicy(
          new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [captureKey.keyArn] }),
        );
      }
      acknowledge(
        role,
        `AwsSolutions-IAM5[Resource::${nagString(stack, this.captureBucket.arnForObjects(`${capturePrefix}*`))}]`,
        `Writes captures under ${capturePrefix} only; SageMaker names each file by variant, hour and a random id.`,
      );
    }

    const model = new sagemaker.CfnModel(scope, 'Model', {
      executionRoleArn: role.roleArn,
      primaryContainer: {
        image: this.imageUri,
        modelDataUrl: artifact.s3ObjectUrl,
      },
    });
    // CreateModel checks that the role can read the artefact: its policy must exist first.
    model.node.addDependency(role);

    const variant = (variantName: VariantName, weight: number) => ({
      variantName,
      // Until the training workflow registers a challenger model, the challenger serves the committed
      // model too: the variant, its traffic share, alarms and scaling are in place for the first one.
      modelName: model.attrModelName,
      initialInstanceCount: settings.instanceCount,
      instanceType: settings.instanceType,
      initialVariantWeight: weight,
    });
    const endpointConfig = new sagemaker.CfnEndpointConfig(scope, 'EndpointConfig', {
      // Weights are relative: the champion keeps what the challenger does not take.
      productionVariants: this.variantNames.map((variantName) =>
        variant(
          variantName,
          variantName === 'champion' ? 100 - settings.challengerPercent : settings.challengerPercent,
        ),
      ),
      kmsKeyId: this.key.keyArn,
      ...(settings.dataCapturePercent > 0 && {
        dataCaptureConfig: {
          enableCapture: true,
          initialSamplingPercentage: settings.dataCapturePercent,
          destinationS3Uri: `s3://${this.captureBucket.bucketName}/${capturePrefix}`,
          ...(captureKey && { kmsKeyId: captureKey.keyArn }),
          captureOptions: [{ captureMode: 'Input' }, { captureMode: 'Output' }],
          // Captured as text rather than base64: requests are CSV, answers CSV or JSON.
          captureContentTypeHeader: { csvContentTypes: ['text/csv'], jsonContentTypes: ['application/json'] },
        },
      }),
    });

    const endpoint = new sagemaker.CfnEndpoint(scope, 'Endpoint', {
      endpointName,
      endpointConfigName: endpointConfig.attrEndpointConfigName,
      // A new model or setting must not reset the instance counts autoscaling has set (a deploy
      // during a surge would shrink the variant back to its minimum); weights and capture do follow
      // the new configuration.
      retainAllVariantProperties: true,
      excludeRetainedVariantProperties: [
        { variantPropertyType: 'DesiredWeight' },
        { variantPropertyType: 'DataCaptureConfig' },
      ],
    });
    // The endpoint writes its logs from its first instance on.
    endpoint.node.addDependency(logGroup);

    const scalableTargets: Partial<Record<VariantName, appscaling.ScalableTarget>> = {};
    for (const variantName of this.variantNames) {
      const target = new appscaling.ScalableTarget(scope, `${pascalCase(variantName)}Scaling`, {
        serviceNamespace: appscaling.ServiceNamespace.SAGEMAKER,
        resourceId: `endpoint/${endpointName}/variant/${variantName}`,
        scalableDimension: 'sagemaker:variant:DesiredInstanceCount',
        minCapacity: settings.instanceCount,
        maxCapacity: settings.maxInstanceCount,
        role: settings.scalingRole,
      });
      // The variant exists only once the endpoint does.
      target.node.addDependency(endpoint);
      target.scaleToTrackMetric('InvocationsPerInstance', {
        predefinedMetric: appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        targetValue: settings.targetInvocationsPerInstance,
        scaleOutCooldown: SCALE_OUT_COOLDOWN,
        scaleInCooldown: SCALE_IN_COOLDOWN,
      });
      scalableTargets[variantName] = target;
    }
    return { endpointName, artifact, role, model, endpointConfig, endpoint, logGroup, scalableTargets };
  }
}

interface EndpointSettings {
  readonly instanceType: string;
  readonly instanceCount: number;
  readonly maxInstanceCount: number;
  readonly targetInvocationsPerInstance: number;
  readonly challengerPercent: number;
  readonly dataCapturePercent: number;
  readonly logRetentionDays: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly scalingRole: iam.IRole;
}

/** The stage configuration checks these too; a construct used on its own fails here, not at deploy. */
function validateSettings(settings: EndpointSettings): void {
  const checks: [string, number, number, number][] = [
    ['instanceCount', settings.instanceCount, 1, 100],
    ['maxInstanceCount', settings.maxInstanceCount, settings.instanceCount, 100],
    ['targetInvocationsPerInstance', settings.targetInvocationsPerInstance, 1, 1_000_000],
    ['challengerTrafficPercent', settings.challengerPercent, 0, MAX_CHALLENGER_TRAFFIC_PERCENT],
    ['dataCapturePercent', settings.dataCapturePercent, 0, 100],
  ];
  for (const [name, value, min, max] of checks) {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`ModelEndpoints ${name}: received ${value}, expected an integer from ${min} to ${max}`);
    }
  }
}

/** The log group SageMaker writes an endpoint's container logs to. */
export function endpointLogGroupName(endpointName: string): string {
  return `/aws/sagemaker/Endpoints/${endpointName}`;
}

function logGroupArn(stack: Stack, logGroupName: string): string {
  return stack.formatArn({
    service: 'logs',
    resource: 'log-group',
    resourceName: logGroupName,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * `value` as cdk-nag spells it inside a finding id: references as `<LogicalId.Attribute>` or
 * `<AWS::Region>`, joins concatenated.
 */
function nagString(stack: Stack, value: string): string {
  const flatten = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const token = node as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: [string, string]; Ref?: string };
    if (token['Fn::Join']) return token['Fn::Join'][1].map(flatten).join(token['Fn::Join'][0]);
    if (token['Fn::GetAtt']) return `<${token['Fn::GetAtt'][0]}.${token['Fn::GetAtt'][1]}>`;
    if (token.Ref) return `<${token.Ref}>`;
    throw new Error(`nagString: cannot flatten ${JSON.stringify(node)}`);
  };
  return flatten(stack.resolve(value));
}

function pascalCase(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/**
 * The trained model's bytes, once they prove to be a model the endpoint can serve to its callers: an
 * XGBoost JSON model the scorer accepts, of the objective and the feature count `ml/models.json`
 * defines (a CSV row of the wrong length is refused by the container, so a mismatch would fail
 * every call).
 *
 * The container (XGBoost 1.7) reads JSON from a file without an extension: `Booster.load_model` looks
 * at the first byte and parses JSON when it is `{`. Checked with Debian's python3-xgboost 1.7.4: a
 * model saved with `save_model('model.json')`, copied to `xgboost-model` and loaded from there scores
 * exactly as the original; the container first tries `pickle.load`, which refuses that file ("invalid
 * load key, '{'") before `load_model` reads it.
 *
 * @throws Error naming the file, the field, the value received and what is expected
 */
export function readDeployableModel(name: ModelName, path: string, definition: ModelDefinition): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(
      `ModelEndpoints: no trained model '${name}' at ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): train and commit it (see ml/README.md), or set ml.endpoints.enabled to false`,
    );
  }
  const model = parseXgboostModel(bytes.toString('utf8'), path);
  const names = featureNames(definition);
  if (model.objective !== definition.objective) {
    throw new Error(
      `${path}: learner.objective.name: received '${model.objective}', expected '${definition.objective}' (ml/models.json, ${name})`,
    );
  }
  if (model.featureCount !== names.length) {
    throw new Error(
      `${path}: learner.learner_model_param.num_feature: received ${model.featureCount}, expected ${names.length}, the features of ${name} in ml/models.json`,
    );
  }
  if (model.featureNames.length > 0 && model.featureNames.join(',') !== names.join(',')) {
    throw new Error(
      `${path}: learner.feature_names: received ${JSON.stringify(model.featureNames)}, expected ${JSON.stringify(names)} (ml/models.json, ${name}) or none`,
    );
  }
  return bytes;
}

/**
 * Writes the model's archive where the asset can copy it from: a directory named by the archive's
 * hash under the system's temporary directory (so the same model always has the same path), the
 * file renamed into place so that a concurrent synthesis never reads it half-written.
 */
function writeArchive(modelJson: Buffer): string {
  const dir = join(tmpdir(), 'sdap-model-archives', modelArchiveHash(modelJson));
  const path = join(dir, 'model.tar.gz');
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, modelArchive(modelJson));
  renameSync(partial, path);
  return path;
}
