/**
 * Errors of the primary-side export: a code, the context (VM, domain, checkpoint) and a hint.
 * `retryable` tells the activity whether running it again can help.
 */
export type ExportErrorCode =
  | 'VIRSH_FAILED'
  | 'DOMAIN_NOT_FOUND'
  | 'DOMAIN_STATE'
  | 'BACKUP_FAILED'
  | 'BACKUP_TIMEOUT'
  | 'NO_DISKS'
  | 'OFFLINE_EXPORT_UNSUPPORTED';

export class ExportError extends Error {
  override readonly name = 'ExportError';
  readonly code: ExportErrorCode;
  readonly context: Record<string, unknown>;
  readonly hint: string;
  readonly retryable: boolean;

  constructor(opts: {
    code: ExportErrorCode;
    message: string;
    context?: Record<string, unknown>;
    hint?: string;
    retryable?: boolean;
  }) {
    super(opts.message);
    this.code = opts.code;
    this.context = opts.context ?? {};
    this.hint = opts.hint ?? '';
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, context: this.context, hint: this.hint };
  }
}
