// docs/ARCHITECTURE.md is a map a newcomer trusts: every path it names exists, each runner
// folder's entry file opens with the header the map promises, and the graph holds no SQL.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const doc = await readFile(path.join(root, 'docs/ARCHITECTURE.md'), 'utf8');

/** The repository paths the page names in `code` spans (a bare file name like `kind.ts` names a kind of file, not a path). */
function namedPaths(text: string): string[] {
  const spans = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return spans.filter((s) => /^[\w./-]+$/.test(s) && s.includes('/') && !s.startsWith('/')); // `/metrics` is a route
}

it('names only paths that exist', () => {
  const paths = namedPaths(doc);
  expect(paths.length).toBeGreaterThan(40);
  const missing = paths.filter((p) => !existsSync(path.resolve(root, p)));
  expect(missing).toEqual([]);
});

it('each runner folder opens with its header: its one concern and what it may import', async () => {
  const entries = ['scheduler/runner.ts', 'engine/refresh-table.ts', 'sources/registry.ts', 'params/sync-params.ts', 'state/read-model.ts', 'demo/default-source.ts'];
  const folders = (await readdir(path.join(root, 'src/runner'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  expect(folders.sort()).toEqual(entries.map((e) => e.split('/')[0]).sort());
  for (const entry of entries) {
    const head = (await readFile(path.join(root, 'src/runner', entry), 'utf8')).slice(0, 2000);
    expect(head, entry).toMatch(new RegExp(`^// ${entry.split('/')[0]}/ — `));
    expect(head, entry).toMatch(/May import|may import/);
  }
});

it('the graph holds no SQL: resolvers call the read model or a command', async () => {
  const dir = path.join(root, 'src/schema');
  for (const file of await readdir(dir)) {
    const text = await readFile(path.join(dir, file), 'utf8');
    expect(text, file).not.toMatch(/\.query\(|\$queryRaw|\$executeRaw|\bSELECT\s+[\w*]|\bFROM sqp\./);
  }
});
