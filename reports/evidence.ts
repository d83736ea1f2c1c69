/**
 * The evidence record: what one drill, failover or failback did and measured, as one
 * schema-versioned JSON document. The operation workflow assembles it (workflows/evidence.ts),
 * an orchestrator activity validates it against this schema and persists it; reports are
 * rendered and signed from it. Written once in zod: the TypeScript types and the committed JSON
 * Schema (`reports/evidence.schema.json`) derive from it.
 *
 * Rules for changing it: add optional fields freely; anything else bumps EVIDENCE_SCHEMA_VERSION,
 * because stored evidence of the old version must still be readable and verifiable.
 */
import { z } from 'zod';

export const EVIDENCE_SCHEMA_VERSION = 1 as const;

const isoTime = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');

export const evidenceTypeSchema = z.enum(['drill', 'failover', 'failback']);

/** A measured duration against its objective. `pass` is absent when nothing was measured. */
export const objectiveSchema = z.object({
  targetMs: z.number().int().nonnegative(),
  measuredMs: z.number().int().nonnegative().optional(),
  pass: z.boolean().optional(),
  /** How it was measured, in words a reviewer can check. */
  basis: z.string(),
});

export const pointRefSchema = z.object({
  vm: z.string(),
  pointId: z.string(),
  /** When the point's data was captured (the checkpoint), and when it was committed. */
  checkpointAt: isoTime,
  committedAt: isoTime,
  consistency: z.object({ requested: z.string(), achieved: z.string(), reason: z.string().optional() }),
  integrity: z.object({ state: z.string(), at: z.string().optional(), detail: z.string().optional() }),
  kind: z.enum(['full', 'incremental']),
  /** The guest was left frozen when the point was taken: every thaw failed (the primary's words). */
  guestFrozen: z.string().optional(),
});

/** One span of the timeline: the operation, a wave, a group, a VM, a step or a check. */
export const timelineEntrySchema = z.object({
  kind: z.enum(['operation', 'preflight', 'wave', 'group', 'vm', 'step', 'check', 'teardown']),
  /** e.g. `wave 0`, `database`, `db-1 boot`, `database/check/0`. */
  name: z.string(),
  group: z.string().optional(),
  vm: z.string().optional(),
  wave: z.number().int().nonnegative().optional(),
  startedAt: isoTime,
  endedAt: isoTime.optional(),
  outcome: z.string(),
  detail: z.string().optional(),
});

export const checkEvidenceSchema = z.object({
  id: z.string(),
  group: z.string(),
  vm: z.string(),
  kind: z.enum(['agent', 'tcp', 'http', 'serial', 'data']),
  outcome: z.enum(['passed', 'failed', 'skipped']),
  /** What the check saw: the matching line, the command's output, the records compared. */
  output: z.string(),
  attempts: z.number().int().nonnegative(),
  startedAt: isoTime,
  endedAt: isoTime,
});

export const approvalEvidenceSchema = z.object({
  stepId: z.string(),
  group: z.string(),
  /**
   * approve|reject for a gate; retry|skip|rollback for a paused group (stepId pause:<group>/<n>);
   * the other operator decisions (commit, rollback-failover, cancel, ...: approvals/payload.ts).
   */
  decision: z.enum([
    'approve',
    'reject',
    'retry',
    'skip',
    'rollback',
    'commit',
    'rollback-failover',
    'cancel',
    'change-people',
    'unfence',
    'discard-divergent',
    'accept-dr-state',
  ]),
  operator: z.string(),
  role: z.string(),
  reason: z.string(),
  signedAt: z.string(),
  recordedAt: z.string(),
  signature: z.string(),
  /** Verified by the workflow's Update validator before it was recorded. */
  signatureVerified: z.boolean(),
});

export const isolationProbeSchema = z.object({
  vm: z.string(),
  /** The copy's domain name at the site. */
  domain: z.string(),
  /** The production address probed (the VM's own address, looked for on the bubble). */
  target: z.string(),
  method: z.string(),
  /** `isolated`: nothing answered; `reachable`: production answered (the drill stops). */
  outcome: z.enum(['isolated', 'reachable', 'not-run']),
  detail: z.string(),
  at: isoTime,
});

export const fileDigestSchema = z.object({
  vm: z.string(),
  pointId: z.string(),
  file: z.string(),
  sha256: sha256Hex,
  size: z.number().int().nonnegative(),
});

export const teardownFactSchema = z.object({
  /** e.g. `no domain named lb-drill-lab-3-*`, `no overlay file`, `replica digests unchanged`. */
  fact: z.string(),
  holds: z.boolean(),
  detail: z.string(),
});

