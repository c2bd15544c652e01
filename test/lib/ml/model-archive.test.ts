/**
 * The model.tar.gz writer: GNU tar reads what it writes (one entry, the model's exact bytes, fixed
 * metadata), the same model always gives the same bytes, and XGBoost 1.7 loads the entry the way
 * SageMaker's container does. The last test needs /usr/bin/python3 with xgboost (see TOOLCHAIN.md).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseXgboostModel, predict } from '../../../lambdas/shared/xgboost.ts';
import {
  gzipDeterministic,
  MODEL_ARCHIVE_ENTRY,
  MODEL_ARCHIVE_FORMAT,
  modelArchive,
  modelArchiveHash,
  tarOneFile,
} from '../../../lib/ml/model-archive.ts';
import { PYTHON, requirePythonModules } from '../../ml/python.ts';
import { buildModelJson } from '../../ml/xgboost-model-builder.ts';

const MODEL = Buffer.from(
  JSON.stringify(
    buildModelJson({
      objective: 'binary:logistic',
      featureCount: 3,
      trees: [
        { feature: 0, threshold: 0.5, left: { leaf: -0.4 }, right: { leaf: 0.7 } },
        { feature: 2, threshold: -1, defaultLeft: true, left: { leaf: 0.2 }, right: { leaf: -0.1 } },
      ],
    }),
  ),
);

/** Trains a small model with xgboost and saves it as JSON to argv[1]. */
const TRAIN = `
import sys
import numpy as np, xgboost as xgb
rng = np.random.default_rng(7)
x = rng.normal(size=(300, 3)); y = (x[:, 0] + 0.3 * x[:, 2] > 0).astype(int)
xgb.train({'objective': 'binary:logistic', 'max_depth': 3, 'nthread': 1}, xgb.DMatrix(x, label=y), 10).save_model(sys.argv[1])
`;

/**
 * The container's loader (algorithm mode, serve_utils.get_loaded_booster): every file of the model
 * directory, pickle first, then Booster.load_model; then one row scored.
 */
const CONTAINER_LOADER = `
import json, os, pickle, sys
import numpy as np, xgboost as xgb
files = os.listdir(sys.argv[1])
path = os.path.join(sys.argv[1], files[0])
try:
    pickle.load(open(path, 'rb')); pickled = True
except Exception:
    pickled = False
booster = xgb.Booster(); booster.load_model(path)
score = booster.predict(xgb.DMatrix(np.array([json.loads(sys.argv[2])], dtype=np.float32)))[0]
print(json.dumps({'files': files, 'pickled': pickled, 'score': float(score)}))
`;

describe('model archive', () => {
  let dir: string;
  let archivePath: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdap-model-archive-'));
    archivePath = join(dir, 'model.tar.gz');
    writeFileSync(archivePath, modelArchive(MODEL));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds one entry, xgboost-model, for tar -tzf', () => {
    expect(execFileSync('tar', ['-tzf', archivePath], { encoding: 'utf8' })).toBe(`${MODEL_ARCHIVE_ENTRY}\n`);
  });

  it("gives back the model's exact bytes with tar -xzO", () => {
    // Act
    const extracted = execFileSync('tar', ['-xzOf', archivePath, MODEL_ARCHIVE_ENTRY]);

    // Assess
    expect(Buffer.compare(extracted, MODEL)).toBe(0);
  });

  it('records a fixed mode, owner and time, nothing of the machine that built it', () => {
    // Act
    const listing = execFileSync('tar', ['-tvzf', archivePath, '--numeric-owner'], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
    });

    // Assess
    expect(listing).toMatch(
      new RegExp(`^-rw-r--r-- 0/0 +${MODEL.length} 1970-01-01 00:00 ${MODEL_ARCHIVE_ENTRY}\\n$`),
    );
  });

  it('writes a gzip header without a time and with a fixed operating system', () => {
    // Act
    const archive = modelArchive(MODEL);

    // Assess
    expect([...archive.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    expect(archive.readUInt32LE(4)).toBe(0);
    expect(archive[9]).toBe(3);
  });

  it('is byte for byte the same when built twice', () => {
    expect(Buffer.compare(modelArchive(MODEL), modelArchive(Buffer.from(MODEL)))).toBe(0);
  });

  it('pads the tar to whole 10 KiB records ending in two zero blocks', () => {
    // Act
    const tar = gunzipSync(modelArchive(MODEL));

    // Assess
    expect(tar.length % 10_240).toBe(0);
    expect(tar.subarray(512 + Math.ceil(MODEL.length / 512) * 512).every((byte) => byte === 0)).toBe(true);
  });

  it('identifies the archive by the model and the format only', () => {
    // Prepare
    const changed = Buffer.from(MODEL.toString('utf8').replace('0.7', '0.8'));

    // Act
    const hash = modelArchiveHash(MODEL);

    // Assess
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(modelArchiveHash(Buffer.from(MODEL))).toBe(hash);
    expect(modelArchiveHash(changed)).not.toBe(hash);
    expect(MODEL_ARCHIVE_FORMAT).toContain('xgboost-model.tar.gz');
  });

  it('keeps gzip deterministic for any input, the empty one included', () => {
    expect(Buffer.compare(gzipDeterministic(new Uint8Array()), gzipDeterministic(new Uint8Array()))).toBe(0);
    expect(gunzipSync(gzipDeterministic(Buffer.from('abc'))).toString()).toBe('abc');
  });

  it.each([
    ['an empty name', ''],
    ['a path', 'models/xgboost-model'],
    ['a name of 101 characters', 'x'.repeat(101)],
    ['a non-ASCII name', 'modèle'],
  ])('fails when the entry has %s', (_case, name) => {
    expect(() => tarOneFile(name, MODEL)).toThrow(
      `tarOneFile: received name ${JSON.stringify(name)}, expected 1 to 100 printable ASCII characters without '/'`,
    );
  });

  it("is what SageMaker's XGBoost 1.7 container loads: pickle refuses the JSON, load_model reads it and scores as the TypeScript scorer does", () => {
    // Prepare: a model xgboost itself saved as JSON, archived here, extracted by tar.
    requirePythonModules(['xgboost', 'numpy']);
    const trained = join(dir, 'trained.json');
    const train = spawnSync(PYTHON, ['-c', TRAIN, trained], { encoding: 'utf8' });
    expect(train.stderr).toBe('');
    const modelJson = readFileSync(trained);
    const extractDir = join(dir, 'extracted');
    mkdirSync(extractDir);
    writeFileSync(join(dir, 'trained.tar.gz'), modelArchive(modelJson));
    execFileSync('tar', ['-xzf', join(dir, 'trained.tar.gz'), '-C', extractDir]);
    const row = [0.9, 3, -2];

    // Act
    const run = spawnSync(PYTHON, ['-c', CONTAINER_LOADER, extractDir, JSON.stringify(row)], {
      encoding: 'utf8',
    });

    // Assess
    expect(run.stderr).toBe('');
    const loaded = JSON.parse(run.stdout);
    expect(loaded.files).toEqual([MODEL_ARCHIVE_ENTRY]);
    expect(loaded.pickled).toBe(false);
    expect(loaded.score).toBeCloseTo(predict(parseXgboostModel(modelJson.toString('utf8')), row), 6);
  });
});
