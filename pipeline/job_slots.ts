/**
 * Bounds how many stages execute at once (`-j`), shared by every combination of a matrix, and
 * keeps stages that share an exclusive resource tag (one local accelerator) from overlapping.
 */
export class JobSlots {
  #used = 0;
  #tags = new Set<string>();
  #waiters: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!(size >= 1)) throw new Error(`-j must be at least 1 (got ${size})`);
  }

  tagBusy(tag: string | undefined): boolean {
    return tag !== undefined && this.#tags.has(tag);
  }

  /** Waits for a free slot (and the tag, if any); returns the release function. */
  async acquire(tag?: string): Promise<() => void> {
    while (this.#used >= this.size || this.tagBusy(tag)) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    this.#used++;
    if (tag !== undefined) this.#tags.add(tag);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used--;
      if (tag !== undefined) this.#tags.delete(tag);
      for (const w of this.#waiters.splice(0)) w();
    };
  }
}
