/**
 * Names the registry-export function shares with the infrastructure that deploys it: its environment
 * variables, service name and metric names. Defined once so an alarm cannot watch a metric the
 * function never emits.
 */

/** Environment variables the registry-export function reads. */
export const REGISTRY_EXPORT_ENV = {
  rawBucket: 'RAW_BUCKET_NAME',
} as const;

/** Powertools' `service` dimension of the registry-export function's metrics. */
export const REGISTRY_EXPORT_SERVICE_NAME = 'registry-export';

/** Metrics the function emits once per successful run, all with unit Count and dimension `service`. */
export const REGISTRY_EXPORT_METRICS = {
  things: 'RegistryThingsExported',
  thingGroups: 'RegistryThingGroupsExported',
  apiCalls: 'RegistryApiCalls',
} as const;
