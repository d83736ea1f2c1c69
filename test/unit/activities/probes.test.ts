/**
 * The site worker's default probes and how runCheck uses them, against servers on loopback
 * (the real guests are in test/integration/checks/).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type CheckInput, type CheckProbes, type CheckResult, runCheck } from '../../../activities/checks.ts';
import { createGuestProbes, httpGet, tcpConnect } from '../../../activities/probes.ts';
import type { SiteDriver, VmAddress } from '../../../drivers/types.ts';
import type { PlanCheck } from '../../../runbooks/plan.ts';

const servers: Array<Server | HttpServer> = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      const closed = new Promise((r) => s.close(r));
      if ('closeAllConnections' in s) s.closeAllConnections();
      return closed;
    }),
  );
});

async function listen<S extends Server | HttpServer>(
  server: S,
  host = '127.0.0.1',
  port = 0,
): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** Reads what the client sends (so its close is seen) and answers with `text`. */
function answer(text = ''): (c: Socket) => void {
  return (c) => {
    c.resume();
    c.end(text);
  };
}

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const v4 = (address: string): VmAddress => ({
  interface: 'eth0',
  mac: '52:54:00:00:00:01',
  family: 'ipv4',
  address,
  prefix: 8,
  source: 'agent',
});

function site(addresses: () => VmAddress[]) {
  return { site: 'east', vmAddresses: async () => addresses() };
}

describe('tcpConnect and httpGet', () => {
  it('tells an open port from a refused one', async () => {
    const open = await listen(createServer(answer()));
    expect(await tcpConnect('127.0.0.1', open, 2_000)).toEqual({
      open: true,
      detail: `127.0.0.1:${open} accepted the connection`,
    });
    const closed = await closedPort();
    expect(await tcpConnect('127.0.0.1', closed, 2_000)).toEqual({
      open: false,
      detail: `127.0.0.1:${closed} ECONNREFUSED`,
    });
  });

  it('reads the status of a real HTTP answer and refuses a non-HTTP one', async () => {
    const port = await listen(
      createHttpServer((req, res) => {
        res.statusCode = req.url === '/ready' ? 204 : 404;
        res.end();
      }),
    );
    expect(await httpGet('127.0.0.1', port, '/ready', 2_000)).toEqual({ status: 204 });
    expect(await httpGet('127.0.0.1', port, '/other', 2_000)).toEqual({ status: 404 });
    // Like the lab guest's port 8080: a bare health line.
    const raw = await listen(createServer(answer('LIFEBOAT-HEALTH vm=x\n')));
    await expect(httpGet('127.0.0.1', raw, '/', 2_000)).rejects.toThrow(/Parse Error/);
  });
});

describe('createGuestProbes', () => {
  it("tries the guest's addresses in turn", async () => {
    // Linux routes all of 127/8 to loopback: the first address refuses, the second accepts.
    const port = await listen(createServer(answer()), '127.0.0.2');
    const probes = createGuestProbes(site(() => [v4('127.0.0.1'), v4('127.0.0.2')]));
    const r = await probes.tcp('web-1', port, { timeoutMs: 5_000 });
    expect(r).toEqual({ open: true, detail: `127.0.0.2:${port} accepted the connection` });
  });

  it('says every refusal when none accepts', async () => {
    const port = await closedPort();
    const probes = createGuestProbes(site(() => [v4('127.0.0.1'), v4('127.0.0.3')]));
    expect(await probes.tcp('web-1', port, { timeoutMs: 5_000 })).toEqual({
      open: false,
      detail: `127.0.0.1:${port} ECONNREFUSED; 127.0.0.3:${port} ECONNREFUSED`,
    });
  });

  it('a guest with no known address is an error to retry, naming the VM and site', async () => {
    const probes = createGuestProbes(site(() => []));
    await expect(probes.tcp('web-1', 80, { timeoutMs: 1_000 })).rejects.toThrow(
      'no address known for web-1 at site east yet',
    );
    await expect(probes.http('web-1', 80, '/', { timeoutMs: 1_000 })).rejects.toThrow(/no address known/);
  });
});

