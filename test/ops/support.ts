/** Clients and captured output for the operator command tests (AWS APIs mocked: no local stand-ins). */
import {
  CloudFormationClient,
  DescribeStacksCommand,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { GlueClient } from '@aws-sdk/client-glue';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import type { OpsDeps } from '../../ops/stack-outputs.ts';

export const REGION = 'eu-west-1';
export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:sdap-dev-etl';
export const JOB_NAME = 'sdap-dev-etl';

export const cloudFormation = mockClient(CloudFormationClient);
export const sfn = mockClient(SFNClient);
export const glue = mockClient(GlueClient);

export function resetMocks(): void {
  cloudFormation.reset();
  sfn.reset();
  glue.reset();
}

/** `Sdap-dev` deployed with the given outputs. */
export function stackWithOutputs(
  outputs: Record<string, string>,
  status: StackStatus = 'UPDATE_COMPLETE',
): void {
  cloudFormation.on(DescribeStacksCommand, { StackName: 'Sdap-dev' }).resolves({
    Stacks: [
      {
        StackName: 'Sdap-dev',
        StackStatus: status,
        CreationTime: new Date(0),
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });
}

/** Injected clients, clock and output; `lines` and `errors` hold what the command printed. */
export function testDeps(nowMs: number, extra: Partial<OpsDeps> = {}) {
  const lines: string[] = [];
  const errors: string[] = [];
  const sleeps: number[] = [];
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const deps: OpsDeps = {
    clients: {
      cloudFormation: new CloudFormationClient({ region: REGION, credentials }),
      sfn: new SFNClient({ region: REGION, credentials }),
      glue: new GlueClient({ region: REGION, credentials }),
    },
    now: () => nowMs,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    print: (line) => lines.push(line),
    printError: (line) => errors.push(line),
    ...extra,
  };
  return { deps, lines, errors, sleeps, out: () => lines.join('\n'), err: () => errors.join('\n') };
}
