/**
 * What the Lambda runtime gives a handler, for the twin and the benchmarks that invoke the
 * validator outside Lambda: a context object and the handler module loaded with quiet logging.
 */
import type { Context } from 'aws-lambda';

/** A Lambda context for one invocation of `functionName`. */
export function lambdaContext(functionName: string, functionArn: string): Context {
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: '512',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Loads the validator handler module. Its logger and metrics read their settings when first
 * imported, so the environment is set first: errors only, no EMF on stdout (a run's terminal
 * stays readable). Settings already in the environment win.
 */
export async function importValidatorQuietly(): Promise<typeof import('../lambdas/validator/handler.ts')> {
  quietPowertools();
  return import('../lambdas/validator/handler.ts');
}

/** Loads the weather function's handler module the same way (see {@link importValidatorQuietly}). */
export async function importWeatherQuietly(): Promise<typeof import('../lambdas/weather/handler.ts')> {
  quietPowertools();
  return import('../lambdas/weather/handler.ts');
}

/** Loads the failure-scoring function's handler module the same way (see {@link importValidatorQuietly}). */
export async function importFailureScoringQuietly(): Promise<
  typeof import('../lambdas/failure-scoring/handler.ts')
> {
  quietPowertools();
  return import('../lambdas/failure-scoring/handler.ts');
}

/**
 * Errors only from the handlers' logger, no EMF metrics on stdout. Call it before anything imports
 * the handlers' shared modules: their logger reads the level once, when first imported. Settings
 * already in the environment win.
 */
export function quietPowertools(): void {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
}
