/**
 * A heap of small integer ids (atom indexes) ordered by a numeric key, higher first, ties by id
 * (lower first, or higher first with `tieHigh`). Keys live in a typed array and the comparison is
 * inline: the engine's ready queues pop one id per atom, often from 10,000 at once.
 */
export class IdHeap {
  #items: Int32Array;
  #size = 0;
  readonly #key: Float64Array;
  readonly #tieHigh: boolean;

  constructor(key: Float64Array, tieHigh = false) {
    this.#key = key;
    this.#tieHigh = tieHigh;
    this.#items = new Int32Array(16);
  }

  get size(): number {
    return this.#size;
  }

  #before(a: number, b: number): boolean {
    const ka = this.#key[a]!;
    const kb = this.#key[b]!;
    if (ka !== kb) return ka > kb;
    return this.#tieHigh ? a > b : a < b;
  }

  push(id: number): void {
    if (this.#size === this.#items.length) {
      const bigger = new Int32Array(this.#items.length * 2);
      bigger.set(this.#items);
      this.#items = bigger;
    }
    const a = this.#items;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent]!;
      if (!this.#before(id, p)) break;
      a[i] = p;
      i = parent;
    }
    a[i] = id;
  }

  peek(): number | undefined {
    return this.#size === 0 ? undefined : this.#items[0];
  }

  pop(): number | undefined {
    if (this.#size === 0) return undefined;
    const a = this.#items;
    const top = a[0]!;
    const last = a[--this.#size]!;
    const n = this.#size;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.#before(a[r]!, a[l]!) ? r : l;
        if (!this.#before(a[c]!, last)) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
