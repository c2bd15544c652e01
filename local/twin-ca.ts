/**
 * The twin's certificate authority: device certificates the way AWS IoT Core sees them, without an
 * AWS account. On first use it creates a CA (kept in `<out>/certs/`); `sdap twin certs --device ID`
 * issues a key and a certificate for a thing, signed by that CA, whose subject common name is the
 * thing name (IoT Core maps a certificate to its thing through the attached principal; the twin
 * reads the name from the certificate instead). The serving broker trusts only this CA and asks
 * {@link identifyDevice} at every connect, which refuses revoked certificates.
 *
 * Layout of the certificates directory:
 *   ca.cert.pem, ca.private.key          the CA (the key never leaves this directory)
 *   devices/<thing>.cert.pem             a device certificate; with the key beside it, the
 *   devices/<thing>.private.key          layout `sdap simulate --cert-dir` reads
 *   revoked.ndjson                       one line per revoked certificate (serial number, thing)
 *
 * Keys are ECDSA P-256 with SHA-256 signatures, which IoT Core accepts for device certificates, and
 * which every TLS client in use (OpenSSL, mbedTLS, Node) speaks.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
// Before @peculiar/x509, whose dependency tsyringe needs the Reflect metadata API when it loads.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { THING_NAME_PATTERN } from '../simulator/registry.ts';

export const CERTS_DIRECTORY = 'certs';
export const CA_CERT_FILE = 'ca.cert.pem';
const CA_KEY_FILE = 'ca.private.key';
export const DEVICES_DIRECTORY = 'devices';
export const REVOKED_FILE = 'revoked.ndjson';
/** The CA's validity. */
export const CA_VALIDITY_YEARS = 10;
/** A device certificate's validity. */
export const DEVICE_VALIDITY_YEARS = 5;
/** The broker's own certificate is made afresh at every start. */
export const SERVER_VALIDITY_DAYS = 30;
const CA_NAME = 'CN=sdap twin local CA, O=sdap local twin';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

/** A bad `--device` or `--revoke` value, or a certificates directory in a state the twin did not leave. */
export class TwinCaError extends Error {
  override readonly name = 'TwinCaError';
}

export interface TwinCa {
  /** `<out>/certs` */
  readonly directory: string;
  /** The CA certificate (PEM): what clients trust to reach the broker, and what the broker trusts. */
  readonly certPem: string;
  readonly certFile: string;
  /** True when this call created the CA. */
  readonly created: boolean;
  readonly certificate: x509.X509Certificate;
  readonly privateKey: CryptoKey;
}

export interface IssuedCertificate {
  readonly thingName: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Upper-case hexadecimal without leading zeros, as TLS peers report it. */
  readonly serialNumber: string;
  /** False when a valid certificate for the thing already existed and was kept. */
  readonly issued: boolean;
}

export interface RevokedCertificate {
  readonly serialNumber: string;
  readonly thingName: string;
  readonly revokedAt: string;
}

/** `<outDir>/certs` */
export function certsDirectory(outDir: string): string {
  return join(outDir, CERTS_DIRECTORY);
}

/** Loads the CA kept in `<outDir>/certs`, creating it on first use. */
export async function loadOrCreateCa(outDir: string): Promise<TwinCa> {
  const directory = certsDirectory(outDir);
  const certFile = join(directory, CA_CERT_FILE);
  const keyFile = join(directory, CA_KEY_FILE);
  const existing = await readOptional(certFile);
  if (existing !== undefined) {
    const keyPem = await readOptional(keyFile);
    if (keyPem === undefined) {
      throw new TwinCaError(
        `${certFile} exists but its key ${keyFile} does not: remove ${directory} to start a new CA (device certificates must then be issued again)`,
      );
    }
    const privateKey = await crypto.subtle.importKey('pkcs8', pemBody(keyPem), KEY_ALGORITHM, false, [
      'sign',
    ]);
    return {
      directory,
      certPem: existing,
      certFile,
      created: false,
      certificate: new x509.X509Certificate(existing),
      privateKey,
    };
  }
  const keys = await generateKeys();
  const now = new Date();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerialNumber(),
    name: CA_NAME,
    notBefore: backdated(now),
    notAfter: yearsAfter(now, CA_VALIDITY_YEARS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await mkdir(join(directory, DEVICES_DIRECTORY), { recursive: true });
  await writePrivate(keyFile, await privateKeyPem(keys.privateKey));
  const certPem = `${certificate.toString('pem')}\n`;
  await writeFile(certFile, certPem);
  return { directory, certPem, certFile, created: true, certificate, privateKey: keys.privateKey };
}

/**
 * Issues a key and certificate for `thingName` into `<out>/certs/devices/`. A thing that already
 * holds a certificate that is not revoked keeps it (so repeating a command changes nothing).
 */
export async function issueDeviceCertificate(ca: TwinCa, thingName: string): Promise<IssuedCertificate> {
  assertThingName('--device', thingName);
  const certFile = join(ca.directory, DEVICES_DIRECTORY, `${thingName}.cert.pem`);
  const keyFile = join(ca.directory, DEVICES_DIRECTORY, `${thingName}.private.key`);
  const existing = await readOptional(certFile);
  if (existing !== undefined && (await readOptional(keyFile)) !== undefined) {
    const serialNumber = normaliseSerial(new x509.X509Certificate(existing).serialNumber);
    const revoked = await readRevoked(ca.directory);
    if (!revoked.has(serialNumber)) return { thingName, certFile, keyFile, serialNumber, issued: false };
  }
  const keys = await generateKeys();
  const now = new Date();
  const serial = newSerialNumber();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ CN: [thingName] }],
    issuer: ca.certificate.subject,
    notBefore: backdated(now),
    notAfter: yearsAfter(now, DEVICE_VALIDITY_YEARS),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  await mkdir(join(ca.directory, DEVICES_DIRECTORY), { recursive: true });
  await writePrivate(keyFile, await privateKeyPem(keys.privateKey));
  await writeFile(certFile, `${certificate.toString('pem')}\n`);
  return { thingName, certFile, keyFile, serialNumber: normaliseSerial(serial), issued: true };
}

