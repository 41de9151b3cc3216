/** The jobboard on PostgreSQL (filled in once the PostgreSQL backend lands). */
import { StorageFailure } from '../lib/errors.js';
import type { BoardStore } from './board-store.js';

export class PostgresBoardStore {
  static async open(uri: string): Promise<BoardStore> {
    throw new StorageFailure(`cannot open jobboard '${uri}': the PostgreSQL backend is not available yet`);
  }
}
