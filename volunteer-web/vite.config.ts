// Builds the volunteer page into dist/volunteer/, which the coordinator serves at /.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

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
  // Sandbox workers are ES modules (new Worker(url, { type: 'module' })).
  worker: { format: 'es' },
});
