/**
 * One export of the AWS IoT registry into the raw bucket: every thing group (listed, then described)
 * and every thing (with its attributes, its thing type and the groups it was added to), written as
 * `iot-registry/thing-groups.ndjson` and `iot-registry/things.ndjson` (see lambdas/shared/registry-record.ts).
 *
 * Nothing is written until the whole registry has been read. A call that still fails after the SDK's
 * retries fails the run with an error naming the call, and the previous export stays in place. Each
 * file is one PUT, which replaces the object whole: a reader sees the old file or the new one.
 *
 * Membership is read per group (ListThingsInThingGroup), not per thing (ListThingGroupsForThing). For
 * a fleet of N things in G groups a run costs ⌈N/250⌉ ListThings + ⌈G/250⌉ ListThingGroups + G
 * DescribeThingGroup calls either way, plus, per group, one ListThingsInThingGroup call per 250 direct
 * members (at least one), about G + N/250; per thing it would be one ListThingGroupsForThing call per
 * thing (a thing is in at most 10 groups: one page), N. Groups hold several things each, so G < N: in
 * this project's tree (portfolio → site → building → room, 5 devices a room) G ≈ N/4, and a run makes
 * about N/2 calls instead of 5N/4.
 */
import {
  DescribeThingGroupCommand,
  type IoTClient,
  ListThingGroupsCommand,
  ListThingsCommand,
  ListThingsInThingGroupCommand,
  type ThingAttribute,
} from '@aws-sdk/client-iot';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { IOT_REGISTRY_THING_GROUPS_KEY, IOT_REGISTRY_THINGS_KEY } from '../shared/pipeline-names.ts';
import {
  type RegistryFiles,
  registryFiles,
  type ThingGroupRecord,
  type ThingRecord,
  thingGroupRecord,
  thingRecord,
} from '../shared/registry-record.ts';

/** The most results the registry's list calls return a page. */
export const PAGE_SIZE = 250;
/**
 * Thing groups read at once. Each is a DescribeThingGroup and a ListThingsInThingGroup call; two
 * groups in flight, at a few tens of milliseconds a call, already approach ListThingsInThingGroup's
 * default 25 calls a second. More would only be throttled, and the account's quota is shared with
 * whatever provisions devices meanwhile.
 */
export const DEFAULT_CONCURRENCY = 2;
/** The export's content type: newline-delimited JSON. */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

/** The IoT calls a run makes. */
export const IOT_OPERATIONS = [
  'ListThingGroups',
  'ListThings',
  'DescribeThingGroup',
  'ListThingsInThingGroup',
] as const;
export type IotOperation = (typeof IOT_OPERATIONS)[number];

/** A run that could not read the whole registry or write its files; the message names the call. */
export class RegistryExportError extends Error {
  override readonly name = 'RegistryExportError';
}

export interface RegistryReadOptions {
  /** @default {@link DEFAULT_CONCURRENCY} */
  readonly concurrency?: number;
  /** No thing group is started after this time (epoch ms); the run fails instead. @default none */
  readonly deadlineMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface RegistryExportDeps extends RegistryReadOptions {
  readonly iot: IoTClient;
  readonly s3: S3Client;
  readonly rawBucket: string;
}

/** What a read found, and what it cost. */
export interface RegistryRead {
  readonly things: readonly ThingRecord[];
  readonly thingGroups: readonly ThingGroupRecord[];
  /** Groups listed but deleted before they could be read: left out. */
  readonly thingGroupsVanished: readonly string[];
  /** Calls per operation; the SDK's retries of a call are not counted. */
  readonly calls: Readonly<Record<IotOperation, number>>;
}

/** What a run did, for the log, the metrics and the caller. */
export interface RegistryExportSummary extends Omit<RegistryRead, 'things' | 'thingGroups'> {
  readonly things: number;
  readonly thingGroups: number;
  readonly objects: ReadonlyArray<{ readonly key: string; readonly bytes: number }>;
}

/** `ThrottlingException: Rate exceeded (3 attempts)`, from an SDK error or anything else thrown. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const attempts = (error as { $metadata?: { attempts?: number } }).$metadata?.attempts;
  return `${error.name}: ${error.message}${attempts === undefined ? '' : ` (${attempts} attempts)`}`;
}

const isNotFound = (error: unknown) =>
  error instanceof RegistryExportError &&
  (error.cause as { name?: string } | undefined)?.name === 'ResourceNotFoundException';

/** Counts and names every IoT call; a failed call becomes a {@link RegistryExportError} naming it. */
class RegistryCalls {
  readonly counts: Record<IotOperation, number> = {
    ListThingGroups: 0,
    ListThings: 0,
    DescribeThingGroup: 0,
    ListThingsInThingGroup: 0,
  };

  async call<T>(operation: IotOperation, subject: string, send: () => Promise<T>): Promise<T> {
    this.counts[operation]++;
    try {
      return await send();
    } catch (error) {
      throw new RegistryExportError(
        `registry export: ${operation} (${subject}) failed: ${describeError(error)}. Nothing was written; the previous export stays in place.`,
        { cause: error },
      );
    }
  }

