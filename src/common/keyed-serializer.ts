/**
 * Runs tasks one after another per key (and concurrently across keys), in arrival order. In-process only:
 * it orders what one instance does, the database decides between instances.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    // A failed task must not fail the ones queued behind it.
    const result = previous.catch(() => undefined).then(task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running (for tests: the map must not grow without bound). */
  get size(): number {
    return this.tails.size;
  }
}
