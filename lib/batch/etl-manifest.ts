/**
 * The ETL's manifest (`glue-scripts/sql/pipeline.json`) as the infrastructure reads it: which lake
 * keys the runner reads and which curated prefixes it rewrites, so that the job's role is granted
 * exactly those. The runners (Glue and the twin) read the rest of it; only the fields used here are
 * validated, each error naming the field, the value received and what is expected.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { showValue, valueAt } from '../../lambdas/shared/received-value.ts';
import type { LakeZone } from '../lake/telemetry-lake.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The folder deployed for the Glue job: the PySpark entry point and its modules. */
export const GLUE_SCRIPTS_DIR = join(REPO_ROOT, 'glue-scripts');
/** The SQL files and their manifest, deployed as one archive. */
export const ETL_SQL_DIR = join(GLUE_SCRIPTS_DIR, 'sql');
export const ETL_MANIFEST_PATH = join(ETL_SQL_DIR, 'pipeline.json');

const zone = z.enum(['raw', 'quarantine', 'curated'], { error: 'one of raw, quarantine, curated' });
const prefix = z
  .string({ error: "a key prefix ending in '/'" })
  .regex(/^[a-z0-9_\-.=/]+\/$/i, { error: "a key prefix ending in '/'" });
const key = z.string({ error: 'an object key' }).regex(/^[a-z0-9_\-.=/]+[^/]$/i, { error: 'an object key' });

const sourceSchema = z
  .looseObject({ bucket: zone, prefix: prefix.optional(), key: key.optional() })
  .refine((source) => (source.prefix === undefined) !== (source.key === undefined), {
    error: 'a source with either a prefix or a key',
  });

const outputSchema = z.looseObject({
  bucket: z.literal('curated', { error: 'curated (the ETL writes nowhere else)' }),
  prefix,
  partitionBy: z.array(z.string(), { error: 'an array of partition columns' }).min(1, {
    error: 'at least one partition column (a run replaces whole partitions)',
  }),
  scope: z.enum(['hour', 'day'], { error: 'hour or day' }),
});

const manifestSchema = z.looseObject({
  version: z.literal(1, { error: '1' }),
  sources: z.record(z.string(), sourceSchema, { error: 'an object of sources by view name' }),
  steps: z
    .array(
      z.looseObject({
        file: z.string({ error: 'a SQL file name' }),
        view: z
          .string({ error: 'a view name' })
          .regex(/^[a-z][a-z0-9_]*$/, { error: 'a lowercase view name' }),
        output: outputSchema.optional(),
      }),
      { error: 'an array of steps' },
    )
    .min(1, { error: 'at least one step' }),
});

export type EtlManifest = z.output<typeof manifestSchema>;

/** One step whose rows the ETL writes to the curated zone. */
export interface EtlOutput {
  /** The step's view; also the name of its table in the Glue catalog. */
  readonly view: string;
  readonly prefix: string;
  readonly partitionBy: readonly string[];
  readonly scope: 'hour' | 'day';
}

/** Parses a manifest's JSON text. @throws Error naming the field, the value received and what is expected */
export function parseEtlManifest(text: string, source = ETL_MANIFEST_PATH): EtlManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: expected JSON (${(error as Error).message})`);
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      return `${source}: ${path || '(root)'}: received ${showValue(valueAt(json, issue.path))}, expected ${issue.message}`;
    });
    throw new Error(lines.join('\n'));
  }
  const views = result.data.steps.map((step) => step.view);
  const repeated = views.filter((view, index) => views.indexOf(view) !== index);
  if (repeated.length > 0)
    throw new Error(`${source}: steps: view names must be unique, repeated: ${repeated}`);
  return result.data;
}

/** Reads and validates the manifest file. */
export function loadEtlManifest(path = ETL_MANIFEST_PATH): EtlManifest {
  return parseEtlManifest(readFileSync(path, 'utf8'), path);
}

/** The steps with an output, in manifest order. */
export function etlOutputs(manifest: EtlManifest): EtlOutput[] {
  return manifest.steps.flatMap((step) =>
    step.output
      ? [
          {
            view: step.view,
            prefix: step.output.prefix,
            partitionBy: step.output.partitionBy,
            scope: step.output.scope,
          },
        ]
      : [],
  );
}

/** The prefixes and keys the runner reads, by zone, sorted and without repeats. */
export function etlSourceKeys(manifest: EtlManifest): Record<LakeZone, string[]> {
  const keys: Record<LakeZone, Set<string>> = { raw: new Set(), quarantine: new Set(), curated: new Set() };
  for (const source of Object.values(manifest.sources)) {
    keys[source.bucket].add((source.prefix ?? source.key) as string);
  }
  return {
    raw: [...keys.raw].sort(),
    quarantine: [...keys.quarantine].sort(),
    curated: [...keys.curated].sort(),
  };
}
