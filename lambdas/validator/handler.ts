// Placeholder so the infrastructure can reference the entry point; replaced by the real handler.
export const handler = async (): Promise<{ batchItemFailures: never[] }> => ({ batchItemFailures: [] });
