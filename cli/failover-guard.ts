/**
 * What the CLI checks against the sites before a failover (pure; the command fetches the sites'
 * inventories through their workers and hands them in):
 * - `disasterGuard`: a `--disaster` while the primary answers and is not fenced would leave the
 *   runbook's VMs running at both sites until the primary's worker fences them; it is refused
 *   unless confirmed twice (`--yes --yes`) or acknowledged (`--acknowledge-fence "<reason>"`).
 * - `capacityAtSecondary`: the memory the restored VMs need against what the secondary's host has
 *   available, and the room in its storage, from its real inventory.
 */
import type { SiteInventory } from '../drivers/inventory.ts';
import type { Plan } from '../runbooks/plan.ts';

export type DisasterGuard = { ok: true; warning?: string } | { ok: false; message: string; hint: string };

export function disasterGuard(o: {
  plan: Plan;
  primary: SiteInventory;
  /** The controller's state has a fence on the primary already. */
  fenced: boolean;
  /** How many times `--yes` was given. */
  yesCount: number;
  fenceAck?: string;
}): DisasterGuard {
  const site = o.plan.sites.primary.name;
  if (!o.primary.reachable) {
    return {
      ok: true,
      warning: `the primary (${site}) does not answer (${o.primary.message}): it is fenced when its worker is back`,
    };
  }
  if (o.fenced) return { ok: true, warning: `the primary (${site}) answers; it is fenced already` };
  const running = o.primary.vms.filter((v) => v.found && v.info.state === 'running').map((v) => v.name);
  const warning =
    `the primary (${site}) answers and is not fenced` +
    (running.length > 0 ? `; running there: ${running.join(', ')}` : '') +
    ': its VMs are forced off by the fence, and whatever they wrote after the newest point is lost';
  if (o.yesCount >= 2 || (o.fenceAck !== undefined && o.fenceAck.trim() !== '')) return { ok: true, warning };
  return {
    ok: false,
    message: `${warning}. Nothing was started.`,
    hint: 'a primary that answers wants `--planned` (no data lost); to fence it anyway confirm twice (`--yes --yes`) or acknowledge the fence (`--acknowledge-fence "why"`)',
  };
}

export interface CapacityCheck {
  ok: boolean;
  lines: string[];
}

const MiB = 1024 * 1024;

/** The restored VMs' memory against the secondary's available memory, and its storage's room. */
export function capacityAtSecondary(plan: Plan, needMiB: number, secondary: SiteInventory): CapacityCheck {
  const site = plan.sites.secondary.name;
  if (!secondary.reachable) {
    return {
      ok: false,
      lines: [`capacity at ${site}: not checked, the site does not answer (${secondary.message})`],
    };
  }
  const lines: string[] = [];
  let ok = true;
  if (secondary.host) {
    const avail = Math.floor(secondary.host.availableMemoryBytes / MiB);
    const enough = avail >= needMiB;
    ok &&= enough;
    lines.push(
      `capacity at ${site}: memory ${needMiB} MiB needed, ${avail} MiB available of ${Math.floor(secondary.host.totalMemoryBytes / MiB)} MiB: ${enough ? 'ok' : 'NOT ENOUGH'}`,
    );
  } else lines.push(`capacity at ${site}: the host's memory was not reported`);
  for (const s of secondary.storage) {
    lines.push(
      `  storage ${s.path}: ${s.exists ? `${Math.floor(s.freeBytes / MiB)} MiB free for the overlays` : 'missing'}`,
    );
  }
  return { ok, lines };
}
