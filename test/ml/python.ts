/**
 * Running the repository's Python (ml/*.py) from tests, with Debian's interpreter: the `python3` on
 * PATH may be another one, without xgboost (see TOOLCHAIN.md).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { INSTALL_XGBOOST, PYTHON } from '../../local/ml/train-command.ts';

export { INSTALL_XGBOOST, PYTHON };
export const ML_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ml');

export interface PythonRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `ml/<script>` with arguments; never throws on a non-zero exit (the caller asserts). */
export function runPythonScript(script: string, args: readonly string[], timeoutMs = 120_000): PythonRun {
  const run = spawnSync(PYTHON, [join(ML_DIR, script), ...args], { encoding: 'utf8', timeout: timeoutMs });
  if (run.error) throw new Error(`${PYTHON} ${script} could not run: ${run.error.message}`);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/**
 * Fails, with the line that installs them, when the interpreter or one of the modules is missing.
 * @returns the modules' versions, by name
 */
export function requirePythonModules(modules: readonly string[]): Record<string, string> {
  const probe = `import importlib, json; print(json.dumps({m: getattr(importlib.import_module(m), '__version__', '') for m in ${JSON.stringify(modules)}}))`;
  const run = spawnSync(PYTHON, ['-c', probe], { encoding: 'utf8', timeout: 60_000 });
  if (run.error || run.status !== 0) {
    const reason = run.error?.message ?? run.stderr.trim().split('\n').at(-1);
    throw new Error(
      `These tests need ${PYTHON} with ${modules.join(', ')} (Debian's python3-xgboost 1.7), which failed: ${reason}. ` +
        `Install them with: ${INSTALL_XGBOOST}`,
    );
  }
  return JSON.parse(run.stdout) as Record<string, string>;
}
