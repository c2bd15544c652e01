// The fleet worker's entry point: registers tsx in this thread (the `--import tsx` of the twin's
// process does not reach workers on Node 20), then runs the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./fleet-worker-thread.ts');
