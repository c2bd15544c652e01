/**
 * The validator's anomaly scoring step, after validation: the batch's valid readings become the
 * anomaly model's feature rows (with their devices' cached baselines and previous readings), are
 * scored in one endpoint call, and each reading scoring at or above the model's threshold raises a
 * `model_anomaly` alert unless a rule already alerted on it.
 *
 * It never fails the batch: when the endpoint cannot score (or the rows cannot be built), the batch
 * keeps its rules' alerts and the summary says "rules-only" and why.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { anomalyFeatureRow, anomalyThreshold } from '../shared/anomaly-features.ts';
import { modelAnomalyAlert, type TelemetryAlert } from '../shared/anomaly-rules.ts';
import {
  AnomalyScorer,
  type CircuitBreaker,
  type RulesOnlyReason,
  type ScoringResult,
} from '../shared/anomaly-scorer.ts';
import type { Reading } from '../shared/contract.ts';
import { DEFAULT_BASELINE_MAX_AGE_MS, DeviceBaselineCache } from '../shared/device-baselines.ts';
import { DeviceSignalHistory } from '../shared/device-signal-history.ts';

/** What the validator needs to score: built once per execution environment. */
export interface AnomalyScoring {
  readonly scorer: Pick<AnomalyScorer, 'endpointName' | 'threshold' | 'score' | 'rulesOnly'>;
  readonly baselines: Pick<DeviceBaselineCache, 'lookup'>;
  readonly history: Pick<DeviceSignalHistory, 'observe'>;
}

/** How a batch was scored, for the outcome, logs and the twin's summary. */
export interface ScoringSummary {
  readonly endpoint: string;
  readonly outcome: ScoringResult['outcome'];
  /** Why the batch was left to the rules (rules-only only). */
  readonly reason?: RulesOnlyReason;
  /** The production variant that scored (scored only). */
  readonly variant?: string;
  readonly rowsScored: number;
  readonly rowsRulesOnly: number;
  readonly modelAlerts: number;
}

export interface AnomalyScoringSettings {
  readonly endpointName: string;
  /** The curated bucket holding `device_baselines/`. */
  readonly curatedBucket: string;
  readonly s3: S3Client;
  readonly sageMakerRuntime: Pick<SageMakerRuntimeClient, 'send'>;
  /** @default {@link DEFAULT_BASELINE_MAX_AGE_MS} */
  readonly baselineMaxAgeMs?: number;
  /**
   * The endpoint's circuit breaker. @default the execution environment's (module-scoped) breaker
   * of `endpointName`; the twin gives each run its own, as each run is a fresh environment
   */
  readonly breaker?: CircuitBreaker;
}

/** The scoring of the anomaly model (`ml/models.json`: its features and threshold) on an endpoint. */
export function createAnomalyScoring(settings: AnomalyScoringSettings): AnomalyScoring {
  return {
    scorer: new AnomalyScorer({
      client: settings.sageMakerRuntime,
      endpointName: settings.endpointName,
      threshold: anomalyThreshold(),
      ...(settings.breaker && { breaker: settings.breaker }),
    }),
    baselines: new DeviceBaselineCache({
      s3: settings.s3,
      bucket: settings.curatedBucket,
      maxAgeMs: settings.baselineMaxAgeMs ?? DEFAULT_BASELINE_MAX_AGE_MS,
    }),
    history: new DeviceSignalHistory(),
  };
}

/** A valid reading of the batch and the stream record it came from. */
export interface BatchReading {
  readonly reading: Reading;
  readonly recordIndex: number;
}

/**
 * Scores the readings; returns the model's alerts (with the records that raised them) and the
 * summary. Never throws.
 */
export async function scoreReadings(
  readings: readonly BatchReading[],
  rulesAlerts: ReadonlyArray<{ alert: TelemetryAlert }>,
  scoring: AnomalyScoring,
): Promise<{ summary: ScoringSummary; alerts: Array<{ alert: TelemetryAlert; recordIndex: number }> }> {
  const { scorer } = scoring;
  let result: ScoringResult;
  try {
    const baselines = await scoring.baselines.lookup(readings.map(({ reading }) => reading));
    const rows = readings.map(({ reading }, i) =>
      anomalyFeatureRow(reading, baselines[i], scoring.history.observe(reading)),
    );
    result = await scorer.score(rows);
  } catch (error) {
    // A bug in building the rows must not cost the batch: the rules' alerts stand.
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    result = scorer.rulesOnly(readings.length, 'scoring_error', detail);
  }
  if (result.outcome === 'rules-only') {
    return {
      summary: {
        endpoint: scorer.endpointName,
        outcome: 'rules-only',
        reason: result.reason,
        rowsScored: 0,
        rowsRulesOnly: readings.length,
        modelAlerts: 0,
      },
      alerts: [],
    };
  }
  const alerted = new Set(rulesAlerts.map(({ alert }) => alert.eventId));
  const alerts: Array<{ alert: TelemetryAlert; recordIndex: number }> = [];
  result.scores.forEach((score, i) => {
    const item = readings[i] as BatchReading;
    if (score < scorer.threshold || alerted.has(item.reading.eventId)) return;
    alerts.push({
      alert: modelAnomalyAlert(item.reading, score, scorer.threshold, result.variant),
      recordIndex: item.recordIndex,
    });
  });
  return {
    summary: {
      endpoint: scorer.endpointName,
      outcome: 'scored',
      ...(result.variant !== undefined && { variant: result.variant }),
      rowsScored: result.scores.length,
      rowsRulesOnly: 0,
      modelAlerts: alerts.length,
    },
    alerts,
  };
}
