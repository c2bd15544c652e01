/**
 * How error messages quote what they received: the value at a path of the input, shown as JSON and
 * kept short. Shared by every parser that names "the field, the value received and what is expected".
 */

/**
 * The value at `path` inside `root`, or undefined. Only own properties are followed, so a key such
 * as `__proto__` in the input never reaches a prototype.
 */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = Object.hasOwn(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return value;
}

/** A received value as JSON, `nothing` when absent, cut to `maxLength` characters. */
export function showValue(value: unknown, maxLength = 120): string {
  const text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  return text.length > maxLength ? `${text.slice(0, maxLength - 3)}...` : text;
}
