/**
 * `lifeboat status`'s "DR state" section: the version of each runbook's DR state the controller
 * last wrote, which sites hold it, what changed, and whether the controller restored it from the
 * sites or finds them in dispute (then every operation is refused until an operator decides).
 */
import type { DurableBook, RunbookState } from '../workflows/types.ts';

export interface DrStateRow {
  runbook: string;
  phase?: RunbookState['phase'];
  activeSite?: RunbookState['activeSite'];
  durable?: DurableBook;
}

export function drStateRows(runbooks: readonly string[], states: Map<string, RunbookState>): DrStateRow[] {
  return runbooks.map((runbook) => {
    const s = states.get(runbook);
    if (!s) return { runbook };
    return {
      runbook,
      phase: s.phase,
      activeSite: s.activeSite,
      ...(s.durable ? { durable: s.durable } : {}),
    };
  });
}

const when = (iso: string) => iso.replace('T', ' ').slice(0, 19);

export function renderDrState(rows: readonly DrStateRow[]): string {
  if (rows.length === 0) return 'DR state at the sites: no runbook';
  const lines = rows.flatMap((r) => {
    const d = r.durable;
    if (!r.phase) return [`  ${r.runbook}: its controller did not answer`];
    if (!d) return [`  ${r.runbook}: not kept at the sites (controller started before DR-state records)`];
    const sites = d.sites.map((site) => {
      const a = d.acked[site];
      if (!a) return `${site} none yet`;
      return `${site} v${a.version}${a.version < d.version ? ' (behind)' : ''}${a.error ? ` (last write failed: ${a.error})` : ''}`;
    });
    return [
      `  ${r.runbook}: version ${d.version}, ${r.phase}, production at ${r.activeSite}; held by ${sites.join(', ') || 'no site yet'}`,
      ...(d.record ? [`    last change (${when(d.record.writtenAt)}): ${d.record.cause}`] : []),
      ...(d.restored
        ? [
            `    restored ${when(d.restored.at)}: ${d.restored.from ? `from ${d.restored.from} v${d.restored.version}` : 'no site held a record'}`,
            ...d.restored.notes.map((n) => `      ${n}`),
          ]
        : []),
      ...(d.dispute
        ? [
            `    IN DISPUTE since ${when(d.dispute.at)}: every operation is refused until an operator decides`,
            ...d.dispute.found.map((f) => `      ${f}`),
          ]
        : []),
    ];
  });
  return `DR state at the sites:\n${lines.join('\n')}`;
}
