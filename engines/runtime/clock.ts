/**
 * Time, injected: the engine asks a `Clock` for the time and for timers (retry backoff), so tests
 * drive time by hand instead of sleeping.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** setTimeout's longest wait (ms); a longer one would overflow and fire at once (with a warning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const wait = Number.isFinite(ms) ? Math.max(0, ms) : MAX_TIMER_MS;
    if (wait <= MAX_TIMER_MS) {
      const t = setTimeout(fn, wait);
      return () => clearTimeout(t);
    }
    // Longer than one timer can wait: wait in steps (an infinite wait never fires).
    let t: ReturnType<typeof setTimeout>;
    const due = Date.now() + wait;
    const arm = (): void => {
      const left = due - Date.now();
      if (left <= 0) fn();
      else t = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    };
    t = setTimeout(arm, MAX_TIMER_MS);
    return () => clearTimeout(t);
  },
};

/** A clock that only moves when told to (for tests and simulations). */
export class ManualClock implements Clock {
  #now: number;
  #timers: Array<{ at: number; fn: () => void; id: number }> = [];
  #nextId = 0;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = this.#nextId++;
    this.#timers.push({ at: this.#now + Math.max(0, ms), fn, id });
    return () => {
      this.#timers = this.#timers.filter((t) => t.id !== id);
    };
  }

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (next === undefined || next.at > target) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }
}
