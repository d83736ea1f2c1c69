/**
 * One lab per machine. A lab's names are the machine's (namespaces `lb-primary` and
 * `lb-secondary`, the bridge, host interfaces, the host directories its sites mount), but its
 * state lives under a Lifeboat home: two homes (two checkouts) bringing a lab up would share and
 * then tear down each other's namespaces. The home whose lab is up is recorded in a machine-wide
 * file under /run (gone at reboot, as the lab is); another home's `lab up` is refused while that
 * lab's daemons run, and takes over a record whose lab is gone.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LAB_SITES, labPaths } from './config.ts';
import { LabError } from './errors.ts';
import { isRunning } from './proc.ts';
import { readState } from './state.ts';

/** Where the machine records whose lab is up; LIFEBOAT_LAB_OWNER_FILE moves it (tests). */
export function ownerFile(): string {
  return process.env.LIFEBOAT_LAB_OWNER_FILE ?? '/run/lifeboat/lab-owner.json';
}

function readOwner(): string | undefined {
  try {
    const home = (JSON.parse(readFileSync(ownerFile(), 'utf8')) as { home?: unknown }).home;
    return typeof home === 'string' ? home : undefined;
  } catch {
    return undefined;
  }
}

/** The daemons of the lab under `home` that still run (none: that lab is gone). */
function liveDaemons(home: string): string[] {
  const state = readState(home);
  if (!state) return [];
  return LAB_SITES.flatMap((site) => {
    const s = state.sites[site];
    return [s.libvirtd, s.virtlogd].filter(isRunning).map((p) => `${p.what} pid ${p.pid}`);
  });
}

/** Records `home` as the machine's lab, or refuses while another home's lab runs. */
export function claimMachine(home?: string): void {
  const mine = path.resolve(labPaths(home).home);
  const owner = readOwner();
  if (owner !== undefined && path.resolve(owner) !== mine) {
    const live = liveDaemons(owner);
    if (live.length > 0) {
      throw new LabError(
        'LAB_BUSY',
        `a lab from ${owner} is up on this machine (${live.join(', ')}); its namespaces and bridge are the machine's, so a second lab cannot come up beside it`,
        { owner, home: mine },
        `bring that lab down first: LIFEBOAT_HOME=${owner} lifeboat lab down`,
      );
    }
  }
  if (owner !== undefined && path.resolve(owner) === mine) return;
  mkdirSync(path.dirname(ownerFile()), { recursive: true });
  const tmp = `${ownerFile()}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ home: mine, since: new Date().toISOString() })}\n`);
  renameSync(tmp, ownerFile());
}

/** Forgets `home` as the machine's lab (after its `lab down`); another home's record is kept. */
export function releaseMachine(home?: string): void {
  const owner = readOwner();
  if (owner !== undefined && path.resolve(owner) === path.resolve(labPaths(home).home)) {
    rmSync(ownerFile(), { force: true });
  }
}
