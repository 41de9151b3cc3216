/**
 * What `npm publish` would ship: the library, its types and the CLI; no specs, benches or
 * examples; no comment pointing at files outside the repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('the package ships dist/ without specs, benches or examples, and builds on install (prepare)', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  assert.ok(files.includes('dist/index.js'));
  assert.ok(files.includes('dist/index.d.ts'));
  assert.ok(files.includes('dist/bin/atomflow.js'));
  assert.ok(files.includes('package.json'));
  const stray = files.filter((f) => /^dist\/(spec|bench|examples)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts') && !f.endsWith('.d.ts'));
  assert.deepEqual(stray, []);
  for (const f of files.filter((p) => p.endsWith('.js') || p.endsWith('.d.ts'))) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    assert.doesNotMatch(text, /\.\.\/shared\/|TASKFLOW-SEMANTICS|SCALE-OUT\.md|API\.md|STYLE\.md/, `${f} points outside the repository`);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['prepare'], 'npm run build');
});