export const deviationSchema = z.object({
  what: z.string(),
  reason: z.string(),
  at: isoTime.optional(),
});

/** One VM's shutdown by a move between sites: which method worked, and when it ended. */
export const shutdownEvidenceSchema = z.object({
  vm: z.string(),
  method: z.enum(['agent', 'acpi', 'forced', 'already-off']),
  wasRunning: z.boolean(),
  at: isoTime,
});

/** A failover's own facts: how the primary stopped, the final cycle, and the records compared. */
export const failoverEvidenceSchema = z.object({
  mode: z.enum(['planned', 'disaster']),
  /** Each primary VM's shutdown, in the order they ended: which method worked. */
  shutdown: z.array(shutdownEvidenceSchema),
  firstStopAt: isoTime.optional(),
  /** First primary VM stopped to the last secondary group healthy. */
  downtimeMs: z.number().int().nonnegative().optional(),
  finalCycle: z.object({ cycleId: z.string(), outcome: z.string(), error: z.string().optional() }).optional(),
  /** Per data disk: the last record at the primary after shutdown and the final point's, read offline. */
  dataProof: z.array(
    z.object({
      vm: z.string(),
      target: z.string(),
      primarySeq: z.number().int().nonnegative(),
      pointSeq: z.number().int().nonnegative(),
      lost: z.number().int().nonnegative(),
      identical: z.boolean(),
    }),
  ),
  recordsLost: z.number().int().nonnegative(),
  /** A disaster failover: the time the lost records span (point's last record to the primary's). */
  lossWindowMs: z.number().int().nonnegative().optional(),
  /** A disaster failover: where the records lost were counted from (or why they were not). */
  recordsLostFrom: z.string().optional(),
  /** A disaster failover's fence of the primary: who, why, and whether the primary answered. */
  fence: z
    .object({
      by: z.string(),
      reason: z.string(),
      at: isoTime,
      primaryAnswered: z.boolean(),
      detail: z.string(),
      /** The primary's own worker stopped the VMs, turned autostart off, wrote its fence record. */
      enforced: z
        .object({
          at: isoTime,
          site: z.string(),
          vms: z.array(z.object({ vm: z.string(), detail: z.string() })),
        })
        .optional(),
    })
    .optional(),
  /** The protection Schedules the failover paused, those a rollback resumed, and what failed. */
  protection: z
    .object({
      paused: z.array(z.string()),
      resumed: z.array(z.string()).optional(),
      error: z.string().optional(),
    })
    .optional(),
  /** A disaster failover's commit window ran out: it was kept (no primary to roll back to). */
  commitTimeoutKept: z.boolean().optional(),
  /** A rollback started these primary VMs again. */
  primaryRestarted: z.array(z.object({ vm: z.string(), ok: z.boolean(), detail: z.string(), at: isoTime })),
});

/**
 * A failback's own facts: the secondary's VMs stopped, the final reprotect into the primary's
 * disks, the records compared at both sites, the primary's boot counters, and what was cleaned
 * up once production ran at home again.
 */
export const failbackEvidenceSchema = z.object({
  /** Each secondary VM's shutdown, in the order they ended. */
  shutdown: z.array(shutdownEvidenceSchema),
  firstStopAt: isoTime.optional(),
  /** First secondary VM stopped to the last group healthy at the primary. */
  downtimeMs: z.number().int().nonnegative().optional(),
  /** The final reprotect, VM by VM: what travelled into the primary's disks. */
  finalReprotect: z.array(
    z.object({
      vm: z.string(),
      pointId: z.string().nullable(),
      deltaBytes: z.number().int().nonnegative(),
      bytesReceived: z.number().int().nonnegative(),
      divergentBytes: z.number().int().nonnegative(),
      fullReason: z.string().optional(),
      /** Only what the secondary wrote since this reverse cycle's checkpoint (the tail). */
      since: z.string().optional(),
    }),
  ),
  /** Per data disk: the secondary's last record after shutdown against the primary's, read offline. */
  dataProof: z.array(
    z.object({
      vm: z.string(),
      target: z.string(),
      secondarySeq: z.number().int().nonnegative(),
      primarySeq: z.number().int().nonnegative(),
      lost: z.number().int().nonnegative(),
      identical: z.boolean(),
    }),
  ),
  recordsLost: z.number().int().nonnegative(),
  /** Records the secondary wrote since the common point, all now at the primary (when counted). */
  recordsMoved: z.number().int().nonnegative().optional(),
  /** Each guest's boot counter once it was up at the primary, from its own ready line. */
  boots: z.array(z.object({ vm: z.string(), boots: z.number().int().nonnegative(), line: z.string() })),
  /** The primary's fence (a disaster failover's), lifted before its VMs started. */
  fenceLifted: z.object({ lifted: z.boolean(), fencedBy: z.string().optional(), at: isoTime }).optional(),
  /** After a committed failback: the secondary's stopped failover VMs and overlays removed. */
  cleanup: z
    .array(z.object({ vm: z.string(), site: z.string(), removed: z.array(z.string()), detail: z.string() }))
    .optional(),
  /** The reprotect bitmaps removed from the primary's disks (protection runs home-to-away again). */
  bitmapsRemoved: z.array(z.object({ vm: z.string(), target: z.string(), bitmap: z.string() })).optional(),
  /** What could not be cleaned up (the failback stands; an operator finishes it). */
  cleanupError: z.string().optional(),
  /** The protection Schedules resumed now that production is home. */
  protectionResumed: z.array(z.string()).optional(),
  /** A rollback started these secondary VMs again. */
  secondaryRestarted: z.array(z.string()).optional(),
});

