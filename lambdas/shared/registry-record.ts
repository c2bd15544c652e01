/**
 * The lines of the registry export: `things.ndjson` holds one thing per line, `thing-groups.ndjson`
 * one thing group per line, in the shapes the simulator also writes for its fleet (simulator/registry.ts):
 * `DescribeThing` and `DescribeThingGroup` without the ARNs, ids, versions and dates the service
 * assigns. The ETL and the weather function read either export alike.
 *
 * Keys come in a fixed order; attribute maps keep the order the registry returns them in. Lines are
 * sorted so the same registry always gives the same bytes: things by name, thing groups parents
 * first (by depth in the tree, then by name), which is also the order they can be created in.
 */
import type { DescribeThingGroupCommandOutput, ThingAttribute } from '@aws-sdk/client-iot';

export interface ThingRecord {
  readonly thingName: string;
  /** Absent for a thing without a thing type. */
  readonly thingTypeName?: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** The groups the thing was added to (not their ancestors), sorted. */
  readonly thingGroupNames: readonly string[];
}

export interface ThingGroupRecord {
  readonly thingGroupName: string;
  readonly thingGroupProperties: {
    /** Absent for a group without a description. */
    readonly thingGroupDescription?: string;
    readonly attributePayload: { readonly attributes: Readonly<Record<string, string>> };
  };
  readonly thingGroupMetadata: {
    /** Absent for a root group. */
    readonly parentGroupName?: string;
    /** Ancestors from the root down to the parent. */
    readonly rootToParentThingGroups: ReadonlyArray<{ readonly groupName: string }>;
  };
}

/** The two files' contents. */
export interface RegistryFiles {
  readonly things: string;
  readonly thingGroups: string;
}

/** A thing as `ListThings` returns it, with the groups it was added to. */
export function thingRecord(thing: ThingAttribute, groupNames: Iterable<string>): ThingRecord {
  if (thing.thingName === undefined) throw new Error('ListThings returned a thing without a thingName');
  return {
    thingName: thing.thingName,
    ...(thing.thingTypeName !== undefined && { thingTypeName: thing.thingTypeName }),
    attributes: thing.attributes ?? {},
    thingGroupNames: [...new Set(groupNames)].sort(byCodeUnits),
  };
}

/** A thing group as `DescribeThingGroup` returns it, under the name it was listed with. */
export function thingGroupRecord(
  thingGroupName: string,
  described: Pick<DescribeThingGroupCommandOutput, 'thingGroupProperties' | 'thingGroupMetadata'>,
): ThingGroupRecord {
  const description = described.thingGroupProperties?.thingGroupDescription;
  const parentGroupName = described.thingGroupMetadata?.parentGroupName;
  const ancestors = described.thingGroupMetadata?.rootToParentThingGroups ?? [];
  return {
    thingGroupName,
    thingGroupProperties: {
      ...(description !== undefined && { thingGroupDescription: description }),
      attributePayload: { attributes: described.thingGroupProperties?.attributePayload?.attributes ?? {} },
    },
    thingGroupMetadata: {
      ...(parentGroupName !== undefined && { parentGroupName }),
      rootToParentThingGroups: ancestors.flatMap(({ groupName }) =>
        groupName === undefined ? [] : [{ groupName }],
      ),
    },
  };
}

/** Plain code-unit order: the same in every locale and runtime. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Things by name. */
export function sortThings(things: readonly ThingRecord[]): ThingRecord[] {
  return [...things].sort((a, b) => byCodeUnits(a.thingName, b.thingName));
}

/** Parents before children: by depth in the tree, then by name. */
export function sortThingGroups(groups: readonly ThingGroupRecord[]): ThingGroupRecord[] {
  const depth = (group: ThingGroupRecord) => group.thingGroupMetadata.rootToParentThingGroups.length;
  return [...groups].sort((a, b) => depth(a) - depth(b) || byCodeUnits(a.thingGroupName, b.thingGroupName));
}

/** One JSON object per line, each line ending in a newline (the simulator's serialisation). */
export function ndjson(records: readonly unknown[]): string {
  return records.map((record) => `${JSON.stringify(record)}\n`).join('');
}

/** Both files of a registry, sorted and serialised. */
export function registryFiles(
  things: readonly ThingRecord[],
  thingGroups: readonly ThingGroupRecord[],
): RegistryFiles {
  return { things: ndjson(sortThings(things)), thingGroups: ndjson(sortThingGroups(thingGroups)) };
}
