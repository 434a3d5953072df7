import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `test/fixtures/`: captured and generated inputs, with their provenance in its README. */
const fixturesRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** The vLLM expositions under fixtures/vllm that every parser and profile test reads. */
export const VLLM_FIXTURES = ['v1-dp2-generated.prom', 'v1-0.10-engine-created.prom', 'design-doc-example.prom', 'v0-aibrix-docs.prom'] as const;

export function fixturePath(...parts: string[]): string {
  return path.join(fixturesRoot, ...parts);
}

export function readFixture(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), 'utf8');
}
