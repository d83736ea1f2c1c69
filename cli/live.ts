/**
 * `--live` for `validate` and `plan`: asks each site's own worker for its inventory (through
 * `siteInventoryWorkflow` on the orchestrator), compares it with the Plan (pure, in
 * drivers/live-check.ts) and places each finding at its node in the runbook file, in the same
 * `file:line:col` form as the static checks. The CLI never talks to a hypervisor itself.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import protos from '@temporalio/proto';
import { type Command, InvalidArgumentError } from 'commander';
import {
  type InventoryRequest,
  inventoryRequests,
  type ReachableSite,
  type SiteInventory,
} from '../drivers/inventory.ts';
import {
  checkInventories,
  gib,
  type LiveFinding,
  type LiveNeeds,
  projectNeeds,
} from '../drivers/live-check.ts';
import { PlatformError } from '../platform/errors.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../platform/names.ts';
import { checkRunbookText, type Finding } from '../runbooks/index.ts';
import { findingAt, type Path, parseRunbookText } from '../runbooks/parse.ts';
import type { Plan, SiteRole } from '../runbooks/plan.ts';
import type {
  SiteInventoryInput,
  SiteInventoryOutput,
  siteInventoryWorkflow,
} from '../workflows/inventory.ts';
import { SITE_SCHEDULE_TO_START_MS } from '../workflows/site-proxy.ts';
import { ExitCode } from './exit-codes.ts';
import { connectForCommand } from './with-client.ts';

const ROLES = ['primary', 'secondary'] as const;

export interface LivePaint {
  bold(s: string): string;
  red(s: string): string;
}
const noPaint: LivePaint = { bold: (s) => s, red: (s) => s };
const TaskQueueType = protos.temporal.api.enums.v1.TaskQueueType;

/** The live check could not run at all (no orchestrator worker, or it gave up); exit code 3. */
export class LiveCheckUnavailableError extends Error {
  override readonly name = 'LiveCheckUnavailableError';
  constructor(
    readonly code: 'NO_ORCHESTRATOR' | 'LIVE_CHECK_FAILED',
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }

  describe(): string {
    return `${this.code}: ${this.message}\n  hint: ${this.hint}`;
  }
}

export interface LiveResult {
  findings: Finding[];
  inventories: Record<SiteRole, SiteInventory>;
}

export interface LiveOptions {
  /** How long each site's worker has to pick the request up (default: the site proxy's). */
  scheduleToStartMs?: number;
  /** How long an orchestrator worker has to take the check up (default 15 s). */
  orchestratorPickupMs?: number;
  /** The workflow's id (default: a fresh `live-check/<runbook>/<uuid>`). */
  workflowId?: string;
}

/** `--live` and `--site-timeout`, shared by validate and plan. */
export function addLiveOptions(cmd: Command): Command {
  return cmd
    .option('--live', "also check against the running sites, through each site's own worker")
    .option(
      '--site-timeout <ms>',
      `with --live: how long a site's worker has to pick the check up (default ${SITE_SCHEDULE_TO_START_MS})`,
      (v) => {
        const n = Number.parseInt(v, 10);
        if (!Number.isInteger(n) || n < 1000) throw new InvalidArgumentError('milliseconds, at least 1000');
        return n;
      },
    );
}

/**
 * Runs `fn` and maps a live check that could not run to exit code 3 (unavailable) with the
 * reason on stderr; returns undefined then.
 */
export async function orUnavailable<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PlatformError || err instanceof LiveCheckUnavailableError) {
      process.stderr.write(`lifeboat: ${err.describe()}\n`);
      process.exitCode = ExitCode.unavailable;
      return undefined;
    }
    throw err;
  }
}

/** `groups[1].vms[0]` / `sites.secondary.networks.bubble` as path segments. */
export function parseFindingPath(path: string): Path {
  const out: (string | number)[] = [];
  for (const part of path.split('.')) {
    if (part === '') continue;
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2]?.matchAll(/\[(\d+)\]/g) ?? []) out.push(Number(idx[1]));
  }
  return out;
}

/** Live findings placed in the runbook text, in the static checks' format and order. */
export function placeLiveFindings(text: string, file: string, live: readonly LiveFinding[]): Finding[] {
  const parsed = parseRunbookText(text, file);
  return live.map((f) =>
    findingAt(parsed, parseFindingPath(f.path), {
      severity: f.severity,
      code: f.code,
      message: f.message,
      ...(f.hint !== undefined ? { hint: f.hint } : {}),
    }),
  );
}

/** Whether any worker polls the orchestrator queue for workflow tasks. */
async function orchestratorPolled(client: Client): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: ORCHESTRATOR_TASK_QUEUE },
    taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (res.pollers ?? []).length > 0;
}

/**
 * Workflow tasks have no schedule-to-start timeout, and a worker killed a moment ago is still
 * listed as a poller: so wait (bounded) until an orchestrator worker has completed the first
 * workflow task. A worker that fails it (e.g. one started before this workflow type existed)
 * would retry it forever; that is reported too.
 */
async function awaitPickup(handle: WorkflowHandle, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  let failure: string | undefined;
  for (;;) {
    const events = (await handle.fetchHistory()).events ?? [];
    if (
      events.some(
        (e) => e.workflowTaskCompletedEventAttributes || e.workflowExecutionCompletedEventAttributes,
      )
    )
      return;
    const failed = events.find((e) => e.workflowTaskFailedEventAttributes);
    failure = failed?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
    if (failure || Date.now() > deadline) break;
    await sleep(250);
  }
  await handle.terminate('the live check was not picked up').catch(() => undefined);
  if (failure) {
    throw new LiveCheckUnavailableError(
      'LIVE_CHECK_FAILED',
      `the orchestrator worker failed the live check: ${failure}`,
      'restart the orchestrator worker on this version (embedded: lifeboat server stop, then run again)',
    );
  }
  throw new LiveCheckUnavailableError(
    'NO_ORCHESTRATOR',
    `no orchestrator worker picked the live check up within ${Math.round(withinMs / 1000)} s`,
    'start one: lifeboat worker orchestrator (the embedded server starts it on its own)',
  );
}

