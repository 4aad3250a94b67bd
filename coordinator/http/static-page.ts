// Serves a built web page (a Vite output folder) with security headers on every file, the
// page's own scripts and workers included (a worker's CSP comes from its own response).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express from 'express';

export const DIST_DIR = resolve(import.meta.dirname, '../../dist');

export function securityHeaders(csp: string): Record<string, string> {
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
}

/**
 * The folder's files, and its index.html for the page's own paths: every path when
 * `clientRoutes` (a single-page app), else only the root.
 */
export function staticPage(dir: string, opts: { csp: string; clientRoutes: boolean; what: string }): express.Router {
  const router = express.Router();
  const headers = securityHeaders(opts.csp);
  router.use((_req, res, next) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    next();
  });
  router.use(express.static(dir, { index: false, maxAge: '1h' }));
  router.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (!opts.clientRoutes && req.path !== '/') return next();
    const index = join(dir, 'index.html');
    if (!existsSync(index)) {
      return res.status(503).type('text/plain').send(`The ${opts.what} is not built. Run \`npm run build:web\` (npm start does it for you).\n`);
    }
    res.setHeader('Cache-Control', 'no-cache');
    // dotfiles: a clone (or an npx cache) may sit under a folder whose name starts with a dot.
    res.sendFile(index, { dotfiles: 'allow' });
  });
  return router;
}