  /** Every item of a paginated list, page by page. */
  async all<T>(
    operation: IotOperation,
    subject: string,
    page: (nextToken: string | undefined) => Promise<{ items?: T[]; nextToken?: string }>,
  ): Promise<T[]> {
    const items: T[] = [];
    const tokens = new Set<string>();
    let nextToken: string | undefined;
    for (let pageNumber = 1; ; pageNumber++) {
      const where = `${subject ? `${subject}, ` : ''}page ${pageNumber}`;
      const out = await this.call(operation, where, () => page(nextToken));
      items.push(...(out.items ?? []));
      if (out.nextToken === undefined || out.nextToken === '') return items;
      // A token seen before would page forever, spending the account's quota until the timeout.
      if (tokens.has(out.nextToken)) {
        throw new RegistryExportError(
          `registry export: ${operation} (${where}) returned a nextToken it had returned before. Nothing was written; the previous export stays in place.`,
        );
      }
      tokens.add(out.nextToken);
      nextToken = out.nextToken;
    }
  }
}

/** Runs `task` for each item, at most `concurrency` at once; after a failure, starts no more. */
async function forEachBounded<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await task(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure) throw failure.error;
}

/** Reads every thing group and every thing of the registry; fails naming the call that failed. */
export async function readRegistry(iot: IoTClient, options: RegistryReadOptions = {}): Promise<RegistryRead> {
  const now = options.now ?? Date.now;
  const calls = new RegistryCalls();

  const listed = await calls.all('ListThingGroups', '', async (nextToken) => {
    const out = await iot.send(new ListThingGroupsCommand({ maxResults: PAGE_SIZE, nextToken }));
    return { items: out.thingGroups, nextToken: out.nextToken };
  });
  const groupNames = [...new Set(listed.flatMap(({ groupName }) => (groupName ? [groupName] : [])))];

  const things = await calls.all<ThingAttribute>('ListThings', '', async (nextToken) => {
    const out = await iot.send(new ListThingsCommand({ maxResults: PAGE_SIZE, nextToken }));
    return { items: out.things, nextToken: out.nextToken };
  });

  const thingGroups: ThingGroupRecord[] = [];
  const vanished: string[] = [];
  const groupsOfThing = new Map<string, string[]>();
  await forEachBounded(groupNames, options.concurrency ?? DEFAULT_CONCURRENCY, async (name, index) => {
    if (options.deadlineMs !== undefined && now() >= options.deadlineMs) {
      throw new RegistryExportError(
        `registry export: out of time after reading ${index} of ${groupNames.length} thing groups. Nothing was written; the previous export stays in place. Raise the function's timeout, or IoT's ListThingsInThingGroup and DescribeThingGroup quotas.`,
      );
    }
    const subject = `thingGroupName ${name}`;
    try {
      const described = await calls.call('DescribeThingGroup', subject, () =>
        iot.send(new DescribeThingGroupCommand({ thingGroupName: name })),
      );
      const members = await calls.all('ListThingsInThingGroup', subject, async (nextToken) => {
        const out = await iot.send(
          new ListThingsInThingGroupCommand({
            thingGroupName: name,
            recursive: false,
            maxResults: PAGE_SIZE,
            nextToken,
          }),
        );
        return { items: out.things, nextToken: out.nextToken };
      });
      thingGroups.push(thingGroupRecord(name, described));
      for (const thingName of members) {
        const groups = groupsOfThing.get(thingName);
        if (groups) groups.push(name);
        else groupsOfThing.set(thingName, [name]);
      }
    } catch (error) {
      // Deleted since it was listed: it is no longer part of the registry.
      if (!isNotFound(error)) throw error;
      vanished.push(name);
    }
  });

  return {
    things: things.map((thing) => thingRecord(thing, groupsOfThing.get(thing.thingName ?? '') ?? [])),
    thingGroups,
    thingGroupsVanished: vanished.sort(),
    calls: { ...calls.counts },
  };
}

/**
 * Writes both files, the thing groups first: should the second PUT fail, the things of the previous
 * export still find their rooms among the new groups, while new things referring to new rooms would
 * not among the old ones.
 */
async function writeFiles(
  s3: S3Client,
  bucket: string,
  files: RegistryFiles,
): Promise<RegistryExportSummary['objects']> {
  const objects = [
    { key: IOT_REGISTRY_THING_GROUPS_KEY, body: files.thingGroups },
    { key: IOT_REGISTRY_THINGS_KEY, body: files.things },
  ];
  const written: Array<{ key: string; bytes: number }> = [];
  for (const { key, body } of objects) {
    try {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: NDJSON_CONTENT_TYPE }),
      );
    } catch (error) {
      const done = written.map((object) => object.key).join(', ') || 'nothing';
      throw new RegistryExportError(
        `registry export: PutObject (s3://${bucket}/${key}) failed: ${describeError(error)}. Written before it: ${done}.`,
        { cause: error },
      );
    }
    written.push({ key, bytes: Buffer.byteLength(body) });
  }
  return written;
}

/** Reads the whole registry, then writes both files. */
export async function exportRegistry(deps: RegistryExportDeps): Promise<RegistryExportSummary> {
  const read = await readRegistry(deps.iot, deps);
  const objects = await writeFiles(deps.s3, deps.rawBucket, registryFiles(read.things, read.thingGroups));
  return {
    things: read.things.length,
    thingGroups: read.thingGroups.length,
    thingGroupsVanished: read.thingGroupsVanished,
    calls: read.calls,
    objects,
  };
}
