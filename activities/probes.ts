/**
 * The site worker's own way to reach its guests for `tcp` and `http` checks: it runs on the
 * site's network, asks the driver for the guest's addresses and connects to them directly.
 * Each call is one bounded attempt; runCheck retries until the check's `within` runs out.
 */
import { request } from 'node:http';
import { Socket } from 'node:net';
import type { SiteDriver, VmAddress } from '../drivers/types.ts';
import type { CheckProbes } from './checks.ts';

/** One connection attempt never takes longer than this, so a check retries a dropped SYN. */
export const ATTEMPT_MS = 5_000;

/** Opens and closes a TCP connection; resolves with why it failed rather than throwing. */
export function tcpConnect(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ open: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean, detail: string) => {
      socket.destroy();
      resolve({ open, detail });
    };
    socket.setTimeout(timeoutMs, () => done(false, `${host}:${port} no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done(true, `${host}:${port} accepted the connection`));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(false, `${host}:${port} ${err.code ?? err.message}`),
    );
    socket.connect({ host, port });
  });
}

/** GETs `path` and resolves with the status; throws on a connection or protocol failure. */
export function httpGet(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method: 'GET', timeout: timeoutMs, agent: false, headers: { connection: 'close' } },
      (res) => {
        resolve({ status: res.statusCode ?? 0 });
        // Only the status matters: drop the body and the connection rather than hold the guest's.
        req.destroy();
      },
    );
    req.once('timeout', () =>
      req.destroy(new Error(`http://${hostPort(host, port)}${path} no answer within ${timeoutMs} ms`)),
    );
    req.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(`http://${hostPort(host, port)}${path}: ${err.code ?? ''} ${err.message}`.trim()));
    });
    req.end();
  });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

type AddressSource = Pick<SiteDriver, 'site' | 'vmAddresses'>;

async function addressesOf(driver: AddressSource, vm: string): Promise<VmAddress[]> {
  const found = await driver.vmAddresses(vm);
  if (found.length === 0) {
    // Thrown, not returned: runCheck records it as the last failure and tries again.
    throw new Error(`no address known for ${vm} at site ${driver.site} yet (guest agent not answering?)`);
  }
  return found;
}

/** The default probes of a site worker: direct connections to the guest's addresses. */
export function createGuestProbes(driver: AddressSource): CheckProbes {
  return {
    async tcp(vm, port, opts) {
      const deadline = Date.now() + opts.timeoutMs;
      const failures: string[] = [];
      for (const a of await addressesOf(driver, vm)) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const r = await tcpConnect(a.address, port, Math.min(left, ATTEMPT_MS));
        if (r.open) return r;
        failures.push(r.detail);
      }
      return { open: false, detail: failures.join('; ') || `no time left to connect to ${vm}` };
    },
    async http(vm, port, path, opts) {
      const addresses = await addressesOf(driver, vm);
      // The first address the site routes to; IPv4 comes first (routableAddresses).
      const a = addresses[0] as VmAddress;
      return httpGet(a.address, port, path, Math.max(1, Math.min(opts.timeoutMs, ATTEMPT_MS)));
    },
  };
}
