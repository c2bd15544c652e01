/**
 * Names shared by the erasure functions and the workflow that deploys them (lib/governance/), so
 * that an environment variable, a zone or an error the workflow catches cannot drift from the code.
 */

/** Environment variables of the erasure function. */
export const ERASURE_ENV = {
  /** JSON object: lake zone → bucket name. The function touches no other bucket. */
  zoneBuckets: 'ERASURE_ZONE_BUCKETS',
  /** Where audit records are written. */
  auditBucket: 'ERASURE_AUDIT_BUCKET',
  /** The warehouse, when the stage has one (all three set, or none). */
  workgroupName: 'WAREHOUSE_WORKGROUP_NAME',
  databaseName: 'WAREHOUSE_DATABASE_NAME',
  adminSecretArn: 'WAREHOUSE_ADMIN_SECRET_ARN',
} as const;

/** Powertools' service name of the erasure function. */
export const ERASURE_SERVICE_NAME = 'device-erasure';

/** The lake zones an erasure sweeps, in the order the audit record lists them. */
export const ERASURE_ZONES = ['raw', 'quarantine', 'failures', 'curated'] as const;
export type ErasureZone = (typeof ERASURE_ZONES)[number];

/**
 * Errors the function throws by name: the workflow retries the transient one and reports the
 * others to on-call without retrying (they fail the same way again).
 */
export const ERASURE_ERRORS = {
  /** The request is not valid (a device id the contract refuses, an unknown zone). */
  invalidRequest: 'InvalidErasureRequestError',
  /** The verification found data of the device left after the erasure; the audit record says so. */
  incomplete: 'ErasureIncompleteError',
  /** S3 or the Data API failed in a way worth another try. */
  transient: 'ErasureTransientError',
} as const;
