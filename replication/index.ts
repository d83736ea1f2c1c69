/**
 * The replication data plane: moving changed blocks between two sites and keeping recovery
 * points at the secondary. Nothing here talks to libvirt or Temporal; activities wire it up.
 *
 * - Primary site worker: `TransferServer` serves staged export files per transfer (HTTPS,
 *   mutual TLS, per-transfer bearer token, Range/If-Range), registrations kept on disk.
 * - Secondary site worker: `pullTransfer` pulls them (requests made by curl) into
 *   `ReplicaStore.stage()`'s directory (idle timeout, retries, resume, fsync + size + sha256); `ReplicaStore.commit()` rebases
 *   onto relative paths, checks, digests and publishes the point with one rename;
 *   `verifyPoint` is the scheduled whole-point check.
 * - Either side: `digestImage` / `updateImageDigest` give a layout-independent content digest
 *   (Merkle root over 1 MiB block digests, read from the chain's files where qemu-img map
 *   allows) and the per-block list a resync compares. `PhaseClock` times the steps.
 * - `ensureSiteCert` / `loadSiteTls` make and load the per-site TLS material.
 */
export * from './block-digests.ts';
export * from './chain.ts';
export * from './content-digest.ts';
export * from './errors.ts';
export * from './manifest.ts';
export * from './phases.ts';
export * from './store.ts';
export * from './tls.ts';
export * from './transfer/client.ts';
export * from './transfer/protocol.ts';
export * from './transfer/server.ts';
export * from './verify.ts';
