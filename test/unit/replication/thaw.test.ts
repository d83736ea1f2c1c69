import { describe, expect, it } from 'vitest';
import { type FreezeStatus, thawUntilThawed } from '../../../replication/export/thaw.ts';

/** A guest whose thaws fail `failures` times; the agent reports `status` meanwhile. */
function guest(failures: number, status: FreezeStatus = 'frozen') {
  const calls = { thaw: 0, status: 0, slept: [] as number[] };
  return {
    calls,
    steps: {
      thaw: async () => {
        calls.thaw++;
        return calls.thaw > failures ? { exitCode: 0, stderr: '' } : { exitCode: 1, stderr: 'agent timeout' };
      },
      status: async () => {
        calls.status++;
        return status;
      },
      sleep: async (ms: number) => {
        calls.slept.push(ms);
      },
    },
  };
}

describe('thawUntilThawed', () => {
  it('retries a failed thaw with backoff until it thaws (not once and then gives up)', async () => {
    const g = guest(4);
    expect(await thawUntilThawed(g.steps)).toEqual({ thawed: true, attempts: 5 });
    expect(g.calls.thaw).toBe(5);
    expect(g.calls.slept).toEqual([250, 500, 1_000, 2_000]);
  });
  it('a thaw that failed although the agent says the guest is thawed counts as thawed', async () => {
    const g = guest(100, 'thawed');
    expect(await thawUntilThawed(g.steps)).toEqual({ thawed: true, attempts: 1 });
  });
  it('reports the guest frozen once every attempt failed, with what the agent said', async () => {
    const g = guest(100, 'frozen');
    const r = await thawUntilThawed(g.steps, [1, 2, 3]);
    expect(r.thawed).toBe(false);
    expect(r.attempts).toBe(4);
    expect(r.detail).toMatch(
      /may still be frozen after 4 thaw attempts \(agent status: frozen; last error: agent timeout\)/,
    );
    expect(g.calls.thaw).toBe(4);
  });
});
