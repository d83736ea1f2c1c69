import type { TestProject } from 'vitest/node';

// One Temporal server serves the whole integration run (filled in by the platform work).
export async function setup(_project: TestProject): Promise<void> {}
export async function teardown(): Promise<void> {}
