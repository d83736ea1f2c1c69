/** One lab per machine: a second home's `lab up` is refused while the first home's lab runs. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimMachine, ownerFile, releaseMachine } from '../../../lab/owner.ts';
import { procRef } from '../../../lab/proc.ts';
import { emptyState, writeState } from '../../../lab/state.ts';

const dir = mkdtempSync(join(tmpdir(), 'lifeboat-owner-'));
const homeA = join(dir, 'a');
const homeB = join(dir, 'b');
// Stands for home A's libvirtd: a process this test started and ends.
const daemon = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });

beforeAll(() => {
  process.env.LIFEBOAT_LAB_OWNER_FILE = join(dir, 'run', 'lab-owner.json');
});
afterAll(() => {
  daemon.kill('SIGKILL');
  delete process.env.LIFEBOAT_LAB_OWNER_FILE;
});

function labOf(home: string, pid: number | undefined): void {
  const state = emptyState();
  const ref = pid === undefined ? undefined : procRef(pid, 'libvirtd (primary)');
  if (ref) state.sites.primary.libvirtd = ref;
  writeState(state, home);
}

describe('the machine lab owner', () => {
  it("refuses a second home while the first home's daemons run, naming it and how to free it", () => {
    labOf(homeA, daemon.pid);
    claimMachine(homeA);
    claimMachine(homeA);
    expect(() => claimMachine(homeB)).toThrow(
      new RegExp(`a lab from ${homeA} is up on this machine \\(libvirtd \\(primary\\) pid ${daemon.pid}\\)`),
    );
    expect(JSON.parse(readFileSync(ownerFile(), 'utf8')).home).toBe(homeA);
    // B's lab down does not forget A's lab.
    releaseMachine(homeB);
    expect(existsSync(ownerFile())).toBe(true);
  });

  it('takes over a record whose lab is gone, and forgets it at its own lab down', () => {
    labOf(homeA, undefined);
    claimMachine(homeB);
    expect(JSON.parse(readFileSync(ownerFile(), 'utf8')).home).toBe(homeB);
    releaseMachine(homeB);
    expect(existsSync(ownerFile())).toBe(false);
  });
});
