// Both web pages and everything they load carry the security headers: a strict CSP (app code in
// the volunteer page can reach no other host), no framing, no sniffing, no referrer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_UI_CSP } from '../../coordinator/http/admin-ui.js';
import { VOLUNTEER_PAGE_CSP } from '../../coordinator/http/volunteer-page.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

let coordinator: TestCoordinator;
beforeAll(async () => {
  coordinator = await startTestCoordinator();
});
afterAll(async () => {
  await coordinator?.dispose();
});

function expectPageHeaders(res: Response, csp: string): void {
  expect(res.headers.get('content-security-policy')).toBe(csp);
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
}

describe('page security headers', () => {
  it.each([
    ['/admin', ADMIN_UI_CSP],
    ['/admin/#/projects', ADMIN_UI_CSP],
    ['/admin/some/client/route', ADMIN_UI_CSP],
    ['/', VOLUNTEER_PAGE_CSP],
  ])('%s', async (path, csp) => {
    const res = await fetch(coordinator.url + path);
    expect([200, 503]).toContain(res.status); // 503 says how to build when dist/ is missing
    expectPageHeaders(res, csp);
  });

  it('on the pages’ scripts and workers too (a worker’s CSP comes from its own response)', async () => {
    for (const [page, csp] of [['/admin/', ADMIN_UI_CSP], ['/', VOLUNTEER_PAGE_CSP]] as const) {
      const html = await (await fetch(coordinator.url + page)).text();
      const scripts = [...html.matchAll(/src="([^"]+\.js)"/g)].map((m) => m[1]!);
      expect(scripts.length, `${page} loads its scripts from files`).toBeGreaterThan(0);
      expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline script bodies
      for (const src of scripts) {
        const res = await fetch(new URL(src, coordinator.url + page));
        expect(res.status).toBe(200);
        expectPageHeaders(res, csp);
      }
    }
  });

  it('the volunteer page’s CSP keeps app code off every other host', () => {
    expect(VOLUNTEER_PAGE_CSP).toContain("connect-src 'self'");
    expect(VOLUNTEER_PAGE_CSP).toContain("default-src 'self'");
    expect(VOLUNTEER_PAGE_CSP).not.toMatch(/\*|https?:/);
  });
});
