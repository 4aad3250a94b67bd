// The volunteer page (volunteer-web/, built into dist/volunteer) at /. App code runs in its
// Web Workers under SES, which evaluates modules (so 'unsafe-eval'; WebAssembly needs
// 'wasm-unsafe-eval'); connect-src keeps app code off every host but this coordinator: its own
// origin and, in cluster mode, its other instances (--cluster-urls), which the page may move to.
import { join } from 'node:path';
import type express from 'express';
import { DIST_DIR, staticPage } from './static-page.js';

/** The page's CSP; `instances`: the other origins of this coordinator it may connect to. */
export function volunteerPageCsp(instances: readonly string[] = []): string {
  // Both schemes of each: a source `http://h` is not matched by `ws://h` in every browser.
  const others = instances.flatMap((origin) => [origin, origin.replace(/^http/, 'ws')]);
  return (
    "default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
    `img-src 'self' data:; connect-src ${["'self'", ...others].join(' ')}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'`
  );
}

export const VOLUNTEER_PAGE_CSP = volunteerPageCsp();

export function volunteerPage(instances: readonly string[] = [], dir = join(DIST_DIR, 'volunteer')): express.Router {
  return staticPage(dir, { csp: volunteerPageCsp(instances), clientRoutes: false, what: 'volunteer page' });
}
