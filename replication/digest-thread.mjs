// A worker thread's entry: TypeScript through tsx (as bin/lifeboat.mjs), then its half of a digest.
import { register } from 'tsx/esm/api';

register();
await import('./digest-thread.ts');
