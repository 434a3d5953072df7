/**
 * The status page's files, served by the scaler itself (no CDN, no network: clusters are often
 * air-gapped): the compiled page modules and stylesheet from `dist/http/ui/` (`npm run build`), and
 * uPlot, a runtime dependency, from node_modules. All are read once at start, compressed once, and
 * served from memory under `/ui/<version>/`, where the version is a hash of their contents: a
 * browser may keep them for a year (`immutable`), and a new build is a new address.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly etag: string;
}

export interface UiAssets {
  readonly version: string;
  /** By path under `/ui/<version>/`, e.g. `main.js`, `vendor/uPlot.esm.js`. */
  readonly files: ReadonlyMap<string, Asset>;
  /** The HTML shell of a view, and its Content-Security-Policy. */
  page(view: { pool?: string }): { html: string; csp: string };
}

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Where the built page is: beside this module once compiled (dist/http/ui), or in dist/ when this module runs from src/ (tests). */
export function builtUiDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'ui'), path.resolve(here, '../../dist/http/ui')]) {
    if (existsSync(path.join(dir, 'main.js')) && existsSync(path.join(dir, 'style.css'))) return dir;
  }
  return undefined;
}

function asset(file: string, body: Buffer): Asset {
  const type = TYPES[path.extname(file)];
  if (!type) throw new Error(`no content type for ${file}`);
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** Reads the built page and uPlot. Throws naming what is missing when the page was not built. */
export function loadUiAssets(dir: string | undefined = builtUiDir()): UiAssets {
  if (!dir) throw new Error('the status page is not built (dist/http/ui/main.js is missing): run `npm run build`');
  const files = new Map<string, Asset>();
  for (const name of readdirSync(dir).sort()) {
    if (name === 'contract.js' || !TYPES[path.extname(name)]) continue; // contract.ts is types only
    files.set(name, asset(name, readFileSync(path.join(dir, name))));
  }
  const require = createRequire(import.meta.url);
  const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.esm.js'));
  files.set('vendor/uPlot.esm.js', asset('uPlot.esm.js', readFileSync(path.join(uplotDir, 'uPlot.esm.js'))));
  files.set('vendor/uPlot.min.css', asset('uPlot.min.css', readFileSync(path.join(uplotDir, 'uPlot.min.css'))));

  const hash = createHash('sha256');
  for (const [name, a] of files) hash.update(name).update(a.etag);
  const version = hash.digest('hex').slice(0, 12);
  const base = `/ui/${version}`;
  const importMap = JSON.stringify({ imports: { uplot: `${base}/vendor/uPlot.esm.js` } });
  const importMapHash = createHash('sha256').update(importMap).digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

  return {
    version,
    files,
    page({ pool }) {
      const title = pool === undefined ? 'keda-llm-scaler' : `${pool} · keda-llm-scaler`;
      const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}/vendor/uPlot.min.css">
<link rel="stylesheet" href="${base}/style.css">
<script type="importmap">${importMap}</script>
<script type="module" src="${base}/main.js"></script>
</head>
<body data-view="${pool === undefined ? 'overview' : 'pool'}"${pool === undefined ? '' : ` data-pool="${escapeHtml(pool)}"`}>
<header><a class="brand" href="/">keda-llm-scaler</a><span id="live" class="live">connecting…</span></header>
<main id="app"><noscript>The status page needs JavaScript; the same data is at /api/v1/pools and /api/v1/decisions.</noscript></main>
</body>
</html>
`;
      return { html, csp };
    },
  };
}
