/**
 * The first thing every workflow type does: check its input (and who started it) with a pure
 * validator (validate*.ts) and refuse to run with one non-retryable BAD_INPUT failure, rather
 * than let bad input throw a TypeError into a workflow-task retry loop.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';

/** The failure type of refused input (the controller's own checks use it too). */
export const BAD_INPUT = 'BAD_INPUT';

/** Problems with `input`, empty when it may run; `parentId` is the workflow that started it. */
export type InputValidator = (input: unknown, parentId: string | undefined) => string[];

/** Throws BAD_INPUT naming the problems when `validate` finds any; `what` names the workflow. */
export function guardInput(what: string, input: unknown, validate: InputValidator): void {
  const problems = validate(input, workflowInfo().parent?.workflowId);
  if (problems.length === 0) return;
  throw ApplicationFailure.create({
    type: BAD_INPUT,
    message: `${what} input refused: ${problems.slice(0, 5).join('; ')}`,
    nonRetryable: true,
    details: [{ problems }],
  });
}
