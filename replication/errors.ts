/**
 * Errors of the replication data plane: values with a code, the context they happened in (file,
 * point, transfer) and a hint for the operator. Activities turn them into Temporal failures
 * by code; `retryable` says whether trying again can help.
 */
export type ReplicationErrorCode =
  | 'PROCESS_FAILED'
  | 'PROCESS_TIMEOUT'
  | 'IMAGE_INFO_FAILED'
  | 'IMAGE_CHECK_FAILED'
  | 'IMAGE_REBASE_FAILED'
  | 'IMAGE_COMPARE_FAILED'
  | 'IMAGE_CREATE_FAILED'
  | 'MANIFEST_INVALID'
  | 'BAD_NAME'
  | 'POINT_NOT_FOUND'
  | 'POINT_CONFLICT'
  | 'PARENT_NOT_COMMITTED'
  | 'STAGING_INCOMPLETE'
  | 'CONTENT_DIGEST_MISMATCH'
  | 'TRANSFER_HTTP'
  | 'TRANSFER_IDLE_TIMEOUT'
  | 'TRANSFER_INTEGRITY'
  | 'TRANSFER_GAVE_UP'
  | 'TRANSFER_TLS'
  | 'TLS_SETUP_FAILED';

export class ReplicationError extends Error {
  override readonly name = 'ReplicationError';
  readonly code: ReplicationErrorCode;
  readonly context: Record<string, unknown>;
  readonly hint: string;
  readonly retryable: boolean;

  constructor(opts: {
    code: ReplicationErrorCode;
    message: string;
    context?: Record<string, unknown>;
    hint?: string;
    retryable?: boolean;
    cause?: unknown;
  }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = opts.code;
    this.context = opts.context ?? {};
    this.hint = opts.hint ?? '';
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, context: this.context, hint: this.hint };
  }
}

export function isReplicationError(e: unknown, code?: ReplicationErrorCode): e is ReplicationError {
  return e instanceof ReplicationError && (code === undefined || e.code === code);
}
