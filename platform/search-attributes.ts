import type { Connection } from '@temporalio/client';
import protos from '@temporalio/proto';
import { PlatformError } from './errors.ts';
import { SEARCH_ATTRIBUTES } from './names.ts';

const KEYWORD = protos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/** Every Lifeboat search attribute is a Keyword. */
export function lifeboatSearchAttributeNames(): string[] {
  return Object.values(SEARCH_ATTRIBUTES);
}

/**
 * Registers Lifeboat's search attributes on a namespace when missing. Start-up flags of the dev
 * server only apply to a new database, so this runs after every start.
 */
export async function ensureSearchAttributes(
  connection: Connection,
  namespace: string,
): Promise<{ added: string[]; present: string[] }> {
  const wanted = lifeboatSearchAttributeNames();
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const have = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = wanted.filter((n) => !have.has(n));
    if (missing.length > 0) {
      const searchAttributes: Record<string, typeof KEYWORD> = {};
      for (const n of missing) searchAttributes[n] = KEYWORD;
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
    }
    return { added: missing, present: wanted };
  } catch (err) {
    if (err instanceof PlatformError) throw err;
    throw new PlatformError(
      'SEARCH_ATTRIBUTES_FAILED',
      `could not register search attributes: ${err instanceof Error ? err.message : String(err)}`,
      { namespace },
      'the client needs operator rights on the namespace, or an administrator registers them (see deploy/)',
    );
  }
}

/** The Lifeboat search attributes registered on the namespace. */
export async function listLifeboatSearchAttributes(
  connection: Connection,
  namespace: string,
): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  return lifeboatSearchAttributeNames().filter((n) => have.has(n));
}
