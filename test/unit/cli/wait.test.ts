import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { watchOperation } from '../../../cli/wait.ts';
import type { OperationProgress, OperationResult } from '../../../workflows/types.ts';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const progress = (state: OperationProgress['state'], done = 0): OperationProgress => ({
  id: 'runbook/pay/drill/1',
  kind: 'drill',
  runbook: 'pay',
  planHash: 'h',
  state,
  wave: 0,
  waves: 1,
  startedAt: T0,
  groups: {},
  gates: [],
  pauses: [],
  decisions: [],
  compensations: { pending: 2, done },
});
const result = (outcome: OperationResult['outcome']): OperationResult => ({
  id: 'runbook/pay/drill/1',
  kind: 'drill',
  outcome,
  groups: {},
  decisions: [],
});

/** A fake operation: `states` are its snapshots in turn; it ends when `finish` is called. */
function fake(states: OperationProgress[]) {
  let i = 0;
  let finish: (r: OperationResult) => void = () => {};
  const ended = new Promise<OperationResult>((resolve) => {
    finish = resolve;
  });
  const lines: string[] = [];
  const signals = new EventEmitter();
  const cancels: string[] = [];
  return {
    lines,
    signals,
    cancels,
    finish: (r: OperationResult) => finish(r),
    deps: {
      operationId: 'runbook/pay/drill/1',
      progress: async () => states[Math.min(i++, states.length - 1)],
      result: ended,
      cancel: async (reason: string) => {
        cancels.push(reason);
      },
      out: { write: (s: string) => lines.push(...s.trimEnd().split('\n')) },
      live: false,
      user: 'alice',
      signals: signals as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
      intervalMs: 5,
      now: () => T0 + 1_000,
    },
  };
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

describe('watchOperation without a terminal', () => {
  it('prints each change once and returns the result', async () => {
    const f = fake([progress('running'), progress('running'), progress('succeeded')]);
    const waiting = watchOperation(f.deps);
    await tick();
    f.finish(result('succeeded'));
    expect(await waiting).toEqual({ result: result('succeeded') });
    expect(f.lines).toEqual([
      '1.0s drill runbook/pay/drill/1 running',
      '1.0s wave 1/1',
      '1.0s drill runbook/pay/drill/1 succeeded',
    ]);
    expect(f.signals.listenerCount('SIGINT')).toBe(0);
  });

  it('keeps waiting when the progress cannot be read for a while', async () => {
    const f = fake([progress('running')]);
    let calls = 0;
    const waiting = watchOperation({
      ...f.deps,
      progress: async () => {
        calls++;
        if (calls < 3) throw new Error('no worker');
        return progress('running');
      },
    });
    await tick();
    f.finish(result('succeeded'));
    await waiting;
    expect(f.lines[0]).toBe('1.0s drill runbook/pay/drill/1 running');
  });

  it('the first Ctrl-C cancels, naming who; the teardown is shown; a second stops watching', async () => {
    const f = fake([progress('running'), progress('rolling-back', 1)]);
    const waiting = watchOperation(f.deps);
    await tick();
    f.signals.emit('SIGINT');
    await tick();
    expect(f.cancels).toEqual(['interrupted by alice at the terminal']);
    expect(f.lines).toContain('1.0s undo 1/2 done');
    f.signals.emit('SIGINT');
    expect(await waiting).toEqual({ detached: true });
    expect(f.lines.at(-1)).toMatch(/^stopped watching; runbook\/pay\/drill\/1 goes on undoing/);
  });

  it('asks first when it can; no leaves the operation alone, yes cancels', async () => {
    const f = fake([progress('running')]);
    const answers = [false, true];
    const questions: string[] = [];
    const waiting = watchOperation({
      ...f.deps,
      confirm: async (q) => {
        questions.push(q);
        return answers.shift() ?? false;
      },
    });
    await tick();
    f.signals.emit('SIGINT');
    await tick();
    expect(f.cancels).toEqual([]);
    f.signals.emit('SIGINT');
    await tick();
    expect(questions).toEqual([
      'Cancel runbook/pay/drill/1? Its actions will be undone [y/N] ',
      'Cancel runbook/pay/drill/1? Its actions will be undone [y/N] ',
    ]);
    expect(f.cancels).toHaveLength(1);
    f.finish(result('cancelled'));
    expect(await waiting).toEqual({ result: result('cancelled') });
  });

  it('says so when the cancellation is refused, and can be asked again', async () => {
    const f = fake([progress('running')]);
    let attempts = 0;
    const waiting = watchOperation({
      ...f.deps,
      cancel: async () => {
        attempts++;
        throw new Error('already finished');
      },
    });
    await tick();
    f.signals.emit('SIGINT');
    await tick();
    expect(f.lines.at(-1)).toBe('could not cancel runbook/pay/drill/1: already finished');
    f.signals.emit('SIGINT');
    await tick();
    expect(attempts).toBe(2);
    f.finish(result('succeeded'));
    await waiting;
  });
});

describe('watchOperation on a terminal', () => {
  it('redraws the view in place and leaves the last one on screen', async () => {
    const f = fake([progress('running'), progress('succeeded')]);
    const written: string[] = [];
    const waiting = watchOperation({
      ...f.deps,
      live: true,
      out: { write: (s: string) => written.push(s), isTTY: true },
    });
    await tick();
    f.finish(result('succeeded'));
    await waiting;
    const text = written.join('');
    expect(text).toContain('drill runbook/pay/drill/1  running');
    expect(text).toContain('drill runbook/pay/drill/1  succeeded');
  });
});
