import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { REPO_ROOT } from '../../platform/home.ts';
import { workflowBundle } from './temporal.ts';

/**
 * The replay harness's files: `test/histories/<WorkflowType>/<label>.json`, each one real run's
 * event history in protobufjs object form (64-bit numbers, enums and bytes as strings).
 */
export const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');

// Not the SDK's historyToJSON/historyFromJSON: with this install's layout their protobufjs copy
// differs from @temporalio/proto's and they throw "type must be a Type". The proto module's own
// reflection has no such split.
const HistoryType = protos.temporal.api.history.v1.History;
export type History = protos.temporal.api.history.v1.IHistory;

export function historyToObject(history: History): Record<string, unknown> {
  return HistoryType.toObject(HistoryType.fromObject(history), {
    longs: String,
    enums: String,
    bytes: String,
  });
}

export function historyFromObject(json: unknown): History {
  return HistoryType.fromObject(json as Record<string, unknown>);
}

export interface StoredHistory {
  workflowType: string;
  label: string;
  file: string;
  history: History;
}

export function writeHistory(dir: string, workflowType: string, label: string, history: History): string {
  const file = path.join(dir, workflowType, `${label}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(historyToObject(history), null, 1)}\n`);
  return file;
}

/**
 * Records a finished run's history for the replay harness when LIFEBOAT_RECORD_HISTORIES=1
 * (tests call this after a real run; the lead commits the files). Returns the file written.
 */
export async function saveHistory(
  client: Client,
  workflowId: string,
  workflowType: string,
  label: string,
  opts: { dir?: string; force?: boolean } = {},
): Promise<string | undefined> {
  if (!opts.force && process.env.LIFEBOAT_RECORD_HISTORIES !== '1') return undefined;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return writeHistory(opts.dir ?? HISTORIES_DIR, workflowType, label, history);
}

export function loadHistories(dir: string = HISTORIES_DIR): StoredHistory[] {
  let types: string[];
  try {
    types = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
  return types.flatMap((workflowType) =>
    readdirSync(path.join(dir, workflowType))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => {
        const file = path.join(dir, workflowType, f);
        return {
          workflowType,
          label: f.slice(0, -'.json'.length),
          file,
          history: historyFromObject(JSON.parse(readFileSync(file, 'utf8'))),
        };
      }),
  );
}

/** The workflow types a workflows module registers: its exported functions. */
export async function exportedWorkflowTypes(modulePath: string): Promise<string[]> {
  const mod = (await import(modulePath)) as Record<string, unknown>;
  return Object.entries(mod)
    .filter(([, v]) => typeof v === 'function')
    .map(([k]) => k)
    .sort();
}

export interface ReplayOutcome {
  file: string;
  workflowType: string;
  error: Error | undefined;
}

/** Replays stored histories against a workflows module; one outcome per history. */
export async function replayHistories(
  workflowsPath: string,
  histories: StoredHistory[],
): Promise<ReplayOutcome[]> {
  if (histories.length === 0) return [];
  const byId = new Map(histories.map((h) => [`${h.workflowType}/${h.label}`, h]));
  const outcomes: ReplayOutcome[] = [];
  const results = Worker.runReplayHistories(
    { workflowBundle: await workflowBundle(workflowsPath), replayName: 'lifeboat-replay' },
    histories.map((h) => ({ workflowId: `${h.workflowType}/${h.label}`, history: h.history })),
  );
  for await (const r of results) {
    const h = byId.get(r.workflowId)!;
    outcomes.push({ file: h.file, workflowType: h.workflowType, error: r.error });
  }
  return outcomes;
}
