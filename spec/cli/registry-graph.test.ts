/** `atomflow graph` and `run --module` with a module exporting a Registry (found by --export or as its only Registry). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { cli } from './helpers.js';

const MODULE = fileURLToPath(new URL('./fixtures/registry.js', import.meta.url));

test('graph draws a registry module: every task, the retried one in its own box', () => {
  const r = cli(['graph', '--module', MODULE], { cwd: process.cwd() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^flowchart TD\n  subgraph f0\["pipeline \(graph\)"\]/);
  assert.match(r.stdout, /subgraph f1\["sum \(linear, retry sum_retry\)"\]/);
  for (const id of ['fetch', 'sum', 'sum_retry', 'publish', 'cleanup']) assert.match(r.stdout, new RegExp(`"${id}"`));
});

test('graph --targets: only those tasks and what they need; dot too', () => {
  const r = cli(['graph', '--module', MODULE, '--export', 'pipeline', '--targets', 'sum', '--format', 'dot'], { cwd: process.cwd() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^digraph "pipeline" \{/);
  assert.match(r.stdout, /label="fetch"/);
  assert.doesNotMatch(r.stdout, /publish|cleanup/);
});

test('graph --targets with an unknown task, or on a module that is no registry: exit 2, one line', () => {
  const unknown = cli(['graph', '--module', MODULE, '--targets', 'nope'], { cwd: process.cwd() });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^atomflow graph: registry 'pipeline': no task 'nope' to target/);
  const notRegistry = cli(['graph', '--module', fileURLToPath(new URL('./fixtures/flows.js', import.meta.url)), '--export', 'graphy', '--targets', 'a'], { cwd: process.cwd() });
  assert.equal(notRegistry.status, 2);
  assert.match(notRegistry.stderr, /--targets picks tasks of a Registry; export 'graphy' of .* is not one/);
});

test('run --module with a registry export runs its flow', () => {
  const r = cli(['run', '--module', MODULE, '--export', 'pipeline'], { cwd: process.cwd() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /sum=7/);
});
