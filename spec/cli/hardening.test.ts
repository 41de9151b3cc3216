/**
 * CLI inputs found by the red team: each is refused with exit 2 and one line, and a store never
 * chooses code for `atomflow resume` to import from outside the current directory.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SqliteBackend, load, task } from '../../index.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, FIXTURES, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir();
after(cleanup);
const EXITS = fileURLToPath(new URL('./fixtures/exits.js', import.meta.url));
const STALLS = fileURLToPath(new URL('./fixtures/stalls.js', import.meta.url));

function oneLine(args: readonly string[], message: RegExp, env?: Record<string, string>): void {
  const r = cli(args, { cwd: dir, ...(env ? { env } : {}) });
  assert.equal(r.status, 2, `${r.stderr}${r.stdout}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, message);
}

test('a module whose top-level await never settles: exit 2, one line', () => {
  oneLine(['run', '--module', STALLS], /^atomflow run: module .*stalls\.js never finished loading \(a top-level await that never settles\)$/);
});

test('a module calling process.exit while it loads: exit 2, one line', () => {
  oneLine(['run', '--module', EXITS], /^atomflow run: module .*exits\.js called process\.exit\(0\) while loading/);
});

test("a store URI with a bad escape ('%ZZ'): exit 2, one line", () => {
  oneLine(['inspect', 'sqlite:///tmp/%ZZ.db'], /^atomflow inspect: .*%ZZ/);
});

test("'--store __proto__=...' is refused, not silently dropped", () => {
  oneLine(['run', '--module', FIXTURES, '--store', '__proto__={"a":1}'], /^atomflow run: --store: '__proto__' cannot be used as a name/);
});

test('a bad ATOMFLOW_ENGINE is refused naming the variable', () => {
  oneLine(['run', '--module', FIXTURES, '--store', 'a=1', '--store', 'b=2'], /ATOMFLOW_ENGINE must be 'serial', 'parallel' or 'worker', not "quantum"/, { ATOMFLOW_ENGINE: 'quantum' });
});

test('ATOMFLOW_ENGINE picks the engine when --engine is not given', () => {
  const r = cli(['demo', '--db', 'env.db', '--pace', '0', '--plain'], { cwd: dir, env: { ATOMFLOW_ENGINE: 'parallel' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\(parallel engine\)/);
});

test('resume imports a recorded module only from inside the current directory (or atomflow itself)', async () => {
  const here = join(dir, 'here');
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(here);
  mkdirSync(elsewhere);
  // The demo's own module (inside atomflow) is trusted: resume works without --module.
  const crashed = cli(['demo', '--db', 'trip.db', '--crash-at', 'hotel', '--pace', '0'], { cwd: here });
  assert.equal(crashed.signal, 'SIGKILL');
  const uuid = /flow: (\S+)/.exec(crashed.stdout)![1]!;
  const ok = cli(['resume', 'trip.db', '--plain', '--', uuid], { cwd: here });
  assert.equal(ok.status, 0, ok.stderr);
  // A store naming a module elsewhere: refused, and the module is not imported.
  const marker = join(elsewhere, 'ran');
  const evil = join(elsewhere, 'evil.mjs');
  writeFileSync(evil, `import fs from 'node:fs'; fs.writeFileSync(${JSON.stringify(marker)}, 'ran'); export const flow = null;\n`);
  const backend = new SqliteBackend(join(here, 'other.db'));
  const e = load(task({ name: 'x', execute: () => 1 }), { backend, meta: { factory: { module: evil, export: 'flow' } } });
  await e.prepare();
  await backend.close();
  const refused = cli(['resume', 'other.db', '--', e.flowDetail.uuid], { cwd: here });
  assert.equal(refused.status, 2, refused.stderr + refused.stdout);
  assert.match(refused.stderr, /--module is required: the run records module .*evil\.mjs, which is outside this directory/);
  assert.equal(existsSync(marker), false, 'the recorded module was not imported');
});

test('inspect shows the readable runs of a store with one bad row, names the bad one, exits 1', async () => {
  const file = join(dir, 'tampered.db');
  const backend = new SqliteBackend(file);
  const good = load(task({ name: 'fine', execute: () => 1 }), { backend });
  await good.run();
  const bad = load(task({ name: 'broken', execute: () => 2 }), { backend });
  await bad.run();
  await backend.close();
  const db = new Database(file);
  db.prepare("UPDATE atomdetails SET state = 'BOGUS' WHERE name = 'broken'").run();
  db.close();
  const r = cli(['inspect', 'tampered.db'], { cwd: dir });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /flow 'fine'/);
  assert.doesNotMatch(r.stdout, /flow 'broken'/);
  assert.match(r.stderr, new RegExp(`^atomflow inspect: cannot read: .*'broken'.*${bad.flowDetail.uuid}.*unknown state "BOGUS"`, 'm'));
  const json = cli(['inspect', 'tampered.db', '--json'], { cwd: dir });
  assert.equal(json.status, 1);
  assert.equal((JSON.parse(json.stdout) as { logbooks: unknown[] }).logbooks.length, 2);
});
