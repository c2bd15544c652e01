import { type App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { ModelName } from '../ml/model-spec.ts';
import { loadStageConfig, type StageConfig } from './config.ts';
import { LakeReplicaStack, replicaStackNameOf } from './lake-replica-stack.ts';
import { stackNameOf, TelemetryPipelineStack } from './telemetry-pipeline-stack.ts';

/** Tag keys every resource of the app carries. */
export const APP_TAGS = { project: 'sdap' } as const;

export interface ConfigureAppOptions {
  /**
   * Where the endpoints read each trained model.
   * @default - the models committed under ml/models/
   */
  readonly modelPath?: (name: ModelName) => string;
}

/**
 * Composes the app: the stage's configuration from context, its stack, the tags, and the cdk-nag
 * AwsSolutions and Serverless packs (cdk-nag v3 plugs into CDK's validation; synth fails on any
 * unacknowledged finding and writes `validation-report.json` into the cloud assembly).
 */
export function configureApp(
  app: App,
  options: ConfigureAppOptions = {},
): { config: StageConfig; stack: TelemetryPipelineStack; replicaStack?: LakeReplicaStack } {
  const config = loadStageConfig(app);
  const stack = new TelemetryPipelineStack(app, stackNameOf(config.stage), {
    config,
    modelPath: options.modelPath,
    stackName: stackNameOf(config.stage),
    description: `Smart Device Analytics Platform: streaming ingest (${config.stage})`,
    env: config.account || config.region ? { account: config.account, region: config.region } : undefined,
  });
  // The replicas' region, deployed first: the stage's replication rules name its buckets and key.
  const { replication } = config.disasterRecovery;
  const replicaStack =
    replication.enabled && replication.destinationRegion !== null
      ? new LakeReplicaStack(app, replicaStackNameOf(config.stage), {
          config,
          stackName: replicaStackNameOf(config.stage),
          description: `Smart Device Analytics Platform: lake replicas (${config.stage})`,
          env: { account: config.account, region: replication.destinationRegion },
        })
      : undefined;
  if (replicaStack) stack.addStackDependency(replicaStack);
  Tags.of(app).add('project', APP_TAGS.project);
  Tags.of(app).add('stage', config.stage);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return { config, stack, ...(replicaStack && { replicaStack }) };
}