/** Each site's inventory, read by that site's worker. */
export async function fetchInventories(
  client: Client,
  plan: Plan,
  opts: LiveOptions = {},
): Promise<Record<SiteRole, SiteInventory>> {
  if (!(await orchestratorPolled(client))) {
    throw new LiveCheckUnavailableError(
      'NO_ORCHESTRATOR',
      `no orchestrator worker polls ${ORCHESTRATOR_TASK_QUEUE}`,
      'start one: lifeboat worker orchestrator (the embedded server starts it on its own)',
    );
  }
  const requests: Record<SiteRole, InventoryRequest> = inventoryRequests(plan);
  const input: SiteInventoryInput = {
    sites: ROLES.map((role) => ({ role, site: plan.sites[role].name, request: requests[role] })),
    ...(opts.scheduleToStartMs !== undefined ? { scheduleToStartMs: opts.scheduleToStartMs } : {}),
  };
  const handle = await client.workflow.start<typeof siteInventoryWorkflow>('siteInventoryWorkflow', {
    workflowId: opts.workflowId ?? `live-check/${plan.runbook.name}/${randomUUID()}`,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    args: [input],
    // Bounds the whole check even if the orchestrator worker vanishes half-way.
    workflowExecutionTimeout: '5 minutes',
  });
  await awaitPickup(handle, opts.orchestratorPickupMs ?? 15_000);
  let out: SiteInventoryOutput;
  try {
    out = await handle.result();
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    throw new LiveCheckUnavailableError(
      'LIVE_CHECK_FAILED',
      `the live check did not finish: ${err.cause?.message ?? err.message}`,
      'read the orchestrator worker log',
    );
  }
  const byRole = new Map(out.sites.map((s) => [s.role, s.inventory]));
  return { primary: byRole.get('primary')!, secondary: byRole.get('secondary')! };
}

/**
 * The live check of one compiled runbook file. Connects to Temporal (in embedded mode the
 * orchestrator worker is started when none runs); throws PlatformError when Temporal is
 * unreachable and LiveCheckUnavailableError when the check cannot run.
 */
export async function runLiveCheck(file: string, plan: Plan, opts: LiveOptions = {}): Promise<LiveResult> {
  const text = await readFile(file, 'utf8');
  const groupOrder = checkRunbookText(text, file).runbook?.groups.map((g) => g.name);
  const { client, connection } = await connectForCommand();
  try {
    const inventories = await fetchInventories(client, plan, opts);
    const live = checkInventories(plan, inventories, groupOrder ? { groupOrder } : {});
    return { findings: placeLiveFindings(text, file, live), inventories };
  } finally {
    await connection.close();
  }
}

/** A few lines per site: what was found and what the secondary must hold. */
export function renderLiveSummary(
  plan: Plan,
  inventories: Record<SiteRole, SiteInventory>,
  colors: LivePaint = noPaint,
): string {
  const lines = [colors.bold('Live (each site as its own worker sees it)')];
  const primary = inventories.primary.reachable ? inventories.primary : undefined;
  const needs: LiveNeeds | undefined = primary ? projectNeeds(primary) : undefined;
  for (const role of ROLES) {
    const inv = inventories[role];
    const head = `  ${role} ${plan.sites[role].name}:`;
    if (!inv.reachable) {
      lines.push(`${head} ${colors.red(`not checked (${inv.reason}): ${inv.message}`)}`);
      continue;
    }
    lines.push(`${head} ${siteLine(inv, plan.sites[role].storage)}`);
    if (role === 'primary') {
      for (const vm of inv.vms) {
        if (!vm.found) {
          lines.push(`    ${vm.name.padEnd(14)} ${colors.red('missing')}`);
          continue;
        }
        const disks = vm.images
          .map((d) => `${d.target} ${d.image ? gib(d.image.virtualSizeBytes) : colors.red('unreadable')}`)
          .join(', ');
        const nics = vm.info.nics.map((n) => n.network || n.bridge || '?').join(', ');
        lines.push(
          `    ${vm.name.padEnd(14)} ${vm.info.state.padEnd(9)} ${vm.info.memoryMiB} MiB  disks: ${disks}  networks: ${nics}`,
        );
      }
    }
    if (role === 'secondary' && needs) {
      const st = inv.storage.find((s) => s.path === plan.sites.secondary.storage);
      const needBytes = needs.replicaBytes + needs.overlayBytes;
      if (st) {
        lines.push(
          `    failover needs ${gib(needBytes)} of storage (replicas ${gib(needs.replicaBytes)} + overlays ${gib(needs.overlayBytes)}); ${gib(st.freeBytes)} free`,
        );
      }
      if (inv.host) {
        lines.push(
          `    failover needs ${gib(needs.memoryBytes)} of memory for ${needs.vmCount} VMs; ${gib(inv.host.availableMemoryBytes)} available`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

function siteLine(inv: ReachableSite, storageDir: string): string {
  const st = inv.storage.find((s) => s.path === storageDir);
  const nets = inv.networks.map((n) => `${n.name}${n.active ? '' : ' (inactive)'}`).join(', ') || 'none';
  const storage = st
    ? `${storageDir} ${st.exists ? `${gib(st.freeBytes)} free${st.writable ? '' : ', read-only'}` : 'missing'}`
    : storageDir;
  return `networks ${nets}; storage ${storage}`;
}
