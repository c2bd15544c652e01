/**
 * A lake on the local disk, laid out as the buckets are (`<root>/<bucket role>/<key>`): the files
 * a run over a window reads, chosen by the same selection rules as the batch stage's downloads.
 * Tests and the benchmark run the SQL on such a lake without an S3 API in between.
 */
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { SourceFiles } from './duckdb-runner.ts';
import type { Pipeline, Selection, Source } from './manifest.ts';
import { type EtlWindow, selectsKey, windowInstants } from './window.ts';

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else files.push(path);
  }
  return files;
}

/**
 * The files of each source that a run (or, with `planner`, the planner) over `window` reads from
 * a local lake at `root`.
 */
export async function localSourceFiles(
  pipeline: Pipeline,
  window: EtlWindow,
  root: string,
  options: { readonly planner?: boolean } = {},
): Promise<SourceFiles> {
  const { manifest } = pipeline;
  const instants = windowInstants(window, manifest.parameters.baselineDays);
  const chosen: Array<readonly [string, Source, Selection | undefined]> = options.planner
    ? Object.entries(manifest.planner.sources).map(
        ([name, { select }]) => [name, manifest.sources[name] as Source, select] as const,
      )
    : Object.entries(manifest.sources).map(([name, source]) => [name, source, source.select] as const);
  const files: Record<string, string[]> = {};
  for (const [name, source, selection] of chosen) {
    const bucketDir = join(root, source.bucket);
    const all = (await walk(bucketDir)).map((path) => ({
      path,
      key: relative(bucketDir, path).split(sep).join('/'),
    }));
    files[name] = all
      .filter(({ key }) =>
        source.key !== undefined
          ? key === source.key
          : key.startsWith(source.prefix ?? '') &&
            selection !== undefined &&
            selectsKey(selection, instants, key),
      )
      .map(({ path }) => path)
      .sort();
  }
  return files;
}
