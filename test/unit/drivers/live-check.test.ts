/**
 * The live-check rules over in-memory sites (the logic only); the same checks against the real
 * lab are in test/integration/drivers/live-check.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CommandFailedError, SiteUnreachableError, VmNotFoundError } from '../../../drivers/errors.ts';
import { liveCheck } from '../../../drivers/live-check.ts';
import type {
  HostInfo,
  ImageInfo,
  NetworkInfo,
  SiteDriver,
  StorageInfo,
  VmInfo,
} from '../../../drivers/types.ts';
import { compileRunbookText } from '../../../runbooks/index.ts';

const GiB = 1024 ** 3;
const file = 'runbooks/examples/payments.yaml';
const compiled = compileRunbookText(readFileSync(file, 'utf8'), file);
const plan = compiled.plan!;

interface SiteState {
  name: string;
  vms: VmInfo[];
  networks: NetworkInfo[];
  storage: StorageInfo;
  host: HostInfo;
  images: Record<string, ImageInfo>;
  dead?: boolean;
}

/** Only the read methods live checks use; the others are never called. */
function site(s: SiteState): SiteDriver {
  const alive = <T>(v: T): T => {
    if (s.dead) throw new SiteUnreachableError({ site: s.name }, 'socket gone');
    return v;
  };
  const unused = async (): Promise<never> => {
    throw new Error('live checks must not act on a site');
  };
  return {
    site: s.name,
    listVms: async () => alive(s.vms),
    inspectVm: async (name) => {
      alive(null);
      const vm = s.vms.find((v) => v.name === name);
      if (!vm) throw new VmNotFoundError({ site: s.name, vm: name });
      return vm;
    },
    listNetworks: async () => alive(s.networks),
    storageInfo: async () => alive(s.storage),
    hostInfo: async () => alive(s.host),
    imageInfo: async (p) => {
      alive(null);
      const i = s.images[p];
      if (!i) throw new CommandFailedError({ site: s.name }, `no ${p}`);
      return i;
    },
    domainDefinition: unused,
    defineVm: unused,
    undefineVm: unused,
    startVm: unused,
    shutdownVm: unused,
    destroyVm: unused,
    agentExec: unused,
    agentReadFile: unused,
    agentWriteFile: unused,
    readSerial: unused,
    waitSerial: unused,
    serialRunOffset: unused,
    vmAddresses: unused,
    setAutostart: unused,
    createTransient: unused,
  };
}

const allVms = plan.groups.flatMap((g) => g.vms.map((v) => v.name));
function healthy(): { primary: SiteState; secondary: SiteState } {
  const vms: VmInfo[] = allVms.map((name) => ({
    name,
    uuid: '',
    state: 'running',
    memoryMiB: 256,
    vcpus: 1,
    disks: [{ target: 'vda', source: `/p/${name}.qcow2`, format: 'qcow2' }],
    nics: [{ network: 'prod', mac: '' }],
    autostart: true,
  }));
  const net = (name: string): NetworkInfo => ({ name, active: true, persistent: true, autostart: true });
  const storage: StorageInfo = {
    path: '/s',
    exists: true,
    writable: true,
    freeBytes: 100 * GiB,
    totalBytes: 200 * GiB,
  };
  const host: HostInfo = {
    cpus: 2,
    totalMemoryBytes: 24 * GiB,
    freeMemoryBytes: 20 * GiB,
    availableMemoryBytes: 22 * GiB,
  };
  return {
    primary: {
      name: 'paris',
      vms,
      networks: [net('prod')],
      storage,
      host,
      images: Object.fromEntries(
        allVms.map((n) => [
          `/p/${n}.qcow2`,
          { path: `/p/${n}.qcow2`, format: 'qcow2', virtualSizeBytes: GiB, actualSizeBytes: 1 },
        ]),
      ),
    },
    secondary: {
      name: 'lyon',
      vms: [],
      networks: [net('dr-prod'), net('lifeboat-bubble')],
      storage,
      host,
      images: {},
    },
  };
}

const run = (s: ReturnType<typeof healthy>, opts = {}) =>
  liveCheck(plan, { primary: site(s.primary), secondary: site(s.secondary) }, opts);

