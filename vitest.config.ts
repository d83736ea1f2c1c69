import { defineConfig } from 'vitest/config';

/**
 * Integration files that need Temporal only, never the lab: the `temporal` project. They run
 * beside the lab's files (scripts/test-all.sh starts both at once on one server, each project in
 * its own namespace, so their task queues never meet).
 */
const TEMPORAL_ONLY = [
  'test/integration/controller/**/*.test.ts',
  'test/integration/platform/**/*.test.ts',
  'test/integration/protection/schedules.test.ts',
  'test/integration/replay.test.ts',
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
// server and the real lab, one file at a time; `temporal` talks to the server only, one file at
// a time, and may run beside `integration`.
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
          exclude: TEMPORAL_ONLY,
          ...serial,
        },
      },
      {
        test: {
          name: 'temporal',
          include: TEMPORAL_ONLY,
          ...serial,
        },
      },
    ],
  },
});
