/**
 * Generates large, valid runbooks for benchmarks: `vms` VMs spread over `groups` groups with
 * random acyclic dependsOn (each group depends only on earlier ones), some approvals, hooks,
 * waits and checks. Seeded, so a figure can be reproduced.
 */
import { stringify } from 'yaml';

export interface GenerateOptions {
  vms: number;
  groups: number;
  seed?: number;
  /** At most this many dependencies per group (default 3). */
  maxDependsOn?: number;
  name?: string;
}

export const BENCH_OPERATOR_KEY = 'ed25519:xv2+Xjqb4mVBvQA+kLgOqNuH4SXja3LbYJWGn9Gj10o=';

/** mulberry32: a tiny seeded PRNG; benchmarks need repeatable input, not good randomness. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateRunbookObject(o: GenerateOptions): Record<string, unknown> {
  const rand = seededRandom(o.seed ?? 42);
  const maxDeps = o.maxDependsOn ?? 3;
  const groups: Record<string, unknown>[] = [];
  let vm = 0;
  for (let i = 0; i < o.groups; i++) {
    const name = `g${i}`;
    // Spread VMs evenly; the last groups take the remainder.
    const count = Math.floor(((i + 1) * o.vms) / o.groups) - Math.floor((i * o.vms) / o.groups);
    const vms = Array.from({ length: count }, () => `vm-${vm++}`);
    const deps = new Set<string>();
    if (i > 0) {
      const n = Math.floor(rand() * (maxDeps + 1));
      for (let k = 0; k < n; k++) deps.add(`g${Math.floor(rand() * i)}`);
    }
    const group: Record<string, unknown> = { name, vms };
    if (deps.size > 0) group.dependsOn = [...deps];
    group.checks = [{ tcp: { port: 22, within: '2m' } }, ...(i % 5 === 0 ? [{ data: {} }] : [])];
    if (i % 10 === 0)
      group.before = [{ approval: { role: 'incident-commander', within: '1m', prompt: `Start ${name}?` } }];
    if (i % 7 === 0) {
      group.after = [{ wait: { for: '10s' } }, { run: { command: 'notify.sh', args: [name], within: '1m' } }];
    }
    groups.push(group);
  }
  return {
    apiVersion: 'lifeboat/v1',
    kind: 'Runbook',
    metadata: { name: o.name ?? 'bench', owner: 'bench', description: `${o.vms} VMs in ${o.groups} groups` },
    objectives: { rpo: '10m', rto: '24h' },
    operators: { alice: { key: BENCH_OPERATOR_KEY } },
    roles: { 'incident-commander': ['alice'] },
    sites: {
      primary: {
        name: 'bench-a',
        driver: 'libvirt',
        uri: 'qemu:///system',
        storage: '/var/lib/lifeboat/a',
        networks: { production: 'prod' },
      },
      secondary: {
        name: 'bench-b',
        driver: 'libvirt',
        uri: 'qemu:///system',
        storage: '/var/lib/lifeboat/b',
        networks: { production: 'dr-prod', bubble: 'bubble' },
      },
    },
    replication: { every: '2m', consistency: 'crash', retention: { points: 12 } },
    groups,
    drill: { network: 'bubble', every: '7d', keepAtMost: '1h' },
  };
}

/** The runbook as YAML text, the way a person would write it. */
export function generateRunbook(o: GenerateOptions): string {
  return stringify(generateRunbookObject(o), { lineWidth: 0 });
}
