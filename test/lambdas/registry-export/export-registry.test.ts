/**
 * The registry export against the IoT API mocked with a simulated fleet's registry (registry-api.ts)
 * and S3 mocked: the files are the ones the simulator writes for the same fleet, every list call is
 * paged through, membership costs one call per group, and a run that cannot read everything writes
 * nothing and names the call that failed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeThingGroupCommand,
  IoTClient,
  ListThingGroupsCommand,
  ListThingGroupsForThingCommand,
  ListThingsCommand,
  ListThingsInThingGroupCommand,
  type ListThingsInThingGroupCommandInput,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-iot';
import { PutObjectCommand, type PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  exportRegistry,
  IOT_OPERATIONS,
  NDJSON_CONTENT_TYPE,
  PAGE_SIZE,
  RegistryExportError,
  type RegistryExportSummary,
  readRegistry,
} from '../../../lambdas/registry-export/export-registry.ts';
import {
  IOT_REGISTRY_THING_GROUPS_KEY,
  IOT_REGISTRY_THINGS_KEY,
} from '../../../lambdas/shared/pipeline-names.ts';
import {
  REGISTRY_DIRECTORY,
  type Registry,
  THING_GROUPS_FILE,
  THINGS_FILE,
  writeRegistry,
} from '../../../simulator/registry.ts';
import { simulateFleet } from '../../../simulator/simulate.ts';
import { inputsOf, mockIot, REGION, serveRegistry } from './registry-api.ts';

const RAW = 'sdap-test-raw';
const iot = mockIot();
const s3 = mockClient(S3Client);
const clients = () => ({
  iot: new IoTClient({ region: REGION }),
  s3: new S3Client({ region: REGION }),
  rawBucket: RAW,
});

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'sdap-registry-export-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

afterEach(() => {
  iot.reset();
  s3.reset();
});

/** The PUTs the run made, in order. */
const putInputs = (): PutObjectCommandInput[] =>
  s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);

/** The PUTs the run made, by key. */
const puts = (inputs = putInputs()) => new Map(inputs.map((input) => [input.Key ?? '', input]));

/** The calls a run made, kept past the mocks' reset after each test. */
interface Recorded {
  readonly puts: PutObjectCommandInput[];
  readonly iot: ReadonlyArray<{ readonly command: unknown; readonly input: Record<string, unknown> }>;
}

function recorded(): Recorded {
  return {
    puts: putInputs(),
    iot: iot.calls().map((call) => {
      const command = call.args[0] as unknown as { constructor: unknown; input: Record<string, unknown> };
      return { command: command.constructor, input: command.input };
    }),
  };
}

function inputsIn<I>(calls: Recorded, command: unknown): I[] {
  return calls.iot.filter((call) => call.command === command).map((call) => call.input as I);
}

/** What simulator/registry.ts writes for `registry`. */
async function simulatorFiles(registry: Registry, name: string) {
  const target = join(directory, name);
  await writeRegistry(registry, target);
  const read = (file: string) => readFile(join(target, REGISTRY_DIRECTORY, file), 'utf8');
  return { things: await read(THINGS_FILE), thingGroups: await read(THING_GROUPS_FILE) };
}

const linesOf = (text: string) => text.split('\n').filter((line) => line !== '');
const nameOf = (line: string) => (JSON.parse(line) as { thingName: string }).thingName;

