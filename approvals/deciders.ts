/**
 * Who may decide a group paused by `onFailure: pause` (pure, sandbox-safe): an operator holding
 * one of the roles named by the group's approval steps (before or after, in any operation); when
 * the group has no approval step, an operator holding any role of the Plan. The people trusted
 * to let the group go ahead are the ones trusted to retry, skip or roll it back; a group nobody
 * gates is everybody's.
 */
import type { Plan, PlanGroup } from '../runbooks/plan.ts';

export function pauseDeciderRoles(group: PlanGroup | undefined, roles: Plan['roles']): string[] {
  const named = (group ? [...group.before, ...group.after] : []).flatMap((s) =>
    s.kind === 'approval' ? [s.role] : [],
  );
  return named.length > 0 ? [...new Set(named)] : Object.keys(roles);
}

/** The operators holding any of `eligible`, each once, in role order. */
export function holdersOf(eligible: readonly string[], roles: Plan['roles']): string[] {
  return [...new Set(eligible.flatMap((r) => roles[r] ?? []))];
}

/**
 * Who may lift a fence (`lifeboat unfence`) or commit or roll back a failover: an operator
 * holding a role that approves any of the runbook's gates; with no gate at all, any role of the
 * Plan. These decide where production runs, so they take the people trusted to let a failover
 * go ahead.
 */
export function approverRoles(plan: Pick<Plan, 'groups' | 'roles'>): string[] {
  const named = plan.groups.flatMap((g) =>
    [...g.before, ...g.after].flatMap((s) => (s.kind === 'approval' ? [s.role] : [])),
  );
  return named.length > 0 ? [...new Set(named)] : Object.keys(plan.roles);
}
