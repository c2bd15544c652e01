import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CDK_JSON_CONTEXT, NO_BUNDLING } from '../lib/support/cdk.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const outdirs: string[] = [];

/** Runs bin/app.ts the way the CDK CLI does (cdk.json's context and `-c` values in CDK_CONTEXT_JSON). */
async function synthesize(context: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'sdap-bin-'));
  outdirs.push(outdir);
  const result = await run(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON_CONTEXT, ...NO_BUNDLING, ...context }),
      // The built-in CloudFormation schema validation is slow and covered by `cdk synth` itself.
      CDK_VALIDATION: 'false',
    },
  }).catch((error: { stderr?: string }) => {
    throw new Error(`bin/app.ts failed: ${error.stderr ?? String(error)}`);
  });
  return { outdir, ...result };
}

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

describe('bin/app.ts', () => {
  it('synthesizes the stage chosen with -c stage=prod into Sdap-prod', async () => {
    // Act
    const { outdir } = await synthesize({ stage: 'prod' });

    // Assess
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    expect(Object.keys(manifest.artifacts)).toContain('Sdap-prod');
    const template = JSON.parse(readFileSync(join(outdir, 'Sdap-prod.template.json'), 'utf8'));
    expect(template.Outputs.TopicRuleName.Value).toBe('sdap_prod_telemetry');
  });

  it('fails with the configuration error when a value is wrong', async () => {
    await expect(synthesize({ 'sdap:dev': { stream: { retentionHours: 0 } } })).rejects.toThrow(
      `stage 'dev': stream.retentionHours: received 0, expected a whole number of hours from 24 to 8760`,
    );
  });
});
