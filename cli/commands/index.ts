import type { Command } from 'commander';
import { registerApprove } from './approve.ts';
import { registerDivergent } from './divergent.ts';
import { registerDrState } from './dr-state.ts';
import { registerLab } from './lab.ts';
import { registerOperator } from './operator.ts';
import { registerPauseDecisions } from './pause.ts';
import { registerPlan } from './plan.ts';
import { registerPoints } from './points.ts';
import { registerProtect } from './protect.ts';
import { registerReplicate } from './replicate.ts';
import { registerReport } from './report.ts';
import { registerReprotect } from './reprotect.ts';
import { registerRun } from './run.ts';
import { registerServer } from './server.ts';
import { registerSiteTls } from './site-tls.ts';
import { registerStatus } from './status.ts';
import { registerUnfence } from './unfence.ts';
import { registerValidate } from './validate.ts';
import { registerVerify } from './verify.ts';
import { registerWorker } from './worker.ts';

/** Every command registers itself on the program; one line per command file. */
export const commands: Array<(program: Command) => void> = [
  registerValidate,
  registerPlan,
  registerServer,
  registerWorker,
  registerStatus,
  registerLab,
  registerOperator,
  registerApprove,
  registerPauseDecisions,
  registerRun,
  registerUnfence,
  registerDrState,
  registerReplicate,
  registerReprotect,
  registerDivergent,
  registerProtect,
  registerPoints,
  registerVerify,
  registerReport,
  registerSiteTls,
];
