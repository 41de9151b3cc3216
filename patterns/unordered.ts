/** An unordered flow: children have no links and may all run at once; siblings never see each other's outputs. */
import { Flow, type FlowItem, type Link } from '../lib/flow.js';

export class UnorderedFlow extends Flow {
  readonly pattern = 'unordered' as const;

  iterLinks(): Iterable<Link> {
    return [];
  }

  protected predecessorsOf(_item: FlowItem): Iterable<FlowItem> {
    return [];
  }
}
