/**
 * Size of the validator as Lambda would run it: one minified ESM file, the AWS SDK left out
 * (the Node.js runtime provides it). Cold starts grow with the bytes Node has to parse, so the
 * bench tracks the size and names the packages that make it up.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const VALIDATOR_ENTRY = fileURLToPath(new URL('../lambdas/validator/handler.ts', import.meta.url));
/** The budget for the validator bundle, in bytes (1 KB = 1024 bytes). */
export const BUNDLE_BUDGET_BYTES = 150 * 1024;

export interface BundleContributor {
  /** An npm package (`zod`, `@middy/core`), or `(project)` for our own sources. */
  readonly name: string;
  readonly bytes: number;
}

export interface BundleReport {
  readonly entry: string;
  readonly bytes: number;
  readonly budgetBytes: number;
  readonly pass: boolean;
  /** Largest first: where the bytes come from. */
  readonly contributors: readonly BundleContributor[];
}

/** `node_modules/@scope/name/...` -> `@scope/name`; sources outside node_modules are ours. */
function packageOf(inputPath: string): string {
  const marker = 'node_modules/';
  const at = inputPath.lastIndexOf(marker);
  if (at < 0) return '(project)';
  const [first, second] = inputPath.slice(at + marker.length).split('/');
  return first?.startsWith('@') ? `${first}/${second}` : (first ?? inputPath);
}

export async function measureValidatorBundle(): Promise<BundleReport> {
  const result = await build({
    entryPoints: [VALIDATOR_ENTRY],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    external: ['@aws-sdk/*'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`esbuild produced no output for ${VALIDATOR_ENTRY}`);
  const byPackage = new Map<string, number>();
  for (const meta of Object.values(result.metafile.outputs)) {
    for (const [path, { bytesInOutput }] of Object.entries(meta.inputs)) {
      const name = packageOf(path);
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  const contributors = [...byPackage.entries()]
    .map(([name, bytes]) => ({ name, bytes }))
    .sort((a, b) => b.bytes - a.bytes);
  const bytes = output.contents.byteLength;
  return {
    entry: 'lambdas/validator/handler.ts',
    bytes,
    budgetBytes: BUNDLE_BUDGET_BYTES,
    pass: bytes <= BUNDLE_BUDGET_BYTES,
    contributors,
  };
}
