/**
 * Checks on the dependency graph: unknown dependencies, cycles (named in order) and the chain of
 * approval waits a failover can meet, against the RTO. Iterative walks, so 10,000 groups cannot
 * overflow the stack.
 */
import { type Add, durationMs, type GroupView, type Obj, obj, own } from './check-view.ts';
import { formatDuration } from './durations.ts';
import { didYouMean } from './findings.ts';

export function checkDependencies(groups: GroupView[], byName: Map<string, GroupView>, add: Add): void {
  const names = [...byName.keys()];
  for (const g of groups) {
    for (const d of g.dependsOn) {
      if (byName.has(d.name)) continue;
      const guess = didYouMean(d.name, names);
      add(['groups', g.index, 'dependsOn', d.index], {
        code: 'unknown-dependency',
        message: `group '${g.name ?? g.index}' depends on '${d.name}', which is not a group`,
        hint: guess ? `did you mean '${guess}'?` : `groups are: ${names.slice(0, 10).join(', ')}`,
      });
    }
  }
}

/** Reports each dependency cycle once, named in order; returns whether any exists. */
export function checkCycles(groups: GroupView[], byName: Map<string, GroupView>, add: Add): boolean {
  // Iterative DFS (10,000-group runbooks must not blow the stack) with white/grey/black marks.
  const state = new Map<GroupView, 1 | 2>();
  let found = false;
  for (const start of groups) {
    if (start.name === undefined || byName.get(start.name) !== start || state.has(start)) continue;
    const stack: { g: GroupView; next: number }[] = [{ g: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.g.dependsOn.length) {
        state.set(top.g, 2);
        stack.pop();
        continue;
      }
      const edge = top.g.dependsOn[top.next++]!;
      const dep = byName.get(edge.name);
      if (!dep) continue;
      const s = state.get(dep);
      if (s === undefined) {
        state.set(dep, 1);
        stack.push({ g: dep, next: 0 });
      } else if (s === 1) {
        found = true;
        const from = stack.findIndex((f) => f.g === dep);
        const cycle = stack.slice(from).map((f) => f.g.name ?? '?');
        // Point at the edge that closes the cycle: the one the DFS just followed.
        add(['groups', top.g.index, 'dependsOn', edge.index], {
          code: 'dependency-cycle',
          message: `dependency cycle: ${[...cycle, dep.name].join(' -> ')}`,
          hint: 'remove one of these dependsOn entries',
        });
      }
    }
  }
  return found;
}

/**
 * The worst chain of approval waits a failover can meet: the longest path through the
 * dependency graph, weighting each group by its approvals' `within`.
 */
export function checkApprovalTime(
  root: Obj,
  groups: GroupView[],
  byName: Map<string, GroupView>,
  add: Add,
): void {
  const rto = durationMs(own(obj(own(root, 'objectives')), 'rto'));
  if (rto === undefined) return;
  const gates = (g: GroupView) => g.steps.filter((s) => s.kind === 'approval' && s.in.includes('failover'));
  const weight = (g: GroupView) => gates(g).reduce((sum, s) => sum + (s.withinMs ?? 0), 0);
  const best = new Map<GroupView, { total: number; prev?: GroupView }>();
  const visit = (start: GroupView) => {
    // Iterative post-order so deep chains do not overflow the stack; the graph is acyclic here.
    const stack: { g: GroupView; expanded: boolean }[] = [{ g: start, expanded: false }];
    while (stack.length > 0) {
      const top = stack.pop()!;
      if (best.has(top.g)) continue;
      const deps = top.g.dependsOn
        .map((d) => byName.get(d.name))
        .filter((d): d is GroupView => d !== undefined);
      if (!top.expanded) {
        stack.push({ g: top.g, expanded: true });
        for (const d of deps) if (!best.has(d)) stack.push({ g: d, expanded: false });
        continue;
      }
      let total = 0;
      let prev: GroupView | undefined;
      for (const d of deps) {
        const t = best.get(d)?.total ?? 0;
        if (t > total || prev === undefined) {
          total = t;
          prev = d;
        }
      }
      const entry: { total: number; prev?: GroupView } = { total: total + weight(top.g) };
      if (prev) entry.prev = prev;
      best.set(top.g, entry);
    }
  };
  let worst: GroupView | undefined;
  for (const g of groups) {
    visit(g);
    if (!worst || (best.get(g)?.total ?? 0) > (best.get(worst)?.total ?? 0)) worst = g;
  }
  if (!worst || (best.get(worst)?.total ?? 0) <= rto) return;
  const chain: GroupView[] = [];
  for (let g: GroupView | undefined = worst; g; g = best.get(g)?.prev) chain.unshift(g);
  // Point at the approval whose wait pushes the sum past the RTO.
  let sum = 0;
  for (const g of chain) {
    for (const s of gates(g)) {
      sum += s.withinMs ?? 0;
      if (sum > rto) {
        add(s.withinGiven ? [...s.path, 'within'] : s.path, {
          severity: 'warning',
          code: 'approvals-exceed-rto',
          message: `approval waits on the path ${chain.map((c) => c.name ?? '?').join(' -> ')} add up to ${formatDuration(best.get(worst)?.total ?? 0)}, past the RTO of ${formatDuration(rto)}`,
          hint: "shorten the approvals' within, or accept that a slow decision breaks the RTO",
        });
        return;
      }
    }
  }
}
