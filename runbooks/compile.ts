/**
 * compilePlan: a checked runbook to a Plan. Pure and total on runbooks the checker passed:
 * groups ordered into waves (topological layers of dependsOn), every default resolved, the
 * steps each operation runs and skips listed in execution order, and a content hash.
 */
import { DEFAULTS, defaultStepIn } from './defaults.ts';
import { parseDuration } from './durations.ts';
import { planHash } from './hash.ts';
import {
  OPERATION_KINDS,
  type OperationKind,
  PLAN_VERSION,
  type Plan,
  type PlanCheck,
  type PlanGroup,
  type PlanSite,
  type PlanStep,
  type SiteRole,
} from './plan.ts';
import type { Runbook, RunbookCheck, RunbookSite, RunbookStep } from './schema.ts';

export interface PlanSource {
  file: string;
  sha256: string;
}

function ms(text: string): number {
  const d = parseDuration(text);
  // Only reached for durations the checker refused, which never get here.
  return d.ok ? d.ms : 0;
}

function site(role: SiteRole, s: RunbookSite): PlanSite {
  return {
    role,
    name: s.name ?? role,
    driver: s.driver,
    uri: s.uri,
    storage: s.storage,
    networks: { ...(s.networks ?? {}) },
  };
}

function step(group: string, phase: 'before' | 'after', index: number, s: RunbookStep): PlanStep {
  const id = `${group}/${phase}/${index}`;
  if ('approval' in s) {
    const a = s.approval;
    return {
      id,
      group,
      in: a.in ?? defaultStepIn('approval'),
      kind: 'approval',
      role: a.role,
      withinMs: ms(a.within ?? DEFAULTS.approvalWithin),
      prompt: a.prompt ?? `Approve ${phase === 'before' ? 'starting' : 'finishing'} group ${group}?`,
    };
  }
  if ('run' in s) {
    const r = s.run;
    const out: PlanStep = {
      id,
      group,
      in: r.in ?? defaultStepIn('run'),
      kind: 'run',
      command: r.command,
      args: [...(r.args ?? [])],
      withinMs: ms(r.within ?? DEFAULTS.runWithin),
      on: r.on ?? DEFAULTS.runOn,
    };
    if (r.sha256 !== undefined) out.sha256 = r.sha256;
    return out;
  }
  return { id, group, in: s.wait.in ?? defaultStepIn('wait'), kind: 'wait', forMs: ms(s.wait.for) };
}

function check(group: string, index: number, c: RunbookCheck): PlanCheck {
  const id = `${group}/check/${index}`;
  const w = DEFAULTS.checkWithin;
  if ('agent' in c) {
    const a = c.agent;
    const command = typeof a.command === 'string' ? [a.command] : [...a.command];
    return { id, group, kind: 'agent', command, expect: a.expect ?? '', withinMs: ms(a.within ?? w.agent) };
  }
  if ('tcp' in c) return { id, group, kind: 'tcp', port: c.tcp.port, withinMs: ms(c.tcp.within ?? w.tcp) };
  if ('http' in c) {
    const h = c.http;
    return {
      id,
      group,
      kind: 'http',
      port: h.port,
      path: h.path ?? DEFAULTS.httpPath,
      expect: h.expect ?? DEFAULTS.httpExpect,
      withinMs: ms(h.within ?? w.http),
    };
  }
  if ('serial' in c) {
    return {
      id,
      group,
      kind: 'serial',
      pattern: c.serial.pattern,
      withinMs: ms(c.serial.within ?? w.serial),
    };
  }
  const command = c.data.command === undefined ? {} : { command: [...c.data.command] };
  return { id, group, kind: 'data', ...command, withinMs: ms(c.data.within ?? w.data) };
}

/** Topological layers: a group's wave is one past the latest wave of what it depends on. */
export function computeWaves(
  groups: readonly { name: string; dependsOn?: string[] | undefined }[],
): string[][] {
  const byName = new Map(groups.map((g) => [g.name, g]));
  const wave = new Map<string, number>();
  for (const g of groups) {
    // Iterative so 10,000-group chains do not overflow the stack; the checker ruled out cycles.
    const stack: { name: string; expanded: boolean }[] = [{ name: g.name, expanded: false }];
    while (stack.length > 0) {
      const top = stack.pop()!;
      if (wave.has(top.name)) continue;
      const deps = (byName.get(top.name)?.dependsOn ?? []).filter((d) => byName.has(d));
      if (!top.expanded) {
        stack.push({ name: top.name, expanded: true });
        for (const d of deps) if (!wave.has(d)) stack.push({ name: d, expanded: false });
        continue;
      }
      wave.set(
        top.name,
        deps.reduce((m, d) => Math.max(m, (wave.get(d) ?? 0) + 1), 0),
      );
    }
  }
  const waves: string[][] = [];
  for (const g of groups) {
    const w = wave.get(g.name) ?? 0;
    while (waves.length <= w) waves.push([]);
    waves[w]!.push(g.name);
  }
  return waves;
}

