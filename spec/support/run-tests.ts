/**
 * `npm test`: runs every spec (node:test over dist/spec) with the OS temp dir pointed at a private
 * folder, then fails if any spec left something there (issue #11 item 18: every spec, example and
 * bench removes the temp folders it makes). Arguments are passed on to `node --test`.
 *
 *   node dist/spec/support/run-tests.js [--test-name-pattern=...] [files...]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-test-root-'));
const args = process.argv.slice(2);
const targets = args.some((a) => !a.startsWith('-')) ? [] : ['dist/spec'];
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...args, ...targets], {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: root, TEMP: root, TMP: root },
});
const left = fs.readdirSync(root);
fs.rmSync(root, { recursive: true, force: true });
if (left.length > 0) {
  console.error(`\nspecs left ${left.length} entries in the temp dir (each spec must remove what it makes): ${left.slice(0, 20).join(', ')}${left.length > 20 ? ', …' : ''}`);
  process.exit(1);
}
process.exit(run.status ?? 1);
