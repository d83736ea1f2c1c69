/**
 * Errors of the replication data plane: values with a code, the context they happened in (file,
 * point, transfer) and a hint for the operator. Activities turn them into Temporal failures
 * by code; `retryable` says whether trying again can help.
 */
import { CodedError } from '../platform/coded-error.ts';

export type ReplicationErrorCode =
  | 'PROCESS_FAILED'
  | 'PROCESS_TIMEOUT'
  | 'IMAGE_INFO_FAILED'
  | 'IMAGE_CHECK_FAILED'
  | 'IMAGE_REBASE_FAILED'
  | 'RETENTION_JOURNAL_MISMATCH'
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
  | 'TRANSFER_RESTART'
  | 'TRANSFER_TLS'
  | 'TLS_SETUP_FAILED';

export class ReplicationError extends CodedError<ReplicationErrorCode> {}

export function isReplicationError(e: unknown, code?: ReplicationErrorCode): e is ReplicationError {
  return e instanceof ReplicationError && (code === undefined || e.code === code);
}
