/**
 * The twin's anomaly scoring: with a model, its SageMaker runtime serves it and the validator
 * scores every valid reading; with a model the endpoint refuses, every batch falls back to the
 * rules (and the breaker opens) without losing a reading; without a model the twin says it ran the
 * rules only.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anomalyFeatureNames } from '../../lambdas/shared/anomaly-features.ts';
import { runTwin } from '../../local/twin.ts';
import { TWIN_ANOMALY_ENDPOINT } from '../../local/twin-pipeline.ts';
import { randomModelJson } from '../ml/xgboost-model-builder.ts';

let dir: string;

async function twinRun(name: string, anomalyModelPath: string | null, devices = 12) {
  return runTwin({
    outDir: await mkdtemp(join(dir, `${name}-`)),
    shards: 2,
    speed: 0,
    batch: false,
    emulatorsInChildProcesses: false,
    simulation: { devices, durationHours: 1, seed: 3, readingsPerMessage: 1 },
    anomalyModelPath,
  });
}

async function writeModel(name: string, featureCount: number): Promise<string> {
  const path = join(dir, `${name}.json`);
  await writeFile(
    path,
    JSON.stringify(randomModelJson(5, { objective: 'binary:logistic', featureCount, trees: 30, depth: 4 })),
  );
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdap-twin-scoring-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('twin anomaly scoring', () => {
  it('serves the model and scores every valid reading, its alerts beside the rules', async () => {
    // Prepare
    const model = await writeModel('anomaly', anomalyFeatureNames().length);

    // Act
    const summary = await twinRun('model', model);

    // Assess
    expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
    expect(summary.scoring).toMatchObject({
      mode: 'model',
      endpoint: TWIN_ANOMALY_ENDPOINT,
      model,
      rowsRulesOnly: 0,
      rulesOnlyBatchesByReason: {},
    });
    expect(summary.scoring.rowsScored).toBeGreaterThanOrEqual(summary.outcome.valid);
    expect(summary.scoring.modelAlerts).toBeGreaterThan(0);
    expect(summary.alerts.byRule.model_anomaly).toBe(summary.scoring.modelAlerts);
  }, 120_000);

  it('falls back to the rules on every batch the endpoint refuses, opens the breaker, and loses nothing', async () => {
    // Prepare: a model of one feature more than the rows carry, which the runtime refuses (ModelError).
    const model = await writeModel('wider', anomalyFeatureNames().length + 1);

    // Act
    const summary = await twinRun('refused', model, 40);

    // Assess
    expect(summary.conservation).toMatchObject({ holds: true, missing: 0, unexpected: 0 });
    expect(summary.validator.recordsToFailureDestination).toBe(0);
    expect(summary.scoring).toMatchObject({ mode: 'model', rowsScored: 0, modelAlerts: 0 });
    expect(summary.scoring.rowsRulesOnly).toBeGreaterThanOrEqual(summary.outcome.valid);
    expect(summary.scoring.rulesOnlyBatchesByReason.model_error).toBeGreaterThanOrEqual(3);
    expect(summary.scoring.rulesOnlyBatchesByReason.circuit_open ?? 0).toBeGreaterThan(0);
    expect(summary.alerts.total).toBeGreaterThan(0);
  }, 120_000);

  it('runs the rules only without a model, and says so', async () => {
    const summary = await twinRun('none', null);
    expect(summary.conservation.holds).toBe(true);
    expect(summary.scoring).toEqual({
      mode: 'rules-only',
      endpoint: null,
      model: 'none: scoring turned off',
      batchesScored: 0,
      rowsScored: 0,
      rowsRulesOnly: 0,
      rulesOnlyBatchesByReason: {},
      modelAlerts: 0,
    });
  }, 120_000);
});
