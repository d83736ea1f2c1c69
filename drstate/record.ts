/**
 * The runbook's DR state as each site keeps it: the part of the controller's state that must
 * outlive the controller (where production runs, the fence, the committed failover, operations in
 * flight, held points, the pinned people). The controller writes a new version at every
 * transition; each site's worker signs and stores it (drstate/store.ts). A controller that starts
 * without a state (terminated, reset, its history lost) reads both sites' records and restores
 * from them, or refuses to act when they disagree. Pure and sandbox-safe: the controller runs it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalJson } from '../approvals/payload.ts';
import type { OperationRef, RunbookState } from '../workflows/types.ts';

export const DR_STATE_FORMAT = 'lifeboat-dr-state/1';

/** What a record keeps of the controller's state. */
export type DrState = Pick<
  RunbookState,
  | 'phase'
  | 'activeSite'
  | 'protection'
  | 'protectionDirection'
  | 'fence'
  | 'unfenced'
  | 'heldPoints'
  | 'counters'
  | 'people'
  | 'reportHead'
> & {
  /** Operations in flight other than replication cycles (those come and go every few minutes). */
  operations: OperationRef[];
};

export interface DrStateRecord {
  format: typeof DR_STATE_FORMAT;
  runbook: string;
  /** Bumped at every transition; a site keeps every version it was given (newest wins). */
  version: number;
  writtenAt: string;
  /** What changed from the previous version, for the operator reading the sites' history. */
  cause: string;
  state: DrState;
}

/** What a site answers when asked for its newest record. */
export type SiteRecordAnswer =
  | { site: string; status: 'none' }
  | { site: string; status: 'found'; record: DrStateRecord; signedBy: string; path: string }
  /** A record that does not verify under the sites' key: forged, or damaged. */
  | { site: string; status: 'unverified'; path: string; problem: string; version: number }
  /** The site's worker did not answer (dead, cut off). */
  | { site: string; status: 'unreachable'; problem: string };

/** The durable part of `state`. Absent keys stay absent, so the digest does not depend on them. */
export function drStateOf(state: RunbookState): DrState {
  const view: DrState = {
    phase: state.phase,
    activeSite: state.activeSite,
    protection: state.protection,
    heldPoints: state.heldPoints,
    counters: state.counters,
    operations: state.inFlight
      .filter((o) => o.kind !== 'replication')
      .map((o) => ({
        id: o.id,
        kind: o.kind,
        startedAt: o.startedAt,
        ...(o.planHash ? { planHash: o.planHash } : {}),
      })),
  };
  if (state.protectionDirection) view.protectionDirection = state.protectionDirection;
  if (state.fence) view.fence = state.fence;
  if (state.unfenced) view.unfenced = state.unfenced;
  if (state.people) view.people = state.people;
  if (state.reportHead) view.reportHead = state.reportHead;
  return view;
}

/**
 * `sha256:<hex>` of what a transition changes. The replication counter is left out: it moves at
 * every cycle, which is no transition (a record still carries its value when written).
 */
export function drStateDigest(view: DrState): string {
  const { replication: _cycles, ...counters } = view.counters;
  return `sha256:${bytesToHex(sha256(utf8ToBytes(canonicalJson({ ...view, counters }))))}`;
}

/** `sha256:<hex>` of a whole record (what two sites holding "the same" version must agree on). */
export function recordDigest(record: DrStateRecord): string {
  return `sha256:${bytesToHex(sha256(utf8ToBytes(canonicalJson(record))))}`;
}

const FIELDS: Array<keyof DrState> = [
  'phase',
  'activeSite',
  'protection',
  'protectionDirection',
  'fence',
  'unfenced',
  'operations',
  'heldPoints',
  'people',
  'reportHead',
  'counters',
];

