// Builds the volunteer page into dist/volunteer/, which the coordinator serves at /.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/**
 * Pyodide's runtime files, for Python apps: served by the coordinator with the page under
 * pyodide/<version>/, where the sandbox worker's loader finds them (and browsers cache them).
 * The loader itself (pyodide.mjs) is bundled into the worker.
 */
const PYODIDE_DIR = dirname(fileURLToPath(import.meta.resolve('pyodide')));
const PYODIDE_VERSION = (JSON.parse(readFileSync(resolve(PYODIDE_DIR, 'package.json'), 'utf8')) as { version: string }).version;

function pyodideAssets(): Plugin {
  const dir = PYODIDE_DIR;
  const version = PYODIDE_VERSION;
  return {
    name: 'pyodide-assets',
    generateBundle() {
      for (const file of ['pyodide.asm.mjs', 'pyodide.asm.wasm', 'python_stdlib.zip', 'pyodide-lock.json']) {
        this.emitFile({ type: 'asset', fileName: `pyodide/${version}/${file}`, source: readFileSync(resolve(dir, file)) });
      }
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: {
    outDir: resolve(import.meta.dirname, '../dist/volunteer'),
    emptyOutDir: true,
    // The page runs under script-src 'self': no inline polyfill script.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
    // The sandbox worker carries SES and a JavaScript parser (for app modules): big, and that is fine.
    chunkSizeWarningLimit: 4096,
  },
  // The loader's ES module (the package's browser entry is a script), and its version for the worker.
  resolve: { alias: { pyodide: resolve(PYODIDE_DIR, 'pyodide.mjs') } },
  define: { __PYODIDE_VERSION__: JSON.stringify(PYODIDE_VERSION) },
  // Sandbox workers are ES modules (new Worker(url, { type: 'module' })).
  worker: { format: 'es', plugins: () => [pyodideAssets()] },
});
