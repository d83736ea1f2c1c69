/**
 * The DR state outlives its controller: each transition is written, signed, at both sites, and a
 * controller started without a state (its predecessor terminated) restores from them, or refuses
 * every operation while the sites' records disagree.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acceptDrState, commitFailover, runbookState } from '../../../cli/runbook-client.ts';
import { unfence } from '../../../cli/unfence-client.ts';
import type { DrStateRecord } from '../../../drstate/record.ts';
import { controllerWorkflowId } from '../../../platform/names.ts';
import type { OperationResult, RunbookState } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_KEY, diamondPlan, rehash, withoutSteps } from '../../support/plans.ts';
import { eventually, type Harness, refusal, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

/** The newest record file a site holds for the harness's runbook. */
interface StoredRecord {
  signed: { record: DrStateRecord; site: string; storedAt: string };
  signature: string;
}

function newestRecord(h: Harness, role: 'primary' | 'secondary'): { file: string; json: StoredRecord } {
  const dir = path.join(h.storage[role], 'dr-state', h.plan.runbook.name);
  const file = path.join(dir, readdirSync(dir).sort().at(-1) as string);
  return { file, json: JSON.parse(readFileSync(file, 'utf8')) };
}

/** Waits until both sites acknowledged the controller's newest version, and returns the state. */
function bothSitesHold(h: Harness, check: (s: RunbookState) => boolean): Promise<RunbookState> {
  return eventually(async () => {
    const s = await runbookState(h.client, h.plan.runbook.name);
    const book = s.durable;
    if (!book || !check(s) || book.version === 0) return undefined;
    const acked = Object.values(book.acked).filter((a) => a.version === book.version && !a.error);
    return acked.length === 2 && book.record?.state.phase === s.phase ? s : undefined;
  }, 60_000);
}

/** A disaster failover, committed: production runs at the secondary. */
async function committedFailover(h: Harness): Promise<RunbookState> {
  const failover = await h.start('failover', { mode: 'disaster' });
  await eventually(async () => {
    const s = await runbookState(h.client, h.plan.runbook.name);
    return s.phase === 'failed-over-uncommitted' ? s : undefined;
  });
  await commitFailover(h.client, {
    operationId: failover.id,
    decision: 'commit',
    reason: 'primary lost',
    key: ALICE_KEY,
  });
  const r = (await h.client.workflow.getHandle(failover.id).result()) as OperationResult;
  expect(r.outcome).toBe('succeeded');
  return bothSitesHold(h, (s) => s.phase === 'failed-over-committed');
}

