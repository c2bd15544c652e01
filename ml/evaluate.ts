/**
 * Model quality on a hold-out period, each figure next to the simple method it must beat:
 * - anomaly: precision, recall and F1 at the model's threshold, against the rules-only detector
 *   (a reading is flagged when the validator's rules raised an alert for it);
 * - failure: ROC-AUC over device-hours, precision among the k riskiest devices (k = the devices
 *   that did fail) and the median warning lead time, against a rules-only score (the hour raised
 *   a rule alert);
 * - energy: MAPE of next-day energy per thermostat-day and per site-day, against the
 *   seasonal-naive forecast (the same hours one day earlier).
 *
 * Pure: rows, scores and labels in, figures out. `sdap train` and the twin's summary use it.
 */
import { meanAbsolutePercentageError, median, precisionAtK, qualityAtThreshold, rocAuc } from './metrics.ts';
import { meetsTarget } from './quality-targets.ts';

/** A scored hold-out row: who, when, the label, the model's score, and the baseline's. */
export interface ScoredRow {
  readonly deviceId: string;
  /** ISO time of the reading or the hour's start. */
  readonly time: string;
  readonly label: number;
  readonly score: number;
  readonly baseline: number;
}

export interface AnomalyQuality {
  readonly rows: number;
  readonly positives: number;
  readonly threshold: number;
  readonly model: { readonly precision: number; readonly recall: number; readonly f1: number };
  readonly rulesOnly: { readonly precision: number; readonly recall: number; readonly f1: number };
  readonly targetMet: boolean;
}

const pick = ({ precision, recall, f1 }: { precision: number; recall: number; f1: number }) => ({
  precision,
  recall,
  f1,
});

/** `baseline` is 1 when the rules raised an alert for the reading, else 0. */
export function evaluateAnomaly(rows: readonly ScoredRow[], threshold: number): AnomalyQuality {
  const labels = rows.map((row) => row.label);
  const model = pick(
    qualityAtThreshold(
      rows.map((row) => row.score),
      labels,
      threshold,
    ),
  );
  const rulesOnly = pick(
    qualityAtThreshold(
      rows.map((row) => row.baseline),
      labels,
      0.5,
    ),
  );
  return {
    rows: rows.length,
    positives: labels.filter((label) => label === 1).length,
    threshold,
    model,
    rulesOnly,
    targetMet: meetsTarget('anomaly', model.f1, rulesOnly.f1),
  };
}

export interface FailureQuality {
  readonly deviceHours: number;
  readonly positiveDeviceHours: number;
  readonly devices: number;
  /** Devices that failed within the period or the 24 hours after its last hour. */
  readonly failedDevices: number;
  readonly model: {
    readonly rocAuc: number;
    readonly precisionAtK: number;
    /** Median hours from the first hour scored at or above the threshold to the failure. */
    readonly medianLeadTimeHours: number;
    /** Failed devices warned about (scored at or above the threshold) before they failed. */
    readonly failuresWarned: number;
  };
  readonly rulesOnly: { readonly rocAuc: number; readonly precisionAtK: number };
  readonly k: number;
  readonly threshold: number;
  readonly targetMet: boolean;
}

/**
 * `rows` are device-hours (`time` = the hour's start); `failures` maps a device to its failure time
 * (ISO) for the devices that fail. A device's risk is its highest hourly score.
 */
