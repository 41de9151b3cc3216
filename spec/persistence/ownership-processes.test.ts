/** Run ownership across real processes on SQLite and PostgreSQL (the suite is shared). */
import path from 'node:path';
import { freshUri } from '../support/postgres.js';
import { ownershipProcessSuite } from './ownership-processes.js';

ownershipProcessSuite('SQLite', { uri: (dir) => `sqlite://${path.join(dir, 'runs.db')}` });

// PostgreSQL: a fresh schema per case (dropped at the end), durability normal.
ownershipProcessSuite('PostgreSQL', { uri: () => freshUri('own', '&durability=normal') });
