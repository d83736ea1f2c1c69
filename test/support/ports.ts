import { createServer } from 'node:net';

// Below Linux's ephemeral range (32768-60999): a port chosen here cannot be taken by the local
// end of some client connection between the choice and the bind. Derived ports (the dev
// server's UI at port + 1000) stay below it too.
const FIRST = 20_000;
const LAST = 30_000;

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A loopback TCP port that was free a moment ago, outside the ephemeral range. */
export async function freeLoopbackPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = FIRST + Math.floor(Math.random() * (LAST - FIRST));
    if ((await isFree(port)) && (await isFree(port + 1000))) return port;
  }
  throw new Error(`no free loopback port between ${FIRST} and ${LAST}`);
}
