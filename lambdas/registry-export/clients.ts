/**
 * The registry-export function's AWS clients. In Lambda they use the function's region and role; tests
 * pass their own region, credentials and, for IoT, a request handler.
 */
import { IoTClient, type IoTClientConfig } from '@aws-sdk/client-iot';
import type { S3Client } from '@aws-sdk/client-s3';
import { type ClientOverrides, commonClientConfig, createS3Client } from '../shared/aws-clients.ts';

export interface RegistryExportClients {
  readonly iot: IoTClient;
  readonly s3: S3Client;
}

/**
 * Attempts per IoT call, the first included. The registry APIs allow few calls a second per account
 * (by default ListThings and ListThingGroups 10, ListThingsInThingGroup 25, DescribeThingGroup 100),
 * shared with whatever else provisions or reads the registry at the time. In adaptive mode the client
 * lowers its own sending rate after a throttle; the attempts ride out the burst until it has.
 */
export const IOT_MAX_ATTEMPTS = 8;
/** Bounded like the other functions' S3 clients: a failed PUT fails the run, and the next run redoes it. */
const S3_MAX_ATTEMPTS = 3;

/** The IoT client's settings: adaptive retries (client-side rate limiting after throttles). */
export function iotClientConfig(overrides: ClientOverrides = {}): IoTClientConfig {
  return { ...commonClientConfig(overrides, IOT_MAX_ATTEMPTS), retryMode: 'adaptive' };
}

export function createRegistryExportClients(overrides: ClientOverrides = {}): RegistryExportClients {
  return {
    iot: new IoTClient(iotClientConfig(overrides)),
    s3: createS3Client(overrides, S3_MAX_ATTEMPTS),
  };
}
