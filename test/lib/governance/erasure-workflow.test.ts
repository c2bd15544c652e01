/**
 * The cloud erasure workflow: a valid, encrypted, logged and traced state machine whose every task
 * has a timeout, retries transient errors and reports the rest to on-call; a function that may
 * delete object versions in the four zones and write audit records, and nothing broader; cdk-nag
 * clean, with and without a warehouse.
 */
import aslValidator from 'asl-validator';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseErasureEvent } from '../../../lambdas/erasure/erasure-event.ts';
import { ERASURE_ENV, ERASURE_ERRORS, ERASURE_ZONES } from '../../../lambdas/erasure/names.ts';
import { STATE_MACHINE_DATA_KEY_REUSE_SECONDS } from '../../../lib/batch/state-machine-encryption.ts';
import {
  ERASURE_FUNCTION_TIMEOUT_SECONDS,
  ERASURE_TASK_TIMEOUT_MARGIN_SECONDS,
  ErasureWorkflow,
} from '../../../lib/governance/erasure-workflow.ts';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import { AnalyticsWarehouse } from '../../../lib/warehouse/analytics-warehouse.ts';
import { WarehouseSchema } from '../../../lib/warehouse/warehouse-schema.ts';
import {
  definitionOf,
  grantsOf,
  nagFindings,
  resourceOf,
  statementsOfRole,
  testStack,
} from '../support/cdk.ts';

interface StateJson {
  readonly Type: string;
  readonly TimeoutSeconds?: number;
  readonly Retry?: { ErrorEquals: string[]; JitterStrategy?: string; MaxAttempts: number }[];
  readonly Catch?: { ErrorEquals: string[]; Next: string }[];
  readonly Arguments?: { Payload?: Record<string, unknown> };
  readonly Branches?: { StartAt: string; States: Record<string, StateJson> }[];
  readonly Next?: string;
}

function allStates(states: Record<string, StateJson>): Record<string, StateJson> {
  const all: Record<string, StateJson> = {};
  for (const [name, state] of Object.entries(states)) {
    all[name] = state;
    for (const branch of state.Branches ?? []) Object.assign(all, allStates(branch.States));
  }
  return all;
}

function build(withWarehouse: boolean) {
  const stack = testStack();
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const onCallKey = new kms.Key(stack, 'OnCallKey', { enableKeyRotation: true });
  const onCallTopic = new sns.Topic(stack, 'OnCallTopic', { masterKey: onCallKey, enforceSSL: true });
  let warehouse: ConstructorParameters<typeof ErasureWorkflow>[2]['warehouse'];
  if (withWarehouse) {
    const analytics = new AnalyticsWarehouse(stack, 'Warehouse', { lake, namePrefix: 'sdap-test' });
    warehouse = {
      warehouse: analytics,
      schema: new WarehouseSchema(stack, 'WarehouseSchema', { warehouse: analytics }),
    };
  }
  const workflow = new ErasureWorkflow(stack, 'Erasure', {
    lake,
    onCallTopic,
    namePrefix: 'sdap-test',
    ...(warehouse && { warehouse }),
  });
  const template = Template.fromStack(stack);
  const definition = definitionOf(template, 'Erasure') as unknown as {
    QueryLanguage: string;
    StartAt: string;
    States: Record<string, StateJson>;
  };
  return { stack, lake, workflow, template, definition, states: allStates(definition.States) };
}

