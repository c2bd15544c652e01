import { describe, expect, it } from 'vitest';
import {
  etlOutputs,
  etlSourceKeys,
  loadEtlManifest,
  parseEtlManifest,
} from '../../../lib/batch/etl-manifest.ts';

const MINIMAL = {
  version: 1,
  sources: { raw_telemetry: { bucket: 'raw', prefix: 'telemetry/' } },
  steps: [
    {
      file: '10_x.sql',
      view: 'x',
      output: { bucket: 'curated', prefix: 'x/', partitionBy: ['event_date'], scope: 'day' },
    },
  ],
};

/** The message `parse` throws for `manifest`. */
function errorOf(manifest: unknown): string {
  try {
    parseEtlManifest(JSON.stringify(manifest), 'pipeline.json');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the manifest to be rejected');
}

describe('the ETL manifest as the infrastructure reads it', () => {
  it('reads the committed manifest: every output under its own curated prefix', () => {
    // Act
    const manifest = loadEtlManifest();
    const outputs = etlOutputs(manifest);

    // Assess
    expect(outputs.length).toBeGreaterThan(0);
    expect(new Set(outputs.map((output) => output.prefix)).size).toBe(outputs.length);
    for (const output of outputs) {
      expect(output.prefix).toMatch(/^[a-z0-9_]+\/$/);
      expect(output.partitionBy.length).toBeGreaterThan(0);
    }
    expect(etlSourceKeys(manifest).raw).toContain('telemetry/');
  });

  it('lists the source keys per zone, sorted and without repeats', () => {
    // Prepare
    const manifest = parseEtlManifest(
      JSON.stringify({
        ...MINIMAL,
        sources: {
          b: { bucket: 'raw', prefix: 'weather/' },
          a: { bucket: 'raw', prefix: 'telemetry/' },
          c: { bucket: 'raw', key: 'iot-registry/things.ndjson' },
          d: { bucket: 'curated', prefix: 'x/' },
          e: { bucket: 'raw', prefix: 'telemetry/' },
        },
      }),
    );

    // Act & Assess
    expect(etlSourceKeys(manifest)).toEqual({
      raw: ['iot-registry/things.ndjson', 'telemetry/', 'weather/'],
      quarantine: [],
      curated: ['x/'],
    });
  });

  it('fails naming each field, the value received and what is expected', () => {
    // Act
    const message = errorOf({
      ...MINIMAL,
      sources: { a: { bucket: 'raw' }, b: { bucket: 'lake', prefix: 'x/' } },
      steps: [
        { file: 'x.sql', view: 'X', output: { bucket: 'raw', prefix: 'x', partitionBy: [], scope: 'week' } },
      ],
    });

    // Assess
    expect(message.split('\n')).toEqual([
      'pipeline.json: sources.a: received {"bucket":"raw"}, expected a source with either a prefix or a key',
      'pipeline.json: sources.b.bucket: received "lake", expected one of raw, quarantine, curated',
      'pipeline.json: steps.0.view: received "X", expected a lowercase view name',
      'pipeline.json: steps.0.output.bucket: received "raw", expected curated (the ETL writes nowhere else)',
      'pipeline.json: steps.0.output.prefix: received "x", expected a key prefix ending in \'/\'',
      'pipeline.json: steps.0.output.partitionBy: received [], expected at least one partition column (a run replaces whole partitions)',
      'pipeline.json: steps.0.output.scope: received "week", expected hour or day',
    ]);
  });

  it('fails when two steps share a view', () => {
    expect(errorOf({ ...MINIMAL, steps: [...MINIMAL.steps, ...MINIMAL.steps] })).toBe(
      'pipeline.json: steps: view names must be unique, repeated: x',
    );
  });

  it('fails on text that is not JSON', () => {
    expect(() => parseEtlManifest('{', 'pipeline.json')).toThrow(/^pipeline.json: expected JSON/);
  });
});
