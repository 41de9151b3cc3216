/** A linear flow: children run one after another, in the order they were added. */
import { Flow, itemProvides, itemRequires, type FlowItem, type Link } from '../lib/flow.js';

export class LinearFlow extends Flow {
  readonly pattern = 'linear' as const;

  *iterLinks(): Iterable<Link> {
    for (let i = 1; i < this.items.length; i++) yield [this.items[i - 1]!, this.items[i]!, { invariant: true }];
  }

  /** What no earlier child (or the retry) provides, in one pass (every earlier child is a predecessor). */
  override get requires(): string[] {
    const out = new Set<string>(this.retry?.requires ?? []);
    const given = new Set<string>(this.retry?.provided ?? []);
    for (const item of this.items) {
      for (const r of itemRequires(item)) if (!given.has(r)) out.add(r);
      for (const p of itemProvides(item)) given.add(p);
    }
    return [...out];
  }

  protected *predecessorsOf(item: FlowItem): Iterable<FlowItem> {
    for (const x of this.items) {
      if (x === item) return;
      yield x;
    }
  }
}
