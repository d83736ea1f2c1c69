/** The "current details" text the Temporal UI shows for a running operation (markdown). */
import type { OperationProgress } from './types.ts';

export function renderDetails(p: OperationProgress): string {
  const lines = [`**${p.kind} ${p.id}**: ${p.state}, wave ${p.wave + 1}/${p.waves}`];
  const groups = Object.values(p.groups);
  const count = (s: string) => groups.filter((g) => g.state === s).length;
  lines.push(
    `groups: ${count('succeeded')} done, ${count('running') + count('waiting-approval') + count('paused')} active, ${count('pending')} pending, ${count('failed')} failed`,
  );
  for (const g of p.gates)
    lines.push(`- gate \`${g.stepId}\` waits for ${g.role} (${g.approvers.join(', ')})`);
  for (const x of p.pauses) lines.push(`- group \`${x.group}\` paused: ${x.error}`);
  if (p.compensations.pending > 0 && p.state === 'rolling-back') {
    lines.push(`rollback: ${p.compensations.done}/${p.compensations.pending} undone`);
  }
  return lines.join('\n');
}
