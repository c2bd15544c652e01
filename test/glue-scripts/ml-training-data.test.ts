/**
 * The training-data job's Python, checked with Debian's interpreter (py_compile and pyflakes run over
 * every glue-scripts file in python.test.ts): it reads and validates exactly the arguments the
 * training workflow passes, writes the objects where the evaluation function reads them, checks a
 * query's columns against models.json, and loads only the views each example query names. Spark
 * itself does not run here; the example queries run in DuckDB in the twin's tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TRAINING_PREFIX, TRAINING_RUN_LAYOUT } from '../../lambdas/model-evaluation/names.ts';
import {
  LABELS_PREFIX,
  ML_SQL_DIR,
  TRAINING_CURATED_PREFIXES,
  TRAINING_DATA_JOB_ARGUMENTS,
  TRAINING_DATA_JOB_SCRIPT,
} from '../../lib/ml/training-workflow.ts';
import { featureNames, loadModelSpec, MODEL_NAMES, MODEL_SPEC_PATH } from '../../ml/model-spec.ts';

/** Debian's interpreter: the `python3` on PATH may be another one, without Debian's packages. */
const PYTHON = '/usr/bin/python3';
const GLUE_SCRIPTS = fileURLToPath(new URL('../../glue-scripts/', import.meta.url));
const present = existsSync(PYTHON);
if (!present && process.env.CI) throw new Error(`${PYTHON} is missing: CI must check the Glue jobs' Python`);