describe('exportRegistry', () => {
  describe.each([
    [1, 1],
    [230, 4],
    [1001, 17],
  ])('a simulated fleet of %i devices (seed %i)', (devices, seed) => {
    let registry: Registry;
    let expected: { things: string; thingGroups: string };
    let summary: RegistryExportSummary;
    let run: Recorded;

    beforeAll(async () => {
      registry = simulateFleet({ devices, seed, durationHours: 1 }).registry();
      expected = await simulatorFiles(registry, `fleet-${devices}`);
      s3.on(PutObjectCommand).resolves({});
      serveRegistry(iot, registry);
      summary = await exportRegistry(clients());
      run = recorded();
      iot.reset();
      s3.reset();
    });

    it('writes the thing groups byte for byte as the simulator does, parents first', () => {
      expect(puts(run.puts).get(IOT_REGISTRY_THING_GROUPS_KEY)?.Body).toBe(expected.thingGroups);
    });

    it("writes the simulator's thing lines byte for byte, sorted by thing name", () => {
      // Prepare
      const simulatorLines = linesOf(expected.things);
      const sorted = [...simulatorLines].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : 1));

      // Act
      const body = puts(run.puts).get(IOT_REGISTRY_THINGS_KEY)?.Body as string;

      // Assess
      expect(body).toBe(sorted.map((line) => `${line}\n`).join(''));
      expect(new Set(linesOf(body))).toEqual(new Set(simulatorLines));
    });

    it('puts both files whole into iot-registry/ of the raw bucket as NDJSON, the groups first', () => {
      expect(run.puts.map(({ Bucket, Key, ContentType }) => ({ Bucket, Key, ContentType }))).toEqual([
        { Bucket: RAW, Key: 'iot-registry/thing-groups.ndjson', ContentType: NDJSON_CONTENT_TYPE },
        { Bucket: RAW, Key: 'iot-registry/things.ndjson', ContentType: 'application/x-ndjson' },
      ]);
    });

    it('pages through every list call with the tokens the service returned', () => {
      for (const [command, count] of [
        [ListThingGroupsCommand, registry.thingGroups.length],
        [ListThingsCommand, devices],
      ] as const) {
        const inputs = inputsIn<{ nextToken?: string; maxResults?: number }>(run, command);
        expect(inputs.map((input) => input.nextToken)).toEqual(
          Array.from({ length: Math.ceil(count / 7) }, (_, n) => (n === 0 ? undefined : `opaque:${n * 7}`)),
        );
        expect(inputs.every((input) => input.maxResults === PAGE_SIZE)).toBe(true);
      }
      const memberPages = inputsIn<ListThingsInThingGroupCommandInput>(run, ListThingsInThingGroupCommand);
      for (const group of registry.thingGroups) {
        const members = registry.things.filter((t) =>
          t.thingGroupNames.includes(group.thingGroupName),
        ).length;
        expect(
          memberPages
            .filter((input) => input.thingGroupName === group.thingGroupName)
            .map((input) => input.nextToken),
        ).toEqual(
          Array.from({ length: Math.max(1, Math.ceil(members / 7)) }, (_, n) =>
            n === 0 ? undefined : `opaque:${n * 7}`,
          ),
        );
      }
    });

    it('reads direct members per group, never the groups of each thing, and counts its calls', () => {
      // Prepare
      const groups = registry.thingGroups.length;
      const count = (command: unknown) => inputsIn(run, command).length;

      // Assess
      expect(count(ListThingGroupsForThingCommand)).toBe(0);
      expect(
        inputsIn<ListThingsInThingGroupCommandInput>(run, ListThingsInThingGroupCommand).every(
          (input) => input.recursive === false && input.maxResults === PAGE_SIZE,
        ),
      ).toBe(true);
      expect(summary).toMatchObject({ things: devices, thingGroups: groups, thingGroupsVanished: [] });
      expect(Object.keys(summary.calls)).toEqual([...IOT_OPERATIONS]);
      expect(summary.calls).toEqual({
        ListThingGroups: count(ListThingGroupsCommand),
        ListThings: count(ListThingsCommand),
        DescribeThingGroup: groups,
        ListThingsInThingGroup: count(ListThingsInThingGroupCommand),
      });
    });
  });

  it('makes about a quarter of the calls per group that it would per thing, with full pages', async () => {
    // Prepare: the service's own page size, as the export asks for it.
    const registry = simulateFleet({ devices: 2000, seed: 2, durationHours: 1 }).registry();
    serveRegistry(iot, registry, { pageSize: PAGE_SIZE });
    s3.on(PutObjectCommand).resolves({});

    // Act
    const { calls } = await exportRegistry(clients());

    // Assess: 2000 things in 1 + 20 + 80 + 400 groups of at most 5 direct members.
    const groups = registry.thingGroups.length;
    expect(groups).toBe(501);
    expect(calls).toEqual({
      ListThingGroups: Math.ceil(groups / PAGE_SIZE),
      ListThings: Math.ceil(2000 / PAGE_SIZE),
      DescribeThingGroup: groups,
      ListThingsInThingGroup: groups,
    });
    // Per thing, membership alone would have cost one ListThingGroupsForThing call per thing.
    expect(calls.ListThingsInThingGroup * 3).toBeLessThan(2000);
  });

  it('omits what the registry does not hold: a thing type, a description, attributes, a parent', async () => {
    // Prepare
    iot.on(ListThingGroupsCommand).resolves({ thingGroups: [{ groupName: 'bare' }] });
    iot.on(ListThingsCommand).resolves({ things: [{ thingName: 'loose-1' }] });
    iot.on(DescribeThingGroupCommand).resolves({ thingGroupName: 'bare', thingGroupProperties: {} });
    iot.on(ListThingsInThingGroupCommand).resolves({ things: [] });
    s3.on(PutObjectCommand).resolves({});

    // Act
    await exportRegistry(clients());

    // Assess
    expect(puts().get(IOT_REGISTRY_THINGS_KEY)?.Body).toBe(
      '{"thingName":"loose-1","attributes":{},"thingGroupNames":[]}\n',
    );
    expect(puts().get(IOT_REGISTRY_THING_GROUPS_KEY)?.Body).toBe(
      '{"thingGroupName":"bare","thingGroupProperties":{"attributePayload":{"attributes":{}}},"thingGroupMetadata":{"rootToParentThingGroups":[]}}\n',
    );
  });

  it('lists a thing in every group it was added to, sorted, and writes empty files for an empty registry', async () => {
    // Prepare
    iot
      .on(ListThingGroupsCommand)
      .resolves({ thingGroups: [{ groupName: 'room-b' }, { groupName: 'fleet-a' }] });
    iot.on(ListThingsCommand).resolves({ things: [{ thingName: 't1', thingTypeName: 'sensor' }] });
    iot.on(DescribeThingGroupCommand).resolves({});
    iot.on(ListThingsInThingGroupCommand).resolves({ things: ['t1'] });

    // Act
    const { things } = await readRegistry(new IoTClient({ region: REGION }));

    // Assess
    expect(things).toEqual([
      { thingName: 't1', thingTypeName: 'sensor', attributes: {}, thingGroupNames: ['fleet-a', 'room-b'] },
    ]);

    // Prepare: nothing registered yet
    iot.reset();
    iot.on(ListThingGroupsCommand).resolves({});
    iot.on(ListThingsCommand).resolves({});
    s3.on(PutObjectCommand).resolves({});

    // Act
    const summary = await exportRegistry(clients());

    // Assess
    expect(summary).toMatchObject({ things: 0, thingGroups: 0 });
    expect([...puts().values()].map((put) => put.Body)).toEqual(['', '']);
  });

  describe('fails, writing nothing, naming the call', () => {
    const registry = simulateFleet({ devices: 230, seed: 4, durationHours: 1 }).registry();
    const throttled = () =>
      new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400, attempts: 8 } });

    it('fails when a list call is still throttled on a later page', async () => {
      // Prepare
      serveRegistry(iot, registry);
      iot.on(ListThingsCommand, { nextToken: 'opaque:14' }).rejects(throttled());

      // Act
      const run = exportRegistry(clients());

      // Assess
      await expect(run).rejects.toThrow(RegistryExportError);
      await expect(run).rejects.toThrow(
        'registry export: ListThings (page 3) failed: ThrottlingException: Rate exceeded (8 attempts). Nothing was written; the previous export stays in place.',
      );
      expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    });

    it('fails when one group cannot be listed, and starts no further group', async () => {
      // Prepare
      serveRegistry(iot, registry);
      iot
        .on(ListThingsInThingGroupCommand, { thingGroupName: 'room-s01-b2-r03', nextToken: undefined })
        .rejects(throttled());

      // Act
      const run = exportRegistry({ ...clients(), concurrency: 1 });

      // Assess
      await expect(run).rejects.toThrow(
        'registry export: ListThingsInThingGroup (thingGroupName room-s01-b2-r03, page 1) failed: ThrottlingException: Rate exceeded (8 attempts)',
      );
      expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
      const started = inputsOf<{ thingGroupName: string }>(iot, DescribeThingGroupCommand);
      expect(started.at(-1)?.thingGroupName).toBe('room-s01-b2-r03');
      expect(started.length).toBeLessThan(registry.thingGroups.length);
    });

    it('fails when a group cannot be described for any reason but its deletion', async () => {
      // Prepare
      serveRegistry(iot, registry);
      iot
        .on(DescribeThingGroupCommand, { thingGroupName: 'site-s02' })
        .rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));

      // Act
      const run = exportRegistry(clients());

      // Assess
      await expect(run).rejects.toThrow(
        'registry export: DescribeThingGroup (thingGroupName site-s02) failed: TimeoutError: socket hang up.',
      );
      expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    });

    it('fails when the service repeats a page token instead of paging forever', async () => {
      // Prepare
      serveRegistry(iot, registry);
      iot.on(ListThingGroupsCommand).resolves({ thingGroups: [{ groupName: 'a' }], nextToken: 'same' });

      // Act
      const run = exportRegistry(clients());

      // Assess
      await expect(run).rejects.toThrow(
        'registry export: ListThingGroups (page 2) returned a nextToken it had returned before.',
      );
      expect(iot.commandCalls(ListThingGroupsCommand)).toHaveLength(2);
      expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    });

    it('fails when the run reaches its deadline before every group is read', async () => {
      // Prepare
      serveRegistry(iot, registry);
      let clock = 1_000;

      // Act
      const run = exportRegistry({ ...clients(), concurrency: 1, deadlineMs: 1_010, now: () => clock++ });

      // Assess
      await expect(run).rejects.toThrow(
        `registry export: out of time after reading 10 of ${registry.thingGroups.length} thing groups. Nothing was written`,
      );
      expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    });

    it('fails naming the object when a PUT fails, and what was written before it', async () => {
      // Prepare
      serveRegistry(iot, registry);
      s3.on(PutObjectCommand, { Key: IOT_REGISTRY_THING_GROUPS_KEY }).resolves({});
      s3.on(PutObjectCommand, { Key: IOT_REGISTRY_THINGS_KEY }).rejects(
        Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown' }),
      );

      // Act
      const run = exportRegistry(clients());

      // Assess
      await expect(run).rejects.toThrow(
        `registry export: PutObject (s3://${RAW}/iot-registry/things.ndjson) failed: SlowDown: Please reduce your request rate.. Written before it: iot-registry/thing-groups.ndjson.`,
      );
    });
  });

  it('leaves out a group deleted while the run read the registry', async () => {
    // Prepare
    const registry = simulateFleet({ devices: 230, seed: 4, durationHours: 1 }).registry();
    serveRegistry(iot, registry);
    iot
      .on(DescribeThingGroupCommand, { thingGroupName: 'room-s01-b1-r02' })
      .rejects(new ResourceNotFoundException({ message: 'gone', $metadata: {} }));
    s3.on(PutObjectCommand).resolves({});

    // Act
    const summary = await exportRegistry(clients());

    // Assess
    expect(summary.thingGroupsVanished).toEqual(['room-s01-b1-r02']);
    expect(summary.thingGroups).toBe(registry.thingGroups.length - 1);
    const things = linesOf(puts().get(IOT_REGISTRY_THINGS_KEY)?.Body as string).map((line) =>
      JSON.parse(line),
    );
    expect(things.filter((t) => t.thingGroupNames.length === 0).map((t) => t.attributes.roomId)).toEqual(
      Array(5).fill('s01-b1-r02'),
    );
  });
});
