/**
 * Rules-based real-time anomalies: what the validator can tell from one reading, without history.
 * Statistical detection against a device's own baseline lives in the batch ETL and the ML models;
 * these rules catch what must page someone now.
 */
import type { Reading, SensorReading } from './contract.ts';

export const ALERT_SEVERITIES = ['critical', 'security', 'warning'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** An alert raised by one reading. `alertId` is derived from the reading, so a replay raises the same id. */
export interface TelemetryAlert {
  readonly alertId: string;
  readonly rule: AlertRuleId;
  readonly severity: AlertSeverity;
  readonly deviceId: string;
  readonly deviceType: Reading['deviceType'];
  readonly eventId: string;
  readonly timestamp: string;
  readonly message: string;
  readonly observed: number | string;
  readonly threshold: number | string;
}

/**
 * Thresholds of the rules. Documented in the README's alert table; a test keeps both in step.
 */
export const ALERT_THRESHOLDS = {
  /** Ambient this far from target while the HVAC runs means it cannot keep up (or has failed). */
  temperatureGapC: 8,
  /** Failed unlocks between two lock reports that suggest someone is guessing codes. */
  failedUnlockBurst: 5,
  /** Battery share below which a battery device needs a visit within days. */
  lowBatteryPct: 15,
  /** CO2 concentration above which indoor air is poor (ASHRAE guidance is ~1,000-1,200 ppm for comfort). */
  co2HighPpm: 2000,
  /** CPU temperature above which cameras throttle or reboot. */
  cameraOverheatC: 85,
} as const;

type Rule = {
  readonly id: string;
  readonly severity: AlertSeverity;
  readonly applies: (
    reading: Reading,
  ) => { observed: number | string; threshold: number | string } | undefined;
  readonly message: (reading: Reading) => string;
};

const sensorOf = (reading: Reading, kind: SensorReading['sensorKind']): SensorReading | undefined =>
  reading.deviceType === 'sensor' && reading.sensorKind === kind ? reading : undefined;

const batteryPct = (reading: Reading): number | undefined =>
  reading.deviceType === 'smart_lock' || reading.deviceType === 'sensor' ? reading.batteryPct : undefined;

const RULES = [
  {
    id: 'smoke_detected',
    severity: 'critical',
    applies: (r) => (sensorOf(r, 'smoke')?.value === 1 ? { observed: 1, threshold: 1 } : undefined),
    message: (r) => `Smoke detected by ${r.deviceId}`,
  },
  {
    id: 'water_leak_detected',
    severity: 'critical',
    applies: (r) => (sensorOf(r, 'water_leak')?.value === 1 ? { observed: 1, threshold: 1 } : undefined),
    message: (r) => `Water leak detected by ${r.deviceId}`,
  },
  {
    id: 'lock_jammed',
    severity: 'security',
    applies: (r) =>
      r.deviceType === 'smart_lock' && r.lockState === 'jammed'
        ? { observed: 'jammed', threshold: 'jammed' }
        : undefined,
    message: (r) => `Lock ${r.deviceId} is jammed`,
  },
  {
    id: 'failed_unlock_burst',
    severity: 'security',
    applies: (r) =>
      r.deviceType === 'smart_lock' && r.failedAttempts >= ALERT_THRESHOLDS.failedUnlockBurst
        ? { observed: r.failedAttempts, threshold: ALERT_THRESHOLDS.failedUnlockBurst }
        : undefined,
    message: (r) => `Burst of failed unlock attempts on ${r.deviceId}`,
  },
  {
    id: 'temperature_far_from_target',
    severity: 'warning',
    applies: (r) => {
      if (r.deviceType !== 'thermostat' || r.hvacMode === 'off' || r.hvacMode === 'fan') return undefined;
      // Only a gap the running mode should close: a room far below target while the HVAC only
      // cools (or far above while it only heats) is the occupant's setting, not a fault.
      const tooWarmBy = r.ambientTemperatureC - r.targetTemperatureC;
      const gap =
        r.hvacMode === 'cool' ? tooWarmBy : r.hvacMode === 'heat' ? -tooWarmBy : Math.abs(tooWarmBy);
      return gap >= ALERT_THRESHOLDS.temperatureGapC
        ? { observed: Math.round(gap * 10) / 10, threshold: ALERT_THRESHOLDS.temperatureGapC }
        : undefined;
    },
    message: (r) => `Thermostat ${r.deviceId} is far from its target temperature`,
  },
  {
    id: 'battery_low',
    severity: 'warning',
    applies: (r) => {
      const pct = batteryPct(r);
      return pct !== undefined && pct < ALERT_THRESHOLDS.lowBatteryPct
        ? { observed: pct, threshold: ALERT_THRESHOLDS.lowBatteryPct }
        : undefined;
    },
    message: (r) => `Battery low on ${r.deviceId}`,
  },
  {
    id: 'co2_high',
    severity: 'warning',
    applies: (r) => {
      const co2 = sensorOf(r, 'co2')?.value;
      return co2 !== undefined && co2 > ALERT_THRESHOLDS.co2HighPpm
        ? { observed: co2, threshold: ALERT_THRESHOLDS.co2HighPpm }
        : undefined;
    },
    message: (r) => `High CO2 reported by ${r.deviceId}`,
  },
  {
    id: 'camera_no_frames',
    severity: 'warning',
    applies: (r) => (r.deviceType === 'camera' && r.fps === 0 ? { observed: 0, threshold: 0 } : undefined),
    message: (r) => `Camera ${r.deviceId} reports no frames`,
  },
  {
    id: 'camera_overheating',
    severity: 'warning',
    applies: (r) =>
      r.deviceType === 'camera' && r.cpuTemperatureC > ALERT_THRESHOLDS.cameraOverheatC
        ? { observed: r.cpuTemperatureC, threshold: ALERT_THRESHOLDS.cameraOverheatC }
        : undefined,
    message: (r) => `Camera ${r.deviceId} is overheating`,
  },
] as const satisfies readonly Rule[];

/**
 * The alert of the anomaly model (scored by the validator when an endpoint is configured): a reading
 * whose score is at or above the model's threshold, unless a rule above already alerted on it.
 */
export const MODEL_ANOMALY_RULE = { id: 'model_anomaly', severity: 'warning' } as const;

export type AlertRuleId = (typeof RULES)[number]['id'] | typeof MODEL_ANOMALY_RULE.id;
/** Every rule's id and severity, for documentation and dashboards. */
export const ALERT_RULES: ReadonlyArray<{ id: AlertRuleId; severity: AlertSeverity }> = [
  ...RULES.map(({ id, severity }) => ({ id, severity })),
  MODEL_ANOMALY_RULE,
];

/** Evaluates every rule against one valid reading. */
export function evaluateAlerts(reading: Reading): TelemetryAlert[] {
  const alerts: TelemetryAlert[] = [];
  for (const rule of RULES as readonly Rule[]) {
    const hit = rule.applies(reading);
    if (!hit) continue;
    alerts.push({
      alertId: `${reading.eventId}:${rule.id}`,
      rule: rule.id as AlertRuleId,
      severity: rule.severity,
      deviceId: reading.deviceId,
      deviceType: reading.deviceType,
      eventId: reading.eventId,
      timestamp: reading.timestamp,
      message: rule.message(reading),
      ...hit,
    });
  }
  return alerts;
}

/**
 * The model's alert for a reading it scored at or above `threshold`: observed is the score, the
 * message names the production variant that scored it.
 */
export function modelAnomalyAlert(
  reading: Reading,
  score: number,
  threshold: number,
  variant: string | undefined,
): TelemetryAlert {
  return {
    alertId: `${reading.eventId}:${MODEL_ANOMALY_RULE.id}`,
    rule: MODEL_ANOMALY_RULE.id,
    severity: MODEL_ANOMALY_RULE.severity,
    deviceId: reading.deviceId,
    deviceType: reading.deviceType,
    eventId: reading.eventId,
    timestamp: reading.timestamp,
    message: `Anomaly model (variant ${variant ?? 'unknown'}) scored a reading of ${reading.deviceId} at ${score.toFixed(3)}`,
    observed: score,
    threshold,
  };
}
