// The login throttle against the real coordinator: failed logins count per account and address,
// per address and per account, so a guesser neither locks out everyone behind its address nor
// gets around the limit by changing addresses; with --trust-proxy the address is the one a
// trusted proxy names, and without it X-Forwarded-For changes nothing. Real HTTP from real
// loopback addresses (Linux routes all of 127.0.0.0/8 to the loopback interface), real scrypt.
// The rules' edges (windows, Retry-After, known addresses) with a clock, without HTTP, at the end.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../coordinator/api/api-error.js';
import { DEFAULT_LOGIN_LIMITS, LoginThrottle } from '../../coordinator/api/login-throttle.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { ApiClient, PASSWORD } from '../helpers/api-client.js';

let coordinator: TestCoordinator | undefined;
afterEach(async () => {
  await coordinator?.dispose();
  coordinator = undefined;
});

const WRONG = 'wrong-password-123';
const { perAccountAndAddress: PER_PAIR, perAddress: PER_ADDRESS, perAccount: PER_ACCOUNT } = DEFAULT_LOGIN_LIMITS;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  message: string;
}

/** POST /api/v1/session from a chosen local address, with extra headers. */
function login(url: string, name: string, password: string, opts: { from?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const body = JSON.stringify({ name, password });
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/api/v1/session`,
      {
        method: 'POST',
        localAddress: opts.from ?? '127.0.0.1',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...opts.headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          const parsed = (text ? JSON.parse(text) : {}) as { error?: { message: string } };
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], message: parsed.error?.message ?? '' });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** n wrong guesses one after another; each must be refused as a wrong password (401). */
async function guess(url: string, name: string, n: number, opts: { from?: string; headers?: Record<string, string> } = {}): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await login(url, name, WRONG, opts);
    expect(r.status, `guess ${i + 1} at ${name}: ${r.message}`).toBe(401);
  }
}

async function withAccounts(names: string[], overrides: Parameters<typeof startTestCoordinator>[0] = {}): Promise<TestCoordinator> {
  coordinator = await startTestCoordinator(overrides);
  const admin = await ApiClient.withToken(coordinator.url, 'admin', TEST_ADMIN_PASSWORD);
  for (const name of names) expect((await admin.post('/researchers', { name, password: PASSWORD })).status).toBe(201);
  return coordinator;
}

describe('failed logins count per account and per address', () => {
  it('guesses at one account lock that account out at that address only: others there still log in', async () => {
    const { url } = await withAccounts(['victim', 'bystander']);
    await guess(url, 'victim', PER_PAIR);
    const refused = await login(url, 'victim', PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.message).toMatch(/too many failed logins for this account from your address; try again in 10 minutes/);
    expect(Number(refused.retryAfter)).toBeGreaterThan(590);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(600);
    // Same address, another account: its right password works (it used to be refused).
    expect((await login(url, 'bystander', PASSWORD)).status).toBe(200);
    // The victim, from an address nobody guessed from, gets in.
    expect((await login(url, 'victim', PASSWORD, { from: '127.0.0.2' })).status).toBe(200);
  }, 60_000);

  it('guesses at one account from many addresses are held to the account’s limit; its known addresses still get in', async () => {
    const { url } = await withAccounts(['target']);
    // The owner logs in from 127.0.0.9 now and then: that address is known to the account.
    expect((await login(url, 'target', PASSWORD, { from: '127.0.0.9' })).status).toBe(200);
    const attackers = Array.from({ length: Math.ceil(PER_ACCOUNT / PER_PAIR) }, (_, i) => `127.0.1.${i + 1}`);
    for (const from of attackers) await guess(url, 'target', PER_PAIR, { from });
    // A fresh address gets no guesses at the account: it used to get its own ten.
    const fresh = await login(url, 'target', WRONG, { from: '127.0.2.1' });
    expect(fresh.status).toBe(429);
    expect(fresh.message).toMatch(/too many failed logins for this account, from several addresses/);
    expect(Number(fresh.retryAfter)).toBeGreaterThan(500);
    // Not even with the right password (a guesser cannot be told it was right)...
    expect((await login(url, 'target', PASSWORD, { from: '127.0.2.2' })).status).toBe(429);
    // ...but the owner, from an address it logged in from before, still gets in.
    expect((await login(url, 'target', PASSWORD, { from: '127.0.0.9' })).status).toBe(200);
  }, 90_000);

  it('one address guessing many accounts is held to the address’s limit; accounts known there still get in', async () => {
    const names = Array.from({ length: Math.ceil(PER_ADDRESS / PER_PAIR) + 1 }, (_, i) => `sprayed-${i}`);
    const { url } = await withAccounts([...names, 'regular']);
    const shared = '127.0.3.1';
    expect((await login(url, 'regular', PASSWORD, { from: shared })).status).toBe(200);
    for (const name of names.slice(0, -1)) await guess(url, name, PER_PAIR, { from: shared });
    const next = await login(url, 'sprayed-last-one', WRONG, { from: shared });
    expect(next.status).toBe(429);
    expect(next.message).toMatch(/too many failed logins from your address/);
    expect((await login(url, names.at(-1)!, PASSWORD, { from: shared })).status).toBe(429);
    // Someone who logs in from the shared address as a rule is not kept out by the sprayer...
    expect((await login(url, 'regular', PASSWORD, { from: shared })).status).toBe(200);
    // ...and from another address, the sprayed accounts are fine.
    expect((await login(url, names.at(-1)!, PASSWORD, { from: '127.0.3.2' })).status).toBe(200);
  }, 120_000);
});

describe('--trust-proxy: whose address X-Forwarded-For is', () => {
  it('without it, X-Forwarded-For is ignored: a guesser cannot make up addresses', async () => {
    const { url } = await withAccounts(['victim']);
    for (let i = 0; i < PER_PAIR; i++) {
      expect((await login(url, 'victim', WRONG, { headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } })).status).toBe(401);
    }
    expect((await login(url, 'victim', WRONG, { headers: { 'x-forwarded-for': '198.51.100.200' } })).status).toBe(429);
  }, 60_000);

  it('with the proxy’s address, the client is the one it names: a guesser behind the proxy does not lock out others behind it', async () => {
    // Only 127.0.0.5 is the proxy; 127.0.0.1 is a client that connects directly.
    const { url } = await withAccounts(['victim'], { trustProxy: ['127.0.0.5'] });
    const viaProxy = (client: string) => ({ from: '127.0.0.5', headers: { 'x-forwarded-for': client } });
    await guess(url, 'victim', PER_PAIR, viaProxy('203.0.113.7'));
    expect((await login(url, 'victim', PASSWORD, viaProxy('203.0.113.7'))).status).toBe(429);
    // Another client behind the same proxy: its own address, so the right password works.
    expect((await login(url, 'victim', PASSWORD, viaProxy('203.0.113.8'))).status).toBe(200);
    // A client that connects directly is not a proxy: the address it claims is not believed.
    await guess(url, 'victim', PER_PAIR, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect((await login(url, 'victim', PASSWORD, { headers: { 'x-forwarded-for': '203.0.113.10' } })).status).toBe(429);
  }, 90_000);

  it('a hop count believes that many proxies, from the right of X-Forwarded-For', async () => {
    const { url } = await withAccounts(['victim'], { trustProxy: 2 });
    // Proxies append: "client, first proxy". Two hops in: the client is the left one here.
    await guess(url, 'victim', PER_PAIR, { headers: { 'x-forwarded-for': '203.0.113.1, 10.0.0.2' } });
    expect((await login(url, 'victim', PASSWORD, { headers: { 'x-forwarded-for': '203.0.113.1, 10.0.0.2' } })).status).toBe(429);
    expect((await login(url, 'victim', PASSWORD, { headers: { 'x-forwarded-for': '203.0.113.2, 10.0.0.2' } })).status).toBe(200);
  }, 60_000);
});

describe('LoginThrottle rules', () => {
  const limits = { perAccountAndAddress: 2, perAddress: 3, perAccount: 4, windowMs: 60_000, knownForMs: 3_600_000, maxInFlight: 8 };
  const fail = (t: LoginThrottle, name: string, address: string, now: number) => t.end(t.begin(name, address, now), false, now);
  const refusal = (t: LoginThrottle, name: string, address: string, now: number) => {
    try {
      t.end(t.begin(name, address, now), true, now);
      return undefined;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return { code: e.code, retryAfterS: e.retryAfterS, message: e.message };
    }
  };

  it('forgets failures as they leave the window, and says when the first one does', () => {
    const t = new LoginThrottle(limits);
    fail(t, 'a', '192.0.2.1', 0);
    fail(t, 'a', '192.0.2.1', 20_000);
    expect(refusal(t, 'a', '192.0.2.1', 30_000)).toMatchObject({ code: 'rate_limited', retryAfterS: 30 });
    expect(refusal(t, 'a', '192.0.2.1', 60_001)).toBeUndefined();
  });

  it('counts names case-insensitively, whether an account has them or not', () => {
    const t = new LoginThrottle(limits);
    fail(t, 'Nobody', '192.0.2.1', 0);
    fail(t, 'NOBODY', '192.0.2.1', 0);
    expect(refusal(t, 'nobody', '192.0.2.1', 1)?.code).toBe('rate_limited');
  });

  it('counts an IPv6 /64 as one address, and IPv4-mapped IPv6 as IPv4', () => {
    const t = new LoginThrottle(limits);
    fail(t, 'a', '2001:db8:1:2::1', 0);
    fail(t, 'a', '2001:db8:1:2:ffff::9', 0);
    expect(refusal(t, 'a', '2001:db8:1:2:abcd::1', 1)?.code).toBe('rate_limited');
    expect(refusal(t, 'a', '2001:db8:1:3::1', 1)).toBeUndefined();
    fail(t, 'b', '::ffff:192.0.2.7', 0);
    fail(t, 'b', '192.0.2.7', 0);
    expect(refusal(t, 'b', '::ffff:192.0.2.7', 1)?.code).toBe('rate_limited');
  });

  it('counts attempts still being checked, so parallel guesses cannot get around a limit', () => {
    const t = new LoginThrottle(limits);
    t.begin('a', '192.0.2.1', 0);
    t.begin('a', '192.0.2.1', 0);
    expect(refusal(t, 'a', '192.0.2.1', 0)).toMatchObject({ code: 'rate_limited', retryAfterS: 1 });
  });

  it('a known address skips the address and account limits, never its own', () => {
    const t = new LoginThrottle(limits);
    t.end(t.begin('owner', '192.0.2.50', 0), true, 0);
    for (const [i, address] of ['192.0.2.1', '192.0.2.2'].entries()) {
      fail(t, 'owner', address, i);
      fail(t, 'owner', address, i);
    }
    expect(refusal(t, 'owner', '192.0.2.3', 10)?.message).toMatch(/for this account, from several addresses/);
    expect(refusal(t, 'owner', '192.0.2.50', 10)).toBeUndefined();
    fail(t, 'owner', '192.0.2.50', 11);
    fail(t, 'owner', '192.0.2.50', 12);
    expect(refusal(t, 'owner', '192.0.2.50', 13)?.message).toMatch(/for this account from your address/);
    // Known only for knownForMs after the last login from there.
    const later = 2 * 3_600_000;
    t.end(t.begin('owner', '192.0.2.60', later), true, later);
    for (const address of ['192.0.2.4', '192.0.2.5']) {
      fail(t, 'owner', address, later + 1);
      fail(t, 'owner', address, later + 1);
    }
    expect(refusal(t, 'owner', '192.0.2.50', later + 2)?.message).toMatch(/from several addresses/);
    expect(refusal(t, 'owner', '192.0.2.60', later + 2)).toBeUndefined();
  });

  it('caps password checks in flight over all addresses', () => {
    const t = new LoginThrottle({ ...limits, maxInFlight: 2 });
    t.begin('a', '192.0.2.1', 0);
    t.begin('b', '192.0.2.2', 0);
    expect(refusal(t, 'c', '192.0.2.3', 0)?.message).toMatch(/too many logins at once/);
  });
});
