/** Site-level facts for live checks: networks, host memory, storage space, disk images. */
import { randomBytes } from 'node:crypto';
import { access, constants, open, stat, statfs, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CommandFailedError } from '../errors.ts';
import type { HostInfo, ImageInfo, NetworkInfo, StorageInfo } from '../types.ts';
import { parseKeyValues, parseMemStats, parseNameList, yes } from './parse.ts';
import type { Virsh } from './virsh.ts';

export async function listNetworks(virsh: Virsh): Promise<NetworkInfo[]> {
  const names = parseNameList(await virsh.run(['net-list', '--all', '--name']));
  return Promise.all(
    names.map(async (name) => {
      const kv = parseKeyValues(await virsh.run(['net-info', '--network', name]));
      const info: NetworkInfo = {
        name,
        active: yes(kv.get('active')),
        persistent: yes(kv.get('persistent')),
        autostart: yes(kv.get('autostart')),
      };
      const bridge = kv.get('bridge');
      if (bridge) info.bridge = bridge;
      return info;
    }),
  );
}

export async function hostInfo(virsh: Virsh): Promise<HostInfo> {
  const [mem, node] = await Promise.all([virsh.run(['nodememstats']), virsh.run(['nodeinfo'])]);
  const m = parseMemStats(mem);
  const kv = parseKeyValues(node);
  const free = m.get('free') ?? 0;
  return {
    cpus: Number(kv.get('cpu(s)') ?? '0'),
    totalMemoryBytes: m.get('total') ?? 0,
    freeMemoryBytes: free,
    availableMemoryBytes: free + (m.get('buffers') ?? 0) + (m.get('cached') ?? 0),
  };
}

async function nearestExisting(path: string): Promise<string> {
  let p = path;
  for (;;) {
    try {
      await stat(p);
      return p;
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

/**
 * Free space and writability of a directory. Writability is proven by creating and removing a
 * file, because access(2) says yes to root on a read-only bind mount in some kernels.
 */
export async function storageInfo(path: string): Promise<StorageInfo> {
  let exists = false;
  try {
    exists = (await stat(path)).isDirectory();
  } catch {
    exists = false;
  }
  const fsPath = exists ? path : await nearestExisting(path);
  const fs = await statfs(fsPath);
  let writable = false;
  if (exists) {
    const probe = `${path}/.lifeboat-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await access(path, constants.W_OK);
      const fh = await open(probe, 'wx');
      await fh.close();
      await unlink(probe);
      writable = true;
    } catch {
      writable = false;
    }
  }
  return { path, exists, writable, freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize };
}

interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
}

export async function imageInfo(virsh: Virsh, path: string): Promise<ImageInfo> {
  // -U: the image is usually open by a running VM; we only read its header.
  const out = await virsh.qemuImg(['info', '--output=json', '-U', path]);
  let j: QemuImgInfo;
  try {
    j = JSON.parse(out) as QemuImgInfo;
  } catch {
    throw new CommandFailedError({ site: virsh.opts.site, stderr: out }, 'qemu-img info output is not JSON');
  }
  const info: ImageInfo = {
    path,
    format: j.format ?? 'unknown',
    virtualSizeBytes: j['virtual-size'] ?? 0,
    actualSizeBytes: j['actual-size'] ?? 0,
  };
  const backing = j['full-backing-filename'] ?? j['backing-filename'];
  if (backing) info.backingFile = backing;
  return info;
}
