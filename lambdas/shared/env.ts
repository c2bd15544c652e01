/** Reads a required environment variable, failing with a message that names it. */
export function requiredEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(
      `environment variable ${name} is required but ${value === undefined ? 'not set' : 'empty'}`,
    );
  }
  return value;
}

/**
 * Reads an optional environment variable holding a positive integer: undefined when unset or
 * empty, else the number, failing with a message that names it and the value received.
 */
export function optionalPositiveIntegerEnv(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  const value = env[name]?.trim();
  if (value === undefined || value === '') return undefined;
  if (!/^[1-9]\d*$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new Error(
      `environment variable ${name}: received ${JSON.stringify(value)}, expected a positive integer`,
    );
  }
  return Number(value);
}
