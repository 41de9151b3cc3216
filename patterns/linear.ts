/** A linear flow: children run one after another, in the order they were added. */
import { Flow, type FlowItem, type Link } from '../lib/flow.js';

export class LinearFlow extends Flow {
  readonly pattern = 'linear' as const;

  *iterLinks(): Iterable<Link> {
    for (let i = 1; i < this.items.length; i++) yield [this.items[i - 1]!, this.items[i]!, { invariant: true }];
  }

  protected *predecessorsOf(item: FlowItem): Iterable<FlowItem> {
    for (const x of this.items) {
      if (x === item) return;
      yield x;
    }
  }
}
