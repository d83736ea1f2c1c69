/**
 * What `lifeboat failover --dry-run` prints: the point each VM would be built from and its age,
 * the waves and groups in order, the gates and who may approve them, the memory the VMs need at
 * the secondary, and for a planned failover the order the primary's VMs are shut down in. Pure:
 * the command reads the replica store and hands the point set in; nothing is changed anywhere.
 */
import type { PointSetChoice } from '../restore/point-set.ts';
import type { Plan } from '../runbooks/plan.ts';
import { stepsFor } from '../workflows/vm-actions.ts';

export interface DryRunPoint {
  vm: string;
  pointId: string;
  checkpointAt: string;
  integrity: 'verified' | 'failed' | 'not-yet';
  memoryMiB: number;
}

export function renderFailoverDryRun(
  plan: Plan,
  mode: 'planned' | 'disaster',
  choice: PointSetChoice<DryRunPoint> | { ok: false; message: string; hint: string },
  now: number,
): string[] {
  const out = [`failover of ${plan.runbook.name} (${mode}), dry run: nothing is changed`];
  out.push('', 'points at the secondary:');
  if (!choice.ok) {
    out.push(`  none usable: ${choice.message} (${choice.hint})`);
  } else {
    for (const p of choice.points) {
      const age = Math.max(0, Math.round((now - Date.parse(p.checkpointAt)) / 1000));
      out.push(
        `  ${p.vm}: ${p.pointId} (captured ${p.checkpointAt}, ${age} s ago, integrity ${p.integrity})`,
      );
    }
    out.push(
      mode === 'planned'
        ? '  a planned failover builds from the final cycle run after the shutdown: no data lost'
        : `  expected data-loss window: ${Math.max(0, Math.round((now - Date.parse(choice.capturedAt)) / 1000))} s (RPO objective ${Math.round(plan.objectives.rpoMs / 1000)} s)`,
    );
    const memory = choice.points.reduce((s, p) => s + p.memoryMiB, 0);
    out.push(
      `  capacity: the VMs need ${memory} MiB of memory and an overlay each at ${plan.sites.secondary.name}; the failover's preflight checks free memory, room and the production network there before any primary VM is touched`,
    );
  }
  const byName = new Map(plan.groups.map((g) => [g.name, g]));
  if (mode === 'planned') {
    out.push('', 'shutdown order at the primary (reverse dependency order; agent, then ACPI, then forced):');
    for (const [i, wave] of [...plan.waves].reverse().entries()) {
      const vms = wave.flatMap((g) => byName.get(g)?.vms.map((v) => v.name) ?? []);
      out.push(`  ${i + 1}. ${vms.join(', ')}`);
    }
  } else {
    out.push(
      '',
      `fence: the primary (${plan.sites.primary.name}) is fenced first; its VMs are forced off if it answers`,
    );
  }
  out.push(
    '',
    `start order at the secondary (network ${plan.sites.secondary.networks.production ?? 'production'}):`,
  );
  for (const [w, wave] of plan.waves.entries()) {
    out.push(`  wave ${w}:`);
    for (const name of wave) {
      const g = byName.get(name);
      if (!g) continue;
      out.push(`    ${g.name}: ${g.vms.map((v) => v.name).join(', ')} (onFailure ${g.onFailure})`);
      for (const s of [...stepsFor('failover', g.before), ...stepsFor('failover', g.after)]) {
        if (s.kind === 'approval') {
          const who = plan.roles[s.role] ?? [];
          out.push(
            `      gate ${s.id}: role ${s.role}, approvers ${who.join(', ') || '(nobody holds the role)'}, within ${Math.round(s.withinMs / 1000)} s`,
          );
        } else if (s.kind === 'run') out.push(`      step ${s.id}: run ${s.command} on ${s.on}`);
        else out.push(`      step ${s.id}: wait ${Math.round(s.forMs / 1000)} s`);
      }
      for (const c of g.checks) out.push(`      check ${c.id}: ${c.kind}`);
    }
  }
  const f = plan.failover;
  if (f?.commitWithinMs) {
    out.push(
      '',
      `then waits ${Math.round(f.commitWithinMs / 1000)} s for \`lifeboat commit ${plan.runbook.name}\`; on timeout: ${mode === 'disaster' ? 'keep (no primary to roll back to)' : f.onCommitTimeout}`,
    );
  }
  return out;
}
