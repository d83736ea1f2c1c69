/**
 * A site whose daemon accepts connections but never answers (hung, or a black-holed link):
 * real virsh against a silent unix socket. The call bound turns it into SiteUnreachableError
 * instead of a hang; a socket with nobody behind it fails at once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiteUnreachableError } from '../../../drivers/errors.ts';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { LibvirtSession } from '../../../replication/export/libvirt-session.ts';

let dir: string;
let server: Server;
const held: Socket[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lbdrv-silent-'));
  server = createServer((s) => {
    held.push(s);
  });
  await new Promise<void>((r) => server.listen(join(dir, 'libvirt-sock'), r));
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('an unreachable site', () => {
  it('a silent daemon is SiteUnreachableError once the call bound passes', async () => {
    const driver = createLibvirtDriver({
      site: 'silent',
      uri: `qemu:///system?socket=${join(dir, 'libvirt-sock')}`,
      storage: '/tmp',
      callTimeoutMs: 2_000,
    });
    const err = await driver.listVms().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SiteUnreachableError);
    expect((err as SiteUnreachableError).message).toContain('2000 ms');
    expect(held.length).toBeGreaterThan(0);
  });

  it("the export's libvirt session gives up on a silent daemon at its bound, and says so", async () => {
    const session = new LibvirtSession(`qemu:///system?socket=${join(dir, 'libvirt-sock')}`);
    try {
      const held0 = held.length;
      const err = await session.call({ op: 'state', domain: 'vm1' }, 2_000).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'VIRSH_FAILED', retryable: true });
      expect((err as Error).message).toContain('no answer within 2000 ms');
      expect(held.length).toBeGreaterThan(held0);
      // The hung process was ended: the next call starts another, which connects again.
      await session.call({ op: 'state', domain: 'vm1' }, 2_000).catch(() => undefined);
      expect(held.length).toBeGreaterThan(held0 + 1);
    } finally {
      session.close();
    }
  });

  it("the export's libvirt session with no daemon behind the socket fails at once, retryably", async () => {
    const session = new LibvirtSession(`qemu:///system?socket=${join(dir, 'nothing-here')}`);
    try {
      const err = await session.call({ op: 'checkpoints', domain: 'vm1' }, 10_000).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'VIRSH_FAILED', retryable: true });
      expect((err as Error).message).toContain('Failed to connect socket');
    } finally {
      session.close();
    }
  });

  it('a socket with no daemon behind it fails at once with the connection error', async () => {
    const driver = createLibvirtDriver({
      site: 'gone',
      uri: `qemu:///system?socket=${join(dir, 'nothing-here')}`,
      storage: '/tmp',
    });
    const err = await driver.inspectVm('vm1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SiteUnreachableError);
    expect((err as SiteUnreachableError).stderr).toContain('Failed to connect socket');
    expect((err as SiteUnreachableError).vm).toBe('vm1');
  });
});
