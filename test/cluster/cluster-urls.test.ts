// --cluster-urls: the discovery document lists every instance for volunteers to spread over;
// what volunteers use over HTTP may be read from a page another instance served, and that page
// may connect to the listed instances. Checked at start, with a message that says what is wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../coordinator/config.js';
import { VOLUNTEER_PAGE_CSP } from '../../coordinator/http/volunteer-page.js';
import { WellKnownSchema } from '../../protocol/discovery.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

const WELL_KNOWN = '/.well-known/volunteer-grid.json';

describe('--cluster-urls', () => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = loadConfig(['--database-url', 'postgres://db/vg', '--redis-url', 'redis://redis:6379', ...argv], env);
    return 'options' in r ? r.options.clusterUrls : r.message.split('\n\n')[0];
  };

  it('takes a comma-separated list of origins, normalized, from the flag or VG_CLUSTER_URLS', () => {
    expect(parse(['--cluster-urls', 'https://Grid1.Example.org/, https://grid2.example.org:443,http://10.0.0.3:8080'])).toEqual([
      'https://grid1.example.org',
      'https://grid2.example.org',
      'http://10.0.0.3:8080',
    ]);
    expect(parse([], { VG_CLUSTER_URLS: 'https://a.example,https://b.example' })).toEqual(['https://a.example', 'https://b.example']);
    expect(parse([])).toBeUndefined();
  });

  it.each([
    ['grid1.example.org', /"grid1.example.org" is not a URL; give scheme:\/\/host\[:port\]/],
    ['https://grid.example.org/volunteer', /has a path, query or fragment; give the instance's origin only/],
    ['ftp://grid.example.org', /is not http:\/\/ or https:\/\//],
    ['https://a.example,https://A.example/', /https:\/\/a.example is listed twice/],
    [' , ', /list at least one instance URL/],
  ])('refuses %j, saying why', (value, message) => {
    expect(parse(['--cluster-urls', value])).toMatch(message);
  });

  it('refuses several instances that do not share a PostgreSQL database and a Redis, and takes one alone', () => {
    const r = loadConfig(['--cluster-urls', 'https://a.example,https://b.example', '--redis-url', 'redis://redis:6379'], {});
    expect('message' in r && r.message).toMatch(/several instance URLs need the instances to share one PostgreSQL database \(--database-url\) and one Redis \(--redis-url\)/);
    expect(loadConfig(['--cluster-urls', 'https://grid.example.org'], {})).toMatchObject({ options: { clusterUrls: ['https://grid.example.org'] } });
  });
});

describe('the discovery document and the volunteer routes', () => {
  let plain: TestCoordinator;
  let listed: TestCoordinator;
  // One URL (the public one, say): several would need PostgreSQL and Redis, and what an instance
  // serves does not depend on how many there are.
  const instances = ['https://grid.example.org'];
  beforeAll(async () => {
    plain = await startTestCoordinator();
    listed = await startTestCoordinator({ clusterUrls: instances });
  });
  afterAll(async () => {
    await plain?.dispose();
    await listed?.dispose();
  });

  it('lists the instances when they are set, and says nothing of them otherwise (old clients and single instances are unchanged)', async () => {
    const doc = (await (await fetch(`${listed.url}${WELL_KNOWN}`)).json()) as Record<string, unknown>;
    expect(doc.instances).toEqual(instances);
    expect(WellKnownSchema.parse(doc).instances).toEqual(instances);
    const single = (await (await fetch(`${plain.url}${WELL_KNOWN}`)).json()) as Record<string, unknown>;
    expect(Object.keys(single).sort()).toEqual(['coordinatorKey', 'limits', 'protocol', 'software', 'volunteerNamespace']);
  });

  it('lets a page of any origin read what volunteers read and upload outputs, without credentials', async () => {
    const origin = { origin: 'https://other-instance.example.org' };
    for (const path of [WELL_KNOWN, `/files/${'0'.repeat(64)}`, `/app-versions/${'0'.repeat(64)}`, '/readyz']) {
      const res = await fetch(`${listed.url}${path}`, { headers: origin });
      expect(res.headers.get('access-control-allow-origin'), path).toBe('*');
      expect(res.headers.get('access-control-allow-credentials'), path).toBeNull();
    }
    const preflight = await fetch(`${listed.url}/files/${'0'.repeat(64)}`, {
      method: 'OPTIONS',
      headers: { ...origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,x-vg-host-key,x-vg-task-id,x-vg-signature' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type, x-vg-host-key, x-vg-task-id, x-vg-signature');
    // The researchers' API is not opened this way.
    expect((await fetch(`${listed.url}/api/v1/batches`, { headers: origin })).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets the volunteer page connect to the listed instances (HTTP and WebSocket), and to nothing else', async () => {
    const csp = (await fetch(`${listed.url}/`)).headers.get('content-security-policy')!;
    expect(csp).toContain("connect-src 'self' https://grid.example.org wss://grid.example.org;");
    expect((await fetch(`${plain.url}/`)).headers.get('content-security-policy')).toBe(VOLUNTEER_PAGE_CSP);
  });
});
