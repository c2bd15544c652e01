/**
 * Every `@default` in lib/ either names an exported constant and its value (`{@link NAME} = value`),
 * names a CDK value (`RemovalPolicy.RETAIN`) or describes a behaviour (`- no reserved concurrency`).
 * This test checks each named constant exists and holds the documented value, so a default cannot
 * drift from its documentation.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

interface DocumentedDefault {
  readonly file: string;
  readonly constant: string;
  readonly documented: unknown;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** The JSON value at the start of `text`: an object or array (balanced), a string, or a bare literal. */
function leadingJson(text: string): string {
  if (text.startsWith('{') || text.startsWith('[')) {
    let depth = 0;
    for (let index = 0; index < text.length; index++) {
      const char = text[index];
      if (char === '{' || char === '[') depth++;
      if (char === '}' || char === ']') depth--;
      if (depth === 0) return text.slice(0, index + 1);
    }
    throw new Error(`unbalanced value: ${text}`);
  }
  if (text.startsWith('"')) return text.slice(0, text.indexOf('"', 1) + 1);
  return /^[-\w.]+/.exec(text)?.[0] ?? '';
}

const files = sourceFiles(LIB);
const documented: DocumentedDefault[] = files.flatMap((file) => {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/\{@link (\w+)\} = /g)].map((match) => {
    const text = source.slice((match.index ?? 0) + match[0].length);
    return { file, constant: match[1] as string, documented: JSON.parse(leadingJson(text)) };
  });
});

describe('documented defaults', () => {
  it('are found in the sources', () => {
    expect(documented.length).toBeGreaterThan(30);
  });

  it.each(documented.map((entry) => [`${relative(LIB, entry.file)}: ${entry.constant}`, entry] as const))(
    '%s holds the documented value',
    async (_name, entry) => {
      // Prepare
      const module: Record<string, unknown> = await import(pathToFileURL(entry.file).href);

      // Act
      const value = module[entry.constant];

      // Assess
      expect(value, `${entry.constant} is not exported by ${relative(LIB, entry.file)}`).toBeDefined();
      expect(value).toEqual(entry.documented);
    },
  );

  it('are each a constant, a CDK value or a described behaviour', () => {
    // Act
    const loose = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(
          (line) =>
            line.includes('@default') && !/@default (\{@link \w+\} = |RemovalPolicy\.\w+|- )/.test(line),
        )
        .map((line) => `${relative(LIB, file)}: ${line.trim()}`),
    );

    // Assess
    expect(loose).toEqual([]);
  });
});
