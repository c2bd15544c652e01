/** The warehouse schema function's logger, built once per execution environment. */
import { Logger } from '@aws-lambda-powertools/logger';
import { WAREHOUSE_SCHEMA_SERVICE_NAME } from '../shared/warehouse-names.ts';

export const logger = new Logger({ serviceName: WAREHOUSE_SCHEMA_SERVICE_NAME });
