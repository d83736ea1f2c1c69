/**
 * Names that end up as file names, domain names, libvirt object names or process arguments
 * (groups, VMs, sites, networks, operators, roles, hook scripts) must be boring: this says why
 * a name is unsafe, or returns undefined when it is fine.
 */

export const MAX_NAME_LENGTH = 64;

// Characters a shell, a glob or a quoting mistake would give meaning to.
const SHELL_META = /[\s;&|$`<>(){}[\]*?!~'"\\#=%^,]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** True when `s` holds a control character (a CR/LF in an HTTP path, a NUL in an argument). */
export function hasControlCharacter(s: string): boolean {
  return CONTROL.test(s);
}

export interface UnsafeName {
  message: string;
  hint: string;
}

const HINT = 'use letters, digits, dot, dash and underscore, at most 64 characters';

export function unsafeNameReason(name: string, what = 'name'): UnsafeName | undefined {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
  if (name.length === 0) return { message: `${what} is empty`, hint: HINT };
  if (CONTROL.test(name)) return { message: `${what} ${shown} contains a control character`, hint: HINT };
  if (name.includes('/') || name.includes('\\')) {
    return { message: `${what} ${shown} contains a path separator`, hint: HINT };
  }
  if (name.includes('..')) return { message: `${what} ${shown} contains '..'`, hint: HINT };
  if (SHELL_META.test(name)) {
    return { message: `${what} ${shown} contains a shell metacharacter or space`, hint: HINT };
  }
  if (name.startsWith('-')) {
    return { message: `${what} ${shown} starts with '-' and would read as an option`, hint: HINT };
  }
  if (name.length > MAX_NAME_LENGTH) {
    return { message: `${what} is ${name.length} characters long, over ${MAX_NAME_LENGTH}`, hint: HINT };
  }
  return undefined;
}

/** Arguments go to execFile as an array, so only control characters are refused. */
export function unsafeArgumentReason(arg: string): UnsafeName | undefined {
  if (CONTROL.test(arg)) {
    return { message: `argument ${JSON.stringify(arg)} contains a control character`, hint: 'remove it' };
  }
  if (arg.length > 4096) return { message: 'argument is over 4096 characters', hint: 'shorten it' };
  return undefined;
}
