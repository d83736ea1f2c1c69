/**
 * Retention in its own process for the crash test: applies `keep` to vm1 of the store at
 * argv[2] and SIGKILLs itself when removing point argv[4] reaches step argv[3].
 */
import { applyRetention, type RetentionStep } from '../../../replication/retention.ts';
import { ReplicaStore } from '../../../replication/store.ts';

const [root, step, victim, keep] = process.argv.slice(2) as [string, RetentionStep, string, string];
await applyRetention(
  new ReplicaStore(root),
  'vm1',
  Number(keep),
  {},
  {
    atStep: (s, pointId) => {
      if (s === step && pointId === victim) process.kill(process.pid, 'SIGKILL');
    },
  },
);
process.stdout.write('finished without reaching the step\n');
