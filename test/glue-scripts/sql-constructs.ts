/**
 * The check behind glue-scripts/README.md's list of allowed SQL constructs: which functions a
 * transform may call and which constructs it may not use, because Spark SQL and DuckDB disagree on
 * them (or because reruns must be identical).
 */

/** Functions both engines provide with the same meaning, plus the prelude's macros. */
export const ALLOWED_FUNCTIONS = new Set([
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'min_by',
  'max_by',
  'stddev_samp',
  'var_pop',
  'covar_pop',
  'percentile',
  'row_number',
  'lag',
  'coalesce',
  'nullif',
  'least',
  'greatest',
  'abs',
  'floor',
  'round',
  'lpad',
  'hour',
  'date_trunc',
  'cast',
  'try_cast',
  'try_to_timestamp',
  'unix_seconds',
  'unix_millis',
]);

/** Words that precede a parenthesis without being a function call. */
const KEYWORDS = new Set([
  'as',
  'in',
  'over',
  'from',
  'join',
  'and',
  'or',
  'not',
  'when',
  'then',
  'else',
  'exists',
  'on',
  'select',
  'where',
  'all',
  'distinct',
  'union',
  'by',
]);

/** Constructs that are not in the common ground, with why. */
export const FORBIDDEN: ReadonlyArray<readonly [RegExp, string]> = [
  [/::/, "'::' casts are DuckDB/PostgreSQL only"],
  [/"/, 'double-quoted identifiers are strings in Spark'],
  [/`/, 'backquoted identifiers are Spark only'],
  [/\|\|/, "'||' handles NULL differently; and concat is not allowed either"],
  [/\bqualify\b/i, 'QUALIFY is not in Spark 3.5'],
  [/\bfilter\s*\(\s*where\b/i, 'aggregate FILTER clauses: keep to CASE inside the aggregate'],
  [/\blimit\b/i, 'LIMIT picks arbitrary rows'],
  [/\bgroup\s+by\s+(all\b|\d)/i, 'GROUP BY ALL or ordinals'],
  [/\bexclude\s*\(/i, 'SELECT * EXCLUDE is DuckDB only'],
  [/\/\//, "'//' integer division is DuckDB only"],
  [/\bdiv\b/i, 'DIV is Spark only'],
];

/** The SQL without comments and string literals, lowercased: what the checks look at. */
export function codeOf(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, '')
    .replace(/'(?:[^']|'')*'/g, "''")
    .toLowerCase();
}

/** Every way `sql` leaves the common ground; empty when it stays inside. */
export function constructViolations(sql: string): string[] {
  const code = codeOf(sql);
  const violations: string[] = [];
  for (const [pattern, why] of FORBIDDEN) if (pattern.test(code)) violations.push(why);
  for (const match of code.matchAll(/\b([a-z_][a-z0-9_]*)\s*\(/g)) {
    const name = match[1] as string;
    if (!KEYWORDS.has(name) && !ALLOWED_FUNCTIONS.has(name)) {
      violations.push(`function ${name}() is not in the allowed list (glue-scripts/README.md)`);
    }
  }
  return [...new Set(violations)];
}
