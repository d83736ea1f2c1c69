/** Errors of the lab: a stable code, the context that locates the problem, and a hint. */
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
  | 'IMAGE_READ_FAILED';

export class LabError extends Error {
  override readonly name = 'LabError';
  constructor(
    readonly code: LabErrorCode,
    message: string,
    readonly context: Record<string, string | number | undefined>,
    readonly hint: string,
  ) {
    super(message);
  }

  describe(): string {
    const where = Object.entries(this.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return `${this.code}: ${this.message}${where ? ` (${where})` : ''}\n  hint: ${this.hint}`;
  }
}
