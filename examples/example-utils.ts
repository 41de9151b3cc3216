/** Small helpers the examples share (TaskFlow's `example_utils`, in our words). */

/** Logs `text` between two rules of its own length. */
export function printWrapped(log: (line: string) => void, text: string): void {
  const rule = '-'.repeat(text.length);
  log(rule);
  log(text);
  log(rule);
}

/** The `openBackend()` URI of a SQLite file at an absolute path (each path segment percent-encoded). */
export function sqliteUri(absolutePath: string): string {
  return `sqlite://${absolutePath.split('/').map(encodeURIComponent).join('/')}`;
}

/** A stored value for display: `none` for nothing, JSON otherwise. */
export function shown(value: unknown): string {
  return value === undefined || value === null ? 'none' : JSON.stringify(value);
}
