/**
 * Waiting for an operation with `--wait`: polls its progress about every 500 ms and shows it,
 * redrawn in place on a terminal (log-update) or as one-line events otherwise; Ctrl-C asks
 * whether to cancel it (without a terminal, the first Ctrl-C cancels) and keeps showing the
 * teardown until the operation ends; a further Ctrl-C once cancelling stops watching.
 */
import { createInterface } from 'node:readline';
import { createLogUpdate } from 'log-update';
import type { OperationProgress, OperationResult } from '../workflows/types.ts';
import { progressEvents, renderProgress } from './progress.ts';

export const POLL_INTERVAL_MS = 500;

export interface WaitOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface WaitDeps {
  operationId: string;
  /** The current progress, or undefined when it cannot be read right now. */
  progress(): Promise<OperationProgress | undefined>;
  /** Resolves with the operation's result, a failed operation's too (it never rejects). */
  result: Promise<OperationResult>;
  /** Asks the controller to cancel the operation. */
  cancel(reason: string): Promise<void>;
  out: WaitOutput;
  /** Redraw in place (a terminal); otherwise print events. */
  live: boolean;
  /** Asks a yes/no question on the terminal; undefined: no terminal to ask on (cancel at once). */
  confirm?: (question: string) => Promise<boolean>;
  /** Who pressed Ctrl-C, for the cancellation's reason. */
  user: string;
  /** Where SIGINT arrives (process). */
  signals: Pick<NodeJS.Process, 'on' | 'off'>;
  intervalMs?: number;
  now?: () => number;
}

/** How the wait ended: the result, or `detached` when the person stopped watching. */
export type WaitEnd = { result: OperationResult } | { detached: true };

export async function watchOperation(deps: WaitDeps): Promise<WaitEnd> {
  const now = deps.now ?? Date.now;
  const log = deps.live
    ? createLogUpdate(deps.out as NodeJS.WritableStream, { showCursor: true })
    : undefined;
  let prev: OperationProgress | undefined;
  let asking = false;
  let cancelling = false;
  let detach: () => void = () => {};
  const detached = new Promise<'detached'>((resolve) => {
    detach = () => resolve('detached');
  });
  const say = (line: string) => {
    if (log) log.persist(line);
    else deps.out.write(`${line}\n`);
  };

  const show = async () => {
    const p = await deps.progress().catch(() => undefined);
    if (!p || asking) return;
    if (log) log(renderProgress(p, now()).join('\n'));
    else for (const line of progressEvents(prev, p, now())) deps.out.write(`${line}\n`);
    prev = p;
  };

  const onSigint = async () => {
    if (asking) return;
    if (cancelling) {
      say(`stopped watching; ${deps.operationId} goes on undoing its actions (see lifeboat status)`);
      detach();
      return;
    }
    if (deps.confirm) {
      asking = true;
      log?.clear();
      const yes = await deps.confirm(`Cancel ${deps.operationId}? Its actions will be undone [y/N] `);
      asking = false;
      if (!yes) return;
    }
    cancelling = true;
    say(`cancelling ${deps.operationId}; its actions are being undone (Ctrl-C again stops watching)`);
    await deps.cancel(`interrupted by ${deps.user} at the terminal`).catch((err: Error) => {
      cancelling = false;
      say(`could not cancel ${deps.operationId}: ${err.message}`);
    });
  };
  const handler = () => void onSigint();
  deps.signals.on('SIGINT', handler);

  let settled = false;
  const ended = deps.result.then((result) => {
    settled = true;
    return { result };
  });
  try {
    while (!settled) {
      await show();
      const winner = await Promise.race([
        ended.then(() => 'ended' as const),
        detached,
        sleep(deps.intervalMs ?? POLL_INTERVAL_MS),
      ]);
      if (winner === 'detached') return { detached: true };
      if (winner === 'ended') break;
    }
    // One last look, so the final states are on screen before the outcome.
    await show();
    return await ended;
  } finally {
    deps.signals.off('SIGINT', handler);
    log?.done();
  }
}

function sleep(ms: number): Promise<'tick'> {
  return new Promise((resolve) => setTimeout(() => resolve('tick'), ms));
}

/** A y/N question on the terminal; Ctrl-C or anything but y/yes is no. */
export function terminalConfirm(input: NodeJS.ReadStream, output: NodeJS.WritableStream) {
  return (question: string): Promise<boolean> =>
    new Promise((resolve) => {
      const rl = createInterface({ input, output });
      const finish = (yes: boolean) => {
        rl.close();
        resolve(yes);
      };
      rl.on('SIGINT', () => {
        output.write('\n');
        finish(false);
      });
      rl.question(question, (answer) => finish(/^y(es)?$/i.test(answer.trim())));
    });
}
