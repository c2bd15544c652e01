/** The evaluation function's logger, built once per execution environment. */
import { Logger } from '@aws-lambda-powertools/logger';
import { MODEL_EVALUATION_SERVICE_NAME } from './names.ts';

export const logger = new Logger({ serviceName: MODEL_EVALUATION_SERVICE_NAME });
