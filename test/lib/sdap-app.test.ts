import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureApp } from '../../lib/sdap-app.ts';
import type { TelemetryPipelineStack } from '../../lib/telemetry-pipeline-stack.ts';
import { CDK_JSON_CONTEXT, NO_BUNDLING } from './support/cdk.ts';
import { type TestModels, writeTestModels } from './support/test-models.ts';

interface ValidationReport {
  pluginReports: { pluginName: string; violations: { ruleName: string }[] }[];
}

const outdirs: string[] = [];
function tempOutdir(): string {
  const outdir = mkdtempSync(join(tmpdir(), 'sdap-synth-'));
  outdirs.push(outdir);
  return outdir;
}

/** The findings cdk-nag wrote into the cloud assembly's validation report. */
function findingsIn(outdir: string): string[] {
  const report: ValidationReport = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  return report.pluginReports.flatMap((plugin) => plugin.violations.map((violation) => violation.ruleName));
}

// Prod deploys the models' endpoints: small models stand in for the committed ones.
let models: TestModels;
beforeAll(() => {
  models = writeTestModels();
});

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
  models.remove();
});

describe('the CDK app', () => {
  describe('synthesized like `cdk synth` (dev, real bundling, cdk-nag)', () => {
    let outdir: string;
    let stack: TelemetryPipelineStack;

    beforeAll(() => {
      outdir = tempOutdir();
      const app = new App({ outdir, builtinCloudFormationValidation: false, context: CDK_JSON_CONTEXT });
      ({ stack } = configureApp(app));
      // An in-memory synth throws when a validation plugin reports any finding.
      app.synth();
    });

    it('names the stack after the stage', () => {
      expect(stack.stackName).toBe('Sdap-dev');
    });

    it('has no unacknowledged AwsSolutions or Serverless finding', () => {
      expect(existsSync(join(outdir, 'validation-report.json'))).toBe(true);
      expect(findingsIn(outdir)).toEqual([]);
    });

    it('bundles the validator, the registry export and the erasure sweep with the local esbuild as minified ESM with a source map, leaving the AWS SDK out', () => {
      // Prepare
      const bundles = readdirSync(outdir)
        .filter((entry) => entry.startsWith('asset.'))
        .map((entry) => join(outdir, entry))
        .filter((dir) => existsSync(join(dir, 'index.mjs')));

      // Act
      const codes = bundles.map((dir) => readFileSync(join(dir, 'index.mjs'), 'utf8'));

      // Assess
      expect(bundles).toHaveLength(3);
      expect(codes.filter((code) => code.includes('registry export: '))).toHaveLength(1);
      for (const [index, code] of codes.entries()) {
        expect(existsSync(join(bundles[index] as string, 'index.mjs.map'))).toBe(true);
        expect(code.startsWith("import { createRequire as sdapCreateRequire } from 'node:module';")).toBe(
          true,
        );
        expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/);
        expect(code).not.toMatch(/\bclass (S3Client|IoTClient)\b/);
      }
    });

    it('tags the resources with the project and the stage', () => {
      // Prepare
      const template = Template.fromStack(stack);

      // Act & Assess
      for (const type of [
        'AWS::S3::Bucket',
        'AWS::Kinesis::Stream',
        'AWS::Lambda::Function',
        'AWS::SNS::Topic',
      ]) {
        const resources = Object.entries(template.findResources(type)).filter(
          // CDK's own custom-resource provider is not a taggable construct.
          ([id]) => !id.startsWith('CustomS3AutoDeleteObjectsCustomResourceProvider'),
        );
        expect(resources.length).toBeGreaterThan(0);
        for (const [, resource] of resources) {
          expect(resource.Properties.Tags).toEqual(
            expect.arrayContaining([
              { Key: 'project', Value: 'sdap' },
              { Key: 'stage', Value: 'dev' },
            ]),
          );
        }
      }
    });
  });

  it('synthesizes prod with on-call addresses without cdk-nag findings', () => {
    // Prepare
    const outdir = tempOutdir();
    const app = new App({
      outdir,
      builtinCloudFormationValidation: false,
      context: {
        ...CDK_JSON_CONTEXT,
        ...NO_BUNDLING,
        stage: 'prod',
        'sdap:prod': JSON.stringify({ onCallEmails: ['oncall@example.com', 'backup@example.com'] }),
      },
    });

    // Act
    const { stack } = configureApp(app, { modelPath: models.modelPath });
    app.synth();

    // Assess
    expect(stack.stackName).toBe('Sdap-prod');
    expect(stack.ml).toBeDefined();
    expect(findingsIn(outdir)).toEqual([]);
  });

  it('synthesizes prod with a challenger on every endpoint without cdk-nag findings', () => {
    // Prepare
    const outdir = tempOutdir();
    const app = new App({
      outdir,
      builtinCloudFormationValidation: false,
      context: {
        ...CDK_JSON_CONTEXT,
        ...NO_BUNDLING,
        stage: 'prod',
        'sdap:prod': JSON.stringify({ ml: { endpoints: { challengerTrafficPercent: 10 } } }),
      },
    });

    // Act
    const { stack } = configureApp(app, { modelPath: models.modelPath });
    app.synth();

    // Assess
    expect(stack.ml?.endpoints.variantNames).toEqual(['champion', 'challenger']);
    expect(findingsIn(outdir)).toEqual([]);
  });

  it('synthesizes prod with the warehouse and QuickSight on without cdk-nag findings', () => {
    // Prepare
    const outdir = tempOutdir();
    const app = new App({
      outdir,
      builtinCloudFormationValidation: false,
      context: {
        ...CDK_JSON_CONTEXT,
        ...NO_BUNDLING,
        stage: 'prod',
        'sdap:prod': JSON.stringify({ quicksight: { enabled: true, groupName: 'analysts' } }),
      },
    });

    // Act
    const { stack } = configureApp(app, { modelPath: models.modelPath });
    app.synth();

    // Assess
    expect(stack.warehouse?.quicksight).toBeDefined();
    expect(stack.etl?.warehouseLoad).toBeDefined();
    expect(findingsIn(outdir)).toEqual([]);
  });

  it('fails synthesis on an unacknowledged finding (the check is live)', () => {
    // Prepare
    const app = new App({
      outdir: tempOutdir(),
      builtinCloudFormationValidation: false,
      context: { ...CDK_JSON_CONTEXT, ...NO_BUNDLING },
    });
    const { stack } = configureApp(app);
    new s3.Bucket(stack, 'UnencryptedTestBucket');

    // Act & Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  });
});