export const evidenceSchema = z.object({
  apiVersion: z.literal('lifeboat/v1'),
  kind: z.literal('Evidence'),
  schemaVersion: z.literal(EVIDENCE_SCHEMA_VERSION),
  /** The operation id (`runbook/<name>/<type>/<n>`), which is also the report's id. */
  id: z.string(),
  type: evidenceTypeSchema,
  runbook: z.object({
    name: z.string(),
    owner: z.string(),
    planHash: sha256Hex,
    /** The runbook file the Plan was compiled from, and its sha256. */
    file: z.string(),
    fileSha256: sha256Hex,
  }),
  lifeboatVersion: z.string(),
  temporal: z.object({ namespace: z.string(), workflowId: z.string(), runId: z.string() }),
  startedBy: z.string(),
  startedAt: isoTime,
  endedAt: isoTime,
  scope: z.object({
    sites: z.object({ primary: z.string(), secondary: z.string(), target: z.string() }),
    network: z.string(),
    groups: z.array(z.object({ name: z.string(), wave: z.number().int(), vms: z.array(z.string()) })),
  }),
  /** The consistent set of recovery points restored: one per VM, all from one cycle. */
  pointSet: z
    .object({
      selector: z.string(),
      pointId: z.string(),
      /** The oldest checkpoint of the set: what the RPO is measured from. */
      capturedAt: isoTime,
      points: z.array(pointRefSchema),
    })
    .optional(),
  objectives: z.object({ rto: objectiveSchema, rpo: objectiveSchema }),
  timeline: z.array(timelineEntrySchema),
  checks: z.array(checkEvidenceSchema),
  approvals: z.array(approvalEvidenceSchema),
  isolation: z.array(isolationProbeSchema),
  replicaIntegrity: z
    .object({
      before: z.array(fileDigestSchema),
      after: z.array(fileDigestSchema),
      unchanged: z.boolean(),
    })
    .optional(),
  teardown: z
    .object({
      facts: z.array(teardownFactSchema),
      proven: z.boolean(),
      at: isoTime,
    })
    .optional(),
  deviations: z.array(deviationSchema),
  failover: failoverEvidenceSchema.optional(),
  failback: failbackEvidenceSchema.optional(),
  outcome: z.enum(['succeeded', 'partial', 'failed', 'rolled-back', 'cancelled']),
  verdict: z.enum(['pass', 'fail']),
  /** Why the verdict is what it is, one reason per line (empty for a clean pass). */
  verdictReasons: z.array(z.string()),
});

export type Evidence = z.infer<typeof evidenceSchema>;
export type FailoverEvidence = z.infer<typeof failoverEvidenceSchema>;
export type FailbackEvidence = z.infer<typeof failbackEvidenceSchema>;
export type EvidenceType = z.infer<typeof evidenceTypeSchema>;
export type PointRef = z.infer<typeof pointRefSchema>;
export type TimelineEntry = z.infer<typeof timelineEntrySchema>;
export type CheckEvidence = z.infer<typeof checkEvidenceSchema>;
export type IsolationProbe = z.infer<typeof isolationProbeSchema>;
export type FileDigest = z.infer<typeof fileDigestSchema>;
export type TeardownFact = z.infer<typeof teardownFactSchema>;
export type Deviation = z.infer<typeof deviationSchema>;

/** Validates a record read from disk or received from a workflow; throws with every issue. */
export function parseEvidence(raw: unknown, where: string): Evidence {
  const r = evidenceSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${where}: not a valid evidence record: ${issues.join('; ')}`);
  }
  return r.data;
}

export function evidenceJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(evidenceSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
