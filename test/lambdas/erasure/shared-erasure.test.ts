/**
 * The pure erasure decisions shared by `sdap erase` and the cloud workflow: which text names a
 * device, and what each kind of lake object becomes without it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkedDeviceId,
  DeviceIdError,
  deviceMention,
  deviceTokenPattern,
  eraseFromObject,
  erasureAuditKey,
  lakeObjectFormat,
} from '../../../lambdas/shared/erasure.ts';

const DEVICE = 'lock-s01-b1-r01-0001';
const mentions = deviceMention(DEVICE);

const line = (deviceId: string, n: number) =>
  `${JSON.stringify({ eventId: `e-${deviceId}-${n}`, deviceId, n })}\n`;

describe('deviceMention', () => {
  it('finds the id as a whole token, in JSON, topics and messages', () => {
    expect(mentions(`{"deviceId":"${DEVICE}"}`)).toBe(true);
    expect(mentions(`dt/sdap/${DEVICE}/telemetry`)).toBe(true);
    expect(mentions(`scored a reading of ${DEVICE} at 0.9`)).toBe(true);
    expect(mentions(DEVICE)).toBe(true);
  });

  it('does not find a longer id that starts or ends with it', () => {
    expect(mentions(`{"deviceId":"${DEVICE}0"}`)).toBe(false);
    expect(mentions(`{"deviceId":"x${DEVICE}"}`)).toBe(false);
    expect(mentions(`{"deviceId":"${DEVICE}:2"}`)).toBe(false);
  });

  it('gives DuckDB (RE2) the same answer through deviceTokenPattern', async () => {
    const instance = await DuckDBInstance.create();
    const connection = await instance.connect();
    const texts = [`${DEVICE}`, `a ${DEVICE}.`, `${DEVICE}0`, `x${DEVICE}`];
    const reader = await connection.runAndReadAll(
      `SELECT regexp_matches(t, '${deviceTokenPattern(DEVICE)}') FROM unnest([${texts.map((t) => `'${t}'`).join(', ')}]) AS u(t)`,
    );
    expect(reader.getRows().map(([matched]) => matched)).toEqual(texts.map(mentions));
    connection.closeSync();
    instance.closeSync();
  });
});

describe('checkedDeviceId', () => {
  it('fails when the id is not what the contract allows, naming the field, the value and the pattern', () => {
    expect(() => checkedDeviceId('a b', '--device')).toThrow(DeviceIdError);
    expect(() => checkedDeviceId('a b', '--device')).toThrow(
      /--device: received 'a b', expected a device id of 1 to 128 letters.*\[a-zA-Z0-9:_-\]/,
    );
    expect(() => checkedDeviceId('x'.repeat(129))).toThrow(/deviceId: received/);
    expect(checkedDeviceId(DEVICE)).toBe(DEVICE);
  });
});

describe('eraseFromObject', () => {
  it('rewrites gzip NDJSON without the device, keeping the other lines byte for byte', async () => {
    const other = [line('lock-2', 1), line('lock-2', 2)];
    const body = gzipSync([other[0], line(DEVICE, 1), other[1], line(DEVICE, 2)].join(''));

    const outcome = await eraseFromObject(
      'telemetry/device_type=smart_lock/part-1.ndjson.gz',
      body,
      mentions,
    );

    expect(outcome).toMatchObject({ action: 'rewrite', recordsRemoved: 2, recordsKept: 2 });
    if (outcome.action !== 'rewrite') return;
    expect(gunzipSync(outcome.body).toString('utf8')).toBe(other.join(''));
  });

  it('leaves an object without the device untouched, and deletes one holding only the device', async () => {
    expect(await eraseFromObject('a.ndjson', Buffer.from(line('lock-2', 1)), mentions)).toEqual({
      action: 'untouched',
      records: 1,
    });
    expect(
      await eraseFromObject('a.ndjson', Buffer.from(line(DEVICE, 1) + line(DEVICE, 2)), mentions),
    ).toEqual({
      action: 'delete',
      recordsRemoved: 2,
    });
  });

  it('deletes an object whose key names the device (a partition by device), whatever it holds', async () => {
    const key = `exports/device_id=${DEVICE}/part-0.json`;

    expect(await eraseFromObject(key, Buffer.from('{}'), mentions)).toEqual({
      action: 'delete',
      recordsRemoved: 1,
    });
  });

  it("deletes a topic rule's error action message of the device", async () => {
    const message = {
      ruleName: 'r',
      topic: `dt/sdap/${DEVICE}/telemetry`,
      clientId: DEVICE,
      base64OriginalPayload: 'e30=',
    };

    const outcome = await eraseFromObject(
      `iot-rule-errors/2026-11-28/10/1764324000000-${DEVICE}-0.json`,
      Buffer.from(JSON.stringify(message)),
      mentions,
    );

    expect(outcome).toEqual({ action: 'delete', recordsRemoved: 1 });
  });

  it('deletes a quarantined message that names the device only inside its base64 payload', async () => {
    const payload = Buffer.from(JSON.stringify({ readings: [{ deviceId: DEVICE }] })).toString('base64');
    const quarantined = { topicDeviceId: 'lock-2', payloadBase64: payload, readingCount: 1, rejections: [] };

    const outcome = await eraseFromObject(
      'rejected/x.json',
      Buffer.from(JSON.stringify(quarantined)),
      mentions,
    );

    expect(outcome).toEqual({ action: 'delete', recordsRemoved: 1 });
  });

  it("takes only the device's stream records out of an on-failure record, decoding each record's envelope", async () => {
    const record = (deviceId: string) => ({
      kinesis: {
        data: Buffer.from(
          JSON.stringify({
            topic: `dt/sdap/${deviceId}/telemetry`,
            payload: Buffer.from(`{"deviceId":"${deviceId}"}`).toString('base64'),
          }),
        ).toString('base64'),
      },
    });
    const failure = {
      version: '1.0',
      KinesisBatchInfo: { batchSize: 3 },
      payload: JSON.stringify({ Records: [record('lock-2'), record(DEVICE), record('lock-3')] }),
    };

    const outcome = await eraseFromObject(
      'twin-validator-mapping/x.json',
      Buffer.from(JSON.stringify(failure)),
      mentions,
    );

    expect(outcome).toMatchObject({ action: 'rewrite', recordsRemoved: 1, recordsKept: 2 });
    if (outcome.action !== 'rewrite') return;
    const rewritten = JSON.parse(Buffer.from(outcome.body).toString('utf8'));
    expect(JSON.parse(rewritten.payload).Records).toEqual([record('lock-2'), record('lock-3')]);
    expect(rewritten.KinesisBatchInfo).toEqual(failure.KinesisBatchInfo);
  });

  it('reports a file it cannot take records out of instead of guessing', async () => {
    const outcome = await eraseFromObject('notes.txt', Buffer.from(`about ${DEVICE}`), mentions);

    expect(outcome).toMatchObject({ action: 'unreadable' });
  });

  describe('Parquet', () => {
    let dir: string;
    let connection: Awaited<ReturnType<DuckDBInstance['connect']>>;
    let instance: DuckDBInstance;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sdap-erasure-'));
      instance = await DuckDBInstance.create();
      connection = await instance.connect();
      // The types the ETL writes: timestamps (microseconds), dates, BIGINT, INT, DOUBLE, BOOLEAN, text and NULLs.
      await connection.run(`COPY (
        SELECT TIMESTAMP '2026-11-28 10:00:00.123456' + INTERVAL (i) MINUTE AS hour_start,
               DATE '2026-11-28' + i::INT AS event_date,
               CASE WHEN i % 3 = 0 THEN '${DEVICE}' ELSE 'lock-' || i END AS device_id,
               i::BIGINT * 1000000000000 AS readings, i::INT AS n, i / 7 AS ratio, i % 2 = 0 AS even,
               CASE WHEN i % 4 = 0 THEN NULL ELSE 'note ' || i END AS note
          FROM range(30) t(i)) TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
    });

    afterAll(async () => {
      connection?.closeSync();
      instance?.closeSync();
      await rm(dir, { recursive: true, force: true });
    });

    it("rewrites a DuckDB Parquet file without the device's rows, with the same schema and the other rows' exact values", async () => {
      const input = join(dir, 'in.parquet');
      const output = join(dir, 'out.parquet');

      const outcome = await eraseFromObject(
        't/event_date=2026-11-28/part-0.parquet',
        await readFile(input),
        mentions,
      );

      expect(outcome).toMatchObject({ action: 'rewrite', recordsRemoved: 10, recordsKept: 20 });
      if (outcome.action !== 'rewrite') return;
      await writeFile(output, outcome.body);
      const describe = async (file: string) =>
        (await connection.runAndReadAll(`DESCRIBE SELECT * FROM '${file}'`)).getRows();
      expect(await describe(output)).toEqual(await describe(input));
      const difference = await connection.runAndReadAll(`
        (SELECT * FROM '${input}' WHERE device_id <> '${DEVICE}' EXCEPT ALL SELECT * FROM '${output}')
        UNION ALL (SELECT * FROM '${output}' EXCEPT ALL SELECT * FROM '${input}' WHERE device_id <> '${DEVICE}')`);
      expect(difference.getRows()).toEqual([]);
    });

    it('leaves a Parquet file without the device untouched', async () => {
      const outcome = await eraseFromObject(
        't/part-0.parquet',
        await readFile(join(dir, 'in.parquet')),
        deviceMention('lock-999'),
      );

      expect(outcome).toEqual({ action: 'untouched', records: 30 });
    });
  });
});

describe('lake layout helpers', () => {
  it('tells formats by key ending', () => {
    expect(lakeObjectFormat('a/part-1.ndjson.gz')).toBe('ndjson-gzip');
    expect(lakeObjectFormat('iot-registry/things.ndjson')).toBe('ndjson');
    expect(lakeObjectFormat('a/part-0.parquet')).toBe('parquet');
    expect(lakeObjectFormat('rejected/x.json')).toBe('json');
    expect(lakeObjectFormat('report.html')).toBe('other');
  });

  it('files audit records by day and erasure id', () => {
    expect(erasureAuditKey({ erasureId: 'abc', startedAt: '2026-11-28T15:00:00.000Z' })).toBe(
      'erasure/2026-11-28/abc.json',
    );
  });
});
