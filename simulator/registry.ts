/**
 * The fleet as AWS IoT's registry holds it: one thing per device (thing name = device id, thing type
 * = device type, string attributes) and a thing-group tree portfolio → site → building → room.
 * The records follow the shapes of `DescribeThing` and `DescribeThingGroup`, without the ARNs and
 * ids the service assigns, so a provisioning script can create them as they are.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { registryFiles } from '../lambdas/shared/registry-record.ts';
import type { Fleet } from './fleet.ts';

/**
 * IoT attribute values allow only these characters (no spaces, no `+`): see the ThingAttribute
 * API reference. Names with spaces go into the group description instead.
 */
export const ATTRIBUTE_VALUE_PATTERN = /^[a-zA-Z0-9_.,@/:#=[\]-]{0,800}$/;
export const THING_NAME_PATTERN = /^[a-zA-Z0-9:_-]{1,128}$/;

export interface RegistryThing {
  readonly thingName: string;
  readonly thingTypeName: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** The room group; membership of the room implies the building, site and portfolio. */
  readonly thingGroupNames: readonly string[];
}

export interface RegistryThingGroup {
  readonly thingGroupName: string;
  readonly thingGroupProperties: {
    readonly thingGroupDescription: string;
    readonly attributePayload: { readonly attributes: Readonly<Record<string, string>> };
  };
  readonly thingGroupMetadata: {
    readonly parentGroupName?: string;
    /** Ancestors from the root down to the parent, as DescribeThingGroup lists them. */
    readonly rootToParentThingGroups: ReadonlyArray<{ readonly groupName: string }>;
  };
}

export interface Registry {
  readonly things: readonly RegistryThing[];
  /** Parents before children: the order in which they can be created. */
  readonly thingGroups: readonly RegistryThingGroup[];
}

export const REGISTRY_DIRECTORY = 'registry';
export const THINGS_FILE = 'things.ndjson';
export const THING_GROUPS_FILE = 'thing-groups.ndjson';

const portfolioGroup = (fleet: Fleet) => `portfolio-${fleet.portfolioId}`;
const siteGroup = (siteId: string) => `site-${siteId}`;
const buildingGroup = (buildingId: string) => `building-${buildingId}`;
const roomGroup = (roomId: string) => `room-${roomId}`;

function group(
  name: string,
  description: string,
  attributes: Record<string, string>,
  ancestors: readonly string[],
): RegistryThingGroup {
  const parentGroupName = ancestors.at(-1);
  return {
    thingGroupName: name,
    thingGroupProperties: { thingGroupDescription: description, attributePayload: { attributes } },
    thingGroupMetadata: {
      ...(parentGroupName !== undefined && { parentGroupName }),
      rootToParentThingGroups: ancestors.map((groupName) => ({ groupName })),
    },
  };
}

/** The registry records of a fleet. */
export function buildRegistry(fleet: Fleet): Registry {
  const root = portfolioGroup(fleet);
  const sites = new Map(fleet.sites.map((site) => [site.siteId, site]));
  const thingGroups: RegistryThingGroup[] = [
    group(root, fleet.portfolioName, { level: 'portfolio', portfolioId: fleet.portfolioId }, []),
  ];
  for (const site of fleet.sites) {
    thingGroups.push(
      group(
        siteGroup(site.siteId),
        site.name,
        {
          level: 'site',
          siteId: site.siteId,
          city: site.city,
          latitudeDeg: String(site.latitudeDeg),
          longitudeDeg: String(site.longitudeDeg),
          utcOffsetHours: String(site.utcOffsetHours),
          annualMeanTemperatureC: site.climate.annualMeanC.toFixed(1),
        },
        [root],
      ),
    );
  }
  for (const building of fleet.buildings) {
    thingGroups.push(
      group(
        buildingGroup(building.buildingId),
        building.name,
        { level: 'building', buildingId: building.buildingId, use: building.use },
        [root, siteGroup(building.siteId)],
      ),
    );
  }
  for (const room of fleet.rooms) {
    thingGroups.push(
      group(
        roomGroup(room.roomId),
        `${sites.get(room.siteId)?.name ?? room.siteId}, ${room.buildingId}, ${room.name}`,
        { level: 'room', roomId: room.roomId, conditioned: String(!room.unconditioned) },
        [root, siteGroup(room.siteId), buildingGroup(room.buildingId)],
      ),
    );
  }
  const things = fleet.devices.map(
    (device): RegistryThing => ({
      thingName: device.deviceId,
      thingTypeName: device.deviceType,
      attributes: {
        model: device.model,
        firmwareVersion: device.firmwareVersion,
        installDate: device.installDate,
        portfolioId: fleet.portfolioId,
        siteId: device.siteId,
        buildingId: device.buildingId,
        roomId: device.roomId,
        reportingIntervalS: String(device.reportingIntervalS),
        ...(device.sensorKind && { sensorKind: device.sensorKind }),
      },
      thingGroupNames: [roomGroup(device.roomId)],
    }),
  );
  return { things, thingGroups };
}

/**
 * Writes `registry/things.ndjson` and `registry/thing-groups.ndjson` under `directory`.
 * @returns the paths written.
 */
export async function writeRegistry(registry: Registry, directory: string): Promise<readonly string[]> {
  const target = join(directory, REGISTRY_DIRECTORY);
  await mkdir(target, { recursive: true });
  const thingsPath = join(target, THINGS_FILE);
  const groupsPath = join(target, THING_GROUPS_FILE);
  // The same lines, in the same order, as the deployed registry export writes for these things.
  const files = registryFiles(registry.things, registry.thingGroups);
  await writeFile(thingsPath, files.things);
  await writeFile(groupsPath, files.thingGroups);
  return [thingsPath, groupsPath];
}
