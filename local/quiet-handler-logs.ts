/**
 * Imported first by the local tools' entry points (bin/sdap.ts, bench/run.ts), before any module
 * that loads the Lambda handlers' shared code: their logger and metrics read their settings once,
 * when first imported, so setting them later (when the twin loads a handler) comes too late.
 */
import { quietPowertools } from './lambda-runtime.ts';

quietPowertools();
