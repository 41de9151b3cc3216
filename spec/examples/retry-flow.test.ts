import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const EXPECTED = [
  'Calling jim 333.',
  'Wrong number, apologizing.',
  'Calling jim 444.',
  'Wrong number, apologizing.',
  'Calling jim 555.',
  'Hello Jim!',
];

function envWithout(name: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[name];
  return env;
}

const script = fileURLToPath(new URL('../../examples/retry-flow.js', import.meta.url));

test('retry-flow example: importing it runs nothing; main() logs the TaskFlow output', async () => {
  const printed: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => void printed.push(args.join(' '));
  let mod: typeof import('../../examples/retry-flow.js');
  try {
    mod = await import('../../examples/retry-flow.js');
  } finally {
    console.log = original;
  }
  assert.deepEqual(printed, [], 'importing the example must not run it');

  const lines: string[] = [];
  const results = await mod.main((line) => lines.push(line));
  assert.deepEqual(lines, EXPECTED);
  assert.deepEqual(results, { phone_directory: [333, 444, 555, 666], jim_number: 555 });
});

test('retry-flow example: `node dist/examples/retry-flow.js` prints the same lines', async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [script], { env: envWithout('ATOMFLOW_ENGINE') });
  assert.equal(stderr, '');
  assert.deepEqual(stdout.trimEnd().split('\n'), EXPECTED);
});

for (const engine of ['serial', 'parallel']) {
  test(`retry-flow example: the same output on the ${engine} engine (ATOMFLOW_ENGINE)`, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [script], { env: { ...process.env, ATOMFLOW_ENGINE: engine } });
    assert.deepEqual(stdout.trimEnd().split('\n'), EXPECTED);
  });
}
