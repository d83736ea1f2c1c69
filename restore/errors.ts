import { ApplicationFailure } from '@temporalio/common';

export type RestoreErrorCode =
  | 'POINT_NOT_FOUND'
  | 'POINT_FAILED'
  | 'POINT_SET_MISSING'
  | 'OVERLAY_FAILED'
  | 'NOT_PREPARED'
  | 'NETWORK_MISSING'
  | 'CAPACITY';

/** A restore that cannot succeed by retrying: wrong point, missing network, no room. */
export class RestoreError extends Error {
  constructor(
    readonly code: RestoreErrorCode,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'RestoreError';
  }

  toFailure(): ApplicationFailure {
    return ApplicationFailure.create({
      type: this.code,
      message: this.message,
      nonRetryable: true,
      details: [{ code: this.code, hint: this.hint }],
    });
  }
}
