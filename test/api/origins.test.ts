// Which pages may use a researcher's session cookie: the coordinator's own (and --allowed-origins),
// on the /admin namespace and on the HTTP API; a request with an API token, and the volunteer
// namespace, from anywhere. Browsers send the cookie to another port of the same host (ports are
// the same site for SameSite), so a page there is "another origin" to refuse. Real coordinator,
// real sockets and HTTP; test/web/cross-origin.test.ts does the same attack from a real browser.
import { io } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../coordinator/config.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { ApiClient, expectError, newApp, type BatchStatus, type Submitted } from '../helpers/api-client.js';

type Ack = { ok: boolean; status?: BatchStatus; error?: { code: string } };

let c: TestCoordinator;
let behindProxy: TestCoordinator;
let session: ApiClient;
let token: ApiClient;
let batchId: number;
/** A page on another port of the coordinator's host. */
let otherPort: string;
const sockets: ReturnType<typeof io>[] = [];

beforeAll(async () => {
  c = await startTestCoordinator();
  // Served at https://grid.example.org by a proxy on this machine, which passes Host through or not.
  behindProxy = await startTestCoordinator({ trustProxy: ['loopback'], allowedOrigins: ['https://grid.example.org', 'http://localhost:9999'] });
  session = await ApiClient.login(c.url, 'admin', TEST_ADMIN_PASSWORD);
  token = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  const { app } = await newApp(token, 'secret-project');
  batchId = (await token.post<Submitted>(`/apps/${app.id}/batches`, { name: 'secret batch', workunits: [{ input: 1 }] })).body.batchId;
  otherPort = `http://127.0.0.1:${c.port === 65535 ? 65534 : c.port + 1}`;
});
afterEach(() => {
  sockets.splice(0).forEach((s) => s.disconnect());
});
afterAll(async () => {
  await c?.dispose();
  await behindProxy?.dispose();
});

/** Connects as a browser would: the headers it sends, and auth if given. Resolves the socket or the connect_error's message. */
async function connect(url: string, namespace: string, headers: Record<string, string>, auth: Record<string, string> = {}): Promise<ReturnType<typeof io> | string> {
  const socket = io(`${url}${namespace}`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: headers, auth });
  sockets.push(socket);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (e) => resolve(e.message));
  });
}

const watch = (s: ReturnType<typeof io>) => s.timeout(5000).emitWithAck('batch.watch', { batchId }) as Promise<Ack>;

describe('the /admin namespace with the session cookie', () => {
  it('refuses a page on another port of the same host, saying why, and it reads nothing', async () => {
    const r = await connect(c.url, '/admin', { cookie: session.cookie!, origin: otherPort });
    expect(r).toBe(`forbidden: a page at ${otherPort} may not use this coordinator's session cookie (it is not ${c.url}); log in on the coordinator's own page, or send an API token (a coordinator served at that address through a proxy lists it in --allowed-origins)`);
  });

  it.each([
    ['another host', () => 'http://evil.example'],
    ['another scheme', () => c.url.replace('http:', 'https:')],
    ['a sandboxed frame or a file (Origin: null)', () => 'null'],
  ])('refuses %s', async (_what, origin) => {
    expect(await connect(c.url, '/admin', { cookie: session.cookie!, origin: origin() })).toMatch(/^forbidden: a page at .* may not use/);
  });

  it("accepts the coordinator's own pages, and clients that send no Origin (not a browser's page)", async () => {
    for (const headers of [{ cookie: session.cookie!, origin: c.url }, { cookie: session.cookie! }] as Record<string, string>[]) {
      const s = await connect(c.url, '/admin', headers);
      expect(typeof s).not.toBe('string');
      expect(await watch(s as ReturnType<typeof io>)).toMatchObject({ ok: true, status: { name: 'secret batch' } });
    }
  });

  it('accepts an API token from any page', async () => {
    const s = await connect(c.url, '/admin', { origin: otherPort }, { token: token.token! });
    expect(typeof s).not.toBe('string');
    expect(await watch(s as ReturnType<typeof io>)).toMatchObject({ ok: true });
  });
});

describe('the /volunteer namespace', () => {
  it('is open to every origin (it uses no cookie)', async () => {
    for (const origin of [otherPort, 'https://volunteer-site.example', 'null']) {
      expect(typeof (await connect(c.url, '/volunteer', { origin }))).not.toBe('string');
    }
  });
});

