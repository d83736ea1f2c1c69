import path from 'node:path';
import { REPO_ROOT } from '../platform/home.ts';

/** The module whose exports are every workflow type the orchestrator registers. */
export const WORKFLOWS_PATH = path.join(REPO_ROOT, 'workflows', 'index.ts');
