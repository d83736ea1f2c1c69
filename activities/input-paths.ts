/**
 * Paths a site activity builds from its input stay inside the site's storage. Workflow input is
 * data from Temporal, not from this site: a name with `..`, a slash or an absolute path would
 * otherwise let whoever can start a workflow make the worker read, hash or rewrite any file.
 * Refusals are non-retryable (the same input fails the same way).
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { safeNameSchema } from '../replication/manifest.ts';

function refuse(kind: string, value: string, where: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'PATH_OUTSIDE_STORAGE',
    message: `${kind} ${JSON.stringify(value)} names a path outside ${where}`,
    nonRetryable: true,
    details: [{ kind, value, where, hint: 'activity input names files inside the site storage only' }],
  });
}

/** `name` as one safe path component (letters, digits, `.`, `_`, `-`; no leading dot). */
export function inputName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !safeNameSchema.safeParse(name).success) {
    throw refuse(kind, String(name), 'its directory (not a single file name)');
  }
  return name;
}

/** `root/rel` resolved, refused unless it lies inside `root`. */
export function inputPathInside(root: string, kind: string, rel: unknown): string {
  if (typeof rel !== 'string' || rel === '' || rel.includes('\0') || isAbsolute(rel)) {
    throw refuse(kind, String(rel), root);
  }
  const full = resolve(root, rel);
  const r = relative(resolve(root), full);
  if (r === '' || r.startsWith('..') || isAbsolute(r)) throw refuse(kind, rel, root);
  return full;
}
