/** Valid readings of every device type, for tests and the benchmark. Deterministic given `n`. */
import type { DeviceType, Reading } from '../../lambdas/shared/contract.ts';

/** A UUID (version 4 layout) derived from a number, so generated data is reproducible. */
export function uuidFor(n: number, salt = 0): string {
  const hex = (n * 2654435761 + salt * 40503 + 0x1000_0000_0000).toString(16).padStart(12, '0').slice(-12);
  const tail = n.toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${tail.slice(0, 3)}-8${tail.slice(3, 6)}-${tail.slice(0, 12)}`;
}

export function makeReading(
  deviceType: DeviceType,
  n: number,
  timestamp: string,
  deviceId = `${deviceType}-${n % 50}`,
): Reading {
  const envelope = {
    schemaVersion: 1 as const,
    eventId: uuidFor(n, DEVICE_SALT[deviceType]),
    deviceId,
    timestamp,
    seq: n,
    firmwareVersion: '2.4.1',
    rssiDbm: -40 - (n % 50),
  };
  switch (deviceType) {
    case 'thermostat':
      return {
        ...envelope,
        deviceType,
        ambientTemperatureC: 19 + (n % 7) * 0.5,
        targetTemperatureC: 21,
        humidityPct: 40 + (n % 20),
        hvacMode: 'heat',
        hvacPowerW: 800 + (n % 400),
        energyWh: 13.5,
      };
    case 'camera':
      return {
        ...envelope,
        deviceType,
        fps: 25,
        bitrateKbps: 2000 + (n % 500),
        motionDetected: n % 3 === 0,
        storageUsedPct: 52.5,
        cpuTemperatureC: 55,
        uptimeS: 3600 + n,
      };
    case 'smart_lock':
      return {
        ...envelope,
        deviceType,
        lockState: 'locked',
        batteryPct: 80,
        lastAction: 'lock',
        failedAttempts: 0,
        doorOpen: false,
      };
    case 'sensor':
      return { ...envelope, deviceType, sensorKind: 'temperature', value: 21.5, unit: 'C', batteryPct: 90 };
  }
}

const DEVICE_SALT: Record<DeviceType, number> = { thermostat: 1, camera: 2, smart_lock: 3, sensor: 4 };
