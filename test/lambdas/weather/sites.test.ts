import { describe, expect, it } from 'vitest';
import {
  IOT_REGISTRY_PREFIX,
  IOT_REGISTRY_THING_GROUPS_KEY,
} from '../../../lambdas/shared/pipeline-names.ts';
import { sitesFromThingGroups } from '../../../lambdas/weather/sites.ts';
import { REGISTRY_PREFIX } from '../../../local/twin.ts';
import { buildFleet } from '../../../simulator/fleet.ts';
import { buildRegistry, THING_GROUPS_FILE } from '../../../simulator/registry.ts';

const ndjson = (records: readonly unknown[]) => records.map((r) => `${JSON.stringify(r)}\n`).join('');

describe('sitesFromThingGroups', () => {
  it("reads every site of the simulator's registry export with its coordinates", () => {
    // Prepare
    const fleet = buildFleet({ seed: 11, devices: 450, startMs: 0 });

    // Act
    const { sites, problems } = sitesFromThingGroups(ndjson(buildRegistry(fleet).thingGroups));

    // Assess
    expect(problems).toEqual([]);
    expect(sites).toEqual(
      fleet.sites.map(({ siteId, latitudeDeg, longitudeDeg }) => ({ siteId, latitudeDeg, longitudeDeg })),
    );
  });

  it('reads the object the twin lands the registry export in', () => {
    expect(IOT_REGISTRY_PREFIX).toBe(REGISTRY_PREFIX);
    expect(IOT_REGISTRY_THING_GROUPS_KEY).toBe(`${REGISTRY_PREFIX}/${THING_GROUPS_FILE}`);
  });

  it('leaves out broken site groups, naming the line, the field and the value, and keeps the others', () => {
    // Prepare
    const site = (attributes: Record<string, string>) => ({
      thingGroupName: `site-${attributes.siteId}`,
      thingGroupProperties: { attributePayload: { attributes: { level: 'site', ...attributes } } },
    });
    const text = [
      JSON.stringify(site({ siteId: 's02', latitudeDeg: '40.4', longitudeDeg: '-3.7' })),
      JSON.stringify(site({ siteId: 's03', latitudeDeg: 'north', longitudeDeg: '1' })),
      JSON.stringify(site({ siteId: 's04', latitudeDeg: '1', longitudeDeg: '181' })),
      JSON.stringify(site({ siteId: 's 5', latitudeDeg: '1', longitudeDeg: '1' })),
      JSON.stringify(site({ siteId: 's02', latitudeDeg: '1', longitudeDeg: '1' })),
      '{not json',
      JSON.stringify({
        thingGroupName: 'building-x',
        thingGroupProperties: { attributePayload: { attributes: { level: 'building' } } },
      }),
      JSON.stringify(site({ siteId: 's01', latitudeDeg: '59.9', longitudeDeg: '10.8' })),
    ].join('\n');

    // Act
    const { sites, problems } = sitesFromThingGroups(text);

    // Assess
    expect(sites).toEqual([
      { siteId: 's01', latitudeDeg: 59.9, longitudeDeg: 10.8 },
      { siteId: 's02', latitudeDeg: 40.4, longitudeDeg: -3.7 },
    ]);
    expect(problems).toEqual([
      'thing-groups line 2 (site s03) latitudeDeg: received "north", expected a number from -90 to 90',
      'thing-groups line 3 (site s04) longitudeDeg: received "181", expected a number from -180 to 180',
      'thing-groups line 4 siteId: received "s 5", expected letters, digits, _ or -',
      'thing-groups line 5 siteId: received s02 a second time, expected each site once',
      'thing-groups line 6: received {not json, expected a JSON object',
    ]);
  });
});