export function evaluateFailure(
  rows: readonly ScoredRow[],
  failures: ReadonlyMap<string, string>,
  threshold: number,
): FailureQuality {
  const labels = rows.map((row) => row.label);
  const byDevice = new Map<
    string,
    { score: number; baseline: number; failed: number; firstWarning?: number }
  >();
  for (const row of rows) {
    const device = byDevice.get(row.deviceId) ?? { score: 0, baseline: 0, failed: 0 };
    device.score = Math.max(device.score, row.score);
    device.baseline = Math.max(device.baseline, row.baseline);
    if (row.label === 1) device.failed = 1;
    if (row.score >= threshold) {
      // Warned at the end of the hour the score describes.
      const at = Date.parse(row.time) + 3_600_000;
      device.firstWarning = Math.min(device.firstWarning ?? at, at);
    }
    byDevice.set(row.deviceId, device);
  }
  const devices = [...byDevice.entries()];
  const failedDevices = devices.filter(([, d]) => d.failed === 1).length;
  const k = Math.max(1, failedDevices);
  const deviceLabels = devices.map(([, d]) => d.failed);
  const leadTimes = devices.flatMap(([id, d]) => {
    const failureAt = failures.get(id);
    if (d.failed !== 1 || d.firstWarning === undefined || failureAt === undefined) return [];
    return [(Date.parse(failureAt) - d.firstWarning) / 3_600_000];
  });
  const model = {
    rocAuc: rocAuc(
      rows.map((row) => row.score),
      labels,
    ),
    precisionAtK: precisionAtK(
      devices.map(([, d]) => d.score),
      deviceLabels,
      k,
    ),
    medianLeadTimeHours: median(leadTimes),
    failuresWarned: leadTimes.length,
  };
  return {
    deviceHours: rows.length,
    positiveDeviceHours: labels.filter((label) => label === 1).length,
    devices: devices.length,
    failedDevices,
    model,
    rulesOnly: {
      rocAuc: rocAuc(
        rows.map((row) => row.baseline),
        labels,
      ),
      precisionAtK: precisionAtK(
        devices.map(([, d]) => d.baseline),
        deviceLabels,
        k,
      ),
    },
    k,
    threshold,
    targetMet: meetsTarget('failure', model.rocAuc),
  };
}

export interface EnergyQuality {
  readonly thermostatHours: number;
  /** The hours of the thermostat-days forecast whole (24 hours): the ones the figures rest on. */
  readonly completeThermostatHours: number;
  readonly thermostatDays: { readonly pairs: number; readonly model: number; readonly seasonalNaive: number };
  readonly siteDays: { readonly pairs: number; readonly model: number; readonly seasonalNaive: number };
  /** Thermostat-days left out because their actual energy was 0 (MAPE is undefined there). */
  readonly zeroActualDays: number;
  readonly targetMet: boolean;
}

/**
 * `rows` are thermostat-hours: `label` the energy of the same hour the next day, `score` the
 * model's forecast of it, `baseline` the seasonal-naive forecast (the hour's own energy).
 * `siteOf` places a thermostat; days are the UTC days of the forecast hours.
 */
export function evaluateEnergy(
  rows: readonly ScoredRow[],
  siteOf: (deviceId: string) => string | undefined,
): EnergyQuality {
  // A day's forecast is judged whole: a thermostat-day counts only with all 24 of its hours (a
  // partial day's small total would make its percentage error meaningless).
  const forecastDay = (row: ScoredRow) =>
    new Date(Date.parse(row.time) + 86_400_000).toISOString().slice(0, 10);
  const hoursOfDay = new Map<string, number>();
  for (const row of rows) {
    const key = `${row.deviceId}|${forecastDay(row)}`;
    hoursOfDay.set(key, (hoursOfDay.get(key) ?? 0) + 1);
  }
  const complete = rows.filter((row) => hoursOfDay.get(`${row.deviceId}|${forecastDay(row)}`) === 24);
  const totals = (key: (row: ScoredRow) => string | undefined) => {
    const groups = new Map<string, { actual: number; model: number; naive: number }>();
    for (const row of complete) {
      const id = key(row);
      if (id === undefined) continue;
      const group = groups.get(id) ?? { actual: 0, model: 0, naive: 0 };
      group.actual += row.label;
      group.model += row.score;
      group.naive += row.baseline;
      groups.set(id, group);
    }
    const values = [...groups.values()];
    const actual = values.map((g) => g.actual);
    const modelError = meanAbsolutePercentageError(
      actual,
      values.map((g) => g.model),
    );
    const naiveError = meanAbsolutePercentageError(
      actual,
      values.map((g) => g.naive),
    );
    return {
      pairs: modelError.pairs,
      model: modelError.mape,
      seasonalNaive: naiveError.mape,
      zeros: modelError.zeroActuals,
    };
  };
  const thermostat = totals((row) => `${row.deviceId}|${forecastDay(row)}`);
  const site = totals((row) => {
    const siteId = siteOf(row.deviceId);
    return siteId === undefined ? undefined : `${siteId}|${forecastDay(row)}`;
  });
  return {
    thermostatHours: rows.length,
    completeThermostatHours: complete.length,
    thermostatDays: {
      pairs: thermostat.pairs,
      model: thermostat.model,
      seasonalNaive: thermostat.seasonalNaive,
    },
    siteDays: { pairs: site.pairs, model: site.model, seasonalNaive: site.seasonalNaive },
    zeroActualDays: thermostat.zeros,
    targetMet: meetsTarget('energy', thermostat.model, thermostat.seasonalNaive),
  };
}
