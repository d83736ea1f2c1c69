/**
 * Errors of the platform layer (server, connection, workers): a stable code, the context that
 * locates the problem, and a hint that says what to do about it.
 */
export type PlatformErrorCode =
  | 'SERVER_START_FAILED'
  | 'SERVER_UNREACHABLE'
  | 'TLS_CONFIG_INVALID'
  | 'SEARCH_ATTRIBUTES_FAILED'
  | 'NO_SITE_DRIVER'
  | 'WORKER_START_FAILED'
  | 'HISTORY_MISSING';

export class PlatformError extends Error {
  override readonly name = 'PlatformError';
  constructor(
    readonly code: PlatformErrorCode,
    message: string,
    readonly context: Record<string, string | number | undefined>,
    readonly hint: string,
  ) {
    super(message);
  }

  /** One line for a person: message, context and hint. */
  describe(): string {
    const where = Object.entries(this.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return `${this.code}: ${this.message}${where ? ` (${where})` : ''}\n  hint: ${this.hint}`;
  }
}
