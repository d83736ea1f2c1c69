/**
 * The parts of an operation that restore from recovery points: the preflight at the target site
 * (point set, network, room, replica digests), the teardown proof, and writing the evidence.
 * Workflow code: each is one activity call with its own timeouts.
 */
import { proxyActivities } from '@temporalio/workflow';
import type {
  OrchestratorActivities,
  RestorePreflightResult,
  SiteActivities,
  TeardownProofResult,
} from '../activities/index.ts';
import type { Evidence } from '../reports/evidence.ts';
import { parsePointSelector } from '../restore/point-set.ts';
import type { Plan } from '../runbooks/plan.ts';
import { describe, networkName, VM_ACTION_HEARTBEAT_TIMEOUT } from './group-runner.ts';
import { proxySiteActivities } from './site-proxy.ts';

const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

function secondaryActivities(plan: Plan, startToCloseTimeout: string) {
  return proxySiteActivities<SiteActivities>(plan.sites.secondary.name, {
    startToCloseTimeout,
    heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 5, initialInterval: '1s', maximumInterval: '10s' },
  });
}

/** The drill network's name at the secondary (the runbook maps the role to it). */
export function drillNetworkName(plan: Plan): string {
  return networkName(plan.sites.secondary, plan.drill?.network ?? 'bubble');
}

export async function drillPreflight(
  plan: Plan,
  operationId: string,
  point: string,
): Promise<{ ok: true; result: RestorePreflightResult } | { ok: false; error: string }> {
  if (!plan.drill) {
    return {
      ok: false,
      error:
        'the runbook has no drill section: add drill.network (the isolated network role at the secondary)',
    };
  }
  const selector = parsePointSelector(point);
  if (!selector.ok) return { ok: false, error: `${selector.message} (${selector.hint})` };
  try {
    const result = await secondaryActivities(plan, '30 minutes').restorePreflight({
      operationId,
      purpose: 'drill',
      runbook: plan.runbook.name,
      vms: plan.groups.flatMap((g) => g.vms.map((v) => v.name)),
      selector: selector.selector,
      network: drillNetworkName(plan),
      digests: true,
    });
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: describe(err) };
  }
}

export async function drillTeardownProof(
  plan: Plan,
  operationId: string,
  preflight: RestorePreflightResult,
): Promise<TeardownProofResult | string> {
  try {
    return await secondaryActivities(plan, '30 minutes').restoreTeardownProof({
      operationId,
      purpose: 'drill',
      runbook: plan.runbook.name,
      before: preflight.before,
    });
  } catch (err) {
    return describe(err);
  }
}

export async function recordEvidence(evidence: Evidence): Promise<{ path: string; sha256: string } | string> {
  try {
    return await orchestrator.recordEvidence(evidence);
  } catch (err) {
    return describe(err);
  }
}
