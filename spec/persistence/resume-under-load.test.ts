/**
 * Issue #11 item 19: a resume that meets another process's lock (as under full load, with many
 * processes on one store) waits for it without blocking, and finishes; when the lock outlasts the
 * busy timeout, what escapes is a typed StorageFailure naming the lock (the crash child prints it
 * and exits 3), never a bare exit 1.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteBackend } from '../../index.js';

const CHILD = fileURLToPath(new URL('../support/crash-child.js', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-resumeload-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let runs = 0;

interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the crash child without blocking this process's event loop (bounded by a timeout). */
function child(args: string[], env: Record<string, string> = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`crash child timed out: ${stderr}`));
    }, 60_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A run of the linear crash flow killed inside `c`'s execute: its flow uuid and its folder. */
async function crashed(): Promise<{ db: string; journal: string; uuid: string }> {
  const sub = path.join(dir, `r-${++runs}`);
  fs.mkdirSync(sub);
  const db = path.join(sub, 'run.db');
  const journal = path.join(sub, 'journal');
  const first = await child([db, journal, 'linear', 'c:execute']);
  assert.equal(first.signal, 'SIGKILL');
  return { db, journal, uuid: first.stdout.split('\n')[0]! };
}

async function flowState(db: string, uuid: string): Promise<string | null> {
  const b = new SqliteBackend(db);
  try {
    return (await b.getFlowDetail(uuid)).state;
  } finally {
    await b.close();
  }
}

describe('resume under a lock held by another process', () => {
  test('the resume waits for the lock and finishes once it is released', async () => {
    const { db, journal, uuid } = await crashed();
    const holder = new Database(db);
    holder.prepare('BEGIN IMMEDIATE').run();
    // This process keeps its event loop free (async spawn): the timer releases the lock meanwhile.
    const released = new Promise<void>((r) =>
      setTimeout(() => {
        holder.prepare('COMMIT').run();
        holder.close();
        r();
      }, 300),
    );
    const resumed = await child([db, journal, 'linear', '-', uuid], { ATOMFLOW_CRASH_BUSY_MS: '60000' });
    await released;
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(await flowState(db, uuid), 'SUCCESS');
  });

  test('a lock that outlasts busyTimeout: exit 3 with one line naming a StorageFailure and the lock', async () => {
    const { db, journal, uuid } = await crashed();
    const holder = new Database(db);
    holder.prepare('BEGIN IMMEDIATE').run();
    try {
      const resumed = await child([db, journal, 'linear', '-', uuid], { ATOMFLOW_CRASH_BUSY_MS: '200' });
      assert.equal(resumed.code, 3, resumed.stderr);
      assert.match(resumed.stderr, /^crash-child: StorageFailure STORAGE_FAILURE: .*the lock on '.*run\.db' was held by another connection for more than busyTimeout \(200 ms\)/m);
      assert.doesNotMatch(resumed.stderr, /untyped/);
    } finally {
      holder.prepare('ROLLBACK').run();
      holder.close();
    }
    // Nothing was lost: a later resume finishes the run.
    const again = await child([db, journal, 'linear', '-', uuid]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await flowState(db, uuid), 'SUCCESS');
  });
});
