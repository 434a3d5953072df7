import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository is checked out next to `shared/`, which holds the fixtures. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixturesRoot = path.resolve(repoRoot, '..', 'shared', 'fixtures');

/** The vLLM expositions under fixtures/vllm that every parser and profile test reads. */
export const VLLM_FIXTURES = [
  'v1-dp2-generated.prom',
  'v1-0.10-engine-created.prom',
  'design-doc-example.prom',
  'v0-aibrix-docs.prom',
] as const;

export function fixturePath(...parts: string[]): string {
  return path.join(fixturesRoot, ...parts);
}

export function readFixture(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), 'utf8');
}
