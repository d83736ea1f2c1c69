/**
 * Replication cycle benchmark on the real lab
 * (`npx tsx bench/replication-cycle.ts [--quick] [--runs N] [--idle K] [--trace]`): a data disk holding
 * 1 GiB, then 4 GiB (not with --quick), of random data, 1% of it then changed in 1 MiB runs. The
 * virtual disk is 16 GiB (4 GiB with --quick), so rsync's growth with the disk is visible. Each
 * run measures Lifeboat's first (full) cycle, an incremental cycle (time, bytes on the inter-site
 * link, dirty-bitmap bytes) against `rsync -I --inplace --no-whole-file` of the disk file, a
 * plain local copy (`cp` + fsync) of the same file, the full cycle's TLS transport alone (nothing
 * hashed or committed: the most a full cycle can reach here), and K cycles with nothing changed
 * (the fixed cost, end to end and the site work inside it). Per cycle it records where the time went
 * (activities from the VM workflow's history, and the phases each site measured). The VM is
 * defined but stopped, so the cycles take the offline bitmap path and the changes can be written
 * with qemu-io (which records them in the persistent bitmaps).
 *
 * One run on this shared 2-core machine varies by ±20%, so the figures of the table are
 * written as median, min and max over the runs (`figures`), each a ratio taken within one run.
 * Writes bench/results/replication-cycle.json (replication-cycle-quick.json with --quick).
 * `--trace` prints each cycle's events (controller, cycle, VM child) on stderr, in ms from the
 * request: where the orchestration part of a cycle goes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { requestReplication } from '../cli/commands/replicate.ts';
import { hostPathOf, hostUri, PRODUCTION_NETWORK, SITE_STORAGE_PATH, SITE_TOPOLOGY } from '../lab/config.ts';
import { domainXml, labMac, labUuid } from '../lab/domain.ts';
import { labUp } from '../lab/lab.ts';
import { borrowLab } from '../lab/lend.ts';
import { ensureLabReplicationTls } from '../lab/replication-tls.ts';
import { readState } from '../lab/state.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { controllerWorkflowId } from '../platform/names.ts';
import { startNbdExport, stopNbdExport } from '../replication/export/nbd-export.ts';
import { pullNbd } from '../replication/transfer/nbd.ts';
import { loadRunbook } from '../runbooks/index.ts';
import type { ReplicationCycleResult } from '../workflows/replication.ts';
import { startLabPlatform } from './lab-platform.ts';

const pexec = promisify(execFile);
const { EventType } = protos.temporal.api.enums.v1;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const VM = 'rbench';
const KEY = 'replication-bench-worker';

async function linkTx(): Promise<number> {
  const { stdout } = await pexec('ip', [
    '-n',
    SITE_TOPOLOGY.primary.netns,
    '-s',
    '-j',
    'link',
    'show',
    'inter0',
  ]);
  return (JSON.parse(stdout) as Array<{ stats64: { tx: { bytes: number } } }>)[0]!.stats64.tx.bytes;
}

/**
 * The transport alone, as a full cycle uses it: the disk served by qemu-storage-daemon over NBD
 * with TLS-PSK and pulled by qemu-img into a new qcow2, then fsync, with nothing hashed, checked
 * or committed. No full cycle can be faster than this on the machine it ran on.
 */
