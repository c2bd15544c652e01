/**
 * The warehouse schema Lambda: the onEvent handler of the schema custom resource (CDK's provider
 * framework calls it and answers CloudFormation). Create and Update apply the migration plan in the
 * resource's properties; Delete does nothing, the data is retained.
 */

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import type { CdkCustomResourceEvent, CdkCustomResourceResponse, Context } from 'aws-lambda';
import type { SqlExecutor } from '../../warehouse/migration-runner.ts';
import { commonClientConfig } from '../shared/aws-clients.ts';
import {
  createRedshiftDataClient,
  RedshiftDataExecutor,
  type RedshiftDataTarget,
} from '../shared/redshift-data.ts';
import { deploySchema, parseSchemaProperties } from './deploy-schema.ts';
import { logger } from './observability.ts';

/** Time kept back from the invocation's deadline to cancel a statement and report the failure. */
export const CANCEL_MARGIN_MS = 30_000;
/** Shown in the Data API's statement list and Redshift's query history. */
export const SCHEMA_STATEMENT_NAME = 'sdap-warehouse-schema';

export interface SchemaHandlerDeps {
  readonly secrets: SecretsManagerClient;
  /** The executor for a target, given the invocation's deadline (epoch ms). */
  readonly executorFor: (target: RedshiftDataTarget, deadlineMs: number) => SqlExecutor;
}

/** Builds the handler around its dependencies; Lambda uses `handler` below, the tests their own. */
export function createHandler(resolveDeps: () => SchemaHandlerDeps) {
  return middy(
    async (event: CdkCustomResourceEvent, context: Context): Promise<CdkCustomResourceResponse> => {
      if (event.RequestType === 'Delete') {
        logger.info('warehouse schema resource deleted; the warehouse keeps its tables and data', {
          physicalResourceId: event.PhysicalResourceId,
        });
        return { PhysicalResourceId: event.PhysicalResourceId };
      }
      const request = parseSchemaProperties(event.ResourceProperties);
      const deps = resolveDeps();
      const deadlineMs = Date.now() + context.getRemainingTimeInMillis() - CANCEL_MARGIN_MS;
      const result = await deploySchema(request, {
        secrets: deps.secrets,
        executorFor: (target) => deps.executorFor(target, deadlineMs),
        log: (message, details) => logger.info(message, details),
      });
      return { PhysicalResourceId: result.physicalResourceId, Data: result.data };
    },
  ).use(injectLambdaContext(logger));
}

/** SDK attempts: a failed deployment is retried by redeploying, not by waiting here. */
const MAX_ATTEMPTS = 3;
let clients: { secrets: SecretsManagerClient; redshiftData: RedshiftDataClient } | undefined;

function depsFromEnvironment(): SchemaHandlerDeps {
  clients ??= {
    secrets: new SecretsManagerClient(commonClientConfig({}, MAX_ATTEMPTS)),
    redshiftData: createRedshiftDataClient(),
  };
  const { secrets, redshiftData } = clients;
  return {
    secrets,
    executorFor: (target, deadlineMs) =>
      new RedshiftDataExecutor(redshiftData, target, { statementName: SCHEMA_STATEMENT_NAME, deadlineMs }),
  };
}

export const handler = createHandler(depsFromEnvironment);
