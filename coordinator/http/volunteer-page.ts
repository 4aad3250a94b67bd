// The volunteer page (volunteer-web/, built into dist/volunteer) at /. App code runs in its
// Web Workers under SES, which evaluates modules (so 'unsafe-eval'; WebAssembly needs
// 'wasm-unsafe-eval'); connect-src 'self' keeps app code off every other host.
import { join } from 'node:path';
import type express from 'express';
import { DIST_DIR, staticPage } from './static-page.js';

export const VOLUNTEER_PAGE_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
  "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export function volunteerPage(dir = join(DIST_DIR, 'volunteer')): express.Router {
  return staticPage(dir, { csp: VOLUNTEER_PAGE_CSP, clientRoutes: false, what: 'volunteer page' });
}
