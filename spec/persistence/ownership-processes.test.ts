/** Run ownership across real processes on SQLite (the suite is shared with other backends). */
import path from 'node:path';
import { ownershipProcessSuite } from './ownership-processes.js';

ownershipProcessSuite('SQLite', { uri: (dir) => `sqlite://${path.join(dir, 'runs.db')}` });
