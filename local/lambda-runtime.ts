/**
 * What the Lambda runtime gives a handler, for the twin and the benchmarks that invoke the
 * validator outside Lambda: a context object, the handler module loaded with quiet logging, and a
 * runtime that can crash invocations as a killed or timed-out function would.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';
import { Random } from '../simulator/random.ts';

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

/**
 * Which invocations crash: each one chosen (by `rate` or `everyNth`) dies right after its
 * `afterWrites`-th successful S3 PutObject, as a function killed mid-batch (out of memory, timeout,
 * a fatal error) does. The writes before the crash did happen; the event source mapping sees a
 * function error and retries the batch, which writes them again.
 */
export interface HandlerCrashOptions {
  /** The k of "crash after k writes": an integer >= 1. */
  readonly afterWrites: number;
  /** Share (0..1) of invocations chosen, drawn with the seed. @default 0 unless `everyNth` is set */
  readonly rate?: number;
  /** Chooses every n-th invocation (n >= 1) instead of drawing. */
  readonly everyNth?: number;
}

/** What the crashing runtime did, for the run's summary. */
export interface CrashStats {
  invocations: number;
  /** Invocations killed after their k-th write. */
  crashes: number;
  /** Calls a killed invocation still tried to make: refused, they never left the dead process. */
  callsRefusedAfterCrash: number;
}

/** A stand-in for the Lambda runtime's process around each invocation (see {@link createCrashingRuntime}). */
export interface CrashingRuntime {
  readonly stats: Readonly<CrashStats>;
  /**
   * Runs one invocation. Resolves or rejects with it, or rejects with a `Runtime.ExitError` as soon
   * as the invocation is killed; what the handler does after that is ignored.
   */
  invoke<T>(run: () => Promise<T>): Promise<T>;
  /**
   * The SDK middleware (step `initialize`) to add to every client the handler calls: it counts the
   * invocation's S3 writes and refuses the calls of a killed invocation.
   */
  readonly middleware: <A, R>(
    next: (args: A) => Promise<R>,
    context: { readonly commandName?: string },
  ) => (args: A) => Promise<R>;
}

interface Invocation {
  readonly requestId: string;
  readonly chosen: boolean;
  writes: number;
  dead: boolean;
  kill(error: Error): void;
}

/**
 * A runtime that kills chosen invocations after their k-th S3 write. In-process code cannot be
 * stopped, so a killed invocation is abandoned instead: its promise is ignored and every call it
 * still makes through an instrumented client is refused before it is sent, as nothing leaves a
 * dead process. A request already on the wire when the invocation dies may still land, as it may in
 * AWS. Invocations are told apart by their async context, so concurrent shards do not mix counts.
 */
export function createCrashingRuntime(
  options: HandlerCrashOptions & { readonly seed: number },
): CrashingRuntime {
  const { afterWrites, rate = 0, everyNth } = options;
  if (!Number.isInteger(afterWrites) || afterWrites < 1) {
    throw new Error(`handler crash afterWrites: received ${afterWrites}, expected an integer >= 1`);
  }
  if (!(rate >= 0 && rate <= 1)) {
    throw new Error(`handler crash rate: received ${rate}, expected a number from 0 to 1`);
  }
  if (everyNth !== undefined && !(Number.isInteger(everyNth) && everyNth >= 1)) {
    throw new Error(`handler crash everyNth: received ${everyNth}, expected an integer >= 1`);
  }
  const draws = Random.fromSeed(options.seed).derive('handler-crash');
  const current = new AsyncLocalStorage<Invocation>();
  const stats: CrashStats = { invocations: 0, crashes: 0, callsRefusedAfterCrash: 0 };
  const exitError = (invocation: Invocation) => {
    // What Lambda reports for a function whose runtime died: FunctionError Unhandled, this type.
    const error = new Error(
      `RequestId: ${invocation.requestId} Error: Runtime exited with error: signal: killed (injected after ${afterWrites} S3 writes)`,
    );
    error.name = 'Runtime.ExitError';
    return error;
  };
  return {
    stats,
    invoke<T>(run: () => Promise<T>): Promise<T> {
      stats.invocations++;
      const chosen = everyNth === undefined ? draws.next() < rate : stats.invocations % everyNth === 0;
      return new Promise<T>((resolve, reject) => {
        const invocation: Invocation = {
          requestId: crypto.randomUUID(),
          chosen,
          writes: 0,
          dead: false,
          kill(error) {
            if (this.dead) return;
            this.dead = true;
            stats.crashes++;
            reject(error);
          },
        };
        current.run(invocation, () => {
          run().then(
            (value) => {
              if (!invocation.dead) resolve(value);
            },
            (error: unknown) => {
              if (!invocation.dead) reject(error);
            },
          );
        });
      });
    },
    middleware: (next, context) => async (args) => {
      const invocation = current.getStore();
      if (invocation?.dead) {
        stats.callsRefusedAfterCrash++;
        throw exitError(invocation);
      }
      const result = await next(args);
      if (invocation?.chosen && context.commandName === 'PutObjectCommand') {
        invocation.writes++;
        if (invocation.writes >= afterWrites) invocation.kill(exitError(invocation));
      }
      return result;
    },
  };
}
