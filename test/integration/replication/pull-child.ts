/**
 * A secondary worker in its own process for the SIGKILL test: pulls one transfer with the
 * options given as JSON in argv[2] (TLS material as file paths). Exits 0 when done.
 */
import { loadSiteTls } from '../../../replication/tls.ts';
import { pullTransfer } from '../../../replication/transfer/client.ts';

const o = JSON.parse(process.argv[2]!) as {
  baseUrl: string;
  transferId: string;
  token: string;
  tlsDir: string;
  site: string;
  destDir: string;
};
const r = await pullTransfer({
  baseUrl: o.baseUrl,
  transferId: o.transferId,
  token: o.token,
  tls: (await loadSiteTls(o.tlsDir, o.site)).files,
  destDir: o.destDir,
  idleTimeoutMs: 60_000,
});
process.stdout.write(`${JSON.stringify({ bytesReceived: r.bytesReceived })}\n`);
