/**
 * Reusable collections for the engine's per-step bookkeeping. `arr.length = 0` or `arr = []` gives
 * V8 a new backing store to grow on the next push (about 150 bytes each time, several times per
 * atom); these keep their slots and only clear them, so a step allocates nothing for them.
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

/**
 * A set of atom indexes below a fixed bound, in the order they were first added: a flag per index
 * and a list, cleared without allocating (the runtime's touched atoms, storage's written ones).
 */
export class IndexSet {
  readonly #has: Uint8Array;
  readonly #list: Int32Array;
  #size = 0;

  constructor(bound: number) {
    this.#has = new Uint8Array(bound);
    this.#list = new Int32Array(bound);
  }

  get size(): number {
    return this.#size;
  }

  add(i: number): void {
    if (this.#has[i] === 0) {
      this.#has[i] = 1;
      this.#list[this.#size++] = i;
    }
  }

  at(k: number): number {
    return this.#list[k]!;
  }

  clear(): void {
    for (let k = 0; k < this.#size; k++) this.#has[this.#list[k]!] = 0;
    this.#size = 0;
  }
}
