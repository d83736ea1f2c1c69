/**
 * A counting semaphore for workflow code (deterministic: built on `condition`), used to cap
 * concurrent VM boots per site.
 */
import { condition } from '@temporalio/workflow';

export class WorkflowSemaphore {
  private used = 0;
  private readonly queue: number[] = [];
  private ticket = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Waits in FIFO order for a permit; call `release` exactly once afterwards. */
  async acquire(): Promise<void> {
    const me = this.ticket++;
    this.queue.push(me);
    await condition(() => this.queue[0] === me && this.used < this.limit);
    this.queue.shift();
    this.used++;
  }

  release(): void {
    this.used--;
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
