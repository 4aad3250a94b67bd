// Who the client is, for everything that counts per address: the HTTP rate limit and the
// Socket.IO connection limit believe X-Forwarded-For only on connections from a proxy that
// --trust-proxy names, as the login throttle does (test/api/login-throttle.test.ts). Real
// coordinator, real HTTP and sockets from real loopback addresses.
import { request } from 'node:http';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../coordinator/config.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

let coordinator: TestCoordinator | undefined;
afterEach(async () => {
  await coordinator?.dispose();
  coordinator = undefined;
});

/** GET a public route from a chosen local address; the status. */
function get(url: string, opts: { from?: string; forwardedFor?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v1/leaderboards/users`, {
      localAddress: opts.from ?? '127.0.0.1',
      agent: false,
      headers: opts.forwardedFor ? { 'x-forwarded-for': opts.forwardedFor } : {},
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Connects to a namespace; resolves 'connected' or the connect_error's message. */
async function connect(url: string, namespace: string, opts: { from?: string; forwardedFor?: string } = {}): Promise<string> {
  const socket = io(`${url}${namespace}`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    localAddress: opts.from ?? '127.0.0.1',
    extraHeaders: opts.forwardedFor ? { 'x-forwarded-for': opts.forwardedFor } : {},
  } as Parameters<typeof io>[1]);
  try {
    return await new Promise<string>((resolve) => {
      socket.once('connect', () => resolve('connected'));
      socket.once('connect_error', (e) => resolve(e.message));
    });
  } finally {
    socket.disconnect();
  }
}

// A bucket of one request (0.2 a second, bursts of 5x): a second request within 5 s is over.
const ONE_EACH = { httpRatePerIp: 0.2, connectRatePerIp: 0.2 };

describe('the HTTP rate limit', () => {
  it('counts per address the socket comes from when no proxy is trusted, whatever X-Forwarded-For says', async () => {
    const { url } = (coordinator = await startTestCoordinator(ONE_EACH));
    expect(await get(url, { forwardedFor: '203.0.113.1' })).toBe(200);
    expect(await get(url, { forwardedFor: '203.0.113.2' })).toBe(429);
    expect(await get(url, { from: '127.0.0.2' })).toBe(200);
  });

  it('counts per client a trusted proxy names, and believes no one else', async () => {
    const { url } = (coordinator = await startTestCoordinator({ ...ONE_EACH, trustProxy: ['127.0.0.5'] }));
    const viaProxy = (client: string) => ({ from: '127.0.0.5', forwardedFor: client });
    expect(await get(url, viaProxy('203.0.113.1'))).toBe(200);
    expect(await get(url, viaProxy('203.0.113.1'))).toBe(429);
    expect(await get(url, viaProxy('203.0.113.2'))).toBe(200);
    // An IPv6 /64 is one client: its owner has 2^64 addresses to pick from.
    expect(await get(url, viaProxy('2001:db8:1:2::a'))).toBe(200);
    expect(await get(url, viaProxy('2001:db8:1:2:ffff::b'))).toBe(429);
    expect(await get(url, viaProxy('2001:db8:1:3::a'))).toBe(200);
    // 127.0.0.1 is not the proxy: its X-Forwarded-For is not believed.
    expect(await get(url, { forwardedFor: '203.0.113.3' })).toBe(200);
    expect(await get(url, { forwardedFor: '203.0.113.4' })).toBe(429);
  });
});

describe('the Socket.IO connection limit', () => {
  it('counts per socket address when no proxy is trusted, on /volunteer and /admin alike', async () => {
    const { url } = (coordinator = await startTestCoordinator(ONE_EACH));
    expect(await connect(url, '/volunteer', { forwardedFor: '203.0.113.1' })).toBe('connected');
    expect(await connect(url, '/volunteer', { forwardedFor: '203.0.113.2' })).toMatch(/^rate_limited/);
    expect(await connect(url, '/admin', { forwardedFor: '203.0.113.3' })).toMatch(/^rate_limited/);
    expect(await connect(url, '/volunteer', { from: '127.0.0.2' })).toBe('connected');
  });

  it('counts per client a trusted proxy names, as the HTTP limit does', async () => {
    const { url } = (coordinator = await startTestCoordinator({ ...ONE_EACH, trustProxy: ['127.0.0.5'] }));
    const viaProxy = (client: string) => ({ from: '127.0.0.5', forwardedFor: client });
    expect(await connect(url, '/volunteer', viaProxy('203.0.113.1'))).toBe('connected');
    expect(await connect(url, '/volunteer', viaProxy('203.0.113.1'))).toMatch(/^rate_limited/);
    expect(await connect(url, '/volunteer', viaProxy('203.0.113.2'))).toBe('connected');
    expect(await connect(url, '/volunteer', viaProxy('2001:db8:1:2::a'))).toBe('connected');
    expect(await connect(url, '/volunteer', viaProxy('2001:db8:1:2:ffff::b'))).toMatch(/^rate_limited/);
    expect(await connect(url, '/volunteer', { forwardedFor: '203.0.113.3' })).toBe('connected');
    expect(await connect(url, '/volunteer', { forwardedFor: '203.0.113.4' })).toMatch(/^rate_limited/);
  });
});

describe('--trust-proxy', () => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = loadConfig(argv, env);
    return 'options' in r ? { trustProxy: r.options.trustProxy } : { message: r.message.split('\n\n')[0] };
  };

  it.each([
    [[], false],
    [['--trust-proxy', 'false'], false],
    [['--trust-proxy', '0'], false],
    [['--trust-proxy', '2'], 2],
    [['--trust-proxy', 'loopback'], ['loopback']],
    [['--trust-proxy', '10.0.0.1, 192.168.0.0/16,uniquelocal,::1'], ['10.0.0.1', '192.168.0.0/16', 'uniquelocal', '::1']],
  ] as [string[], Config['trustProxy']][])('%j is %j', (argv, expected) => {
    expect(parse(argv)).toEqual({ trustProxy: expected });
  });

  it('reads VG_TRUST_PROXY', () => {
    expect(parse([], { VG_TRUST_PROXY: '172.16.0.0/12' })).toEqual({ trustProxy: ['172.16.0.0/12'] });
  });

  it.each([
    ['true', /would believe any client's X-Forwarded-For/],
    ['*', /would believe any client's X-Forwarded-For/],
    ['300.1.1.1', /"300\.1\.1\.1": invalid IP address/],
    ['10.0.0.0/33', /invalid range/],
    ['proxy.example.org', /give IP addresses, CIDR ranges/],
    ['99', /a hop count is a whole number from 0 to 32/],
  ])('refuses %s with a message that says why', (value, message) => {
    expect(parse(['--trust-proxy', value]).message).toMatch(message);
  });
});