/** Runs `code` in Debian's Python in glue-scripts/ (without writing bytecode there), `input` as JSON on stdin. */
function python(code: string, input: unknown = null): unknown {
  const out = execFileSync(PYTHON, ['-B', '-c', code], {
    cwd: GLUE_SCRIPTS,
    input: JSON.stringify(input),
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

/** What the workflow's Glue task passes for one run: the construct's fixed arguments and the run's own. */
const VALID_ARGS: Record<string, string> = {
  '--JOB_NAME': 'sdap-dev-ml-training-data',
  [TRAINING_DATA_JOB_ARGUMENTS.fixed.rawBucket]: 'sdap-dev-lakerawbucket-abc123',
  [TRAINING_DATA_JOB_ARGUMENTS.fixed.curatedBucket]: 'sdap-dev-lakecuratedbucket-abc123',
  [TRAINING_DATA_JOB_ARGUMENTS.fixed.artifactsBucket]: 'sdap-dev-trainingartifactsbucket-abc123',
  [TRAINING_DATA_JOB_ARGUMENTS.fixed.sqlLocation]:
    's3://cdk-hnb659fds-assets-123456789012-eu-west-1/0123abcd.zip',
  [TRAINING_DATA_JOB_ARGUMENTS.fixed.modelSpecLocation]:
    's3://cdk-hnb659fds-assets-123456789012-eu-west-1/4567ef.json',
  [TRAINING_DATA_JOB_ARGUMENTS.perRun.model]: 'energy',
  [TRAINING_DATA_JOB_ARGUMENTS.perRun.windowStart]: '2026-11-02T00:00:00Z',
  [TRAINING_DATA_JOB_ARGUMENTS.perRun.splitAt]: '2026-11-23T00:00:00Z',
  [TRAINING_DATA_JOB_ARGUMENTS.perRun.windowEnd]: '2026-11-30T00:00:00Z',
  [TRAINING_DATA_JOB_ARGUMENTS.perRun.outputPrefix]: `${TRAINING_PREFIX}20261102-20261130-1a2b3c4d/energy/`,
};

function parsed(args: Record<string, string>): { ok: Record<string, unknown> } | { error: string } {
  return python(
    `
import json, sys
from dataclasses import asdict
from ml_training_args import ArgumentError, parse_args
try:
    print(json.dumps({"ok": asdict(parse_args(json.load(sys.stdin)))}))
except ArgumentError as error:
    print(json.dumps({"error": str(error)}))
`,
    // Glue's own arguments come along; the parser ignores what it does not know.
    ['--JOB_RUN_ID', 'jr_1', '--enable-metrics', 'true', ...Object.entries(args).flat()],
  ) as { ok: Record<string, unknown> } | { error: string };
}

describe.skipIf(!present)("the training-data job's Python", () => {
  describe('its arguments', () => {
    it('accepts the arguments the construct and the workflow pass', () => {
      expect(parsed(VALID_ARGS)).toEqual({
        ok: {
          job_name: 'sdap-dev-ml-training-data',
          raw_bucket: 'sdap-dev-lakerawbucket-abc123',
          curated_bucket: 'sdap-dev-lakecuratedbucket-abc123',
          artifacts_bucket: 'sdap-dev-trainingartifactsbucket-abc123',
          sql_bucket: 'cdk-hnb659fds-assets-123456789012-eu-west-1',
          sql_key: '0123abcd.zip',
          spec_bucket: 'cdk-hnb659fds-assets-123456789012-eu-west-1',
          spec_key: '4567ef.json',
          model: 'energy',
          window_start_ms: Date.parse('2026-11-02T00:00:00Z'),
          split_at_ms: Date.parse('2026-11-23T00:00:00Z'),
          window_end_ms: Date.parse('2026-11-30T00:00:00Z'),
          output_prefix: 'training/20261102-20261130-1a2b3c4d/energy/',
        },
      });
    });

    it('knows every model', () => {
      for (const model of MODEL_NAMES) {
        expect(
          parsed({ ...VALID_ARGS, '--model': model, '--output_prefix': `training/run-1/${model}/` }),
          model,
        ).toHaveProperty('ok');
      }
    });

    it.each(Object.values({ ...TRAINING_DATA_JOB_ARGUMENTS.fixed, ...TRAINING_DATA_JOB_ARGUMENTS.perRun }))(
      'fails naming %s when it is missing',
      (name) => {
        // Prepare
        const { [name]: _missing, ...rest } = VALID_ARGS;

        // Act & Assess
        expect(parsed(rest)).toEqual({
          error: expect.stringMatching(new RegExp(`^${name}: received nothing, expected `)),
        });
      },
    );

    it.each([
      ['--model', 'weather', 'one of anomaly, failure, energy'],
      ['--window_start', '2026-11-02T00:30:00Z', 'a whole UTC hour such as 2026-11-30T00:00:00Z'],
      [
        '--window_start',
        '2026-02-30T00:00:00Z',
        'a whole UTC hour such as 2026-11-30T00:00:00Z (a date in the calendar)',
      ],
      ['--split_at', '2026-11-01T00:00:00Z', 'a later hour than --window_start (2026-11-02T00:00:00Z)'],
      ['--window_end', '2026-11-23T00:00:00Z', 'a later hour than --split_at (2026-11-23T00:00:00Z)'],
      [
        '--output_prefix',
        'training/20261102-20261130-1a2b3c4d/failure/',
        'training/<run id>/energy/ (a run id of lowercase letters, digits and hyphens)',
      ],
      [
        '--output_prefix',
        'curated_telemetry/energy/',
        'training/<run id>/energy/ (a run id of lowercase letters, digits and hyphens)',
      ],
      [
        '--output_prefix',
        'training/../energy/',
        'training/<run id>/energy/ (a run id of lowercase letters, digits and hyphens)',
      ],
      [
        '--artifacts_bucket',
        'Artifacts',
        'an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)',
      ],
      [
        '--sql_location',
        's3://bucket/sql.tar.gz',
        "the S3 URL of the example queries' archive, s3://<bucket>/<key>.zip",
      ],
      [
        '--model_spec_location',
        's3://bucket/models.yaml',
        'the S3 URL of models.json, s3://<bucket>/<key>.json',
      ],
    ])('fails on %s %s, naming what is expected', (name, value, expected) => {
      expect(parsed({ ...VALID_ARGS, [name]: value })).toEqual({
        error: `${name}: received '${value}', expected ${expected}`,
      });
    });
  });

  describe('its data contract', () => {
    const constants = () =>
      python(`
import json
import ml_training_args as a
print(json.dumps({"channels": a.CHANNEL_FILES, "summary": a.SUMMARY_FILE, "curated": list(a.CURATED_VIEWS), "labels": a.LABELS_PREFIX, "keys": list(a.KEY_COLUMNS), "splits": list(a.SPLITS)}))
`) as {
        channels: Record<string, string>;
        summary: string;
        curated: string[];
        labels: string;
        keys: string[];
        splits: string[];
      };

    it('writes the objects where the training job, batch transform and the evaluation read them', () => {
      expect(constants()).toMatchObject({
        channels: {
          train: TRAINING_RUN_LAYOUT.trainFile,
          holdout: TRAINING_RUN_LAYOUT.holdoutFile,
          holdout_keys: TRAINING_RUN_LAYOUT.holdoutKeysFile,
        },
        summary: TRAINING_RUN_LAYOUT.summaryFile,
      });
      expect(TRAINING_RUN_LAYOUT.trainFile.startsWith(TRAINING_RUN_LAYOUT.trainChannel)).toBe(true);
      expect(TRAINING_RUN_LAYOUT.holdoutFile.startsWith(TRAINING_RUN_LAYOUT.holdoutChannel)).toBe(true);
    });

    it('reads the lake prefixes its role is granted', () => {
      const { curated, labels, keys, splits } = constants();
      expect(curated.map((view) => `${view}/`)).toEqual([...TRAINING_CURATED_PREFIXES]);
      expect(labels).toBe(LABELS_PREFIX);
      expect(keys).toEqual(['split', 'device_id', 'example_time', 'label']);
      expect(splits).toEqual(['train', 'holdout']);
    });

    it("reads each model's features from models.json, in order", () => {
      // Act
      const features = python(
        `
import json, sys
from ml_training_args import model_features
spec = json.load(open(json.load(sys.stdin)))
print(json.dumps({m: model_features(spec, m) for m in ("anomaly", "failure", "energy")}))
`,
        MODEL_SPEC_PATH,
      );

      // Assess
      const spec = loadModelSpec();
      expect(features).toEqual(
        Object.fromEntries(MODEL_NAMES.map((model) => [model, featureNames(spec.models[model])])),
      );
    });

    it('fails on a query whose columns are out of step with models.json, naming the column', () => {
      // Act
      const check = (received: string[]) =>
        python(
          `
import json, sys
from ml_training_args import SpecError, check_columns
c = json.load(sys.stdin)
try:
    check_columns(c["received"], ["hour_of_day", "day_of_week"], "energy_examples.sql")
    print(json.dumps("ok"))
except SpecError as error:
    print(json.dumps(str(error)))
`,
          { received },
        );

      // Assess
      expect(check(['split', 'device_id', 'example_time', 'label', 'hour_of_day', 'day_of_week'])).toBe('ok');
      expect(check(['split', 'device_id', 'example_time', 'label', 'day_of_week', 'hour_of_day'])).toBe(
        "energy_examples.sql: column 5: received 'day_of_week', expected 'hour_of_day' (the order of models.json)",
      );
      expect(check(['split', 'device_id', 'example_time', 'label', 'hour_of_day'])).toBe(
        'energy_examples.sql: received 5 columns, expected 6: split, device_id, example_time, label, hour_of_day, day_of_week',
      );
    });

    it('loads only the views each example query names', () => {
      // Act
      const views = python(
        `
import json, sys
from ml_training_args import referenced_views
queries = json.load(sys.stdin)
print(json.dumps({name: referenced_views(text) for name, text in queries.items()}))
`,
        Object.fromEntries(
          MODEL_NAMES.map((model) => [
            model,
            readFileSync(join(ML_SQL_DIR, `${model}_examples.sql`), 'utf8'),
          ]),
        ),
      ) as Record<string, string[]>;

      // Assess
      expect(views.anomaly).toEqual(
        expect.arrayContaining(['curated_telemetry', 'device_baselines', 'labels']),
      );
      expect(views.anomaly).not.toContain('ml_features');
      expect(views.failure).toEqual(['ml_features', 'labels']);
      expect(views.energy).toEqual(['ml_features']);
    });
  });

  describe('its partitions', () => {
    it('reads the event dates of the window and the day before it (baselines are valid the day after)', () => {
      // Act
      const days = python(
        `
import json, sys
from ml_training_args import partition_days
c = json.load(sys.stdin)
print(json.dumps(partition_days(c["prefix"], c["children"], c["start"], c["end"])))
`,
        {
          prefix: 'device_baselines/',
          children: [
            'device_baselines/event_date=2026-10-31/',
            'device_baselines/event_date=2026-11-01/',
            'device_baselines/event_date=2026-11-02/',
            'device_baselines/event_date=2026-11-29/',
            'device_baselines/event_date=2026-11-30/',
            'device_baselines/_staging/',
            'device_baselines/event_date=not-a-day/',
          ],
          start: Date.parse('2026-11-02T00:00:00Z'),
          end: Date.parse('2026-11-30T00:00:00Z'),
        },
      );

      // Assess
      expect(days).toEqual([
        'device_baselines/event_date=2026-11-01/',
        'device_baselines/event_date=2026-11-02/',
        'device_baselines/event_date=2026-11-29/',
      ]);
    });
  });

  describe('the Spark job', () => {
    const source = readFileSync(join(GLUE_SCRIPTS, TRAINING_DATA_JOB_SCRIPT), 'utf8');

    it('reads UTC instants, keeps partition values as text and writes no _SUCCESS marker beside a channel', () => {
      expect(source).toContain('spark.conf.set("spark.sql.session.timeZone", "UTC")');
      expect(source).toContain(
        'spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")',
      );
      expect(source).toContain('"mapreduce.fileoutputcommitter.marksuccessfuljobs", "false"');
    });

    it("writes the channels as the built-in container's CSV: no header, an empty field a missing value", () => {
      expect(source).toContain('.option("header", "false")');
      expect(source).toContain('.option("nullValue", "")');
      expect(source).toMatch(/channel_columns = \["label", \*features\]/);
    });
  });
});