/** runCheck in an activity context, as a site worker runs it. */
function checkInActivity(driver: SiteDriver, probes: CheckProbes, input: CheckInput): Promise<CheckResult> {
  return new MockActivityEnvironment().run<
    [SiteDriver, CheckProbes, CheckInput],
    CheckResult,
    typeof runCheck
  >(runCheck, driver, probes, input);
}

describe('runCheck with the default probes', () => {
  const tcpCheck = (port: number, withinMs: number): PlanCheck => ({
    id: 'web/check/0',
    group: 'web',
    kind: 'tcp',
    port,
    withinMs,
  });

  /** Only what runCheck asks of a driver for these checks; anything else would throw. */
  function driverFor(parts: Partial<SiteDriver>): SiteDriver {
    return new Proxy(parts as SiteDriver, {
      get(target, key: string) {
        if (key in target) return target[key as keyof SiteDriver];
        throw new Error(`runCheck must not call ${key}`);
      },
    });
  }

  it('retries until the guest starts listening', async () => {
    const port = await closedPort();
    let calls = 0;
    const source = site(() => {
      calls++;
      // The service comes up after the first attempt was refused.
      if (calls === 2) void listen(createServer(answer()), '127.0.0.1', port);
      return [v4('127.0.0.1')];
    });
    const driver = driverFor({ site: 'east' });
    const r = await checkInActivity(driver, createGuestProbes(source), {
      operationId: 'op',
      check: tcpCheck(port, 20_000),
      vm: 'web-1',
    });
    expect(r.outcome).toBe('passed');
    expect(r.attempts).toBeGreaterThanOrEqual(2);
  });

  it('fails with the last refusal once `within` runs out', async () => {
    const port = await closedPort();
    const driver = driverFor({ site: 'east' });
    const err = await checkInActivity(driver, createGuestProbes(site(() => [v4('127.0.0.1')])), {
      operationId: 'op',
      check: tcpCheck(port, 1_500),
      vm: 'web-1',
    }).catch((e: unknown) => e as { type?: string; message: string; nonRetryable?: boolean });
    expect(err).toMatchObject({ type: 'CHECK_FAILED', nonRetryable: true });
    expect((err as Error).message).toContain(`127.0.0.1:${port} ECONNREFUSED`);
  });

  it('a serial check reads from where the VM last started, or from the top when unknown', async () => {
    const serialCheck: PlanCheck = {
      id: 'web/check/1',
      group: 'web',
      kind: 'serial',
      pattern: 'LIFEBOAT-READY',
      withinMs: 5_000,
    };
    const seen: Array<{ fromOffset?: number }> = [];
    for (const offset of [3177, undefined]) {
      const driver = driverFor({
        site: 'east',
        serialRunOffset: async () => offset,
        waitSerial: async (_vm, _pattern, opts) => {
          seen.push(opts.fromOffset === undefined ? {} : { fromOffset: opts.fromOffset });
          return { line: 'LIFEBOAT-READY vm=web-1' };
        },
      });
      const r = await checkInActivity(driver, createGuestProbes(driver), {
        operationId: 'op',
        check: serialCheck,
        vm: 'web-1',
      });
      expect(r.detail).toBe('LIFEBOAT-READY vm=web-1');
    }
    expect(seen).toEqual([{ fromOffset: 3177 }, {}]);
  });
  it('an agent check that answered wrong keeps that answer when a later attempt only times out', async () => {
    const agentCheck: PlanCheck = {
      id: 'db/check/0',
      group: 'db',
      kind: 'agent',
      command: ['/health.sh'],
      expect: 'NOT-THERE',
      withinMs: 2_500,
    };
    let calls = 0;
    const driver = driverFor({
      site: 'east',
      agentExec: async (_vm, _argv, opts) => {
        calls++;
        if (calls === 1) return { exitCode: 0, stdout: 'LIFEBOAT-HEALTH ok\n', stderr: '' };
        await new Promise((r) => setTimeout(r, opts.timeoutMs));
        throw new Error(`guest exec of /health.sh did not finish within ${opts.timeoutMs} ms`);
      },
    });
    const err = await checkInActivity(driver, createGuestProbes(driver), {
      operationId: 'op',
      check: agentCheck,
      vm: 'db-1',
    }).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ type: 'CHECK_FAILED' });
    expect((err as Error).message).toContain('LIFEBOAT-HEALTH');
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
