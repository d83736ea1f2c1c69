import { createOrchestratorActivities, createSiteActivities } from '../activities/index.ts';
import { createProtectionMetrics } from '../activities/protection.ts';
import { ORCHESTRATOR_TASK_QUEUE, siteTaskQueue } from '../platform/names.ts';
import { startReplicationService } from './replication.ts';
import type { WorkerProcessOptions } from './run.ts';
import { createSiteDriver, type SiteDriverConfig } from './site-driver.ts';
import { WORKFLOWS_PATH } from './workflows-path.ts';

/** What the orchestrator worker serves: every workflow, and the activities that touch no site. */
export function orchestratorWorker(): Pick<
  WorkerProcessOptions,
  'kind' | 'taskQueue' | 'activities' | 'workflowsPath' | 'registerMetrics'
> {
  const protectionMetrics = createProtectionMetrics();
  return {
    kind: 'orchestrator',
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    activities: createOrchestratorActivities({ protectionMetrics }),
    workflowsPath: WORKFLOWS_PATH,
    registerMetrics: (r) => protectionMetrics.register(r),
  };
}

/**
 * What a site worker serves: the activities of one site, on that site's queue only. `run` steps
 * execute scripts from `hooksDir` (flag `--hooks-dir`, env LIFEBOAT_SITE_HOOKS); without one they
 * fail with HOOKS_DIR_UNSET, never by looking somewhere else.
 */
export async function siteWorker(
  siteName: string,
  config: SiteDriverConfig & { hooksDir?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Pick<WorkerProcessOptions, 'kind' | 'taskQueue' | 'activities' | 'site' | 'registerMetrics'>> {
  const driver = await createSiteDriver(siteName, config, env);
  const hooksDir = config.hooksDir || env.LIFEBOAT_SITE_HOOKS || undefined;
  const replication = await startReplicationService(siteName);
  return {
    kind: 'site',
    site: siteName,
    taskQueue: siteTaskQueue(siteName),
    activities: createSiteActivities({
      siteName,
      driver,
      storage: config.storage || env.LIFEBOAT_SITE_STORAGE,
      ...(hooksDir ? { hooksDir } : {}),
      ...(replication ? { replication: replication.deps } : {}),
    }),
    ...(replication ? { registerMetrics: replication.registerMetrics } : {}),
  };
}
