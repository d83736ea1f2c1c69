import { defineConfig } from 'vitest/config';

/**
 * Integration files that never touch the lab (Temporal at most, or real files, processes and
 * sockets on this host): the `no-lab` project. They run beside the lab's files
 * (scripts/test-all.sh starts both at once on one server, each project in its own namespace, so
 * their task queues never meet), which keeps them off the lab's one-file-at-a-time path.
 */
const NO_LAB = [
  'test/integration/controller/**/*.test.ts',
  'test/integration/platform/**/*.test.ts',
  'test/integration/protection/schedules.test.ts',
  'test/integration/replay.test.ts',
  'test/integration/replication/{cancel-pull,content-digest,hostile-input,retention,reverse-ranges,scrub,store,transfer}.test.ts',
  'test/integration/drivers/unreachable.test.ts',
  'test/integration/hooks/hook-env.test.ts',
  'test/integration/lab/reader.test.ts',
  'test/integration/reports/browser.test.ts',
];

const serial = {
  environment: 'node' as const,
  globalSetup: ['test/integration/global-setup.ts'],
  pool: 'forks' as const,
  fileParallelism: false,
  maxWorkers: 1,
  testTimeout: 180_000,
  hookTimeout: 300_000,
};

// Three projects: `unit` is pure and runs in parallel; `integration` talks to the real Temporal
// server and the real lab, one file at a time; `no-lab` needs no lab (the server at most), one
// file at a time, and may run beside `integration`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: NO_LAB,
          ...serial,
        },
      },
      {
        test: {
          name: 'no-lab',
          include: NO_LAB,
          ...serial,
        },
      },
    ],
  },
});
