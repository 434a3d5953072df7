import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository is checked out next to `shared/`, which holds the fixtures. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixturesRoot = path.resolve(repoRoot, '..', 'shared', 'fixtures');

export function fixturePath(...parts: string[]): string {
  return path.join(fixturesRoot, ...parts);
}

export function readFixture(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), 'utf8');
}
