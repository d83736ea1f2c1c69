/**
 * Errors of the primary-side export: a code, the context (VM, domain, checkpoint) and a hint.
 * `retryable` tells the activity whether running it again can help.
 */
import { CodedError } from '../../platform/coded-error.ts';

export type ExportErrorCode =
  | 'VIRSH_FAILED'
  | 'DOMAIN_NOT_FOUND'
  | 'DOMAIN_STATE'
  | 'BACKUP_FAILED'
  | 'BACKUP_TIMEOUT'
  | 'NO_DISKS'
  | 'OFFLINE_EXPORT_UNSUPPORTED';

export class ExportError extends CodedError<ExportErrorCode> {}