describe('liveCheck', () => {
  it('finds nothing wrong with healthy sites', async () => {
    expect(compiled.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(await run(healthy())).toEqual([]);
  });

  it('a VM missing at the primary points at its entry in the runbook', async () => {
    const s = healthy();
    const missing = plan.groups[1]!.vms[0]!.name;
    s.primary.vms = s.primary.vms.filter((v) => v.name !== missing);
    const groupOrder = [...plan.groups.map((g) => g.name)].reverse();
    const f = await run(s, { groupOrder });
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      code: 'vm-missing',
      severity: 'error',
      site: 'primary',
      path: `groups[${groupOrder.indexOf(plan.groups[1]!.name)}].vms[0]`,
    });
    expect(f[0]?.message).toContain(missing);
  });

  it('a mapped network missing at the secondary, and an inactive one', async () => {
    const s = healthy();
    s.secondary.networks = [{ name: 'dr-prod', active: false, persistent: true, autostart: false }];
    const f = await run(s);
    expect(f.map((x) => [x.code, x.path])).toEqual([
      ['network-inactive', 'sites.secondary.networks.production'],
      ['network-missing', 'sites.secondary.networks.bubble'],
    ]);
  });

  it('a VM on a network the runbook does not map', async () => {
    const s = healthy();
    s.primary.vms[0]!.nics = [{ network: 'backup-lan', mac: '' }];
    const f = await run(s);
    expect(f.map((x) => x.code)).toEqual(['vm-network-unmapped']);
    expect(f[0]?.message).toContain('backup-lan');
  });

  it('an unreadable disk image', async () => {
    const s = healthy();
    s.primary.images = {};
    const f = await run(s);
    expect(new Set(f.map((x) => x.code))).toEqual(new Set(['disk-unreadable']));
    expect(f).toHaveLength(allVms.length);
  });

  it('storage missing, not writable, or too small for replicas plus overlays', async () => {
    const missing = healthy();
    missing.secondary.storage = { ...missing.secondary.storage, exists: false, writable: false };
    expect((await run(missing)).map((x) => [x.code, x.path])).toEqual([
      ['storage-missing', 'sites.secondary.storage'],
    ]);

    const ro = healthy();
    ro.primary.storage = { ...ro.primary.storage, writable: false };
    expect((await run(ro)).map((x) => [x.code, x.path])).toEqual([
      ['storage-not-writable', 'sites.primary.storage'],
    ]);

    const full = healthy();
    // Replicas need allVms x 1 GiB, overlays 10% more: just under that is too little.
    full.secondary.storage = { ...full.secondary.storage, freeBytes: allVms.length * GiB * 1.1 - 1 };
    const f = await run(full);
    expect(f.map((x) => [x.code, x.path])).toEqual([['insufficient-space', 'sites.secondary.storage']]);
    full.secondary.storage.freeBytes = allVms.length * GiB * 1.1 + allVms.length;
    expect(await run(full)).toEqual([]);
  });

  it('not enough memory at the secondary for the failover VMs', async () => {
    const s = healthy();
    s.secondary.host = { ...s.secondary.host, availableMemoryBytes: allVms.length * 256 * 1024 * 1024 };
    const f = await run(s);
    expect(f.map((x) => [x.code, x.path])).toEqual([['insufficient-memory', 'sites.secondary']]);
  });

  it('disk targets the Plan expects', async () => {
    const s = healthy();
    const withDisks = structuredClone(plan);
    (withDisks.groups[0]!.vms[0] as { disks?: string[] }).disks = ['vda', 'vdb'];
    const f = await liveCheck(withDisks, { primary: site(s.primary), secondary: site(s.secondary) });
    expect(f.map((x) => x.code)).toEqual(['disk-mismatch']);
  });

  it('a dead site is one finding, and its other checks are skipped', async () => {
    const s = healthy();
    s.secondary.dead = true;
    const f = await run(s);
    expect(f).toEqual([
      expect.objectContaining({ code: 'site-unreachable', path: 'sites.secondary.uri', site: 'secondary' }),
    ]);
  });
});
