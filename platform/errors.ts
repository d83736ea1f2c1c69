/**
 * Errors of the platform layer (server, connection, workers): a stable code, the context that
 * locates the problem, and a hint that says what to do about it.
 */
import { CodedError } from './coded-error.ts';

export type PlatformErrorCode =
  | 'SERVER_START_FAILED'
  | 'SERVER_UNREACHABLE'
  | 'TLS_CONFIG_INVALID'
  | 'SEARCH_ATTRIBUTES_FAILED'
  | 'NO_SITE_DRIVER'
  | 'WORKER_START_FAILED'
  | 'HISTORY_MISSING';

export class PlatformError extends CodedError<PlatformErrorCode> {
  constructor(
    code: PlatformErrorCode,
    message: string,
    context: Record<string, string | number | undefined>,
    hint: string,
  ) {
    super({ code, message, context, hint });
  }
}
