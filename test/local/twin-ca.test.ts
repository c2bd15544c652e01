/**
 * The twin's CA: certificates a TLS stack accepts (checked with Node's own X.509 parser), names
 * that map to things, idempotent issuing and revocation by serial number.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEVICE_VALIDITY_YEARS,
  identifyDevice,
  issueDeviceCertificate,
  issueServerCertificate,
  loadOrCreateCa,
  readRevoked,
  revokeDeviceCertificate,
  type TwinCa,
} from '../../local/twin-ca.ts';

let outDir: string;
let ca: TwinCa;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'sdap-ca-'));
  ca = await loadOrCreateCa(outDir);
});

/** What `getPeerCertificate()` reports for a certificate file (the fields the broker reads). */
async function asPeer(certFile: string): Promise<PeerCertificate> {
  const cert = new X509Certificate(await readFile(certFile));
  return {
    subject: { CN: cert.subject.replace(/^CN=/, '') },
    serialNumber: cert.serialNumber,
  } as PeerCertificate;
}

describe('twin CA', () => {
  it('creates a CA on first use and loads the same one afterwards', async () => {
    const again = await loadOrCreateCa(outDir);

    expect(ca.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.certPem).toBe(ca.certPem);
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    const keyMode = (await stat(join(ca.directory, 'ca.private.key'))).mode & 0o777;
    expect(keyMode).toBe(0o600);
  });

  it('issues a device certificate signed by the CA, naming the thing, for client authentication', async () => {
    const issued = await issueDeviceCertificate(ca, 'thermo-7');

    const cert = new X509Certificate(await readFile(issued.certFile));
    expect(cert.subject).toBe('CN=thermo-7');
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    expect(cert.ca).toBe(false);
    const years = (Date.parse(cert.validTo) - Date.now()) / (365.25 * 86_400_000);
    expect(Math.round(years)).toBe(DEVICE_VALIDITY_YEARS);
    expect(cert.serialNumber.replace(/^0+/, '')).toBe(issued.serialNumber);
    const key = await readFile(issued.keyFile, 'utf8');
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(key))).toBe(true);
  });

  it('keeps a valid certificate when asked again, and issues a new one once it is revoked', async () => {
    const first = await issueDeviceCertificate(ca, 'lock-2');
    const kept = await issueDeviceCertificate(ca, 'lock-2');
    await revokeDeviceCertificate(ca, 'lock-2');
    const renewed = await issueDeviceCertificate(ca, 'lock-2');

    expect(kept).toMatchObject({ issued: false, serialNumber: first.serialNumber });
    expect(renewed.issued).toBe(true);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect((await readRevoked(ca.directory)).get(first.serialNumber)).toMatchObject({ thingName: 'lock-2' });
  });

  it('maps a certificate to its thing, and refuses it once revoked', async () => {
    const issued = await issueDeviceCertificate(ca, 'cam-3');
    const peer = await asPeer(issued.certFile);

    expect(identifyDevice(peer, await readRevoked(ca.directory))).toEqual({ thingName: 'cam-3' });
    await revokeDeviceCertificate(ca, 'cam-3');
    expect(identifyDevice(peer, await readRevoked(ca.directory))).toEqual({
      refused: `certificate ${issued.serialNumber} of thing 'cam-3' is revoked`,
    });
  });

  it('refuses a certificate whose common name is not a thing name', () => {
    const peer = { subject: { CN: 'not a thing' }, serialNumber: '01' } as PeerCertificate;

    expect(identifyDevice(peer, new Map())).toEqual({
      refused: "certificate subject CN 'not a thing' is not a thing name",
    });
  });

  it('fails when the thing name could not be a thing (or a file name)', async () => {
    await expect(issueDeviceCertificate(ca, '../escape')).rejects.toThrow(
      "--device: received '../escape', expected a thing name",
    );
    await expect(revokeDeviceCertificate(ca, 'never-issued')).rejects.toThrow(
      '--revoke never-issued: no certificate was issued to it',
    );
  });

  it('issues the broker a certificate for localhost, the loopback addresses and extra names', async () => {
    const server = await issueServerCertificate(ca, ['192.0.2.10', 'twin.example']);

    const cert = new X509Certificate(server.certPem);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('192.0.2.10')).toBe('192.0.2.10');
    expect(cert.checkHost('twin.example')).toBe('twin.example');
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });
});
