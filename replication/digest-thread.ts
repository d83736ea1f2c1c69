/**
 * One half of a large direct content digest, in a worker thread (content-digest.ts hashes the
 * other half on the calling thread): reads the runs from the chain's files and posts each
 * block's digest back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  blockDigester,
  type DigestThreadInput,
  type DigestThreadOutput,
  readDirectRuns,
} from './content-digest.ts';

const input = workerData as DigestThreadInput;
const digests: DigestThreadOutput['digests'] = [];
const store = blockDigester(input.map.virtualSize, input.blockSize, (index, digest) => {
  digests.push([index, digest]);
});
const bytesRead = await readDirectRuns(input.map, input.runs, input.blockSize, store);
parentPort?.postMessage({ digests, bytesRead } satisfies DigestThreadOutput);
