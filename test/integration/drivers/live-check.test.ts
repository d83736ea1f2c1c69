/**
 * Live checks of the lab's runbook against the running lab: clean when everything is there;
 * a missing VM, a missing network and a full storage volume (a small loop-mounted ext4) are
 * each reported at the right place in the runbook.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveCheck } from '../../../drivers/live-check.ts';
import { checkRunbookText, compileRunbookText } from '../../../runbooks/index.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import { ensureLab, labDriver } from './lab-site.ts';

const exec = promisify(execFile);
const FILE = 'runbooks/examples/lab.yaml';
const FULL_DIR = `/tmp/lbdrv/full-${process.pid}`;
const FULL_IMG = `/tmp/lbdrv/full-${process.pid}.img`;

let plan: Plan;
let groupOrder: string[];
const drivers = { primary: labDriver('primary'), secondary: labDriver('secondary') };

beforeAll(async () => {
  await ensureLab();
  const text = await readFile(FILE, 'utf8');
  plan = compileRunbookText(text, FILE).plan!;
  groupOrder = checkRunbookText(text, FILE).runbook!.groups.map((g) => g.name);
  // A 16 MiB ext4 volume, loop-mounted: far too small for the lab's replicas.
  await mkdir(FULL_DIR, { recursive: true });
  await exec('truncate', ['-s', '16M', FULL_IMG]);
  await exec('mkfs.ext4', ['-q', '-F', FULL_IMG]);
  await exec('mount', ['-o', 'loop', FULL_IMG, FULL_DIR]);
});

afterAll(async () => {
  await exec('umount', [FULL_DIR]).catch(() => undefined);
  await rm(FULL_DIR, { recursive: true, force: true });
  await rm(FULL_IMG, { force: true });
});

describe('liveCheck against the lab', () => {
  it('finds nothing wrong with the lab as it is up', async () => {
    expect(await liveCheck(plan, drivers, { groupOrder })).toEqual([]);
  });

  it('reports a VM missing at the primary at its place in the runbook', async () => {
    const p = structuredClone(plan);
    const g = p.groups.find((x) => x.name === 'app')!;
    g.vms.push({ name: 'app-9', group: 'app' });
    const f = await liveCheck(p, drivers, { groupOrder });
    expect(f).toEqual([
      expect.objectContaining({
        code: 'vm-missing',
        severity: 'error',
        site: 'primary',
        path: `groups[${groupOrder.indexOf('app')}].vms[2]`,
      }),
    ]);
  });

  it('reports a mapped network the secondary does not have', async () => {
    const p = structuredClone(plan);
    p.sites.secondary.networks.bubble = 'no-such-bubble';
    const f = await liveCheck(p, drivers, { groupOrder });
    expect(f.map((x) => [x.code, x.path])).toEqual([['network-missing', 'sites.secondary.networks.bubble']]);
    expect(f[0]?.hint).toContain('bubble');
  });

  it('reports a secondary storage volume too small for the replicas and overlays', async () => {
    const p = structuredClone(plan);
    p.sites.secondary.storage = FULL_DIR;
    const f = await liveCheck(p, drivers, { groupOrder });
    expect(f.map((x) => [x.code, x.path])).toEqual([['insufficient-space', 'sites.secondary.storage']]);
  });

  it('reports storage that is not writable', async () => {
    await exec('mount', ['-o', 'remount,ro', FULL_DIR]);
    try {
      const p = structuredClone(plan);
      p.sites.primary.storage = FULL_DIR;
      const f = await liveCheck(p, drivers, { groupOrder });
      expect(f.map((x) => [x.code, x.path])).toEqual([['storage-not-writable', 'sites.primary.storage']]);
    } finally {
      await exec('mount', ['-o', 'remount,rw', FULL_DIR]);
    }
  });
});
