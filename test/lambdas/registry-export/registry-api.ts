/**
 * A registry served by the mocked IoT API (aws-sdk-client-mock): there is no local stand-in for the IoT
 * registry. It answers the four calls the export makes the way the service does: list calls in pages
 * with opaque `nextToken`s (smaller than asked for, so every list runs to several pages), in an order
 * of its own (here: reversed, children before parents), with the ARNs, ids, versions and dates the
 * service adds, and `ResourceNotFoundException` for a group it does not hold.
 */
import {
  DescribeThingGroupCommand,
  type DescribeThingGroupCommandInput,
  type DescribeThingGroupCommandOutput,
  IoTClient,
  ListThingGroupsCommand,
  type ListThingGroupsCommandInput,
  ListThingGroupsForThingCommand,
  ListThingsCommand,
  type ListThingsCommandInput,
  ListThingsInThingGroupCommand,
  type ListThingsInThingGroupCommandInput,
  ResourceNotFoundException,
} from '@aws-sdk/client-iot';
import { mockClient } from 'aws-sdk-client-mock';
import type { Registry } from '../../../simulator/registry.ts';

export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
const arn = (resource: string) => `arn:aws:iot:${REGION}:${ACCOUNT}:${resource}`;
const metadata = { httpStatusCode: 200, attempts: 1, totalRetryDelay: 0 };

/** The one IoT mock of a test file (aws-sdk-client-mock stubs every IoTClient). */
export function mockIot() {
  return mockClient(IoTClient);
}
export type IotMock = ReturnType<typeof mockIot>;

/** One page of `items` from the offset in `token`. */
function page<T>(items: readonly T[], token: string | undefined, size: number) {
  const offset = token === undefined ? 0 : Number(token.split(':')[1]);
  const end = offset + size;
  return {
    slice: items.slice(offset, end),
    nextToken: end < items.length ? `opaque:${end}` : undefined,
  };
}

export interface ServeOptions {
  /** Results per page, whatever `maxResults` asks for. @default 7 */
  readonly pageSize?: number;
}

/** Makes the mocked IoT API answer with `registry`'s things and thing groups. */
export function serveRegistry(iot: IotMock, registry: Registry, options: ServeOptions = {}): void {
  const size = options.pageSize ?? 7;
  const groups = [...registry.thingGroups].reverse();
  const things = [...registry.things].reverse();
  const byName = new Map(groups.map((group) => [group.thingGroupName, group]));

  iot.on(ListThingGroupsCommand).callsFake(async (input: ListThingGroupsCommandInput) => {
    const { slice, nextToken } = page(groups, input.nextToken, size);
    return {
      $metadata: metadata,
      thingGroups: slice.map((g) => ({
        groupName: g.thingGroupName,
        groupArn: arn(`thinggroup/${g.thingGroupName}`),
      })),
      ...(nextToken && { nextToken }),
    };
  });

  iot.on(ListThingsCommand).callsFake(async (input: ListThingsCommandInput) => {
    const { slice, nextToken } = page(things, input.nextToken, size);
    return {
      $metadata: metadata,
      things: slice.map((t) => ({
        thingName: t.thingName,
        thingTypeName: t.thingTypeName,
        thingArn: arn(`thing/${t.thingName}`),
        attributes: { ...t.attributes },
        version: 3,
      })),
      ...(nextToken && { nextToken }),
    };
  });

  iot
    .on(DescribeThingGroupCommand)
    .callsFake(async (input: DescribeThingGroupCommandInput): Promise<DescribeThingGroupCommandOutput> => {
      const group = byName.get(input.thingGroupName ?? '');
      if (group === undefined) {
        throw new ResourceNotFoundException({
          message: `${input.thingGroupName} not found`,
          $metadata: metadata,
        });
      }
      const { thingGroupProperties: properties, thingGroupMetadata: meta } = group;
      return {
        $metadata: metadata,
        thingGroupName: group.thingGroupName,
        thingGroupId: `id-${group.thingGroupName}`,
        thingGroupArn: arn(`thinggroup/${group.thingGroupName}`),
        version: 1,
        thingGroupProperties: {
          thingGroupDescription: properties.thingGroupDescription,
          attributePayload: { attributes: { ...properties.attributePayload.attributes } },
        },
        thingGroupMetadata: {
          ...(meta.parentGroupName !== undefined && { parentGroupName: meta.parentGroupName }),
          rootToParentThingGroups: meta.rootToParentThingGroups.map(({ groupName }) => ({
            groupName,
            groupArn: arn(`thinggroup/${groupName}`),
          })),
          creationDate: new Date('2026-01-05T10:00:00Z'),
        },
        status: 'ACTIVE',
      } as DescribeThingGroupCommandOutput;
    });

  iot.on(ListThingsInThingGroupCommand).callsFake(async (input: ListThingsInThingGroupCommandInput) => {
    const name = input.thingGroupName ?? '';
    if (!byName.has(name)) {
      throw new ResourceNotFoundException({ message: `${name} not found`, $metadata: metadata });
    }
    const members = things.filter(
      (t) =>
        t.thingGroupNames.includes(name) ||
        // Recursive listing also returns the members of the group's descendants.
        (input.recursive === true &&
          t.thingGroupNames.some((direct) =>
            byName.get(direct)?.thingGroupMetadata.rootToParentThingGroups.some((a) => a.groupName === name),
          )),
    );
    const { slice, nextToken } = page(members, input.nextToken, size);
    return { $metadata: metadata, things: slice.map((t) => t.thingName), ...(nextToken && { nextToken }) };
  });

  iot
    .on(ListThingGroupsForThingCommand)
    .rejects(new Error('the export lists members per group, never per thing'));
}

/** The inputs of every call of `command` the mock received. */
export function inputsOf<I>(iot: IotMock, command: abstract new (...args: never[]) => unknown): I[] {
  return iot.commandCalls(command as never).map((call) => call.args[0].input as I);
}
