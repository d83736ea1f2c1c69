/**
 * The primary side of a replication cycle: `prepareExport` turns a running VM's disks into a
 * checkpoint plus backup files served by the site's transfer server; `cleanupExport` removes
 * them afterwards and deletes checkpoints no committed point references.
 */
export * from './domain.ts';
export * from './errors.ts';
export * from './guest-commands.ts';
export * from './libvirt-session.ts';
export * from './offline.ts';
export * from './online.ts';
export * from './prepare.ts';
export * from './qmp.ts';
export * from './resync.ts';
export * from './thaw.ts';
export * from './virsh.ts';
