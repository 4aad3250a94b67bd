// Serves the built admin web UI (dist/admin, made by `npm run build:web`) at /admin, with a
// strict Content-Security-Policy: the page runs only its own scripts and talks only to us.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express from 'express';

export const ADMIN_UI_DIR = resolve(import.meta.dirname, '../../dist/admin');

export const PAGE_SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export function adminUi(dir = ADMIN_UI_DIR): express.Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    for (const [k, v] of Object.entries(PAGE_SECURITY_HEADERS)) res.setHeader(k, v);
    next();
  });
  router.use(express.static(dir, { index: false, fallthrough: true, maxAge: '1h', immutable: false }));
  // Client-side routes: every other path under /admin is the app's page.
  router.use((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return res.status(405).end();
    const index = join(dir, 'index.html');
    if (!existsSync(index)) {
      return res.status(503).type('text/plain').send('The admin UI is not built. Run `npm run build:web` (npm start does it for you).\n');
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