describe('ErasureWorkflow', () => {
  let built: ReturnType<typeof build>;
  let tasks: [string, StateJson][];

  beforeAll(() => {
    built = build(true);
    tasks = Object.entries(built.states).filter(([, state]) => state.Type === 'Task');
  });

  describe('the definition', () => {
    it('is valid Amazon States Language (asl-validator), in JSONata', () => {
      const { isValid, errorsText } = aslValidator(structuredClone(built.definition));

      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
      expect(built.definition.QueryLanguage).toBe('JSONata');
    });

    it('erases every zone, then the warehouse, verifies every zone, then writes the audit record', () => {
      const { States } = built.definition;
      const order: string[] = [];
      for (let name: string | undefined = built.definition.StartAt; name; name = States[name]?.Next)
        order.push(name);

      expect(order).toEqual([
        'Begin',
        'EraseZones',
        'EraseWarehouse',
        'VerifyZones',
        'WriteAuditRecord',
        'Erased',
      ]);
      const zonesOf = (parallel: string) =>
        States[parallel]?.Branches?.map((branch) =>
          branch.StartAt.replace(/^(Erase|Verify)|Start$/g, '').toLowerCase(),
        );
      expect(zonesOf('EraseZones')).toEqual([...ERASURE_ZONES]);
      expect(zonesOf('VerifyZones')).toEqual([...ERASURE_ZONES]);
    });

    it('gives every task a timeout: the function timeout and a margin for Lambda tasks', () => {
      expect(tasks.length).toBeGreaterThanOrEqual(11);
      for (const [name, task] of tasks) {
        expect(task.TimeoutSeconds, name).toBeGreaterThan(0);
        if (name !== 'NotifyOnCall')
          expect(task.TimeoutSeconds, name).toBe(
            ERASURE_FUNCTION_TIMEOUT_SECONDS + ERASURE_TASK_TIMEOUT_MARGIN_SECONDS,
          );
      }
    });

    it("retries every task on transient errors (the function's own included) with full jitter, never on an incomplete erasure", () => {
      for (const [name, task] of tasks) {
        expect(task.Retry?.length, name).toBeGreaterThan(0);
        const retried = (task.Retry ?? []).flatMap((retrier) => retrier.ErrorEquals);
        expect(retried, name).not.toContain('States.ALL');
        expect(retried, name).not.toContain(ERASURE_ERRORS.incomplete);
        expect(retried, name).not.toContain(ERASURE_ERRORS.invalidRequest);
        for (const retrier of task.Retry ?? []) expect(retrier.JitterStrategy, name).toBe('FULL');
        if (name !== 'NotifyOnCall') expect(retried, name).toContain(ERASURE_ERRORS.transient);
      }
    });

    it('reports every failure to on-call: each top-level step catches everything into NotifyOnCall', () => {
      for (const name of ['EraseZones', 'EraseWarehouse', 'VerifyZones', 'WriteAuditRecord']) {
        expect(built.definition.States[name]?.Catch, name).toEqual([
          expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'NotifyOnCall' }),
        ]);
      }
      expect(built.definition.States.NotifyOnCall?.Next).toBe('ErasureFailed');
    });

    it('sends the function payloads it accepts', () => {
      const payloadOf = (name: string) => built.states[name]?.Arguments?.Payload ?? {};
      const sample = (payload: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(payload).map(([key, value]) => [
            key,
            typeof value === 'string' && value.startsWith('{%')
              ? (
                  {
                    deviceId: 'lock-s01-b1-r01-0001',
                    requestedBy: 'ticket DPO-1',
                    erasureId: 'run-1',
                    startedAt: '2026-11-28T15:00:00.000Z',
                    command: 'arn:aws:states:eu-west-1:123456789012:execution:sdap-test-erasure:run-1',
                    keyMarker: null,
                    versionIdMarker: null,
                    counts: undefined,
                    erased: [],
                    verified: [],
                    warehouse: { rowsDeleted: {} },
                  } as Record<string, unknown>
                )[key]
              : value,
          ]),
        );

      expect(parseErasureEvent(sample(payloadOf('EraseRaw')))).toMatchObject({
        action: 'sweep',
        mode: 'erase',
        zone: 'raw',
      });
      expect(parseErasureEvent(sample(payloadOf('VerifyCurated')))).toMatchObject({
        mode: 'verify',
        zone: 'curated',
      });
      expect(parseErasureEvent(sample(payloadOf('EraseWarehouse')))).toMatchObject({ action: 'warehouse' });
      expect(parseErasureEvent(sample(payloadOf('WriteAuditRecord')))).toMatchObject({ action: 'audit' });
    });
  });

  it('encrypts executions with the lake key, logs every event and traces', () => {
    const machine = resourceOf(built.template, 'AWS::StepFunctions::StateMachine', 'Erasure');

    expect(machine.properties).toMatchObject({
      StateMachineName: 'sdap-test-erasure',
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL' },
      EncryptionConfiguration: {
        Type: 'CUSTOMER_MANAGED_KMS_KEY',
        KmsDataKeyReusePeriodSeconds: STATE_MACHINE_DATA_KEY_REUSE_SECONDS,
        KmsKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^LakeKey/), 'Arn'] },
      },
    });
  });

  it('lets the function delete object versions in each zone (and verify by listing them), and write audit records only', () => {
    const statements = statementsOfRole(built.template, 'ErasureRole');
    const buckets = ['RawBucket', 'QuarantineBucket', 'FailuresBucket', 'CuratedBucket'];

    for (const action of [
      's3:DeleteObjectVersion',
      's3:GetObjectVersion',
      's3:PutObject',
      's3:DeleteObject',
    ]) {
      const resources = grantsOf(statements, action);
      for (const bucket of buckets)
        expect(resources, action).toContainEqual(
          expect.stringMatching(new RegExp(`^<Lake${bucket}\\w+\\.Arn>/\\*$`)),
        );
    }
    const listings = grantsOf(statements, 's3:ListBucketVersions');
    for (const bucket of buckets)
      expect(listings).toContainEqual(expect.stringMatching(new RegExp(`^<Lake${bucket}\\w+\\.Arn>$`)));
    expect(grantsOf(statements, 's3:PutObject')).toContainEqual(
      expect.stringMatching(/^<ErasureAuditBucket\w+\.Arn>\/erasure\/\*$/),
    );
    expect(
      grantsOf(statements, 's3:DeleteObjectVersion').some((resource) => resource.includes('Audit')),
    ).toBe(false);
    expect(
      statements
        .flatMap((statement) => [statement.Action].flat())
        .filter((action) => /^s3:\*|^\*$/.test(action)),
    ).toEqual([]);
    expect(grantsOf(statements, 'redshift-data:BatchExecuteStatement')).toHaveLength(1);
  });

  it("tells the function each zone's bucket, the audit bucket and the warehouse", () => {
    const fn = resourceOf(built.template, 'AWS::Lambda::Function', 'ErasureFunction');
    const variables = (fn.properties.Environment as { Variables: Record<string, unknown> }).Variables;

    expect(Object.keys(variables)).toEqual(
      expect.arrayContaining([
        ERASURE_ENV.zoneBuckets,
        ERASURE_ENV.auditBucket,
        ERASURE_ENV.workgroupName,
        ERASURE_ENV.databaseName,
        ERASURE_ENV.adminSecretArn,
      ]),
    );
    expect(fn.properties).toMatchObject({
      Timeout: ERASURE_FUNCTION_TIMEOUT_SECONDS,
      Architectures: ['arm64'],
    });
  });

  it('keeps audit records in a versioned, KMS-encrypted, TLS-only bucket that logs its access', () => {
    const bucket = resourceOf(built.template, 'AWS::S3::Bucket', 'ErasureAuditBucket');

    expect(bucket.properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true },
        ],
      },
      LoggingConfiguration: { LogFilePrefix: 'erasure-audit/' },
      PublicAccessBlockConfiguration: expect.objectContaining({
        BlockPublicAcls: true,
        RestrictPublicBuckets: true,
      }),
    });
  });

  it('has no unacknowledged cdk-nag finding, with a warehouse or without', () => {
    expect(nagFindings(built.stack)).toEqual([]);
    const without = build(false);
    expect(nagFindings(without.stack)).toEqual([]);
    const fn = resourceOf(without.template, 'AWS::Lambda::Function', 'ErasureFunction');
    expect(Object.keys((fn.properties.Environment as { Variables: object }).Variables)).not.toContain(
      ERASURE_ENV.workgroupName,
    );
    expect(
      grantsOf(statementsOfRole(without.template, 'ErasureRole'), 'redshift-data:ExecuteStatement'),
    ).toEqual([]);
  });
});
