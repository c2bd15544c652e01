/** The failure-scoring function's logger and metrics, built once per execution environment. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE } from '../shared/pipeline-names.ts';
import { FAILURE_SCORING_SERVICE_NAME } from './names.ts';

export const logger = new Logger({ serviceName: FAILURE_SCORING_SERVICE_NAME });
export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: FAILURE_SCORING_SERVICE_NAME,
});
