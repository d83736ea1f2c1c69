import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labPaths } from '../../../lab/config.ts';
import { isRunning, procRef } from '../../../lab/proc.ts';
import { emptyState, readState, removeState, withLabLock, writeState } from '../../../lab/state.ts';

describe('lab state and lock', () => {
  const home = mkdtempSync(path.join(tmpdir(), 'lb-state-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('writes, reads and removes the state file', () => {
    expect(readState(home)).toBeUndefined();
    const s = emptyState();
    s.cut = true;
    writeState(s, home);
    expect(readState(home)).toEqual(s);
    removeState(home);
    expect(readState(home)).toBeUndefined();
  });

  it('the lock is re-entrant for its holder and released afterwards', async () => {
    const order: string[] = [];
    await withLabLock(home, async () => {
      order.push('outer');
      await withLabLock(home, async () => order.push('inner'));
    });
    expect(order).toEqual(['outer', 'inner']);
    // Released: a second, independent holder gets it at once.
    await withLabLock(home, async () => order.push('again'), 1_000);
    expect(order).toHaveLength(3);
  });

  it('takes over a lock whose holder has exited, and refuses one held by a live process', async () => {
    const lock = labPaths(home).lock;
    mkdirSync(path.dirname(lock), { recursive: true });
    writeFileSync(lock, JSON.stringify({ pid: 999_999_999, startTime: '1', what: 'gone' }));
    expect(await withLabLock(home, async () => 'ran', 1_000)).toBe('ran');

    // pid 1 is alive and is not us: the lock is busy.
    writeFileSync(lock, JSON.stringify(procRef(1, 'init')));
    await expect(withLabLock(home, async () => 'ran', 300)).rejects.toMatchObject({ code: 'LAB_BUSY' });
    rmSync(lock);
  });

  it('tells a live process from one that exited, even when its pid is reused', () => {
    const me = procRef(process.pid, 'me')!;
    expect(isRunning(me)).toBe(true);
    expect(isRunning({ ...me, startTime: '0' })).toBe(false);
    const child = spawnSync('true');
    expect(child.pid).toBeGreaterThan(0);
    expect(procRef(child.pid!, 'exited')).toBeUndefined();
  });
});
