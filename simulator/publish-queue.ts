/**
 * A binary min-heap of timed items. Ties are broken by insertion order, so the publish order of a
 * simulation is fully determined by its seed and options.
 */
interface Slot<T> {
  readonly atMs: number;
  readonly order: number;
  readonly item: T;
}

export class PublishQueue<T> {
  private readonly heap: Slot<T>[] = [];
  private inserted = 0;

  get size(): number {
    return this.heap.length;
  }

  push(atMs: number, item: T): void {
    const heap = this.heap;
    heap.push({ atMs, order: this.inserted++, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Time of the earliest item, or undefined when empty. */
  peekAtMs(): number | undefined {
    return this.heap[0]?.atMs;
  }

  /** Removes and returns the earliest item with its time, or undefined when empty. */
  pop(): { atMs: number; item: T } | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (!top) return undefined;
    const last = heap.pop() as Slot<T>;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.before(left, smallest)) smallest = left;
        if (right < heap.length && this.before(right, smallest)) smallest = right;
        if (smallest === i) break;
        this.swap(i, smallest);
        i = smallest;
      }
    }
    return { atMs: top.atMs, item: top.item };
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a] as Slot<T>;
    const y = this.heap[b] as Slot<T>;
    return x.atMs < y.atMs || (x.atMs === y.atMs && x.order < y.order);
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    const x = heap[a] as Slot<T>;
    heap[a] = heap[b] as Slot<T>;
    heap[b] = x;
  }
}
