import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { DEFAULT_NAMESPACE, ensureDevServer } from './dev-server.ts';
import { PlatformError } from './errors.ts';
import { lifeboatHome } from './home.ts';

/**
 * Where Lifeboat's Temporal lives. With `TEMPORAL_ADDRESS` set: that cluster, with
 * `TEMPORAL_NAMESPACE`, TLS/mTLS (`TEMPORAL_TLS_CERT`, `TEMPORAL_TLS_KEY`, `TEMPORAL_TLS_CA`,
 * `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_TLS=1`) and `TEMPORAL_API_KEY`. Without it: the embedded
 * dev server under the state directory, started when it is not up.
 */
export interface TemporalTarget {
  address: string;
  namespace: string;
  tls: TLSConfig | undefined;
  apiKey: string | undefined;
  embedded: boolean;
  /** The embedded server's Web UI, when it has one. */
  uiUrl: string | undefined;
  /** True when this call started the embedded server (rather than reusing a running one). */
  startedNow?: boolean;
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PlatformError(
      'TLS_CONFIG_INVALID',
      `cannot read ${variable}: ${(err as Error).message}`,
      { variable, file },
      `set ${variable} to the path of a PEM file`,
    );
  }
}

/** TLS settings from the environment (pure apart from reading the PEM files it names). */
export function tlsFromEnv(env: NodeJS.ProcessEnv = process.env): TLSConfig | undefined {
  // The Temporal CLI's own variable names are accepted too, so one environment serves both.
  const cert = env.TEMPORAL_TLS_CERT || env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const key = env.TEMPORAL_TLS_KEY || env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const ca = env.TEMPORAL_TLS_CA || env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const enabled = ['1', 'true', 'yes'].includes((env.TEMPORAL_TLS ?? '').toLowerCase());
  if ((cert && !key) || (key && !cert)) {
    throw new PlatformError(
      'TLS_CONFIG_INVALID',
      'mTLS needs both a client certificate and its key',
      { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key ? '(set)' : undefined },
      'set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, or neither',
    );
  }
  if (!cert && !ca && !serverName && !enabled) return undefined;
  const tls: TLSConfig = {};
  if (serverName) tls.serverNameOverride = serverName;
  if (ca) tls.serverRootCACertificate = readPem(ca, 'TEMPORAL_TLS_CA');
  if (cert && key) {
    tls.clientCertPair = { crt: readPem(cert, 'TEMPORAL_TLS_CERT'), key: readPem(key, 'TEMPORAL_TLS_KEY') };
  }
  return tls;
}

/** The configured external cluster, or undefined when Lifeboat should use its embedded server. */
export function externalTargetFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalTarget | undefined {
  const address = env.TEMPORAL_ADDRESS;
  if (!address) return undefined;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  // An API key implies TLS (Temporal Cloud and most managed clusters refuse it in clear text).
  const tls = tlsFromEnv(env) ?? (apiKey ? {} : undefined);
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE || DEFAULT_NAMESPACE,
    tls,
    apiKey,
    embedded: false,
    uiUrl: undefined,
  };
}

/** Resolves the target, starting (or reusing) the embedded dev server when no cluster is configured. */
export async function resolveTemporalTarget(env: NodeJS.ProcessEnv = process.env): Promise<TemporalTarget> {
  const external = externalTargetFromEnv(env);
  if (external) return external;
  const server = await ensureDevServer({ home: lifeboatHome(env), env });
  return {
    address: server.address,
    namespace: server.namespace,
    tls: undefined,
    apiKey: undefined,
    embedded: true,
    uiUrl: server.uiUrl,
    startedNow: !server.reused,
  };
}

function unreachable(target: TemporalTarget, err: unknown): PlatformError {
  return new PlatformError(
    'SERVER_UNREACHABLE',
    `cannot reach Temporal: ${err instanceof Error ? err.message : String(err)}`,
    { address: target.address, namespace: target.namespace },
    target.embedded
      ? 'run `lifeboat server status`; `lifeboat server start` restarts the embedded server'
      : 'check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS settings',
  );
}

export async function connectClient(
  target?: TemporalTarget,
): Promise<{ client: Client; connection: Connection; target: TemporalTarget }> {
  const t = target ?? (await resolveTemporalTarget());
  const options: ConnectionOptions = { address: t.address, connectTimeout: 10_000 };
  if (t.tls) options.tls = t.tls;
  if (t.apiKey) options.apiKey = t.apiKey;
  try {
    const connection = await Connection.connect(options);
    return { client: new Client({ connection, namespace: t.namespace }), connection, target: t };
  } catch (err) {
    throw unreachable(t, err);
  }
}

/** The worker-side connection (Rust core) to the same target. */
export async function connectNative(
  target?: TemporalTarget,
): Promise<{ connection: NativeConnection; target: TemporalTarget }> {
  const t = target ?? (await resolveTemporalTarget());
  try {
    const connection = await NativeConnection.connect({
      address: t.address,
      ...(t.tls ? { tls: t.tls } : {}),
      ...(t.apiKey ? { apiKey: t.apiKey } : {}),
    });
    return { connection, target: t };
  } catch (err) {
    throw unreachable(t, err);
  }
}
