/** Errors of the lab: a stable code, the context that locates the problem, and a hint. */
import { CodedError } from '../platform/coded-error.ts';

export type LabErrorCode =
  | 'NOT_ROOT'
  | 'COMMAND_FAILED'
  | 'GUEST_BUILD_FAILED'
  | 'SITE_START_FAILED'
  | 'VM_NOT_READY'
  | 'LAB_NOT_UP'
  | 'LAB_BUSY'
  | 'BAD_RUNBOOK'
  | 'UNKNOWN_SITE'
  | 'RECORD_INVALID'
  | 'IMAGE_READ_FAILED'
  | 'WORKER_EXITED'
  | 'WORKER_NOT_POLLING';

export class LabError extends CodedError<LabErrorCode> {
  constructor(
    code: LabErrorCode,
    message: string,
    context: Record<string, string | number | undefined>,
    hint: string,
  ) {
    super({ code, message, context, hint });
  }
}
