/**
 * Plan fixtures for controller and interpreter tests: the diamond example compiled by the real
 * compiler, then varied (renamed runbook and sites so tests never share queues, other failure
 * policies, fewer gates) and re-hashed so the interpreter's hash check still passes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { REPO_ROOT } from '../../platform/home.ts';
import { planHash } from '../../runbooks/hash.ts';
import { compileRunbookText } from '../../runbooks/index.ts';
import type { OnFailure, Plan, PlanGroup, PlanStep } from '../../runbooks/plan.ts';

export const DIAMOND_FILE = path.join(REPO_ROOT, 'runbooks', 'examples', 'diamond.yaml');

/** alice's secret key in diamond.yaml: sha256("lifeboat-example-alice"), public on purpose. */
export const ALICE_SECRET = new Uint8Array(createHash('sha256').update('lifeboat-example-alice').digest());
/** alice as a signer (the key the examples' runbooks name for her). */
export const ALICE_KEY = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };

export function diamondPlan(): Plan {
  const r = compileRunbookText(readFileSync(DIAMOND_FILE, 'utf8'), DIAMOND_FILE);
  if (!r.plan) throw new Error(`diamond.yaml does not compile: ${JSON.stringify(r.findings)}`);
  if (ed25519.getPublicKey(ALICE_SECRET).length !== 32) throw new Error('bad example key');
  return r.plan;
}

export function rehash(plan: Plan): Plan {
  return { ...plan, hash: planHash(plan) };
}

/** Gives the runbook and its sites names of their own, so tests share no controller or queue. */
export function isolate(plan: Plan, tag: string): Plan {
  const p = structuredClone(plan);
  p.runbook.name = `${p.runbook.name}-${tag}`;
  p.sites.primary.name = `${p.sites.primary.name}-${tag}`;
  p.sites.secondary.name = `${p.sites.secondary.name}-${tag}`;
  return rehash(p);
}

export function mapGroups(plan: Plan, fn: (g: PlanGroup) => PlanGroup): Plan {
  return rehash({ ...plan, groups: plan.groups.map((g) => fn(structuredClone(g))) });
}

export function withOnFailure(plan: Plan, group: string, onFailure: OnFailure): Plan {
  return mapGroups(plan, (g) => (g.name === group ? { ...g, onFailure } : g));
}

/** Drops every step matching `drop` (e.g. approvals, for tests about something else). */
export function withoutSteps(plan: Plan, drop: (s: PlanStep) => boolean): Plan {
  return mapGroups(plan, (g) => ({
    ...g,
    before: g.before.filter((s) => !drop(s)),
    after: g.after.filter((s) => !drop(s)),
  }));
}

export function withApprovalWithin(plan: Plan, withinMs: number): Plan {
  return mapGroups(plan, (g) => ({
    ...g,
    before: g.before.map((s) => (s.kind === 'approval' ? { ...s, withinMs } : s)),
  }));
}

/** All VM names of the plan. */
export function planVms(plan: Plan): string[] {
  return plan.groups.flatMap((g) => g.vms.map((v) => v.name));
}

/**
 * A synthetic plan of `groups` groups with `vmsPerGroup` VMs each, in `waves` layers (each group
 * depends on one group of the layer before), for scale tests when no generator is around.
 */
export function syntheticPlan(base: Plan, o: { groups: number; vmsPerGroup: number; waves: number }): Plan {
  const groups: PlanGroup[] = [];
  const waves: string[][] = Array.from({ length: o.waves }, () => []);
  for (let i = 0; i < o.groups; i++) {
    const wave = Math.floor((i * o.waves) / o.groups);
    const name = `g${i}`;
    const prev = waves[wave - 1];
    groups.push({
      name,
      wave,
      dependsOn: prev && prev.length > 0 ? [prev[i % prev.length] as string] : [],
      vms: Array.from({ length: o.vmsPerGroup }, (_, j) => ({ name: `vm-${i}-${j}`, group: name })),
      checks: [],
      before: [],
      after: [],
      onFailure: 'rollback',
    });
    (waves[wave] as string[]).push(name);
  }
  return rehash({
    ...base,
    groups,
    waves,
    operations: {
      drill: { runs: [], skips: [] },
      failover: { runs: [], skips: [] },
      failback: { runs: [], skips: [] },
    },
  });
}