/** The fields two views differ in, as `field: a -> b` for the short ones. */
export function drStateDiff(a: DrState | undefined, b: DrState): string[] {
  const out: string[] = [];
  for (const f of FIELDS) {
    const x = a?.[f];
    const y = b[f];
    if (canonicalJson(x ?? null) === canonicalJson(y ?? null)) continue;
    if (f === 'phase' || f === 'activeSite' || f === 'protection') {
      out.push(`${f} ${String(x ?? '(none)')} -> ${String(y)}`);
    } else if (f === 'operations') {
      const ids = (v: DrState['operations'] | undefined) => (v ?? []).map((o) => o.id);
      const started = ids(b.operations).filter((id) => !ids(a?.operations).includes(id));
      const ended = ids(a?.operations).filter((id) => !ids(b.operations).includes(id));
      out.push(
        [...started.map((id) => `started ${id}`), ...ended.map((id) => `ended ${id}`)].join(', ') ||
          'operations changed',
      );
    } else if (f === 'counters') {
      const { replication: _a, ...before } = a?.counters ?? {};
      const { replication: _b, ...after } = b.counters;
      if (canonicalJson(before) !== canonicalJson(after)) {
        out.push(
          `operations started: ${Object.entries(after)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')}`,
        );
      }
    } else if (f === 'fence') {
      out.push(y ? `fence ${b.fence?.site}: ${b.fence?.reason}` : 'fence lifted');
    } else {
      out.push(`${f} ${y === undefined ? 'cleared' : 'changed'}`);
    }
  }
  return out;
}

export interface Restoration {
  /** The record to restore from (the newest that verifies), when the sites allow one. */
  record?: DrStateRecord;
  from?: string;
  /** Why no record may be restored: the operator must decide. Empty when there is no dispute. */
  dispute: string[];
  /** What the operator should know anyway (a site behind, a site that did not answer). */
  notes: string[];
}

/**
 * Which record a controller restores from. The newest version wins over an older one (a site
 * that was down missed the transitions since); two records of the same version that differ, or a
 * record that does not verify, is a dispute: nothing is restored and operations are refused.
 */
export function chooseRecord(runbook: string, answers: SiteRecordAnswer[]): Restoration {
  const dispute: string[] = [];
  const notes: string[] = [];
  const found: Array<Extract<SiteRecordAnswer, { status: 'found' }>> = [];
  for (const a of answers) {
    if (a.status === 'unverified') {
      dispute.push(`site ${a.site}'s record ${a.path} does not verify: ${a.problem}`);
    } else if (a.status === 'unreachable') {
      notes.push(`site ${a.site} did not answer (${a.problem}): restored from the other site only`);
    } else if (a.status === 'found') {
      if (a.record.runbook !== runbook || a.record.format !== DR_STATE_FORMAT) {
        dispute.push(`site ${a.site}'s record ${a.path} is not a ${DR_STATE_FORMAT} of runbook ${runbook}`);
      } else {
        found.push(a);
      }
    }
  }
  if (found.length === 0) return { dispute, notes };
  const newest = found.reduce((m, a) => (a.record.version > m.record.version ? a : m));
  for (const a of found) {
    if (a === newest) continue;
    if (a.record.version < newest.record.version) {
      notes.push(
        `site ${a.site} holds version ${a.record.version}, site ${newest.site} ${newest.record.version}: ${a.site} missed the transitions since and is brought up to date`,
      );
    } else if (recordDigest(a.record) !== recordDigest(newest.record)) {
      const diff = drStateDiff(newest.record.state, a.record.state);
      dispute.push(
        `sites ${newest.site} and ${a.site} both hold version ${a.record.version} but differ (${newest.site} -> ${a.site}): ${diff.join('; ') || 'in their cause or time'}`,
      );
    }
  }
  if (dispute.length > 0) return { dispute, notes };
  return { record: newest.record, from: newest.site, dispute, notes };
}

/** The controller's state restored from `record` (what the record does not keep starts empty). */
export function restoredState(runbook: string, record: DrStateRecord): RunbookState {
  const s = record.state;
  return {
    runbook,
    protection: s.protection,
    activeSite: s.activeSite,
    phase: s.phase,
    inFlight: s.operations,
    heldPoints: s.heldPoints,
    counters: s.counters,
    recent: [],
    ...(s.protectionDirection ? { protectionDirection: s.protectionDirection } : {}),
    ...(s.fence ? { fence: s.fence } : {}),
    ...(s.unfenced ? { unfenced: s.unfenced } : {}),
    ...(s.people ? { people: s.people } : {}),
    ...(s.reportHead ? { reportHead: s.reportHead } : {}),
  };
}
