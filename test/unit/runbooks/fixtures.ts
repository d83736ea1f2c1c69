/** Small runbooks for tests, laid out one section per line so expected positions are easy to read. */

import type { Finding } from '../../../runbooks/findings.ts';
import { checkRunbookText } from '../../../runbooks/index.ts';

export const ALICE_KEY = 'ed25519:xv2+Xjqb4mVBvQA+kLgOqNuH4SXja3LbYJWGn9Gj10o=';

export interface Header {
  metadata: string;
  objectives: string;
  operators: string;
  roles: string;
  primary: string;
  secondary: string;
  replication: string;
  extra: string;
}

const DEFAULT_HEADER: Header = {
  metadata: 'metadata: { name: t, owner: o }',
  objectives: 'objectives: { rpo: 10m, rto: 1h }',
  operators: `operators: { alice: { key: "${ALICE_KEY}" } }`,
  roles: 'roles: { ic: [alice] }',
  primary:
    '  primary: { driver: libvirt, uri: "qemu:///system", storage: /p, networks: { production: prod } }',
  secondary:
    '  secondary: { driver: libvirt, uri: "qemu:///system", storage: /s, networks: { production: dr, bubble: bub } }',
  replication: 'replication: { every: 1m }',
  extra: '# nothing extra',
};

/**
 * Lines 1-11 are the header (line 3 metadata, 4 objectives, 5 operators, 6 roles, 8 primary,
 * 9 secondary, 10 replication, 11 extra); line 12 is `groups:` and the groups start on line 13.
 */
export function runbookText(groups: string, header: Partial<Header> = {}): string {
  const h = { ...DEFAULT_HEADER, ...header };
  return [
    'apiVersion: lifeboat/v1',
    'kind: Runbook',
    h.metadata,
    h.objectives,
    h.operators,
    h.roles,
    'sites:',
    h.primary,
    h.secondary,
    h.replication,
    h.extra,
    'groups:',
    groups,
  ].join('\n');
}

export const ONE_GROUP = '  - { name: a, vms: [a-1] }';

export function findingsOf(text: string): Finding[] {
  return checkRunbookText(text, 'rb.yaml').findings;
}

/** `line:col code` for each finding, the compact form tests compare. */
export function where(text: string): string[] {
  return findingsOf(text).map((f) => `${f.line}:${f.col} ${f.severity} ${f.code}`);
}
