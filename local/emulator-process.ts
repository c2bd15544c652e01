/**
 * Runs one emulator (kinesalite, s3rver or the SageMaker runtime) in a child process of the twin.
 *
 * All three are single-threaded JavaScript servers (the SageMaker runtime scores every request's
 * rows through the XGBoost trees). In the twin's own process they compete
 * for one core with the broker, the event source mapping and the validator; measured, that one
 * thread was what bounded the twin's throughput (see the README's twin benchmark). In a child
 * process each gets the scheduler's attention on its own, and the twin talks to it over loopback
 * HTTP exactly as before.
 *
 * The parent side is {@link startEmulatorProcess}; the child side is this same module run as the
 * entry point of the forked process (`fork(thisFile, [kind, optionsJson])`). The child reports its
 * port over the IPC channel and exits when the channel closes, so it can never outlive the twin.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type KinesaliteSettings,
  type ListeningServer,
  listenKinesalite,
  listenS3rver,
  type S3rverSettings,
} from './emulator-servers.ts';
import { type SageMakerRuntimeOptions, startSageMakerRuntime } from './sagemaker-runtime.ts';

/** The emulators that can run in a child process, and the settings each one takes. */
export interface EmulatorOptions {
  readonly kinesalite: KinesaliteSettings;
  readonly s3rver: S3rverSettings;
  readonly sagemaker: SageMakerRuntimeOptions;
}
const EMULATOR_KINDS: readonly EmulatorKind[] = ['kinesalite', 's3rver', 'sagemaker'];
export type EmulatorKind = keyof EmulatorOptions;

/** A running emulator child: its loopback port and how to stop it. */
export interface EmulatorProcess extends ListeningServer {
  readonly pid: number;
}

/**
 * Starts `kind` on loopback, in a child process when `inChildProcess` is set, else in this one.
 * Callers see the same thing either way: a port and a `close`.
 */
export function startEmulator<K extends EmulatorKind>(
  kind: K,
  settings: EmulatorOptions[K],
  inChildProcess: boolean,
): Promise<ListeningServer> {
  return inChildProcess ? startEmulatorProcess(kind, settings) : listenHere(kind, settings);
}

async function listenHere<K extends EmulatorKind>(
  kind: K,
  settings: EmulatorOptions[K],
): Promise<ListeningServer> {
  if (kind === 'kinesalite') return listenKinesalite(settings as KinesaliteSettings);
  if (kind === 's3rver') return listenS3rver(settings as S3rverSettings);
  const runtime = await startSageMakerRuntime(settings as SageMakerRuntimeOptions);
  return { port: Number(new URL(runtime.url).port), close: () => runtime.close() };
}

/** How long the child may take to start (loader, package load, listen) before the start fails. */
const START_TIMEOUT_MS = 15_000;
/** How long a closing child may take before it is killed. */
const STOP_TIMEOUT_MS = 5_000;
/** Lines of the child's stderr kept for an error message. */
const STDERR_TAIL_CHARS = 2_000;

type ChildMessage = { readonly port: number } | { readonly error: string };

/**
 * Forks a child process running `kind` and resolves once it listens. The child runs TypeScript
 * through the same loader as the rest of the tools (tsx), resolved from this package so the fork
 * works from any working directory and inside the test runner.
 */
export function startEmulatorProcess<K extends EmulatorKind>(
  kind: K,
  options: EmulatorOptions[K],
): Promise<EmulatorProcess> {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = fork(fileURLToPath(import.meta.url), [kind, JSON.stringify(options)], {
    execArgv: ['--import', loader],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, SDAP_EMULATOR_CHILD: '1' },
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return new Promise<EmulatorProcess>((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      const detail = stderr.trim() === '' ? '' : `\n${stderr.trim()}`;
      reject(new Error(`${kind} child process: ${reason}${detail}`));
    };
    const timer = setTimeout(() => fail(`did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const onError = (error: Error) => fail(error.message);
    const onEarlyExit = (code: number | null, signal: string | null) =>
      fail(`exited before listening (code ${code}, signal ${signal})`);
    child.once('error', onError);
    child.once('exit', onEarlyExit);
    child.once('message', (message: ChildMessage) => {
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      child.off('error', onError);
      if ('error' in message) {
        fail(message.error);
        return;
      }
      let closing = false;
      child.once('exit', (code, signal) => {
        // Requests to it now fail with connection errors; this says why.
        if (!closing)
          console.error(`${kind} child process exited unexpectedly (code ${code}, signal ${signal})`);
      });
      // The IPC channel keeps the parent's event loop alive; the child is stopped by `close`.
      child.unref();
      child.channel?.unref();
      resolve({
        port: message.port,
        pid: child.pid ?? -1,
        close: () => {
          closing = true;
          return stopChild(child, exited);
        },
      });
    });
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

// The child side: this module run as the forked process's entry point.

async function runChild(kind: string, optionsJson: string): Promise<void> {
  const send = (message: ChildMessage) => process.send?.(message);
  // Exit only once the error has reached the parent: a pending IPC message dies with the process.
  const failWith = (error: unknown) =>
    process.send?.({ error: error instanceof Error ? error.message : String(error) }, () => process.exit(1));
  // s3rver reports a failed listen as an unhandled 'error' event, not as a rejected promise.
  process.once('uncaughtException', failWith);
  try {
    const options = JSON.parse(optionsJson);
    if (!(EMULATOR_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`unknown emulator '${kind}', expected one of ${EMULATOR_KINDS.join(', ')}`);
    }
    const listening = await listenHere(kind as EmulatorKind, options);
    // The parent closing the channel (on purpose or by dying) is the signal to stop.
    process.once('disconnect', () => {
      void listening.close().finally(() => process.exit(0));
    });
    send({ port: listening.port });
  } catch (error) {
    failWith(error);
  }
}

if (process.env.SDAP_EMULATOR_CHILD === '1' && process.argv[1] === fileURLToPath(import.meta.url)) {
  void runChild(process.argv[2] ?? '', process.argv[3] ?? '{}');
}
