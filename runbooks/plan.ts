/**
 * The Plan: the versioned, JSON-serialisable contract between the runbook compiler (pure) and
 * everything that executes a runbook (CLI, controller, interpreter, activities).
 *
 * Rules for changing it: add optional fields freely; anything else bumps PLAN_VERSION, because
 * running workflows hold Plans of the old version in their history.
 * All durations are whole milliseconds.
 */
export const PLAN_VERSION = 1 as const;

export type OperationKind = 'drill' | 'failover' | 'failback';
export const OPERATION_KINDS: readonly OperationKind[] = ['drill', 'failover', 'failback'];

export type SiteRole = 'primary' | 'secondary';
export type Consistency = 'crash' | 'application';
export type OnFailure = 'rollback' | 'pause' | 'continue';

export interface Plan {
  version: typeof PLAN_VERSION;
  /** sha256 (hex) of the canonical JSON of this Plan without `hash`: the Plan's identity. */
  hash: string;
  runbook: PlanRunbook;
  objectives: { rpoMs: number; rtoMs: number };
  sites: Record<SiteRole, PlanSite>;
  replication: { everyMs: number; consistency: Consistency; retentionPoints: number };
  operators: Record<string, { key: string }>;
  /** role -> operator names allowed to decide gates of that role. */
  roles: Record<string, string[]>;
  /**
   * Roles whose operators may sign a change of the operators, roles and keys its controller
   * pinned (approvals/people.ts); absent: every role.
   */
  administrators?: string[];
  /** Groups in wave order; `waves[i]` lists the names of the groups of wave i. */
  groups: PlanGroup[];
  waves: string[][];
  drill?: { network: string; everyMs?: number; keepAtMostMs?: number };
  failover?: {
    commitWithinMs?: number;
    onCommitTimeout: 'commit' | 'rollback';
    /** Network role the VMs join on failover (secondary) and failback (primary); compile sets it. */
    network?: string;
  };
  /** For each operation: the ids of the steps it runs and those it skips, in execution order. */
  operations: Record<OperationKind, { runs: string[]; skips: string[] }>;
}

export interface PlanRunbook {
  name: string;
  owner: string;
  description?: string;
  /** Where the Plan came from, for reports. */
  source: { file: string; sha256: string };
}

export interface PlanSite {
  role: SiteRole;
  /** The site's own name (task queue `site-<name>`); stays with the site when roles swap. */
  name: string;
  driver: string;
  uri: string;
  storage: string;
  /** network role (production, bubble, ...) -> the site's network name. */
  networks: Record<string, string>;
}

export interface PlanGroup {
  name: string;
  wave: number;
  dependsOn: string[];
  vms: PlanVm[];
  checks: PlanCheck[];
  before: PlanStep[];
  after: PlanStep[];
  onFailure: OnFailure;
}

export interface PlanVm {
  name: string;
  group: string;
}

interface StepBase {
  /** Stable id, e.g. `web/before/0`; what `lifeboat approve --step` names. */
  id: string;
  group: string;
  /** Operations that run this step. */
  in: OperationKind[];
}

export type PlanStep =
  | (StepBase & { kind: 'approval'; role: string; withinMs: number; prompt: string })
  | (StepBase & {
      kind: 'run';
      command: string;
      args: string[];
      withinMs: number;
      on: SiteRole;
      sha256?: string;
    })
  | (StepBase & { kind: 'wait'; forMs: number });

interface CheckBase {
  /** Stable id, e.g. `database/check/0`. */
  id: string;
  group: string;
  withinMs: number;
}

export type PlanCheck =
  | (CheckBase & { kind: 'agent'; command: string[]; expect: string })
  | (CheckBase & { kind: 'tcp'; port: number })
  | (CheckBase & { kind: 'http'; port: number; path: string; expect: number })
  | (CheckBase & { kind: 'serial'; pattern: string })
  | (CheckBase & {
      kind: 'data';
      /** Run in the guest at the snapshot and again in the restored VM; absent: workload records. */
      command?: string[];
    });
