/**
 * Per-site TLS material for the inter-site link: one small CA for the deployment and a key and
 * certificate per site, signed by it, naming the site's addresses. Both ends of a transfer pin
 * the CA and present their site certificate (mutual TLS). Generated with openssl via execFile;
 * idempotent (existing files are kept) and written under temp names then renamed, so a
 * killed run never leaves half a key.
 */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ReplicationError } from './errors.ts';
import { runProcess } from './exec.ts';
import { safeNameSchema } from './manifest.ts';
import { TRANSFER_KEY_BYTES } from './transfer/protocol.ts';

/** Where a site's TLS material lies: what a client that reads files (curl) is given. */
export interface TlsFiles {
  key: string;
  cert: string;
  ca: string;
}

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  /** The CA both sides pin. */
  ca: Buffer;
  /** The files the above were read from. */
  files: TlsFiles;
}

export interface TlsPaths {
  caCert: string;
  caKey: string;
  siteCert(site: string): string;
  siteKey(site: string): string;
  /** The transfer key both sites hold: transfer tokens are derived from it (transfer/protocol.ts). */
  transferKey: string;
}

export function tlsPaths(dir: string): TlsPaths {
  return {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    siteCert: (site) => join(dir, `site-${site}.crt`),
    siteKey: (site) => join(dir, `site-${site}.key`),
    transferKey: join(dir, 'transfer.key'),
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function openssl(args: string[]): Promise<void> {
  const r = await runProcess('openssl', args, { errorCode: 'TLS_SETUP_FAILED', timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    throw new ReplicationError({
      code: 'TLS_SETUP_FAILED',
      message: `openssl ${args[0]} failed: ${r.stderr.trim()}`,
      context: { args: args.filter((a) => !a.endsWith('.key')) },
      hint: 'is openssl 3 installed, and is the directory writable?',
    });
  }
}

/** A DNS name as a certificate names it: dot-separated labels of letters, digits and inner hyphens. */
const DNS_NAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Creates the CA unless it exists. */
export async function ensureCa(dir: string, opts: { name?: string; days?: number } = {}): Promise<void> {
  const p = tlsPaths(dir);
  if ((await exists(p.caCert)) && (await exists(p.caKey))) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tag = randomBytes(4).toString('hex');
  const key = `${p.caKey}.tmp-${tag}`;
  const cert = `${p.caCert}.tmp-${tag}`;
  try {
    await openssl([
      'req',
      '-x509',
      ...EC,
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(opts.days ?? 3650),
      '-subj',
      `/CN=${opts.name ?? 'lifeboat-replication-ca'}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await chmod(key, 0o600);
    await rename(key, p.caKey);
    await rename(cert, p.caCert);
  } finally {
    await rm(key, { force: true });
    await rm(cert, { force: true });
  }
}

/**
 * Creates the site's key and certificate unless they exist. `addresses` are the IPs and DNS
 * names the site's worker serves transfers on (the client checks them).
 */
export async function ensureSiteCert(
  dir: string,
  site: string,
  addresses: string[],
  opts: { days?: number } = {},
): Promise<void> {
  safeNameSchema.parse(site);
  const bad = addresses.filter((a) => !isIP(a) && !DNS_NAME.test(a));
  if (bad.length > 0) {
    throw new ReplicationError({
      code: 'TLS_SETUP_FAILED',
      message: `not an IP address or DNS name: ${bad.map((a) => JSON.stringify(a)).join(', ')}`,
      context: { site },
      hint: 'give each address the site serves transfers on, e.g. 10.0.0.5 or dr-b.example.internal',
    });
  }
  const p = tlsPaths(dir);
  if ((await exists(p.siteCert(site))) && (await exists(p.siteKey(site)))) return;
  await ensureCa(dir);
  const san = addresses.map((a) => (isIP(a) ? `IP:${a}` : `DNS:${a}`)).join(',');
  const tag = randomBytes(4).toString('hex');
  const key = `${p.siteKey(site)}.tmp-${tag}`;
  const cert = `${p.siteCert(site)}.tmp-${tag}`;
  try {
    await openssl([
      'req',
      ...EC,
      '-keyout',
      key,
      '-out',
      cert,
      '-CA',
      p.caCert,
      '-CAkey',
      p.caKey,
      '-days',
      String(opts.days ?? 825),
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-subj',
      `/CN=site-${site}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature',
      '-addext',
      'extendedKeyUsage=serverAuth,clientAuth',
      ...(san === '' ? [] : ['-addext', `subjectAltName=${san}`]),
    ]);
    await chmod(key, 0o600);
    await rename(key, p.siteKey(site));
    await rename(cert, p.siteCert(site));
  } finally {
    await rm(key, { force: true });
    await rm(cert, { force: true });
  }
}

/**
 * Creates the deployment's transfer key unless it exists: 32 random bytes, hex, mode 0600,
 * handed to every site with the CA certificate. Written under a temp name then renamed.
 */
export async function ensureTransferKey(dir: string): Promise<void> {
  const p = tlsPaths(dir);
  if (await exists(p.transferKey)) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${p.transferKey}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, `${randomBytes(TRANSFER_KEY_BYTES).toString('hex')}\n`, { mode: 0o600 });
    await rename(tmp, p.transferKey);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Reads the transfer key; refuses a key that is short or readable by others. */
export async function loadTransferKey(dir: string): Promise<Buffer> {
  const path = tlsPaths(dir).transferKey;
  const st = await stat(path).catch(() => null);
  const key = st === null ? null : Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
  if (st === null || key === null || key.length < TRANSFER_KEY_BYTES || (st.mode & 0o077) !== 0) {
    throw new ReplicationError({
      code: 'TLS_SETUP_FAILED',
      message: `${path} is missing, shorter than ${TRANSFER_KEY_BYTES} bytes of hex, or readable by others`,
      context: { path },
      hint: 'copy the deployment transfer key to every site with mode 0600 (lab: lifeboat lab up makes it)',
    });
  }
  return key;
}

export async function loadSiteTls(dir: string, site: string): Promise<TlsMaterial> {
  const p = tlsPaths(dir);
  const files = { key: p.siteKey(site), cert: p.siteCert(site), ca: p.caCert };
  const [key, cert, ca] = await Promise.all([readFile(files.key), readFile(files.cert), readFile(files.ca)]);
  return { key, cert, ca, files };
}

/**
 * Hands one site what its worker needs, as the deployment's authority issues it: the CA
 * certificate, the site's key and certificate (made unless they exist, naming `addresses`) and
 * the shared transfer key, copied into `outDir` (the site's LIFEBOAT_REPLICATION_TLS_DIR). The
 * CA's key stays in `authority`. Each file is copied under a temporary name and renamed, so a
 * worker never reads half a key; running it again changes nothing but the copies' modes.
 */
export async function issueSiteTls(
  authority: string,
  site: string,
  addresses: string[],
  outDir: string,
): Promise<TlsFiles & { transferKey: string }> {
  const from = tlsPaths(authority);
  const to = tlsPaths(outDir);
  await ensureTransferKey(authority);
  await ensureSiteCert(authority, site, addresses);
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  for (const [src, dst, mode] of [
    [from.caCert, to.caCert, 0o644],
    [from.siteCert(site), to.siteCert(site), 0o644],
    [from.siteKey(site), to.siteKey(site), 0o600],
    [from.transferKey, to.transferKey, 0o600],
  ] as const) {
    await copyFile(src, `${dst}.tmp`);
    await chmod(`${dst}.tmp`, mode);
    await rename(`${dst}.tmp`, dst);
  }
  return { ca: to.caCert, cert: to.siteCert(site), key: to.siteKey(site), transferKey: to.transferKey };
}
