/**
 * The sites to fetch weather for, from the IoT registry export in the raw bucket
 * (`iot-registry/thing-groups.ndjson`, one `DescribeThingGroup`-shaped record per line). Site groups
 * carry `level=site`, `siteId`, `latitudeDeg` and `longitudeDeg` as thing-group attributes.
 */
import * as z from 'zod';
import { SITE_ID_PATTERN } from '../shared/weather-record.ts';
import type { WeatherSite } from './provider.ts';

const thingGroupSchema = z.object({
  thingGroupName: z.string(),
  thingGroupProperties: z
    .object({
      attributePayload: z.object({ attributes: z.record(z.string(), z.string()) }).optional(),
    })
    .optional(),
});

/** The site groups of the export, and what was wrong with the lines that were left out. */
export interface RegistrySites {
  /** Sorted by site id. */
  readonly sites: readonly WeatherSite[];
  readonly problems: readonly string[];
}

function coordinate(text: string | undefined, limit: number): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) && Math.abs(value) <= limit ? value : undefined;
}

/**
 * Reads the site groups of a thing-groups export. Other groups are ignored; a site group without a
 * usable id or coordinates is left out and named in `problems`, so one bad record does not stop the
 * weather of every other site.
 */
export function sitesFromThingGroups(ndjson: string): RegistrySites {
  const sites = new Map<string, WeatherSite>();
  const problems: string[] = [];
  for (const [index, raw] of ndjson.split('\n').entries()) {
    if (raw.trim() === '') continue;
    const where = `thing-groups line ${index + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      problems.push(`${where}: received ${raw.slice(0, 60)}, expected a JSON object`);
      continue;
    }
    const parsed = thingGroupSchema.safeParse(json);
    if (!parsed.success) {
      problems.push(`${where}: expected a thing group with thingGroupName and string attributes`);
      continue;
    }
    const attributes = parsed.data.thingGroupProperties?.attributePayload?.attributes ?? {};
    if (attributes.level !== 'site') continue;
    const { siteId } = attributes;
    const latitudeDeg = coordinate(attributes.latitudeDeg, 90);
    const longitudeDeg = coordinate(attributes.longitudeDeg, 180);
    if (siteId === undefined || !SITE_ID_PATTERN.test(siteId)) {
      problems.push(`${where} siteId: received ${JSON.stringify(siteId)}, expected letters, digits, _ or -`);
    } else if (latitudeDeg === undefined) {
      problems.push(
        `${where} (site ${siteId}) latitudeDeg: received ${JSON.stringify(attributes.latitudeDeg)}, expected a number from -90 to 90`,
      );
    } else if (longitudeDeg === undefined) {
      problems.push(
        `${where} (site ${siteId}) longitudeDeg: received ${JSON.stringify(attributes.longitudeDeg)}, expected a number from -180 to 180`,
      );
    } else if (sites.has(siteId)) {
      problems.push(`${where} siteId: received ${siteId} a second time, expected each site once`);
    } else {
      sites.set(siteId, { siteId, latitudeDeg, longitudeDeg });
    }
  }
  const sorted = [...sites.values()].sort((a, b) => (a.siteId < b.siteId ? -1 : 1));
  return { sites: sorted, problems };
}
