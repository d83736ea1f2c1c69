/** Exit codes scripts can rely on. */
export const ExitCode = {
  ok: 0,
  /** The input was checked and has errors (validate), or the operation failed. */
  failed: 1,
  /** The command line itself was wrong. */
  usage: 2,
  /** A server, site or worker could not be reached. */
  unavailable: 3,
  /** The request was refused because it conflicts with something in flight. */
  conflict: 4,
} as const;
