/** The weather function's logger and metrics, built once per execution environment. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, WEATHER_SERVICE_NAME } from '../shared/pipeline-names.ts';

export const logger = new Logger({ serviceName: WEATHER_SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: WEATHER_SERVICE_NAME });