describe('the HTTP API with the session cookie', () => {
  const from = (origin: string) => ({ headers: { origin } });

  it('refuses reads and writes from a page of another origin with 403, saying why', async () => {
    expectError(await session.request('GET', '/batches', from(otherPort)), 403, 'forbidden', /a page at http:\/\/127\.0\.0\.1:\d+ may not use this coordinator's session cookie/);
    expectError(await session.request('GET', `/batches/${batchId}`, from('https://evil.example')), 403, 'forbidden');
    expectError(await session.request('POST', '/tokens', { json: { name: 'stolen' }, ...from(otherPort) }), 403, 'forbidden');
    expectError(await session.request('DELETE', '/session', from(otherPort)), 403, 'forbidden');
    expect((await session.get('/session')).status).toBe(200);
  });

  it('refuses a login from a page of another origin (it would set the cookie there)', async () => {
    const r = await ApiClient.anonymous(c.url).request('POST', '/session', { json: { name: 'admin', password: TEST_ADMIN_PASSWORD }, ...from(otherPort) });
    expectError(r, 403, 'forbidden', /may not use this coordinator's session cookie/);
    expect(r.headers.getSetCookie()).toEqual([]);
  });

  it("accepts the coordinator's own pages and requests without Origin; tokens and public routes from anywhere", async () => {
    expect((await session.request('GET', `/batches/${batchId}`, from(c.url))).status).toBe(200);
    expect((await session.request('POST', '/tokens', { json: { name: 'from-the-ui' }, ...from(c.url) })).status).toBe(201);
    expect((await session.get(`/batches/${batchId}`)).status).toBe(200);
    expect((await token.request('GET', `/batches/${batchId}`, from(otherPort))).status).toBe(200);
    expect((await ApiClient.anonymous(c.url).request('GET', '/leaderboards/users', from(otherPort))).status).toBe(200);
  });
});

describe('behind a proxy: --allowed-origins, and the origin a trusted proxy names', () => {
  it("accepts the listed origins and the one a trusted proxy's X-Forwarded-Proto and -Host name", async () => {
    const s = await ApiClient.login(behindProxy.url, 'admin', TEST_ADMIN_PASSWORD);
    for (const origin of ['https://grid.example.org', 'http://localhost:9999']) {
      expect((await s.request('GET', '/session', { headers: { origin } })).status).toBe(200);
      expect(typeof (await connect(behindProxy.url, '/admin', { cookie: s.cookie!, origin }))).not.toBe('string');
    }
    // Host passed on by the proxy as X-Forwarded-Host; the proxy (loopback) is trusted.
    const proxied = { origin: 'https://public.example.net', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.example.net' };
    expect((await s.request('GET', '/session', { headers: proxied })).status).toBe(200);
    expect(typeof (await connect(behindProxy.url, '/admin', { cookie: s.cookie!, ...proxied }))).not.toBe('string');
    expectError(await s.request('GET', '/session', { headers: { origin: 'https://evil.example' } }), 403, 'forbidden', /nor one of --allowed-origins/);
  });

  it('believes X-Forwarded-Host only from a trusted proxy', async () => {
    const proxied = { origin: 'https://public.example.net', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.example.net' };
    expectError(await session.request('GET', '/session', { headers: proxied }), 403, 'forbidden');
    expect(await connect(c.url, '/admin', { cookie: session.cookie!, ...proxied })).toMatch(/^forbidden/);
  });
});

describe('--allowed-origins', () => {
  const parse = (value: string) => {
    const r = loadConfig(['--allowed-origins', value], {});
    return 'options' in r ? r.options.allowedOrigins : r.message.split('\n\n')[0];
  };

  it('takes a comma-separated list of origins, normalized', () => {
    expect(parse('https://Grid.Example.org/, http://localhost:8080')).toEqual(['https://grid.example.org', 'http://localhost:8080']);
    expect(loadConfig([], { VG_ALLOWED_ORIGINS: 'https://a.example' })).toMatchObject({ options: { allowedOrigins: ['https://a.example'] } });
    expect(loadConfig([], {})).toMatchObject({ options: { allowedOrigins: [] } });
  });

  it.each(['*', 'null', 'grid.example.org', 'https://grid.example.org/admin', 'ftp://grid.example.org'])('refuses %s, saying what an origin is', (value) => {
    expect(parse(value)).toMatch(/is not an origin: give scheme:\/\/host\[:port\] without a path/);
  });
});
