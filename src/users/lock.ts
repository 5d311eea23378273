// A FIFO mutex: one sync step per user at a time, users in parallel.
export class AsyncLock {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  async run<T>(task: () => Promise<T> | T): Promise<T> {
    this.waiting++;
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      return await task();
    } finally {
      this.waiting--;
      release();
    }
  }

  get busy(): boolean {
    return this.waiting > 0;
  }
}