export function compilePlan(runbook: Runbook, source: PlanSource): Plan {
  const waves = computeWaves(runbook.groups);
  const waveOf = new Map<string, number>();
  waves.forEach((names, i) => {
    for (const n of names) waveOf.set(n, i);
  });
  const byName = new Map(runbook.groups.map((g) => [g.name, g]));
  const groups: PlanGroup[] = waves.flat().map((name) => {
    const g = byName.get(name)!;
    return {
      name,
      wave: waveOf.get(name) ?? 0,
      dependsOn: [...(g.dependsOn ?? [])],
      vms: g.vms.map((vm) => ({ name: vm, group: name })),
      checks: (g.checks ?? []).map((c, i) => check(name, i, c)),
      before: (g.before ?? []).map((s, i) => step(name, 'before', i, s)),
      after: (g.after ?? []).map((s, i) => step(name, 'after', i, s)),
      onFailure: g.onFailure ?? DEFAULTS.onFailure,
    };
  });

  const operations = {} as Plan['operations'];
  for (const op of OPERATION_KINDS) {
    const runs: string[] = [];
    const skips: string[] = [];
    for (const g of groups)
      for (const s of [...g.before, ...g.after]) (s.in.includes(op) ? runs : skips).push(s.id);
    operations[op] = { runs, skips };
  }

  const drill: NonNullable<Plan['drill']> = { network: runbook.drill?.network ?? DEFAULTS.drillNetwork };
  if (runbook.drill?.every !== undefined) drill.everyMs = ms(runbook.drill.every);
  if (runbook.drill?.keepAtMost !== undefined) drill.keepAtMostMs = ms(runbook.drill.keepAtMost);
  const failover: NonNullable<Plan['failover']> = {
    onCommitTimeout: runbook.failover?.onCommitTimeout ?? DEFAULTS.onCommitTimeout,
    network: runbook.failover?.network ?? DEFAULTS.failoverNetwork,
  };
  if (runbook.failover?.commitWithin !== undefined)
    failover.commitWithinMs = ms(runbook.failover.commitWithin);

  const planRunbook: Plan['runbook'] = {
    name: runbook.metadata.name,
    owner: runbook.metadata.owner,
    source: { file: source.file, sha256: source.sha256 },
  };
  if (runbook.metadata.description !== undefined) planRunbook.description = runbook.metadata.description;

  const operators: Plan['operators'] = {};
  for (const [name, o] of Object.entries(runbook.operators ?? {})) operators[name] = { key: o.key };
  const roles: Plan['roles'] = {};
  for (const [name, members] of Object.entries(runbook.roles ?? {})) roles[name] = [...members];

  const unhashed: Omit<Plan, 'hash'> = {
    version: PLAN_VERSION,
    runbook: planRunbook,
    objectives: { rpoMs: ms(runbook.objectives.rpo), rtoMs: ms(runbook.objectives.rto) },
    sites: {
      primary: site('primary', runbook.sites.primary),
      secondary: site('secondary', runbook.sites.secondary),
    },
    replication: {
      everyMs: ms(runbook.replication.every),
      consistency: runbook.replication.consistency ?? DEFAULTS.consistency,
      retentionPoints: runbook.replication.retention?.points ?? DEFAULTS.retentionPoints,
    },
    operators,
    roles,
    ...(runbook.administrators ? { administrators: [...runbook.administrators] } : {}),
    groups,
    waves,
    drill,
    failover,
    operations,
  };
  return { ...unhashed, hash: planHash(unhashed) };
}

/** The steps of a Plan by id, for callers that hold an id from `operations`. */
export function stepsById(plan: Plan): Map<string, PlanStep> {
  return new Map(plan.groups.flatMap((g) => [...g.before, ...g.after]).map((s) => [s.id, s]));
}

export function stepRuns(s: PlanStep, op: OperationKind): boolean {
  return s.in.includes(op);
}