/**
 * Revokes the certificate `thingName` currently holds: the broker refuses it from the next connect
 * on (connections already open stay open). Issuing again gives the thing a new certificate.
 */
export async function revokeDeviceCertificate(ca: TwinCa, thingName: string): Promise<RevokedCertificate> {
  assertThingName('--revoke', thingName);
  const certFile = join(ca.directory, DEVICES_DIRECTORY, `${thingName}.cert.pem`);
  const pem = await readOptional(certFile);
  if (pem === undefined) {
    throw new TwinCaError(`--revoke ${thingName}: no certificate was issued to it (no ${certFile})`);
  }
  const serialNumber = normaliseSerial(new x509.X509Certificate(pem).serialNumber);
  const revoked = await readRevoked(ca.directory);
  const already = revoked.get(serialNumber);
  if (already) return already;
  const entry: RevokedCertificate = { serialNumber, thingName, revokedAt: new Date().toISOString() };
  await appendFile(join(ca.directory, REVOKED_FILE), `${JSON.stringify(entry)}\n`);
  return entry;
}

/** Revoked certificates by serial number. */
export async function readRevoked(directory: string): Promise<Map<string, RevokedCertificate>> {
  return parseRevoked((await readOptional(join(directory, REVOKED_FILE))) ?? '');
}

/** {@link readRevoked} for the broker's connect hook, which cannot wait. */
export function readRevokedSync(directory: string): Map<string, RevokedCertificate> {
  try {
    return parseRevoked(readFileSync(join(directory, REVOKED_FILE), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
}

function parseRevoked(text: string): Map<string, RevokedCertificate> {
  const revoked = new Map<string, RevokedCertificate>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const entry = JSON.parse(line) as RevokedCertificate;
    revoked.set(normaliseSerial(entry.serialNumber), entry);
  }
  return revoked;
}

/** Thing names that hold an issued certificate file (revoked or not). */
export async function readIssuedThings(directory: string): Promise<string[]> {
  const names = await readdir(join(directory, DEVICES_DIRECTORY)).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.cert.pem')).map((n) => n.slice(0, -'.cert.pem'.length));
}

/**
 * The thing a CA-verified client certificate stands for, or why it is refused: the subject's common
 * name must be a thing name and the serial number must not be revoked. `revoked` is read by the
 * caller (the broker re-reads the file at every connect, so a revocation needs no restart).
 */
export function identifyDevice(
  certificate: PeerCertificate,
  revoked: ReadonlyMap<string, RevokedCertificate>,
): { thingName: string } | { refused: string } {
  const cn = certificate.subject?.CN;
  const thingName = Array.isArray(cn) ? cn[0] : cn;
  if (typeof thingName !== 'string' || !THING_NAME_PATTERN.test(thingName)) {
    return { refused: `certificate subject CN '${String(thingName)}' is not a thing name` };
  }
  const serialNumber = normaliseSerial(certificate.serialNumber ?? '');
  if (revoked.has(serialNumber)) {
    return { refused: `certificate ${serialNumber} of thing '${thingName}' is revoked` };
  }
  return { thingName };
}

/**
 * A certificate for the broker, signed by the CA, valid for the names and addresses clients use to
 * reach it: localhost, this machine's host name, the loopback addresses, and `extra` names or IPs.
 */
export async function issueServerCertificate(
  ca: TwinCa,
  extra: readonly string[] = [],
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeys();
  const now = new Date();
  const names = new Set(['localhost', hostname(), ...extra.filter((n) => !isIpAddress(n))]);
  const ips = new Set(['127.0.0.1', '::1', ...extra.filter(isIpAddress)]);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumber(),
    subject: [{ CN: ['sdap twin broker'] }],
    issuer: ca.certificate.subject,
    notBefore: backdated(now),
    notAfter: new Date(now.getTime() + SERVER_VALIDITY_DAYS * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...[...names].map((value) => ({ type: 'dns' as const, value })),
        ...[...ips].map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  return { certPem: certificate.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

function assertThingName(flag: string, value: string): void {
  if (!THING_NAME_PATTERN.test(value)) {
    throw new TwinCaError(
      `${flag}: received '${value}', expected a thing name: 1 to 128 letters, digits, ':', '_' or '-'`,
    );
  }
}

function isIpAddress(value: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(value) || value.includes(':');
}

/** Upper case, no leading zeros: the form Node's `getPeerCertificate().serialNumber` takes. */
export function normaliseSerial(serial: string): string {
  return serial.toUpperCase().replace(/^0+(?=.)/, '');
}

/** 16 random bytes, positive and without a leading zero byte (RFC 5280: at most 20 octets). */
function newSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10;
  return bytes.toString('hex');
}

/** A minute in the past, so a client whose clock is slightly behind still accepts the certificate. */
function backdated(now: Date): Date {
  return new Date(now.getTime() - 60_000);
}

function yearsAfter(now: Date, years: number): Date {
  const end = new Date(now);
  end.setUTCFullYear(end.getUTCFullYear() + years);
  return end;
}

function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Private keys are readable by their owner only. */
async function writePrivate(file: string, content: string): Promise<void> {
  await writeFile(file, content, { mode: 0o600 });
  await chmod(file, 0o600);
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
