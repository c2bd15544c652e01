/**
 * One logger and one metrics instance per function, built once at cold start and imported
 * wherever they are needed (Powertools' recommended shape).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, VALIDATOR_SERVICE_NAME } from './pipeline-names.ts';

export const logger = new Logger({ serviceName: VALIDATOR_SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: VALIDATOR_SERVICE_NAME });
