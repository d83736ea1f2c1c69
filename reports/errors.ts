/** Errors of the reports layer: a stable code, where it happened, and what to do about it. */
import { CodedError } from '../platform/coded-error.ts';

export type ReportErrorCode =
  | 'BAD_ID'
  | 'NOT_FOUND'
  | 'EVIDENCE_INVALID'
  | 'EVIDENCE_CONFLICT'
  | 'KEY_INVALID'
  | 'KEY_MODE'
  | 'KEY_IN_WORKTREE'
  | 'REPORT_INVALID'
  | 'PDF_FAILED';

export class ReportError extends CodedError<ReportErrorCode> {
  constructor(code: ReportErrorCode, message: string, context: Record<string, unknown>, hint: string) {
    super({ code, message, context, hint });
  }
}
