/**
 * Names that reach a hypervisor (VMs, networks) follow the runbook language's own rule
 * (runbooks/names.ts), so what `lifeboat validate` accepts is exactly what the driver accepts.
 * The driver re-checks anyway: a name can arrive from elsewhere than a runbook.
 */
import { unsafeNameReason } from '../runbooks/names.ts';
import { InvalidNameError } from './errors.ts';

export { MAX_NAME_LENGTH } from '../runbooks/names.ts';

/** Throws InvalidNameError when `name` is unsafe; nothing is spawned before this passes. */
export function assertSafeName(name: string, what: string, site: string): void {
  const bad =
    typeof name === 'string'
      ? unsafeNameReason(name, what)
      : { message: `${what} is not a string`, hint: '' };
  if (bad)
    throw new InvalidNameError({
      site,
      name: String(name),
      what,
      message: bad.message,
      hint: bad.hint || undefined,
    });
}

export function isSafeName(name: string): boolean {
  return typeof name === 'string' && unsafeNameReason(name) === undefined;
}
