import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVICE_TYPES } from '../../lambdas/shared/contract.ts';
import { buildFleet } from '../../simulator/fleet.ts';
import {
  ATTRIBUTE_VALUE_PATTERN,
  buildRegistry,
  THING_NAME_PATTERN,
  writeRegistry,
} from '../../simulator/registry.ts';

const fleet = buildFleet({ seed: 4, devices: 230, startMs: Date.parse('2025-01-13T00:00:00Z') });
const registry = buildRegistry(fleet);
/** AWS IoT: things with a thing type may have up to 50 attributes; a group hierarchy is at most 7 deep. */
const MAX_ATTRIBUTES = 50;
const MAX_GROUP_DEPTH = 7;

describe('buildRegistry', () => {
  it('has one thing per device, named by its id, typed by its device type', () => {
    expect(registry.things.map((t) => t.thingName)).toEqual(fleet.devices.map((d) => d.deviceId));
    for (const thing of registry.things) {
      expect(thing.thingName).toMatch(THING_NAME_PATTERN);
      expect(DEVICE_TYPES).toContain(thing.thingTypeName);
      expect(Object.keys(thing.attributes).length).toBeLessThanOrEqual(MAX_ATTRIBUTES);
      for (const value of Object.values(thing.attributes)) expect(value).toMatch(ATTRIBUTE_VALUE_PATTERN);
      expect(thing.attributes).toMatchObject({
        model: expect.any(String),
        firmwareVersion: expect.any(String),
        installDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
        siteId: expect.any(String),
        buildingId: expect.any(String),
        roomId: expect.any(String),
      });
    }
  });

  it('forms a portfolio → site → building → room tree, parents listed before children', () => {
    const seen = new Map<string, number>();
    for (const group of registry.thingGroups) {
      expect(group.thingGroupName).toMatch(THING_NAME_PATTERN);
      const { parentGroupName, rootToParentThingGroups } = group.thingGroupMetadata;
      if (parentGroupName !== undefined) {
        expect(seen.has(parentGroupName)).toBe(true);
        expect(rootToParentThingGroups.at(-1)?.groupName).toBe(parentGroupName);
      }
      expect(rootToParentThingGroups.length).toBeLessThan(MAX_GROUP_DEPTH);
      for (const value of Object.values(group.thingGroupProperties.attributePayload.attributes)) {
        expect(value).toMatch(ATTRIBUTE_VALUE_PATTERN);
      }
      seen.set(group.thingGroupName, rootToParentThingGroups.length);
    }
    const levels = [...seen.values()];
    expect(levels.filter((depth) => depth === 0)).toHaveLength(1);
    expect(levels.filter((depth) => depth === 1)).toHaveLength(fleet.sites.length);
    expect(levels.filter((depth) => depth === 2)).toHaveLength(fleet.buildings.length);
    expect(levels.filter((depth) => depth === 3)).toHaveLength(fleet.rooms.length);
    for (const thing of registry.things) {
      for (const name of thing.thingGroupNames) expect(seen.get(name)).toBe(3);
    }
  });

  it('writes registry/things.ndjson and registry/thing-groups.ndjson', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sdap-registry-'));
    try {
      const paths = await writeRegistry(registry, directory);
      expect(paths).toEqual([
        join(directory, 'registry', 'things.ndjson'),
        join(directory, 'registry', 'thing-groups.ndjson'),
      ]);
      const things = (await readFile(paths[0] as string, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line));
      const groups = (await readFile(paths[1] as string, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line));
      // Sorted by name, as the deployed export writes them.
      const byName = [...registry.things].sort((a, b) => (a.thingName < b.thingName ? -1 : 1));
      expect(things).toEqual(byName);
      expect(things.map((t) => t.thingName)).not.toEqual(registry.things.map((t) => t.thingName));
      expect(groups).toEqual(registry.thingGroups);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
