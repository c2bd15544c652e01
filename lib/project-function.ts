/**
 * A Lambda function of this project as every construct deploys one: bundled from its TypeScript
 * handler with the local esbuild (ESM, minified, source maps; the runtime's AWS SDK left out), on
 * the newest Node.js runtime, arm64, traced, with its own log group and its own role.
 *
 * The parts are created in the caller's scope under the ids `LogGroup`, `Role` and `Function`: the
 * ids are part of each construct's contract (changing one replaces the resource).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../lambdas/shared/pipeline-names.ts';

/** The repository root: handlers are bundled from it, with its lock file. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface ProjectFunctionProps {
  /** The handler module; its export `handler` is the entry point. */
  readonly entry: string;
  readonly description: string;
  /** Description of the execution role. */
  readonly roleDescription: string;
  /** Powertools' service name for logs and metrics. */
  readonly serviceName: string;
  readonly memorySizeMb: number;
  readonly timeoutSeconds: number;
  readonly logRetentionDays: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** The function's own settings, on top of the Powertools and Node.js ones. */
  readonly environment: Readonly<Record<string, string>>;
  /** Further function settings (reserved concurrency, async retries, ...). */
  readonly functionOptions?: Pick<
    nodejs.NodejsFunctionProps,
    'reservedConcurrentExecutions' | 'retryAttempts' | 'maxEventAge'
  >;
}

export interface ProjectFunctionParts {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
}

export function createProjectFunction(scope: Construct, props: ProjectFunctionProps): ProjectFunctionParts {
  const logGroup = new logs.LogGroup(scope, 'LogGroup', {
    retention: props.logRetentionDays,
    removalPolicy: props.removalPolicy,
  });
  // An own role instead of the default one: no AWS managed policy, log writes to this group only.
  const role = new iam.Role(scope, 'Role', {
    description: props.roleDescription,
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  });
  logGroup.grantWrite(role);
  const fn = new nodejs.NodejsFunction(scope, 'Function', {
    description: props.description,
    entry: props.entry,
    handler: 'handler',
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySizeMb,
    timeout: Duration.seconds(props.timeoutSeconds),
    ...props.functionOptions,
    role,
    logGroup,
    tracing: lambda.Tracing.ACTIVE,
    environment: {
      ...props.environment,
      POWERTOOLS_SERVICE_NAME: props.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      // Stack traces point into the TypeScript sources through the bundled source map.
      NODE_OPTIONS: '--enable-source-maps',
    },
    bundling: {
      format: nodejs.OutputFormat.ESM,
      mainFields: ['module', 'main'],
      // CommonJS dependencies bundled into ESM still call require(): give them one.
      banner:
        "import { createRequire as sdapCreateRequire } from 'node:module'; const require = sdapCreateRequire(import.meta.url);",
      minify: true,
      sourceMap: true,
      // The Node.js runtimes ship AWS SDK v3; bundling it would only grow the cold start.
      externalModules: ['@aws-sdk/*'],
    },
  });
  return { function: fn, role, logGroup };
}
