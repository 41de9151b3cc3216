/** Bad input: one line on stderr naming what is wrong, exit code 2, no stack (unless DEBUG=atomflow:*). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cli, DEMO_MODULE, FIXTURES, NO_FLOW, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir();
writeFileSync(join(dir, 'notes.db'), 'just some text, not a database\n');
writeFileSync(join(dir, 'empty.db'), '');
const foreign = new Database(join(dir, 'foreign.db'));
foreign.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
foreign.close();
const demo = cli(['demo', '--db', 'good.db', '--pace', '0'], { cwd: dir });
assert.equal(demo.status, 0, demo.stderr);
const UUID = /flow: (\S+)/.exec(demo.stdout)![1]!;

const cases: ReadonlyArray<readonly [string, readonly string[], RegExp]> = [
  ['an unknown command', ['frobnicate'], /^atomflow: unknown command 'frobnicate' \(commands: demo, run, resume, inspect, graph/],
  ['an unknown option', ['inspect', 'good.db', '--colour'], /^atomflow inspect: unknown option '--colour'/],
  ['an option without its value', ['demo', '--db'], /^atomflow demo: option '--db <value>' needs a value|^atomflow demo: option '--db' needs a value/],
  ['a missing positional', ['resume', 'good.db'], /^atomflow resume: 'atomflow resume' needs <flow-uuid>/],
  ['a missing store file', ['inspect', 'nowhere.db'], /^atomflow inspect: no such store: nowhere\.db$/],
  ['a missing module file', ['run', '--module', 'nowhere.js'], /^atomflow run: no such module: nowhere\.js$/],
  ['a module without the export', ['graph', '--module', FIXTURES, '--export', 'buildIt'], /^atomflow graph: module .*flows\.js has no export 'buildIt' \(it exports .*failing.*\)$/],
  ['a module with neither flow nor default', ['run', '--module', NO_FLOW], /^atomflow run: module .*no-flow\.js exports neither 'flow' nor 'default'; name the flow or its factory with --export \(it exports something\)$/],
  ['an export that is not a flow', ['run', '--module', FIXTURES, '--export', 'notAFlow'], /^atomflow run: export 'notAFlow' of .* is not a flow, a task or a function that builds one$/],
  ['a text file as the store', ['inspect', 'notes.db'], /^atomflow inspect: .*notes\.db is not an atomflow store \(not a SQLite database\)$/],
  ['an empty file as the store', ['resume', 'empty.db', '--', UUID], /^atomflow resume: .*empty\.db is not an atomflow store \(the file is empty\)$/],
  ['another application\'s SQLite database', ['inspect', 'foreign.db'], /^atomflow inspect: .*foreign\.db'?: not an atomflow store: it has tables \[customers\]/],
  ['a uuid that does not exist (resume)', ['resume', 'good.db', 'no-such-uuid'], /^atomflow resume: no flow 'no-such-uuid' in \.\/good\.db/],
  ['a uuid that does not exist (inspect)', ['inspect', 'good.db', '--flow', 'no-such-uuid'], /^atomflow inspect: no flow 'no-such-uuid' in \.\/good\.db/],
  ['a uuid that starts with a dash, given as an option', ['resume', 'good.db', '-Xq3GAbLr_9zz'], /^atomflow resume: '-Xq3GAbLr_9zz' is read as an option; if it is a flow uuid, put it last, after '--' \(atomflow resume \.\.\. -- -Xq3GAbLr_9zz\)$/],
  ['a uuid that starts with a dash, after --', ['resume', 'good.db', '--', '-Xq3GAbLr_9zz'], /^atomflow resume: no flow '-Xq3GAbLr_9zz' in \.\/good\.db/],
  ['a uuid that does not exist (graph)', ['graph', '--module', DEMO_MODULE, '--export', 'buildTripFlow', '--db', 'good.db', '--flow', 'nope'], /^atomflow graph: no flow 'nope' in \.\/good\.db$/],
  ['an unknown engine', ['demo', '--engine', 'quantum'], /^atomflow demo: --engine must be one of serial, parallel, worker, not 'quantum'$/],
  ['an unknown demo task', ['demo', '--fail-at', 'boat'], /^atomflow demo: --fail-at: the demo has no task 'boat' \(tasks: flight, hotel, car, charge, confirm\)$/],
  ['an unknown state', ['inspect', 'good.db', '--state', 'DONE'], /^atomflow inspect: --state must be one of PENDING, .*NONE, not 'DONE'$/],
  ['an unknown graph format', ['graph', '--module', FIXTURES, '--format', 'png'], /^atomflow graph: --format must be one of mermaid, dot, not 'png'$/],
  ['a malformed --store', ['run', '--module', FIXTURES, '--store', 'a'], /^atomflow run: --store takes key=value, not 'a'$/],
  ['a missing flow input', ['run', '--module', FIXTURES, '--store', 'a=1'], /^atomflow run: .*'add'.*b/],
  ['a store in a missing directory', ['demo', '--db', 'no/such/dir/x.db'], /^atomflow demo: .*directory does not exist/],
];

for (const [what, args, message] of cases) {
  test(`bad input, ${what}: exit 2 and one line`, () => {
    const r = cli(args, { cwd: dir });
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(r.status, 2, `${r.stderr}${r.stdout}`);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, message);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  });
}

test('a run that stopped (not finished) cannot be resumed by a module of another flow', () => {
  const crashed = cli(['demo', '--db', 'crash.db', '--crash-at', 'hotel', '--pace', '0'], { cwd: dir });
  assert.equal(crashed.signal, 'SIGKILL');
  const uuid = /flow: (\S+)/.exec(crashed.stdout)![1]!;
  const r = cli(['resume', 'crash.db', '--module', FIXTURES, '--export', 'failing', '--', uuid], { cwd: dir });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^atomflow resume: export 'failing' of .* builds flow 'failing', but the stored run is of flow 'book-trip'\n$/);
});

test('with DEBUG=atomflow:* the stack is shown too', () => {
  const r = cli(['resume', 'good.db', 'no-such-uuid'], { cwd: dir, env: { DEBUG: 'atomflow:*' } });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^atomflow resume: no flow 'no-such-uuid'/m);
  assert.match(r.stderr, /^\s+at /m);
});

test.after(cleanup);
