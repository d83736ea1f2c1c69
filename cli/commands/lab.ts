import type { Command } from 'commander';
import { isLabSiteName, type LabSiteName } from '../../lab/config.ts';
import { LabError } from '../../lab/errors.ts';
import {
  labCut,
  labDown,
  labHeal,
  labIsolate,
  labKillSite,
  labRejoin,
  labReset,
  labRevive,
  labStartWorkers,
  labStopWorkers,
  labUp,
} from '../../lab/lab.ts';
import { type LabStatus, labStatus } from '../../lab/status.ts';
import { waitSiteWorkersPolling } from '../../lab/workers.ts';
import { PlatformError } from '../../platform/errors.ts';
import { ExitCode } from '../exit-codes.ts';
import { connectForCommand } from '../with-client.ts';

const t0 = Date.now();
const say = (line: string) =>
  process.stderr.write(`lab: [${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);

/** Runs a lab action, turning LabErrors into a message and an exit code scripts can rely on. */
async function act(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof PlatformError) {
      process.stderr.write(`lifeboat lab: ${err.describe()}\n`);
      process.exitCode = ExitCode.unavailable;
      return;
    }
    if (err instanceof LabError) {
      process.stderr.write(`lifeboat lab: ${err.describe()}\n`);
      const codes: Partial<Record<LabError['code'], number>> = {
        UNKNOWN_SITE: ExitCode.usage,
        LAB_NOT_UP: ExitCode.unavailable,
        LAB_BUSY: ExitCode.conflict,
      };
      process.exitCode = codes[err.code] ?? ExitCode.failed;
      return;
    }
    throw err;
  }
}

function siteArg(name: string): LabSiteName {
  if (!isLabSiteName(name)) {
    throw new LabError(
      'UNKNOWN_SITE',
      `unknown site ${name}`,
      { site: name },
      'the lab has sites primary and secondary',
    );
  }
  return name;
}

function renderStatus(s: LabStatus): string {
  const lines: string[] = [];
  lines.push(
    `lab: ${s.up ? (s.ready ? 'up' : 'up (not ready)') : 'down'}${s.runbook ? `  runbook ${s.runbook}` : ''}`,
  );
  if (!s.up) return lines.join('\n');
  lines.push(`inter-site link: ${s.cut ? 'CUT' : 'up'}`);
  if (s.relay)
    lines.push(
      `temporal relay: ${s.relay.listen} pid ${s.relay.pid} ${s.relay.running ? 'running' : 'STOPPED'}`,
    );
  for (const [name, site] of Object.entries(s.sites)) {
    const flags = [site.killed ? 'KILLED' : '', site.isolated ? 'ISOLATED' : ''].filter(Boolean).join(' ');
    lines.push(`site ${name}${flags ? ` [${flags}]` : ''}: netns ${site.netns ?? '-'}  ${site.uri}`);
    const d = (p?: { pid: number; running: boolean }) => (p ? `${p.pid}${p.running ? '' : ' (dead)'}` : '-');
    lines.push(
      `  libvirtd ${d(site.libvirtd)}  virtlogd ${d(site.virtlogd)}  qemu ${site.qemuPids.join(',') || '-'}`,
    );
    for (const [k, p] of Object.entries(site.processes)) lines.push(`  ${k} ${d(p)}  log ${p.log}`);
    const links = Object.entries(site.links)
      .filter(([n]) => n !== 'lo')
      .map(([n, st]) => `${n}:${st}`)
      .join(' ');
    lines.push(`  links ${links}`);
  }
  lines.push('VM            GROUP       SITE       STATE        ADDRESS          LAST SEQ');
  for (const v of s.vms) {
    lines.push(
      `${v.name.padEnd(13)} ${v.group.padEnd(11)} ${v.site.padEnd(10)} ${v.state.padEnd(12)} ${v.address.padEnd(16)} ${v.lastSeq}`,
    );
  }
  return lines.join('\n');
}

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('The embedded two-site lab (real libvirt sites in namespaces)');
  lab
    .command('up')
    .description('Start both sites and create, boot and wait for the VMs of the lab runbook on the primary')
    .option('--runbook <file>', 'lab.yaml (default), lab-mini.yaml, or a path')
    .option('--no-workers', 'leave the site workers stopped (by default each site gets its worker, polling)')
    .option('--json', 'print the result as JSON')
    .action((o: { runbook?: string; workers?: boolean; json?: boolean }) =>
      act(async () => {
        const r = await labUp({ runbook: o.runbook, log: say });
        if (o.workers !== false) await startWorkersPolling(say);
        if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else {
          const vms = r.vms.map((v) => `${v.name} ${(v.readyMs / 1000).toFixed(1)}s`).join(', ');
          process.stdout.write(
            `lab up in ${(r.upMs / 1000).toFixed(1)} s${r.guestBuilt ? ' (guest built)' : ''}: ${vms}\n`,
          );
        }
      }),
    );
  lab
    .command('down')
    .description('Remove everything the lab created (safe to run twice)')
    .action(() =>
      act(async () => {
        const r = await labDown({ log: say });
        process.stdout.write(r.removed ? 'lab down\n' : 'lab was not up\n');
      }),
    );
  lab
    .command('status')
    .description('Sites, daemons, links and VMs of the lab')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) =>
      act(async () => {
        const s = await labStatus();
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${renderStatus(s)}\n`);
      }),
    );
  lab
    .command('reset')
    .description('Return both sites to their freshly-up state (golden images, links healed)')
    .action(() =>
      act(async () => {
        const r = await labReset({ log: say });
        process.stdout.write(`lab reset in ${(r.resetMs / 1000).toFixed(1)} s\n`);
      }),
    );
  lab
    .command('cut')
    .description('Cut the inter-site link (management links stay up)')
    .action(() =>
      act(async () => {
        await labCut();
        process.stdout.write('inter-site link cut\n');
      }),
    );
  lab
    .command('heal')
    .description('Restore the inter-site link')
    .action(() =>
      act(async () => {
        await labHeal();
        process.stdout.write('inter-site link restored\n');
      }),
    );
  lab
    .command('isolate <site>')
    .description("Take all of a site's links down; its VMs keep running")
    .action((site: string) =>
      act(async () => {
        await labIsolate(siteArg(site));
        process.stdout.write(`site ${site} isolated\n`);
      }),
    );
  lab
    .command('rejoin <site>')
    .description("Bring a site's links back up")
    .action((site: string) =>
      act(async () => {
        await labRejoin(siteArg(site));
        process.stdout.write(`site ${site} rejoined\n`);
      }),
    );
  lab
    .command('kill-site <site>')
    .description("SIGKILL a site's QEMU processes, worker and daemons by pid")
    .action((site: string) =>
      act(async () => {
        const r = await labKillSite(siteArg(site));
        process.stdout.write(`site ${site} killed (pids ${r.killed.join(' ') || 'none'})\n`);
      }),
    );
  lab
    .command('revive <site>')
    .description('Restart a killed site (daemons, links) keeping its domains and disks as the kill left them')
    .action((site: string) =>
      act(async () => {
        const r = await labRevive(siteArg(site));
        process.stdout.write(
          `site ${site} revived in ${r.reviveMs} ms (start its worker: lifeboat lab workers start)\n`,
        );
      }),
    );
  const workers = lab
    .command('workers')
    .description('Site workers (lifeboat worker site <name>) inside the sites');
  workers
    .command('start')
    .description('Start (or restart) both site workers')
    .action(() =>
      act(async () => {
        await startWorkersPolling(say);
        process.stdout.write('site workers started and polling\n');
      }),
    );
  workers
    .command('stop')
    .description('Stop both site workers')
    .action(() =>
      act(async () => {
        await labStopWorkers();
        process.stdout.write('site workers stopped\n');
      }),
    );
}

/**
 * Starts both site workers and returns once each polls its queue, starting the embedded server
 * and orchestrator worker first when no cluster is configured: a lab reported up answers.
 */
async function startWorkersPolling(say: (msg: string) => void): Promise<void> {
  const { client, connection } = await connectForCommand();
  try {
    const started = await labStartWorkers();
    await waitSiteWorkersPolling(client, started);
    say(`workers: ${started.map((w) => `${w.site} (pid ${w.proc.pid})`).join(', ')} polling their queues`);
  } finally {
    await connection.close();
  }
}