describe('the DR state kept at the sites', () => {
  it('a controller terminated after a committed failover comes back from the sites: production still at the secondary', async () => {
    const plan = withoutSteps(diamondPlan(), (s) => s.kind === 'approval');
    await withHarness(plan, { hooksDir: makeHooksDir().dir }, async (h) => {
      const before = await committedFailover(h);
      // Each site signed and stored the same newest version, naming the transition.
      const p = newestRecord(h, 'primary').json;
      const s = newestRecord(h, 'secondary').json;
      expect(p.signed.record).toEqual(s.signed.record);
      expect(p.signature).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      expect(p.signed.site).toBe(h.primary.site);
      expect(s.signed.site).toBe(h.secondary.site);
      expect(p.signed.record).toMatchObject({
        version: before.durable?.version,
        state: { phase: 'failed-over-committed', activeSite: 'secondary', fence: { site: 'primary' } },
      });
      expect(p.signed.record.cause).toContain('phase failed-over-uncommitted -> failed-over-committed');
      // Whole history of the controller lost.
      const id = controllerWorkflowId(h.plan.runbook.name);
      await h.client.workflow.getHandle(id).terminate('test: the controller is lost');

      // Any command: a drill is refused for the state the sites kept, not admitted on a blank one.
      const drill = await refusal(h.start('drill'));
      expect(drill.code).toBe('STATE');
      const after = await runbookState(h.client, h.plan.runbook.name);
      expect(after).toMatchObject({
        phase: 'failed-over-committed',
        activeSite: 'secondary',
        fence: { site: 'primary', by: before.fence?.by },
        counters: { failover: 1 },
        people: { fingerprint: before.people?.fingerprint },
      });
      expect(after.durable?.restored).toMatchObject({ version: before.durable?.version, notes: [] });
      expect(after.inFlight).toEqual([]);
      // The pinned people came back with it: a Plan adding a key is refused.
      const aliceOperator = h.plan.operators.alice;
      if (!aliceOperator) throw new Error('the diamond plan names alice');
      const widened = rehash({ ...h.plan, operators: { ...h.plan.operators, mallory: aliceOperator } });
      const changed = await refusal(h.start('failback', undefined, widened));
      expect(changed.code).toBe('PEOPLE_CHANGED');
      // Nor can that Plan lift the fence: unfence checks its people against the pinned ones.
      const mallory = await refusal(
        unfence(h.client, { plan: widened, reason: 'x', key: ALICE_KEY, taskQueue: h.taskQueue }),
      );
      expect(mallory.code).toBe('PEOPLE_CHANGED');
      expect(mallory.message).toContain('mallory');
      const lifted = await unfence(h.client, {
        plan: h.plan,
        reason: 'primary rebuilt',
        key: ALICE_KEY,
        taskQueue: h.taskQueue,
      });
      expect(lifted).toMatchObject({ lifted: true, by: 'alice' });
      await saveHistory(h.client, lifted.id, 'unfenceWorkflow', 'unfence-pinned-people');
      await eventually(async () =>
        (await runbookState(h.client, h.plan.runbook.name)).fence ? undefined : true,
      );
      await saveHistory(h.client, id, 'runbookController', 'dr-state-restored');
    });
  });

  it("a record edited at a site does not verify: every operation is refused, saying which site, until an operator accepts one site's record", async () => {
    const plan = withoutSteps(diamondPlan(), (s) => s.kind === 'approval');
    await withHarness(plan, { hooksDir: makeHooksDir().dir }, async (h) => {
      await committedFailover(h);
      // Someone with write access to the secondary's store, but not its key, puts production home.
      const { file, json } = newestRecord(h, 'secondary');
      json.signed.record.state.phase = 'normal';
      json.signed.record.state.activeSite = 'primary';
      writeFileSync(file, JSON.stringify(json));
      await h.client.workflow.getHandle(controllerWorkflowId(h.plan.runbook.name)).terminate('test');

      const drill = await refusal(h.start('drill'));
      expect(drill.code).toBe('DR_STATE_DISPUTED');
      expect(drill.message).toContain(`site ${h.secondary.site}'s record`);
      expect(drill.message).toContain('does not verify');
      const state = await runbookState(h.client, h.plan.runbook.name);
      expect(state.inFlight).toEqual([]);
      expect(state.counters).toEqual({});
      expect(state.durable?.dispute?.found.join('\n')).toContain(file);
      // Nothing was written over the evidence while in dispute.
      expect(readdirSync(path.dirname(file)).sort().at(-1)).toBe(path.basename(file));

      // An operator settles it: the primary's record, signed by an administrator it names.
      const runbook = h.plan.runbook.name;
      const unsigned = await refusal(
        acceptDrState(h.client, { runbook, site: h.primary.site, reason: 'x', by: 'bob' }),
      );
      expect(unsigned.code).toBe('UNSIGNED');
      const forged = await refusal(
        acceptDrState(h.client, { runbook, site: h.secondary.site, reason: 'x', key: ALICE_KEY }),
      );
      expect(forged.code).toBe('NOT_ACCEPTABLE');
      const accepted = await acceptDrState(h.client, {
        runbook,
        site: h.primary.site,
        reason: "the secondary's store was edited by hand",
        key: ALICE_KEY,
      });
      expect(accepted).toMatchObject({
        site: h.primary.site,
        decision: { operator: 'alice', decision: 'accept-dr-state' },
      });
      expect((await refusal(h.start('drill'))).code).toBe('STATE');
      const settled = await bothSitesHold(
        h,
        (s) => s.phase === 'failed-over-committed' && !s.durable?.dispute,
      );
      expect(settled.durable?.version).toBe(accepted.version + 1);
      for (const role of ['primary', 'secondary'] as const) {
        const r = newestRecord(h, role).json.signed.record;
        expect(r).toMatchObject({ version: accepted.version + 1, state: { activeSite: 'secondary' } });
        expect(r.cause).toContain(`alice accepted site ${h.primary.site}'s version ${accepted.version}`);
      }
    });
  });
});
