/**
 * The app with the disaster-recovery options of a stage, switched on as a cdk.json override would:
 * the replica stack in the destination region, deployed first, and cdk-nag clean across both stacks.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LakeReplicaStack } from '../../lib/lake-replica-stack.ts';
import { configureApp } from '../../lib/sdap-app.ts';
import type { TelemetryPipelineStack } from '../../lib/telemetry-pipeline-stack.ts';
import { CDK_JSON_CONTEXT, NO_BUNDLING } from './support/cdk.ts';
import { type TestModels, writeTestModels } from './support/test-models.ts';

interface ValidationReport {
  pluginReports: { violations: { ruleName: string }[] }[];
}

let models: TestModels;
const outdirs: string[] = [];
beforeAll(() => {
  models = writeTestModels();
});
afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
  models.remove();
});

/** Synthesizes `stage` with `override` as its `sdap:<stage>` context, returning the stacks and the findings. */
function synth(stage: 'dev' | 'prod', override: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'sdap-dr-'));
  outdirs.push(outdir);
  const app = new App({
    outdir,
    builtinCloudFormationValidation: false,
    context: { ...CDK_JSON_CONTEXT, ...NO_BUNDLING, stage, [`sdap:${stage}`]: JSON.stringify(override) },
  });
  const { stack, replicaStack } = configureApp(app, { modelPath: models.modelPath });
  // An in-memory synth throws when a validation plugin reports any finding.
  app.synth();
  const report: ValidationReport = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations.map((violation) => violation.ruleName),
  );
  return { stack, replicaStack, findings };
}

describe('the CDK app with disaster recovery switched on', () => {
  describe('prod replicating into eu-central-1', () => {
    let stack: TelemetryPipelineStack;
    let replicaStack: LakeReplicaStack | undefined;
    let findings: string[];

    beforeAll(() => {
      ({ stack, replicaStack, findings } = synth('prod', {
        disasterRecovery: { replication: { enabled: true, destinationRegion: 'eu-central-1' } },
      }));
    });

    it('has no unacknowledged AwsSolutions or Serverless finding in either stack', () => {
      expect(findings).toEqual([]);
    });

    it('deploys the replicas in the destination region before the stage', () => {
      expect(replicaStack?.stackName).toBe('Sdap-prod-replica');
      expect(replicaStack?.region).toBe('eu-central-1');
      expect(stack.dependencies).toContain(replicaStack);
    });

    it('replicates every data bucket into a retained replica', () => {
      // Act
      const replicas = Template.fromStack(replicaStack as LakeReplicaStack).findResources('AWS::S3::Bucket');
      const replicated = Object.values(Template.fromStack(stack).findResources('AWS::S3::Bucket')).filter(
        (bucket) => bucket.Properties.ReplicationConfiguration !== undefined,
      );

      // Assess
      expect(Object.keys(replicas)).toHaveLength(5);
      expect(replicated).toHaveLength(4);
      expect(stack.lakeReplication?.destinations.size).toBe(4);
      for (const replica of Object.values(replicas)) expect(replica.DeletionPolicy).toBe('Retain');
    });

    it('takes the warehouse snapshots prod has by default', () => {
      expect(stack.warehouse?.snapshots?.retentionDays).toBe(14);
    });
  });

  it('synthesizes dev with replication on, without cdk-nag findings', () => {
    // Act
    const { stack, replicaStack, findings } = synth('dev', {
      disasterRecovery: {
        replication: { enabled: true, destinationRegion: 'us-west-2', zones: ['raw', 'curated'] },
      },
    });

    // Assess
    expect(findings).toEqual([]);
    expect(replicaStack?.stackName).toBe('Sdap-dev-replica');
    expect(stack.lakeReplication?.destinations.size).toBe(2);
  });

  it('adds no replica stack and no snapshots to dev by default', () => {
    // Act
    const { stack, replicaStack } = synth('dev', {});

    // Assess
    expect(replicaStack).toBeUndefined();
    expect(stack.lakeReplication).toBeUndefined();
    expect(stack.warehouse).toBeUndefined();
  });
});
