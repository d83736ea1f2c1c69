/**
 * A Plan as a person reads it, like `terraform plan`: objectives, sites, then each wave with its
 * groups, VMs, gates (with who may approve), hooks, waits and checks. With an operation, the
 * steps it skips are shown as skipped. Pure: colours come in as functions.
 */
import { formatDuration } from './durations.ts';
import type { OperationKind, Plan, PlanCheck, PlanStep } from './plan.ts';

export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export const noPaint: Paint = {
  bold: (s) => s,
  dim: (s) => s,
  green: (s) => s,
  yellow: (s) => s,
  cyan: (s) => s,
};

function describeStep(plan: Plan, s: PlanStep): string {
  switch (s.kind) {
    case 'approval': {
      const who = plan.roles[s.role] ?? [];
      return `gate   approval by ${s.role} (${who.join(', ') || 'nobody'}) within ${formatDuration(s.withinMs)}: ${JSON.stringify(s.prompt)}`;
    }
    case 'run': {
      const args = s.args.map((a) => JSON.stringify(a)).join(' ');
      const digest = s.sha256 ? ` sha256 ${s.sha256.slice(0, 12)}...` : '';
      return `hook   ${s.command}${args ? ` ${args}` : ''} on ${s.on} (${plan.sites[s.on].name}) within ${formatDuration(s.withinMs)}${digest}`;
    }
    case 'wait':
      return `wait   ${formatDuration(s.forMs)}`;
  }
}

function describeCheck(c: PlanCheck): string {
  const within = `within ${formatDuration(c.withinMs)}`;
  switch (c.kind) {
    case 'agent':
      return `check  agent ${c.command.map((a) => JSON.stringify(a)).join(' ')}${c.expect ? ` expects ${JSON.stringify(c.expect)}` : ''} ${within}`;
    case 'tcp':
      return `check  tcp :${c.port} ${within}`;
    case 'http':
      return `check  http :${c.port}${c.path} expects ${c.expect} ${within}`;
    case 'serial':
      return `check  serial /${c.pattern}/ ${within}`;
    case 'data':
      return `check  data matches its recovery point ${within}`;
  }
}

export function renderPlan(plan: Plan, op: OperationKind | undefined, paint: Paint = noPaint): string {
  const out: string[] = [];
  const { primary, secondary } = plan.sites;
  out.push(
    `${paint.bold(`Runbook ${plan.runbook.name}`)} (owner ${plan.runbook.owner})${op ? `, operation ${paint.bold(op)}` : ''}`,
  );
  out.push(
    paint.dim(`  plan ${plan.hash.slice(0, 16)} (version ${plan.version}) from ${plan.runbook.source.file}`),
  );
  if (plan.runbook.description) out.push(`  ${plan.runbook.description}`);
  out.push('');
  out.push(
    `Objectives: RPO ${formatDuration(plan.objectives.rpoMs)}, RTO ${formatDuration(plan.objectives.rtoMs)}`,
  );
  out.push(
    `Replication: every ${formatDuration(plan.replication.everyMs)}, ${plan.replication.consistency}-consistent, keeping ${plan.replication.retentionPoints} points`,
  );
  for (const s of [primary, secondary]) {
    const nets = Object.entries(s.networks)
      .map(([role, name]) => `${role}=${name}`)
      .join(', ');
    out.push(
      `Site ${s.role}: ${s.name} (${s.driver} ${s.uri}, store ${s.storage}${nets ? `, networks ${nets}` : ''})`,
    );
  }
  if (plan.drill) {
    const extra = [
      plan.drill.everyMs ? `every ${formatDuration(plan.drill.everyMs)}` : '',
      plan.drill.keepAtMostMs ? `kept at most ${formatDuration(plan.drill.keepAtMostMs)}` : '',
    ].filter(Boolean);
    out.push(`Drill: on network ${plan.drill.network}${extra.length ? `, ${extra.join(', ')}` : ''}`);
  }
  if (plan.failover) {
    const commit = plan.failover.commitWithinMs
      ? `commit within ${formatDuration(plan.failover.commitWithinMs)}, else ${plan.failover.onCommitTimeout}`
      : `on commit timeout ${plan.failover.onCommitTimeout}`;
    out.push(`Failover: on network ${plan.failover.network ?? 'production'}, ${commit}`);
  }

  for (const [i, names] of plan.waves.entries()) {
    out.push('');
    out.push(
      paint.bold(`Wave ${i + 1}`) + paint.dim(` (${names.length} group${names.length === 1 ? '' : 's'})`),
    );
    for (const name of names) {
      const g = plan.groups.find((x) => x.name === name);
      if (!g) continue;
      const after = g.dependsOn.length ? ` after ${g.dependsOn.join(', ')}` : '';
      out.push(
        `  ${paint.green('+')} group ${paint.bold(g.name)}${after}${paint.dim(` (on failure: ${g.onFailure})`)}`,
      );
      out.push(`      vms    ${g.vms.map((v) => v.name).join(', ')}`);
      const line = (s: PlanStep, phase: string) => {
        const text = `${describeStep(plan, s)}${paint.dim(` [${s.id}]`)}`;
        if (!op) return `      ${text}${paint.dim(` ${phase}; in ${s.in.join(', ')}`)}`;
        return s.in.includes(op)
          ? `      ${text}${paint.dim(` ${phase}`)}`
          : paint.yellow(`    - ${text} ${phase}; skipped in ${op}`);
      };
      for (const s of g.before) out.push(line(s, 'before boot'));
      for (const c of g.checks) out.push(`      ${describeCheck(c)}${paint.dim(` [${c.id}]`)}`);
      for (const s of g.after) out.push(line(s, 'after checks'));
    }
  }
  out.push('');
  const vmCount = plan.groups.reduce((n, g) => n + g.vms.length, 0);
  const summary = `${plan.groups.length} groups, ${vmCount} VMs in ${plan.waves.length} waves`;
  if (op) {
    const ops = plan.operations[op];
    out.push(paint.cyan(`${summary}; ${op} runs ${ops.runs.length} steps and skips ${ops.skips.length}.`));
  } else {
    const parts = (['drill', 'failover', 'failback'] as const).map(
      (o) =>
        `${o} runs ${plan.operations[o].runs.length}/${plan.operations[o].runs.length + plan.operations[o].skips.length}`,
    );
    out.push(paint.cyan(`${summary}; steps: ${parts.join(', ')}.`));
  }
  return `${out.join('\n')}\n`;
}
