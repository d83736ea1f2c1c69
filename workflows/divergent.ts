/**
 * `divergentBlocksWorkflow`: the blocks an old primary wrote after the common point, which
 * reprotect saved aside before overwriting them: listed, or discarded with a reason (the
 * workflow's history and the site's discard log record who and why). Started by the CLI.
 */
import type { ReprotectActivities } from '../activities/reprotect.ts';
import { guardInput } from './guard.ts';
import { proxySiteActivities } from './site-proxy.ts';
import { validateDivergentInput } from './validate-divergent.ts';

export interface DivergentInput {
  runbook: string;
  /** The site holding them: the old primary. */
  site: string;
  discard?: { by: string; reason: string };
}

export async function divergentBlocksWorkflow(
  input: DivergentInput,
): Promise<Awaited<ReturnType<ReprotectActivities['divergentBlocks']>>> {
  guardInput('divergent blocks', input, validateDivergentInput);
  const site = proxySiteActivities<ReprotectActivities>(input.site, {
    startToCloseTimeout: '10 minutes',
    retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
  });
  return site.divergentBlocks({
    runbook: input.runbook,
    ...(input.discard === undefined ? {} : { discard: input.discard }),
  });
}
