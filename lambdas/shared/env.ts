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
