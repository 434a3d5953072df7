import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/**
 * Loads one of @bsull/augurs' wasm-bindgen modules under Node. Their default initialiser fetches
 * `<module>_bg.wasm` next to the script with `fetch(new URL(…, import.meta.url))`, and Node's
 * fetch does not read `file:` URLs; so the bytes are read from the installed package and handed
 * to the module's own `initSync` (grafana/augurs, js/README.md shows `await init()` for browsers).
 */
export async function augursWasm(module: 'ets' | 'prophet'): Promise<Buffer> {
  const script = createRequire(import.meta.url).resolve(`@bsull/augurs/${module}`);
  return readFile(script.replace(/\.js$/, '_bg.wasm'));
}
