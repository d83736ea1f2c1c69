/**
 * `--live` without sites: inventories as data through the pure comparison, and live findings
 * placed at their node of the runbook file (the lab's runbook), in the static checks' format.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFindingPath, placeLiveFindings, renderLiveSummary } from '../../../cli/live.ts';
import { inventoryRequests, type ReachableSite, type SiteInventory } from '../../../drivers/inventory.ts';
import { checkInventories } from '../../../drivers/live-check.ts';
import { checkRunbookText, compileRunbookText, formatFinding } from '../../../runbooks/index.ts';

const FILE = 'runbooks/examples/lab.yaml';
const TEXT = readFileSync(FILE, 'utf8');
const plan = compileRunbookText(TEXT, FILE).plan!;
const groupOrder = checkRunbookText(TEXT, FILE).runbook!.groups.map((g) => g.name);
const GiB = 1024 ** 3;

function healthy(): { primary: ReachableSite; secondary: ReachableSite } {
  const storage = (path: string) => ({
    path,
    exists: true,
    writable: true,
    freeBytes: 50 * GiB,
    totalBytes: 60 * GiB,
  });
  const net = (name: string) => ({ name, active: true, persistent: true, autostart: true });
  return {
    primary: {
      site: 'primary',
      reachable: true,
      vms: inventoryRequests(plan).primary.vms.map((name) => ({
        name,
        found: true as const,
        info: {
          name,
          uuid: '',
          state: 'running' as const,
          memoryMiB: 128,
          vcpus: 1,
          disks: [{ target: 'vda', source: `/s/${name}.qcow2`, format: 'qcow2' }],
          nics: [{ network: 'production', mac: '' }],
          autostart: false,
        },
        images: [
          {
            target: 'vda',
            source: `/s/${name}.qcow2`,
            image: { path: `/s/${name}.qcow2`, format: 'qcow2', virtualSizeBytes: GiB, actualSizeBytes: 1 },
          },
        ],
      })),
      networks: [net('production')],
      storage: [storage(plan.sites.primary.storage)],
    },
    secondary: {
      site: 'secondary',
      reachable: true,
      vms: [],
      networks: [net('production'), net('bubble')],
      storage: [storage(plan.sites.secondary.storage)],
      host: { cpus: 2, totalMemoryBytes: 8 * GiB, freeMemoryBytes: 4 * GiB, availableMemoryBytes: 6 * GiB },
    },
  };
}

const place = (inv: Record<'primary' | 'secondary', SiteInventory>) =>
  placeLiveFindings(TEXT, FILE, checkInventories(plan, inv, { groupOrder }));

describe('live findings in the runbook file', () => {
  it('paths become segments', () => {
    expect(parseFindingPath('groups[1].vms[0]')).toEqual(['groups', 1, 'vms', 0]);
    expect(parseFindingPath('sites.secondary.networks.bubble')).toEqual([
      'sites',
      'secondary',
      'networks',
      'bubble',
    ]);
    expect(parseFindingPath('')).toEqual([]);
  });

  it('healthy sites give no finding', () => {
    expect(place(healthy())).toEqual([]);
  });

  it('a missing VM points at its entry in the vms list', () => {
    const s = healthy();
    s.primary.vms = s.primary.vms.map((v) => (v.name === 'app-2' ? { name: 'app-2', found: false } : v));
    const [f, ...rest] = place(s);
    expect(rest).toEqual([]);
    // `    vms: [app-1, app-2]` is line 54; app-2 starts at column 18.
    expect(formatFinding(f!)).toMatch(
      /^runbooks\/examples\/lab\.yaml:54:18: error: VM 'app-2' does not exist/,
    );
    expect(f).toMatchObject({ code: 'vm-missing', path: 'groups[1].vms[1]' });
  });

  it('groups[i] follows the file, not the waves: a runbook listing the web tier first', () => {
    // Move the `web` group (wave 3) to the top of `groups:`.
    const at = (needle: string) => TEXT.indexOf(needle);
    const [db, web, drill] = [at('  - name: database'), at('  - name: web'), at('drill:')];
    const text = TEXT.slice(0, db) + TEXT.slice(web, drill) + TEXT.slice(db, web) + TEXT.slice(drill);
    const file = 'reordered.yaml';
    const checked = checkRunbookText(text, file);
    const order = checked.runbook!.groups.map((g) => g.name);
    expect(order).toEqual(['web', 'database', 'app']);
    const p = compileRunbookText(text, file).plan!;
    expect(p.groups.map((g) => g.name)).toEqual(['database', 'app', 'web']);
    const s = healthy();
    s.primary.vms = s.primary.vms.map((v) => (v.name === 'web-1' ? { name: 'web-1', found: false } : v));
    const [f, ...rest] = placeLiveFindings(text, file, checkInventories(p, s, { groupOrder: order }));
    expect(rest).toEqual([]);
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('vms: [web-1]')) + 1;
    expect(f).toMatchObject({ code: 'vm-missing', path: 'groups[0].vms[0]', line, col: 11 });
  });

  it('a missing network and a full disk point at their values', () => {
    const s = healthy();
    s.secondary.networks = s.secondary.networks.filter((n) => n.name !== 'bubble');
    s.secondary.storage = [{ ...s.secondary.storage[0]!, freeBytes: GiB }];
    const f = place(s);
    expect(f.map((x) => [x.code, x.line, x.col])).toEqual([
      ['network-missing', 38, 15],
      ['insufficient-space', 35, 14],
    ]);
  });

  it('a site without a worker is one finding at its name; the other site is still checked', () => {
    const s = healthy();
    s.primary.vms = s.primary.vms.filter((v) => v.name !== 'db-1');
    const f = place({
      primary: s.primary,
      secondary: {
        site: 'secondary',
        reachable: false,
        reason: 'no-worker',
        message: 'no worker of site secondary picked the request up within 30 s',
        hint: 'start it',
      },
    });
    expect(f.map((x) => [x.code, x.line, x.col])).toEqual([
      ['site-worker-unavailable', 32, 11],
      ['vm-missing', 46, 11],
    ]);
    expect(f[0]?.message).toContain('no worker of site secondary');
  });

  it('an unreachable hypervisor points at the site URI', () => {
    const f = place({
      primary: {
        site: 'primary',
        reachable: false,
        reason: 'hypervisor-unreachable',
        message: 'socket gone',
        hint: 'h',
      },
      secondary: healthy().secondary,
    });
    expect(f.map((x) => [x.code, x.path, x.line])).toEqual([['site-unreachable', 'sites.primary.uri', 27]]);
  });

  it('the summary states what the secondary needs and has', () => {
    const text = renderLiveSummary(plan, healthy());
    expect(text).toContain(
      'failover needs 4.40 GiB of storage (replicas 4.00 GiB + overlays 0.40 GiB); 50.00 GiB free',
    );
    expect(text).toContain('failover needs 0.75 GiB of memory for 4 VMs; 6.00 GiB available');
    expect(text).toMatch(/db-1\s+running/);
  });
});
