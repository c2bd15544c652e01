/** The erasure function's logger, built once per execution environment. */
import { Logger } from '@aws-lambda-powertools/logger';
import { ERASURE_SERVICE_NAME } from './names.ts';

export const logger = new Logger({ serviceName: ERASURE_SERVICE_NAME });
