// Builds the admin UI into dist/admin/, which the coordinator serves at /admin/.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/admin/',
  build: {
    outDir: resolve(import.meta.dirname, '../dist/admin'),
    emptyOutDir: true,
    // The page runs under script-src 'self': no inline polyfill script.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
  },
});
