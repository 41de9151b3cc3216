/**
 * A reusable list for the engine's per-step queues. `arr.length = 0` or `arr = []` gives V8 a new
 * backing store to grow on the next push (about 150 bytes each time, several times per atom);
 * a Batch keeps its slots and only clears them, so a step allocates nothing for its queues.
 */
export class Batch<T> {
  readonly #items: Array<T | undefined> = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    this.#items[this.#size++] = item;
  }

  at(k: number): T {
    return this.#items[k] as T;
  }

  /** Removes the items from position `from` on and returns them (in order) as a new array. */
  takeFrom(from: number): T[] {
    const out = this.#items.slice(from, this.#size) as T[];
    for (let k = from; k < this.#size; k++) this.#items[k] = undefined;
    this.#size = from;
    return out;
  }

  /** Empties the batch (slots are cleared so nothing is kept alive). */
  clear(): void {
    for (let k = 0; k < this.#size; k++) this.#items[k] = undefined;
    this.#size = 0;
  }
}
