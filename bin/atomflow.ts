#!/usr/bin/env node
/**
 * The `atomflow` command line. Commands live in `bin/commands/`; this file only dispatches and
 * turns errors into one line and an exit code (2 for bad input). `DEBUG=atomflow:*` adds stacks.
 */
import { createRequire } from 'node:module';
import createDebug from 'debug';
import { demo } from './commands/demo.js';
import { inspect } from './commands/inspect.js';
import { resume } from './commands/resume.js';
import { graph } from './commands/graph.js';
import { trace } from './commands/trace.js';
import { run } from './commands/run.js';
import { conductor, jobs, post } from './commands/board.js';
import { worker } from './commands/worker.js';
import { EXIT, UsageError, oneLine, type Command, type Io } from './commands/common.js';

const log = createDebug('atomflow:cli');
const COMMANDS: readonly Command[] = [demo, run, resume, inspect, graph, trace, worker, conductor, jobs, post];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: atomflow <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

'atomflow <command> --help' describes a command. Exit codes: 0 success, 1 the flow failed
(rolled back), 2 bad input, 3 suspended. DEBUG=atomflow:* shows stacks and engine logs.`;
}

function version(): string {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version?: string };
  return pkg.version ?? 'unknown';
}

async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === args[0]) : undefined;
    io.stdout.write(`${topic ? topic.usage : help()}\n`);
    return EXIT.OK;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`);
    return EXIT.OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (command === undefined) {
      throw new UsageError(`unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')}; see atomflow --help)`);
    }
    return await command.run(args, io);
  } catch (e) {
    const where = command ? `atomflow ${command.name}` : 'atomflow';
    const message = oneLine(e instanceof Error ? e.message : String(e));
    if (e instanceof UsageError) {
      io.stderr.write(`${where}: ${message}\n`);
    } else {
      io.stderr.write(`${where}: unexpected error: ${message}${log.enabled ? '' : ' (DEBUG=atomflow:* shows the stack)'}\n`);
    }
    if (log.enabled) {
      const shown = e instanceof UsageError && e.cause instanceof Error ? e.cause : e;
      log('%s', shown instanceof Error ? (shown.stack ?? shown.message) : String(shown));
    }
    return e instanceof UsageError ? EXIT.USAGE : EXIT.FAILED;
  }
}

// A closed pipe (`atomflow ... | head`) must not kill a run half-way: the output is dropped, the run goes on.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}
const io: Io = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env };
const code = await main(process.argv.slice(2), io);
// Let buffered output drain, then leave even if a user's module left timers or sockets open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