async function tlsStreamMs(disk: string, virtualSize: number, work: string): Promise<number> {
  const dir = mkdtempSync(path.join(work, 'stream-'));
  const psk = randomBytes(32).toString('hex');
  try {
    const address = await startNbdExport(
      dir,
      '127.0.0.1',
      [{ name: 'data', source: disk, format: 'qcow2' }],
      psk,
    );
    const dest = path.join(dir, 'pulled.qcow2');
    const { ms } = await timed(async () => {
      await pullNbd({
        address,
        exportName: 'data',
        psk,
        dest,
        virtualSize,
        idleTimeoutMs: 60_000,
        maxRestarts: 0,
      });
      await pexec('sync', [dest]);
    });
    return ms;
  } finally {
    await stopNbdExport(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function mbPerS(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

function runbookYaml(name: string): string {
  return `apiVersion: lifeboat/v1
kind: Runbook
metadata: { name: ${name}, owner: bench }
objectives: { rpo: 2m, rto: 15m }
sites:
  primary: { name: primary, driver: libvirt, uri: "qemu:///system", storage: ${SITE_STORAGE_PATH}, networks: { production: production } }
  secondary: { name: secondary, driver: libvirt, uri: "qemu:///system", storage: ${SITE_STORAGE_PATH}, networks: { production: production, bubble: bubble } }
replication: { every: 30s, consistency: crash, retention: { points: 6 } }
groups:
  - name: bench
    vms: [${VM}]
drill: { network: bubble }
`;
}

async function virsh(args: string[]): Promise<string> {
  return (await pexec('virsh', ['-q', '-c', hostUri('primary'), ...args])).stdout;
}

function ms(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
}

/**
 * Where a cycle's time went, from the VM child's history: each activity from scheduled to
 * closed, and what lies before the first and after the last (admission, workflow tasks).
 * `siteWork` adds each activity's time from started to closed: what the sites themselves spent.
 */
async function breakdown(
  client: Client,
  vmWorkflowId: string,
  total: number,
): Promise<Record<string, number>> {
  const events = (await client.workflow.getHandle(vmWorkflowId).fetchHistory()).events ?? [];
  const scheduled = new Map<string, { type: string; at: number }>();
  const started = new Map<string, number>();
  const out: Record<string, number> = {};
  let activities = 0;
  let siteWork = 0;
  for (const e of events) {
    const at = ms(e.eventTime);
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '?', at });
    const st = e.activityTaskStartedEventAttributes;
    if (st) started.set(String(st.scheduledEventId), at);
    const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (closed) {
      const from = scheduled.get(String(closed.scheduledEventId));
      if (from) {
        out[from.type] = (out[from.type] ?? 0) + (at - from.at);
        activities += at - from.at;
        siteWork += at - (started.get(String(closed.scheduledEventId)) ?? from.at);
      }
    }
  }
  const first = ms(events[0]?.eventTime);
  const last = ms(events.at(-1)?.eventTime);
  out.vmWorkflowOther = last - first - activities;
  out.outsideVmWorkflow = total - (last - first);
  out.siteWork = siteWork;
  return out;
}

/**
 * With --trace: every event of the controller (from the request on), the cycle and the VM child,
 * one line each, in ms from the client's request: where the fixed cost of a cycle goes.
 */
async function traceCycle(client: Client, ids: string[], t0: number): Promise<void> {
  const lines: Array<[number, string]> = [];
  for (const id of ids) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    for (const e of events) {
      const at = ms(e.eventTime) - t0;
      if (at < -5) continue;
      const type = String(EventType[e.eventType ?? 0] ?? e.eventType).replace(/^EVENT_TYPE_/, '');
      const act = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
      lines.push([at, `${id.split('/').slice(-2).join('/').padEnd(28)} ${type} ${act}`]);
    }
  }
  lines.sort((a, b) => a[0] - b[0]);
  for (const [at, l] of lines) process.stderr.write(`${at.toFixed(1).padStart(8)}  ${l}\n`);
}

interface CycleFigures {
  ms: number;
  linkBytes: number;
  breakdownMs: Record<string, number>;
  phasesMs: unknown;
}

/** One run of one data size: every figure of the table is a ratio within it. */
interface Run {
  dataGiB: number;
  virtualGiB: number;
  changedBytes: number;
  full: CycleFigures & { mbPerS: number };
  incremental: CycleFigures & { dirtyBitmapBytes: number; shippedBytes: number };
  rsync: { ms: number };
  /** A plain local copy of the same disk file (cp, then fsync): the floor of any full copy. */
  localCopy: { ms: number; mbPerS: number };
  /** The TLS transport of a full cycle alone, nothing hashed or committed (tlsStreamMs). */
  tlsStream: { ms: number; mbPerS: number };
  /** Cycles with nothing changed, one after another: the fixed cost of a cycle. */
  idle: Array<CycleFigures>;
  figures: {
    /** Full cycle's throughput over cp + fsync's, same run (target ≥ 0.5). */
    fullVsCpFsync: number;
    /** The TLS transport's throughput alone over cp + fsync's: the most fullVsCpFsync can be. */
    tlsStreamVsCpFsync: number;
    /** Median idle cycle, end to end (target ≤ 500 ms). */
    idleCycleMs: number;
    /** Median idle cycle's site work: activity time from started to closed (target ≤ 250 ms). */
    idleSiteWorkMs: number;
    /** rsync's time over the incremental cycle's (target ≥ 10 at 4 GiB, ≥ 2 at 1 GiB). */
    incrementalVsRsync: number;
    /** Bytes on the inter-site link for the incremental, and the bound 1.1 × changed + 1 MiB. */
    incrementalLinkBytes: number;
    linkBytesBound: number;
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min and max of a figure over the runs, and each run's value. */
function spread(xs: readonly number[]): { median: number; min: number; max: number; runs: number[] } {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { median: r(median(xs)), min: r(Math.min(...xs)), max: r(Math.max(...xs)), runs: xs.map(r) };
}

async function scenario(
  client: Client,
  dataGiB: number,
  virtualGiB: number,
  idleCycles: number,
  work: string,
): Promise<Run> {
  const inner = path.posix.join(SITE_STORAGE_PATH, 'vms', VM);
  const innerDisks = [path.posix.join(inner, 'system.qcow2'), path.posix.join(inner, 'data1.qcow2')];
  const disks = innerDisks.map((d) => hostPathOf('primary', d));
  await virsh(['destroy', VM]).catch(() => '');
  await virsh(['undefine', VM, '--checkpoints-metadata']).catch(() => '');
  rmSync(path.dirname(disks[0]!), { recursive: true, force: true });
  rmSync(hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'replicas', VM)), {
    recursive: true,
    force: true,
  });
  mkdirSync(path.dirname(disks[0]!), { recursive: true });
  await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', disks[0]!, '32M']);
  await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', disks[1]!, `${virtualGiB}G`]);
  // Random data in 256 MiB pieces (random so neither compression nor zero detection helps).
  const piece = path.join(work, 'piece.raw');
  await pexec('dd', ['if=/dev/urandom', `of=${piece}`, 'bs=1M', 'count=256', 'status=none']);
  for (let off = 0; off < dataGiB * GiB; off += 256 * MiB) {
    await pexec('qemu-io', ['-f', 'qcow2', '-c', `write -q -s ${piece} ${off} ${256 * MiB}`, disks[1]!]);
  }
  const xmlFile = path.join(work, 'domain.xml');
  writeFileSync(
    xmlFile,
    domainXml({
      name: VM,
      vm: VM,
      uuid: labUuid(`primary:${VM}`),
      memoryMiB: 128,
      disks: innerDisks,
      address: `192.168.100.91/${PRODUCTION_NETWORK.prefix}`,
      mac: labMac(VM),
      network: PRODUCTION_NETWORK.name,
      serialLog: path.posix.join(inner, 'serial.log'),
      serialSocket: path.posix.join(inner, 'serial.sock'),
      rate: 5,
    }),
  );
  await virsh(['define', xmlFile]);
  const runbookFile = path.join(work, `rbench-${dataGiB}.yaml`);
  writeFileSync(runbookFile, runbookYaml(`rbench-${dataGiB}g-${Date.now().toString(36)}`));
  const plan = (await loadRunbook(runbookFile)).plan!;
  const cycle = async (): Promise<{
    ms: number;
    link: number;
    r: ReplicationCycleResult;
    breakdown: Record<string, number>;
  }> => {
    const tx0 = await linkTx();
    const wall0 = Date.now();
    const { ms, value } = await timed(async () => {
      const a = await requestReplication(client, plan);
      if (!a.admitted) throw new Error(a.message);
      return (await client.workflow.getHandle(a.id).result()) as ReplicationCycleResult;
    });
    if (value.outcome !== 'succeeded') throw new Error(JSON.stringify(value));
    const link = (await linkTx()) - tx0;
    if (process.argv.includes('--trace')) {
      process.stderr.write(`cycle ${value.id}: ${ms.toFixed(0)} ms\n`);
      await traceCycle(
        client,
        [controllerWorkflowId(plan.runbook.name), value.id, `${value.id}/${VM}`],
        wall0,
      );
    }
    return { ms, link, r: value, breakdown: await breakdown(client, `${value.id}/${VM}`, ms) };
  };

  const full = await cycle();
  // rsync's destination: the disk file as the secondary had it after the full cycle.
  const dest = path.join(work, 'rsync-dest.qcow2');
  await pexec('cp', ['--sparse=always', disks[1]!, dest]);
  // 1% of the data changed in 1 MiB runs, spread over the data.
  const runs = Math.max(1, Math.round((dataGiB * 1024) / 100));
  const one = path.join(work, 'one.raw');
  await pexec('dd', ['if=/dev/urandom', `of=${one}`, 'bs=1M', 'count=1', 'status=none']);
  const step = Math.floor((dataGiB * 1024) / runs) * MiB;
  await pexec('qemu-io', [
    '-f',
    'qcow2',
    ...Array.from({ length: runs }, (_, i) => [
      '-c',
      `write -q -s ${one} ${i * step + 3 * MiB} ${MiB}`,
    ]).flat(),
    disks[1]!,
  ]);
  const inc = await cycle();
  const v = inc.r.vms[0]!;
  const rsync = await timed(() => pexec('rsync', ['-I', '--inplace', '--no-whole-file', disks[1]!, dest]));
  // The same cycle again with nothing changed: what any cycle costs before it moves a byte.
  const idle: CycleFigures[] = [];
  for (let k = 0; k < idleCycles; k++) {
    const c = await cycle();
    idle.push({ ms: c.ms, linkBytes: c.link, breakdownMs: c.breakdown, phasesMs: c.r.vms[0]?.phasesMs });
  }
  const copyDest = path.join(work, 'copy-dest.qcow2');
  const localCopy = await timed(async () => {
    await pexec('cp', [disks[1]!, copyDest]);
    await pexec('sync', [copyDest]);
  });
  rmSync(copyDest, { force: true });
  rmSync(dest, { force: true });
  const stream = await tlsStreamMs(disks[1]!, virtualGiB * GiB, work);
  const changed = runs * MiB;
  const idleMid = median(idle.map((c) => c.ms));
  return {
    dataGiB,
    virtualGiB,
    changedBytes: changed,
    full: {
      ms: full.ms,
      linkBytes: full.link,
      mbPerS: mbPerS(dataGiB * GiB, full.ms),
      breakdownMs: full.breakdown,
      phasesMs: full.r.vms[0]?.phasesMs,
    },
    incremental: {
      ms: inc.ms,
      linkBytes: inc.link,
      dirtyBitmapBytes: v.dirtyBytes ?? -1,
      shippedBytes: v.bytesShipped ?? -1,
      breakdownMs: inc.breakdown,
      phasesMs: v.phasesMs,
    },
    rsync: { ms: rsync.ms },
    tlsStream: { ms: stream, mbPerS: mbPerS(dataGiB * GiB, stream) },
    localCopy: { ms: localCopy.ms, mbPerS: mbPerS(dataGiB * GiB, localCopy.ms) },
    idle,
    figures: {
      fullVsCpFsync: localCopy.ms / full.ms,
      tlsStreamVsCpFsync: localCopy.ms / stream,
      idleCycleMs: idleMid,
      idleSiteWorkMs: median(idle.map((c) => c.breakdownMs.siteWork ?? 0)),
      incrementalVsRsync: rsync.ms / inc.ms,
      incrementalLinkBytes: inc.link,
      linkBytesBound: 1.1 * changed + MiB,
    },
  };
}

async function main(): Promise<void> {
  const with4g = !process.argv.includes('--quick');
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(name);
    return i < 0 ? dflt : Number.parseInt(process.argv[i + 1] ?? '', 10);
  };
  const runCount = arg('--runs', 3);
  const idleCycles = arg('--idle', 5);
  const virtualGiB = with4g ? 16 : 4;
  // The bench runs site workers of its own: the demo's lab, if up, lends its sites and is given
  // back working afterwards.
  const lent = await borrowLab({ stopWorkers: true });
  if (!readState()?.ready)
    await labUp({ runbook: path.join(REPO_ROOT, 'runbooks', 'examples', 'lab-mini.yaml') });
  await ensureLabReplicationTls();
  const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-rbench-'));
  const work = mkdtempSync(path.join(hostPathOf('primary', SITE_STORAGE_PATH), '.rbench-'));
  const platform = await startLabPlatform({ home, key: KEY });
  const { client } = platform;
  try {
    const runs: Run[] = [];
    for (let r = 0; r < runCount; r++) {
      for (const g of with4g ? [1, 4] : [1]) {
        const one = await scenario(client, g, virtualGiB, idleCycles, work);
        process.stderr.write(`run ${r + 1}/${runCount}, ${g} GiB: ${JSON.stringify(one.figures)}\n`);
        runs.push(one);
      }
    }
    const bySize = (g: number) => runs.filter((x) => x.dataGiB === g);
    const figures: Record<string, ReturnType<typeof spread>> = {};
    for (const g of with4g ? [1, 4] : [1]) {
      const rs = bySize(g);
      figures[`fullVsCpFsync_${g}GiB`] = spread(rs.map((x) => x.figures.fullVsCpFsync));
      figures[`fullMBps_${g}GiB`] = spread(rs.map((x) => x.full.mbPerS));
      figures[`cpFsyncMBps_${g}GiB`] = spread(rs.map((x) => x.localCopy.mbPerS));
      figures[`tlsStreamVsCpFsync_${g}GiB`] = spread(rs.map((x) => x.figures.tlsStreamVsCpFsync));
      figures[`incrementalVsRsync_${g}GiB`] = spread(rs.map((x) => x.figures.incrementalVsRsync));
      figures[`incrementalMs_${g}GiB`] = spread(rs.map((x) => x.incremental.ms));
      figures[`rsyncMs_${g}GiB`] = spread(rs.map((x) => x.rsync.ms));
      figures[`incrementalLinkBytesOverBound_${g}GiB`] = spread(
        rs.map((x) => x.figures.incrementalLinkBytes / x.figures.linkBytesBound),
      );
    }
    figures.idleCycleMs = spread(runs.map((x) => x.figures.idleCycleMs));
    figures.idleSiteWorkMs = spread(runs.map((x) => x.figures.idleSiteWorkMs));
    const out = {
      at: new Date().toISOString(),
      machine: `lab (TCG, 2 vCPUs), shared; offline bitmap path; ${virtualGiB} GiB virtual data disk`,
      command: process.argv.slice(2).join(' '),
      targets: {
        fullVsCpFsync: '>= 0.5 at 1 GiB and 4 GiB',
        idleCycleMs: '<= 500 end to end',
        idleSiteWorkMs: '<= 250',
        incrementalVsRsync: '>= 10 at 4 GiB, >= 2 at 1 GiB',
        incrementalLinkBytesOverBound: '<= 1 (1.1 x changed + 1 MiB)',
      },
      figures,
      runs,
    };
    mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      path.join(REPO_ROOT, 'bench', 'results', `replication-cycle${with4g ? '' : '-quick'}.json`),
      `${JSON.stringify(out, null, 2)}\n`,
    );
    process.stdout.write(`${JSON.stringify({ figures }, null, 2)}\n`);
  } finally {
    await platform.close();
    await virsh(['undefine', VM, '--checkpoints-metadata']).catch(() => '');
    rmSync(path.dirname(hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'vms', VM, 'x'))), {
      recursive: true,
      force: true,
    });
    rmSync(hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'replicas', VM)), {
      recursive: true,
      force: true,
    });
    rmSync(work, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
    // A lab the bench brought up itself is taken down: the machine has one lab, shared.
    await lent.giveBack();
  }
}

await main();
