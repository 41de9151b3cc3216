/**
 * The ported TaskFlow examples: each `main()` is run with a collecting `log` and its lines are
 * compared with what the TaskFlow example prints (its `.out.txt` where there is one), adapted to
 * our API and phrasing; one example is also run as a child process to check the built file runs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main as graphFlow } from '../../examples/graph-flow.js';
import { main as persistenceExample } from '../../examples/persistence-example.js';
import { main as pseudoScoping } from '../../examples/pseudo-scoping.js';
import { main as resumeFromBackend } from '../../examples/resume-from-backend.js';
import { main as resumeManyFlows } from '../../examples/resume-many-flows.js';
import { main as revertingLinear } from '../../examples/reverting-linear.js';
import { main as runByIter } from '../../examples/run-by-iter.js';
import { main as simpleLinear } from '../../examples/simple-linear.js';
import { main as simpleLinearPass } from '../../examples/simple-linear-pass.js';

type Main = (log: (line: string) => void) => Promise<void>;

async function linesOf(main: Main): Promise<string[]> {
  const lines: string[] = [];
  await main((line) => lines.push(line));
  return lines;
}

/** `text` between two rules of its length (the examples' headings). */
function wrapped(text: string): string[] {
  const rule = '-'.repeat(text.length);
  return [rule, text, rule];
}

describe('examples (TaskFlow ports)', () => {
  test('simple-linear: both calls, in order', async () => {
    assert.deepEqual(await linesOf(simpleLinear), ['Calling jim 555.', 'Calling joe 444.']);
  });

  test('reverting-linear: the failed call reverts the earlier ones, newest first, and the original error comes out', async () => {
    assert.deepEqual(await linesOf(revertingLinear), [
      'Calling jim 555.',
      'Calling joe 444.',
      'Calling 444 and apologizing.',
      'Calling 555 and apologizing.',
      'Flow failed: Suzzie not home right now.',
    ]);
  });

  test('simple-linear-pass: the engine stages, and a value passed from a to b', async () => {
    assert.deepEqual(await linesOf(simpleLinearPass), [
      'Constructing...',
      'Loading...',
      'Compiling...',
      'Preparing...',
      'Running...',
      "Executing 'a'",
      "Executing 'b'",
      "Got input 'a'",
      'Done...',
    ]);
  });

  test('pseudo-scoping: prefixed subflows each find their own person and number', async () => {
    assert.deepEqual(await linesOf(pseudoScoping), [
      'Running simple flow:',
      'Fetching number for Josh.',
      'Calling Josh 777.',
      '',
      'Calling many people using prefixed factory:',
      'Fetching number for Jim.',
      'Calling Jim 444.',
      'Fetching number for Joe.',
      'Calling Joe 555.',
      'Fetching number for Josh.',
      'Calling Josh 777.',
    ]);
  });

  test('run-by-iter: the loop states interleaved with the echoed letters A..Z', async () => {
    const expected = ['RESUMING'];
    for (let c = 'A'.charCodeAt(0); c <= 'Z'.charCodeAt(0); c++) expected.push('SCHEDULING', String.fromCharCode(c), 'WAITING', 'ANALYZING');
    expected.push('SUCCESS');
    assert.deepEqual(await linesOf(runByIter), expected);
  });

  test('graph-flow: the inferred order computes the same values on the serial and the parallel engine', async () => {
    const values = 'x1=4, x2=12, x3=16, x4=21, x5=20, x6=41, x7=82, y1=1, y2=3, y3=5, y4=7, y5=9';
    assert.deepEqual(await linesOf(graphFlow), [
      `Single threaded (serial) engine result: ${values}`,
      `Concurrent (parallel) engine result: ${values}`,
    ]);
  });

  test('persistence-example: a reverted run, then a successful one, as read back from the SQLite file', async () => {
    assert.deepEqual(await linesOf(persistenceExample), [
      ...wrapped('Running'),
      'Hi!',
      'Whooops, said hi too early, take that back!',
      'Flow failed: Error: Fail!',
      ...wrapped('Book contents'),
      "LogBook 'my-test'",
      "- FlowDetail 'hello-world': state=REVERTED, store={}",
      "  - AtomDetail 'HiTask==1.0' (task): state=REVERTED, intention=REVERT, results=none",
      "  - AtomDetail 'ByeTask==1.0' (task): state=REVERTED, intention=REVERT, results=none, failure=Failure: Error: Fail!",
      ...wrapped('Running'),
      'Hi!',
      'Bye!',
      ...wrapped('Book contents'),
      "LogBook 'my-test'",
      "- FlowDetail 'hello-world': state=SUCCESS, store={}",
      "  - AtomDetail 'HiTask==1.0' (task): state=SUCCESS, intention=EXECUTE, results=none",
      "  - AtomDetail 'ByeTask==1.0' (task): state=SUCCESS, intention=EXECUTE, results=none",
    ]);
  });

  test('resume-from-backend: suspended after boom, then a new engine runs only second', async () => {
    assert.deepEqual(await linesOf(resumeFromBackend), [
      ...wrapped('At the beginning, there is no state'),
      "Flow 'resume from backend example' state: none (nothing stored yet)",
      ...wrapped('Running'),
      'executing first==1.0',
      ...wrapped('After running'),
      "Flow 'resume from backend example' state: SUSPENDED",
      ' boom==1.0: SUCCESS, result=none',
      ' first==1.0: SUCCESS, result="ok"',
      ' second==1.0: PENDING, result=none',
      ...wrapped('Resuming and running again'),
      'executing second==1.0',
      ...wrapped('At the end'),
      "Flow 'resume from backend example' state: SUCCESS",
      ' boom==1.0: SUCCESS, result=none',
      ' first==1.0: SUCCESS, result="ok"',
      ' second==1.0: SUCCESS, result="ok"',
    ]);
  });

  test('resume-many-flows: runs killed or suspended in child processes are finished by the parent', async () => {
    assert.deepEqual(await linesOf(resumeManyFlows), [
      'Run flow:',
      "Running flow 'example' (run-1)",
      'executing first==1.0',
      'executing boom==1.0',
      '> this time not exiting',
      'executing second==1.0',
      "Flow 'example' (run-1) is now SUCCESS",
      '(process exited with code 0)',
      '',
      'Run flow, the process gets killed:',
      "Running flow 'example' (run-2)",
      'executing first==1.0',
      'executing boom==1.0',
      '> Critical error: boom = kill, this process dies now',
      '(process killed by SIGKILL)',
      '',
      'Run flow, a task suspends the engine:',
      "Running flow 'example' (run-3)",
      'executing first==1.0',
      'executing boom==1.0',
      '> Suspending the engine: nothing after this task starts',
      "Flow 'example' (run-3) is now SUSPENDED",
      '(process exited with code 0)',
      '',
      'Resuming all unfinished flows',
      // Killed while boom ran: boom is executed again (first is not).
      "Resuming flow 'example' (run-2), stored state RUNNING",
      'executing boom==1.0',
      '> this time not exiting',
      'executing second==1.0',
      "Flow 'example' (run-2) is now SUCCESS",
      // Suspended after boom finished: only second is left.
      "Resuming flow 'example' (run-3), stored state SUSPENDED",
      'executing second==1.0',
      "Flow 'example' (run-3) is now SUCCESS",
    ]);
  });

  test('the built example files run on their own: node dist/examples/simple-linear.js', () => {
    const file = fileURLToPath(new URL('../../examples/simple-linear.js', import.meta.url));
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT']; // a plain run, not a nested test runner
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(out, 'Calling jim 555.\nCalling joe 444.\n');
  });
});
