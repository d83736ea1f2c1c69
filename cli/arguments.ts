/**
 * Names and ids typed on the command line, checked before anything is started or asked: a
 * refused argument ends the command with one line, a hint and exit code 2 (usage), and no
 * server, worker or workflow is touched. Points and times are checked by
 * `restore/point-set.ts`'s `parsePointSelector`, the same way.
 */
import { unsafeNameReason } from '../runbooks/names.ts';
import { ExitCode } from './exit-codes.ts';

export interface ArgumentProblem {
  message: string;
  hint: string;
}

/** A runbook, group or step name: what a runbook itself may name (runbooks/names.ts). */
export function nameProblem(what: string, value: string): ArgumentProblem | undefined {
  return unsafeNameReason(value, what);
}

const OPERATION_ID = /^runbook\/([^/]+)\/(drill|failover|failback)\/([1-9]\d{0,9})$/;

/** An operation id of `runbook`: `runbook/<runbook>/<kind>/<n>`. */
export function operationIdProblem(runbook: string, id: string): ArgumentProblem | undefined {
  const m = OPERATION_ID.exec(id);
  if (m === null || m[1] !== runbook) {
    return {
      message: `operation ${JSON.stringify(id.slice(0, 80))} is not an operation of ${runbook}`,
      hint: `operation ids read runbook/${runbook}/<drill|failover|failback>/<n> (see lifeboat status)`,
    };
  }
  return undefined;
}

/**
 * Says the first problem on stderr and sets exit code 2; true when there was one, so that an
 * action can `if (refuseArguments(...)) return;` before doing anything.
 */
export function refuseArguments(...problems: Array<ArgumentProblem | undefined>): boolean {
  const p = problems.find((x) => x !== undefined);
  if (p === undefined) return false;
  process.stderr.write(`lifeboat: ${p.message}\n  hint: ${p.hint}\n`);
  process.exitCode = ExitCode.usage;
  return true;
}
