/** A `--disaster` against a primary that answers, and the dry run's capacity (cli/failover-guard.ts). */
import { describe, expect, it } from 'vitest';
import { capacityAtSecondary, disasterGuard } from '../../../cli/failover-guard.ts';
import type { SiteInventory, VmInventory } from '../../../drivers/inventory.ts';
import type { VmInfo } from '../../../drivers/types.ts';
import type { Plan } from '../../../runbooks/plan.ts';

const plan = {
  runbook: { name: 'payments' },
  sites: { primary: { name: 'east' }, secondary: { name: 'west' } },
} as unknown as Plan;
const MiB = 1024 * 1024;
const vm = (name: string, state: VmInfo['state']): VmInventory => ({
  name,
  found: true,
  info: { name, state } as VmInfo,
  images: [],
});
const answering: SiteInventory = {
  site: 'east',
  reachable: true,
  vms: [vm('db-1', 'running'), vm('app-1', 'shut off')],
  networks: [],
  storage: [],
};
const silent: SiteInventory = {
  site: 'east',
  reachable: false,
  reason: 'no-worker',
  message: 'no worker of site east picked the request up within 10 s',
  hint: '',
};

describe('disasterGuard', () => {
  it('refuses an answering, unfenced primary with one --yes, naming what runs there', () => {
    const g = disasterGuard({ plan, primary: answering, fenced: false, yesCount: 1 });
    expect(g.ok).toBe(false);
    if (g.ok) return;
    expect(g.message).toBe(
      'the primary (east) answers and is not fenced; running there: db-1: its VMs are forced off by the fence, and whatever they wrote after the newest point is lost. Nothing was started.',
    );
    expect(g.hint).toMatch(/--planned.*--yes --yes.*--acknowledge-fence/);
    expect(disasterGuard({ plan, primary: answering, fenced: false, yesCount: 1, fenceAck: '  ' }).ok).toBe(
      false,
    );
  });

  it('goes on, with a warning, when confirmed twice or acknowledged', () => {
    for (const g of [
      disasterGuard({ plan, primary: answering, fenced: false, yesCount: 2 }),
      disasterGuard({ plan, primary: answering, fenced: false, yesCount: 0, fenceAck: 'east floods' }),
    ]) {
      expect(g).toMatchObject({ ok: true, warning: expect.stringContaining('answers and is not fenced') });
    }
  });

  it('goes on when the primary is silent or already fenced', () => {
    expect(disasterGuard({ plan, primary: silent, fenced: false, yesCount: 1 })).toMatchObject({
      ok: true,
      warning: expect.stringContaining('does not answer'),
    });
    expect(disasterGuard({ plan, primary: answering, fenced: true, yesCount: 1 }).ok).toBe(true);
  });
});

describe('capacityAtSecondary', () => {
  const west = (availableMiB: number): SiteInventory => ({
    site: 'west',
    reachable: true,
    vms: [],
    networks: [],
    storage: [{ path: '/s', exists: true, writable: true, freeBytes: 900 * MiB, totalBytes: 1000 * MiB }],
    host: {
      cpus: 2,
      totalMemoryBytes: 4096 * MiB,
      freeMemoryBytes: 0,
      availableMemoryBytes: availableMiB * MiB,
    },
  });
  it('compares the memory needed with what the host has available', () => {
    expect(capacityAtSecondary(plan, 512, west(1024))).toEqual({
      ok: true,
      lines: [
        'capacity at west: memory 512 MiB needed, 1024 MiB available of 4096 MiB: ok',
        '  storage /s: 900 MiB free for the overlays',
      ],
    });
    const short = capacityAtSecondary(plan, 2048, west(1024));
    expect(short.ok).toBe(false);
    expect(short.lines[0]).toMatch(/NOT ENOUGH$/);
  });
  it('says when the secondary did not answer', () => {
    expect(capacityAtSecondary(plan, 1, { ...silent, site: 'west' })).toEqual({
      ok: false,
      lines: [
        'capacity at west: not checked, the site does not answer (no worker of site east picked the request up within 10 s)',
      ],
    });
  });
});
