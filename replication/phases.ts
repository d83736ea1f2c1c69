/**
 * Where an activity's time went, phase by phase (milliseconds, summed per name): returned with
 * the result so a cycle can say what it measured, and the benchmark can show where time goes.
 */
export class PhaseClock {
  private readonly spent = new Map<string, number>();

  async time<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.spent.set(phase, (this.spent.get(phase) ?? 0) + performance.now() - t0);
    }
  }

  /** Whole milliseconds per phase, in the order the phases first ran. */
  record(): Record<string, number> {
    return Object.fromEntries([...this.spent].map(([k, v]) => [k, Math.round(v)]));
  }
}
