// The admin web UI (admin-ui/, built into dist/admin) at /admin: it runs only its own scripts
// and talks only to this coordinator.
import { join } from 'node:path';
import type express from 'express';
import { DIST_DIR, staticPage } from './static-page.js';

export const ADMIN_UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export function adminUi(dir = join(DIST_DIR, 'admin')): express.Router {
  return staticPage(dir, { csp: ADMIN_UI_CSP, clientRoutes: true, what: 'admin UI' });
}
