import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { afterEach, describe, expect, it } from 'vitest';
import { stackNameOf } from '../../lib/telemetry-pipeline-stack.ts';
import {
  describeAwsError,
  ETL_OUTPUTS,
  formatDuration,
  OpsError,
  opsClients,
  stackOutputs,
  stageStackName,
  table,
} from '../../ops/stack-outputs.ts';
import { cloudFormation, REGION, resetMocks, STATE_MACHINE_ARN, stackWithOutputs } from './support.ts';

const client = () => opsClients(REGION).cloudFormation;

afterEach(resetMocks);

describe('stack outputs', () => {
  it("names the stage's stack as the CDK app does", () => {
    expect(stageStackName('prod')).toBe(stackNameOf('prod'));
  });

  it('reads the named outputs of the stage stack', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN, RawBucketName: 'raw' });

    // Act
    const outputs = await stackOutputs(client(), 'dev', [ETL_OUTPUTS.stateMachineArn]);

    // Assess
    expect(outputs).toEqual({ EtlStateMachineArn: STATE_MACHINE_ARN });
  });

  it('fails when the stack does not exist, naming it, the region and what to do', async () => {
    // Prepare
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error('Stack with id Sdap-dev does not exist'), { name: 'ValidationError' }),
      );

    // Act
    const result = stackOutputs(client(), 'dev', [ETL_OUTPUTS.stateMachineArn]);

    // Assess
    await expect(result).rejects.toThrow(OpsError);
    await expect(result).rejects.toThrow(
      `stack Sdap-dev not found in ${REGION}: deploy the stage (npx cdk deploy -c stage=dev), or check --stage, --region and the AWS credentials in use`,
    );
  });

  it('fails when an output is missing, naming the stack, its status and the output', async () => {
    // Prepare
    stackWithOutputs({ [ETL_OUTPUTS.stateMachineArn]: STATE_MACHINE_ARN }, 'UPDATE_ROLLBACK_COMPLETE');

    // Act
    const result = stackOutputs(client(), 'dev', [ETL_OUTPUTS.stateMachineArn, ETL_OUTPUTS.jobName]);

    // Assess
    await expect(result).rejects.toThrow(
      'stack Sdap-dev (UPDATE_ROLLBACK_COMPLETE) has no output EtlJobName: deploy a version of the stage with the ETL enabled',
    );
  });

  it('passes other CloudFormation failures on', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(new Error('Rate exceeded'));
    await expect(stackOutputs(client(), 'dev', [ETL_OUTPUTS.jobName])).rejects.toThrow('Rate exceeded');
  });
});

describe('describeAwsError', () => {
  it('says what to do about missing credentials and denied permissions', () => {
    expect(
      describeAwsError(
        Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        }),
      ),
    ).toBe(
      'Could not load credentials from any providers: configure AWS credentials (AWS_PROFILE, or aws configure / aws sso login)',
    );
    expect(
      describeAwsError(
        Object.assign(new Error('User: x is not authorized to perform: states:StartExecution'), {
          name: 'AccessDeniedException',
        }),
      ),
    ).toMatch(/: the credentials in use lack this permission$/);
  });
});

describe('formatting', () => {
  it('writes durations as seconds, minutes or hours', () => {
    expect([12_000, 245_000, 3_720_000].map(formatDuration)).toEqual(['12s', '4m 05s', '1h 02m']);
  });

  it('aligns columns under their headers', () => {
    expect(table(['A', 'LONGER'], [['wide value', 'x']])).toEqual(['A           LONGER', 'wide value  x']);
  });
});
