/** Runs the backend conformance suite on every backend. */
import { after } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryBackend } from '../../persistence/memory.js';
import { SqliteBackend } from '../../persistence/sqlite.js';
import { backendConformance } from './conformance.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-backends-'));
let files = 0;
after(() => fs.rmSync(dir, { recursive: true, force: true }));

backendConformance('MemoryBackend', async () => new MemoryBackend());
backendConformance('SqliteBackend (file)', async () => new SqliteBackend(path.join(dir, `store-${++files}.db`)));
backendConformance('SqliteBackend (:memory:)', async () => new SqliteBackend(':memory:'));
