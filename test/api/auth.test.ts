// Accounts over the API: logging in and out, the session cookie and its CSRF token, API tokens,
// password changes, the admin's account management, disabled accounts and the login throttle.
// A real coordinator in this process, real HTTP, real SQLite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import {
  ApiClient,
  dbState,
  expectError,
  newResearcher,
  PASSWORD,
  sessionCookie,
  type AccountDetail,
  type CreatedToken,
  type Project,
  type Session,
  type ApiToken,
} from '../helpers/api-client.js';

let c: TestCoordinator;
let anon: ApiClient;
/** The first admin, logged in with the cookie (like the web UI). */
let admin: ApiClient;

beforeAll(async () => {
  c = await startTestCoordinator();
  anon = ApiClient.anonymous(c.url);
  admin = await ApiClient.login(c.url, 'admin', TEST_ADMIN_PASSWORD);
});
afterAll(async () => {
  await c?.dispose();
});

const state = () => dbState(c.store.db);
const BAD_IDS = ['abc', '-1', '0', '1.5', '99999999999999999999'];
const TOKEN_SHAPE = /^vgt_[A-Za-z0-9_-]{43}$/;

describe('POST /session (log in)', () => {
  it('answers the account and a CSRF token, and sets an HttpOnly SameSite=Strict session cookie for 7 days', async () => {
    const r = await anon.post<Session>('/session', { name: 'admin', password: TEST_ADMIN_PASSWORD });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ account: { id: 1, name: 'admin', role: 'admin' }, csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const setCookie = r.headers.getSetCookie();
    expect(setCookie).toHaveLength(1);
    const parts = setCookie[0]!.split(';').map((s) => s.trim());
    expect(parts[0]).toMatch(/^vg_session=[A-Za-z0-9_-]{43}$/);
    expect(parts.slice(1).sort()).toEqual(['HttpOnly', 'Max-Age=604800', 'Path=/', 'SameSite=Strict']);
    expect(r.headers.get('cache-control')).toBe('no-store');
    // Each login is its own session, with its own CSRF token.
    expect(r.body.csrfToken).not.toBe(admin.csrfToken);
  });

  it('compares names case-insensitively', async () => {
    const r = await anon.post<Session>('/session', { name: 'ADMIN', password: TEST_ADMIN_PASSWORD });
    expect(r.status).toBe(200);
    expect(r.body.account).toEqual({ id: 1, name: 'admin', role: 'admin' });
  });

  it('refuses a wrong password and an unknown name alike, with 401 and no session', async () => {
    const before = state();
    const wrong = await anon.post('/session', { name: 'admin', password: 'not-the-password' });
    expectError(wrong, 401, 'unauthenticated', 'wrong name or password');
    expect(wrong.headers.getSetCookie()).toEqual([]);
    const unknown = await anon.post('/session', { name: 'nobody', password: 'not-the-password' });
    expectError(unknown, 401, 'unauthenticated', 'wrong name or password');
    expect(state()).toEqual(before);
  });

  it.each([
    ['a missing password', { name: 'admin' }, /password/],
    ['a number for a name', { name: 5, password: 'x' }, /name/],
    ['an empty name', { name: '', password: 'x' }, /name/],
    ['an unknown field', { name: 'admin', password: TEST_ADMIN_PASSWORD, remember: true }, /remember/],
    ['an array', [], /object/],
  ])('refuses %s with 400 and logs nobody in', async (_what, body, message) => {
    const before = state();
    const r = await anon.post('/session', body);
    expectError(r, 400, 'bad_request', message);
    expect(r.headers.getSetCookie()).toEqual([]);
    expect(state()).toEqual(before);
  });

  it('refuses malformed JSON with 400, and a body over 16 kB with 413', async () => {
    const before = state();
    expectError(await anon.request('POST', '/session', { body: '{"name":"admin",', contentType: 'application/json' }), 400, 'bad_request', /not valid JSON/);
    expectError(await anon.post('/session', { name: 'admin', password: 'x'.repeat(20_000) }), 413, 'too_large');
    expect(state()).toEqual(before);
  });

  // docs/api.md: 415 `unsupported_media_type` for a wrong Content-Type, not a confusing 400.
  it('refuses a body that is not application/json with 415', async () => {
    const before = state();
    const r = await anon.request('POST', '/session', { body: JSON.stringify({ name: 'admin', password: TEST_ADMIN_PASSWORD }), contentType: 'text/plain' });
    expect(state()).toEqual(before);
    expectError(r, 415, 'unsupported_media_type');
  });
});

describe('GET /session (who am I)', () => {
  it('answers the account and the same CSRF token for a cookie session', async () => {
    const r = await admin.get<Session>('/session');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ account: { id: 1, name: 'admin', role: 'admin' }, csrfToken: admin.csrfToken });
  });

  it('answers csrfToken null for an API token', async () => {
    const t = await admin.post<CreatedToken>('/tokens', { name: 'whoami' });
    const r = await ApiClient.bearer(c.url, t.body.token).get<Session>('/session');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ account: { id: 1, name: 'admin', role: 'admin' }, csrfToken: null });
  });

  it('answers 401 without credentials, with an unknown cookie, and with a bad or malformed token', async () => {
    expectError(await anon.get('/session'), 401, 'unauthenticated', /log in/);
    expectError(await anon.request('GET', '/session', { headers: { cookie: 'vg_session=forged' } }), 401, 'unauthenticated');
    expectError(await ApiClient.bearer(c.url, 'vgt_forged').get('/session'), 401, 'unauthenticated', /token is not valid/);
    expectError(await ApiClient.bearer(c.url, 'not-even-a-token').get('/session'), 401, 'unauthenticated');
    expectError(await anon.request('GET', '/session', { headers: { authorization: 'Basic YWRtaW46eA==' } }), 401, 'unauthenticated');
    // A bad bearer token is refused even beside a good cookie: the token is what was meant.
    expectError(await anon.request('GET', '/session', { headers: { cookie: admin.cookie!, authorization: 'Bearer vgt_forged' } }), 401, 'unauthenticated');
  });

  // A malformed percent-escape in the cookie is as good as no cookie: "not logged in", not a 500.
  it('answers 401, not 500, for a session cookie that is not valid percent-encoding', async () => {
    for (const cookie of ['vg_session=%', 'vg_session=%E0%A4%A']) {
      expectError(await anon.request('GET', '/session', { headers: { cookie } }), 401, 'unauthenticated');
      expectError(await anon.request('GET', '/projects', { headers: { cookie } }), 401, 'unauthenticated');
    }
  });

  it('answers 401 on every authenticated route without credentials, before anything else', async () => {
    for (const [method, path] of [
      ['GET', '/projects'],
      ['POST', '/projects'],
      ['GET', '/projects/1'],
      ['PATCH', '/projects/1'],
      ['POST', '/projects/1/apps'],
      ['GET', '/apps/1'],
      ['POST', '/apps/1/versions'],
      ['POST', '/apps/1/batches'],
      ['GET', '/batches'],
      ['GET', '/batches/1'],
      ['GET', '/batches/1/workunits'],
      ['GET', '/workunits/1'],
      ['GET', '/batches/1/errors'],
      ['GET', '/batches/1/validation'],
      ['GET', '/batches/1/results'],
      ['POST', '/batches/1/cancel'],
      ['GET', '/hosts'],
      ['GET', '/tokens'],
      ['POST', '/tokens'],
      ['DELETE', '/tokens/1'],
      ['GET', '/researchers'],
      ['POST', '/researchers'],
      ['PATCH', '/researchers/1'],
      ['POST', '/session/password'],
      ['GET', '/no/such/route'],
    ] as const) {
      const before = state();
      const r = await anon.request(method, path, method === 'GET' || method === 'DELETE' ? {} : { json: {} });
      expectError(r, 401, 'unauthenticated');
      expect(state(), `${method} ${path}`).toEqual(before);
    }
  });

  it('answers 404 with the route for an unknown path when signed in', async () => {
    expectError(await admin.get('/no/such/route'), 404, 'not_found', 'no route GET /api/v1/no/such/route');
  });
});

describe('CSRF: a cookie session must send X-CSRF-Token to change anything', () => {
  it('refuses POST, PATCH and DELETE without the header (or with a wrong one) with 403, and changes nothing', async () => {
    const p = await admin.post<Project>('/projects', { name: 'csrf-target' });
    expect(p.status).toBe(201);
    const t = await admin.post<CreatedToken>('/tokens', { name: 'csrf-token' });
    expect(t.status).toBe(201);
    for (const client of [admin.withCsrf(null), admin.withCsrf('wrong-token')]) {
      const before = state();
      expectError(await client.post('/projects', { name: 'csrf-made' }), 403, 'forbidden', /X-CSRF-Token/);
      expectError(await client.patch(`/projects/${p.body.id}`, { description: 'changed' }), 403, 'forbidden', /X-CSRF-Token/);
      expectError(await client.del(`/tokens/${t.body.id}`), 403, 'forbidden', /X-CSRF-Token/);
      expectError(await client.post('/researchers', { name: 'csrf-user' }), 403, 'forbidden', /X-CSRF-Token/);
      expectError(await client.post('/tokens', { name: 'csrf-made' }), 403, 'forbidden', /X-CSRF-Token/);
      expectError(await client.post('/session/password', { currentPassword: TEST_ADMIN_PASSWORD, newPassword: 'another-password-1' }), 403, 'forbidden');
      expectError(await client.del('/session'), 403, 'forbidden');
      expect(state()).toEqual(before);
    }
    // Reading needs no CSRF token, and the session still works.
    expect((await admin.withCsrf(null).get(`/projects/${p.body.id}`)).status).toBe(200);
    expect((await admin.get('/session')).status).toBe(200);
    // With the header the same requests go through.
    expect((await admin.patch<Project>(`/projects/${p.body.id}`, { description: 'changed' })).body.description).toBe('changed');
    expect((await admin.del(`/tokens/${t.body.id}`)).status).toBe(204);
  });

  it('does not apply to API tokens, which send no cookie', async () => {
    const t = await admin.post<CreatedToken>('/tokens', { name: 'no-csrf' });
    const r = await ApiClient.bearer(c.url, t.body.token).post<Project>('/projects', { name: 'made-with-token' });
    expect(r.status).toBe(201);
  });
});

describe('DELETE /session (log out)', () => {
  it('answers 204, clears the cookie, and deletes the session on the server', async () => {
    const s = await ApiClient.login(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const sessions = state().sessions as number;
    const r = await s.del('/session');
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    const cleared = r.headers.getSetCookie()[0]!;
    expect(cleared).toMatch(/^vg_session=;/);
    expect(cleared).toContain('Max-Age=0');
    expect(state().sessions).toBe(sessions - 1);
    // The old cookie no longer works, even if a client keeps sending it.
    expectError(await s.get('/session'), 401, 'unauthenticated');
    expectError(await s.post('/projects', { name: 'after-logout' }), 401, 'unauthenticated');
    // Other sessions are untouched.
    expect((await admin.get('/session')).status).toBe(200);
  });

  it('answers 204 without a session too (logging out twice is harmless)', async () => {
    const r = await anon.del('/session');
    expect(r.status).toBe(204);
  });
});

describe('API tokens', () => {
  let ada: ApiClient;
  beforeAll(async () => {
    ada = await newResearcher(admin, 'token-ada');
  });

  it('POST makes a token shown once; GET lists it without the secret; it records when it was last used', async () => {
    const s = await ApiClient.login(c.url, 'token-ada', PASSWORD);
    const before = Date.now();
    const r = await s.post<CreatedToken>('/tokens', { name: '  laptop  ' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ id: expect.any(Number), name: 'laptop', token: expect.stringMatching(TOKEN_SHAPE), createdAt: expect.any(Number), lastUsedAt: null });
    expect(r.body.createdAt).toBeGreaterThanOrEqual(before);
    // Only its hash is stored.
    const stored = JSON.stringify(c.store.db.prepare('SELECT * FROM api_tokens').all());
    expect(stored).not.toContain(r.body.token);

    const list = await s.get<{ tokens: ApiToken[] }>('/tokens');
    expect(list.status).toBe(200);
    const mine = list.body.tokens.find((t) => t.id === r.body.id);
    expect(mine).toEqual({ id: r.body.id, name: 'laptop', createdAt: r.body.createdAt, lastUsedAt: null });
    for (const t of list.body.tokens) expect(Object.keys(t).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name']);

    const laptop = ApiClient.bearer(c.url, r.body.token);
    expect((await laptop.get<Session>('/session')).body.account.name).toBe('token-ada');
    const after = await s.get<{ tokens: ApiToken[] }>('/tokens');
    expect(after.body.tokens.find((t) => t.id === r.body.id)!.lastUsedAt).toBeGreaterThanOrEqual(r.body.createdAt);
  });

  it('lists only your own tokens', async () => {
    const mine = await ada.get<{ tokens: ApiToken[] }>('/tokens');
    const admins = await admin.get<{ tokens: ApiToken[] }>('/tokens');
    const ids = (r: typeof mine) => r.body.tokens.map((t) => t.id);
    expect(ids(mine).filter((id) => ids(admins).includes(id))).toEqual([]);
  });

  it('DELETE revokes a token: it stops working at once; a second DELETE is 404', async () => {
    const s = await ApiClient.login(c.url, 'token-ada', PASSWORD);
    const t = await s.post<CreatedToken>('/tokens', { name: 'short-lived' });
    const client = ApiClient.bearer(c.url, t.body.token);
    expect((await client.get('/projects')).status).toBe(200);
    const r = await client.del(`/tokens/${t.body.id}`);
    expect(r.status).toBe(204);
    expectError(await client.get('/projects'), 401, 'unauthenticated', /token is not valid/);
    expectError(await client.post('/projects', { name: 'revoked' }), 401, 'unauthenticated');
    expectError(await s.del(`/tokens/${t.body.id}`), 404, 'not_found', `you have no token ${t.body.id}`);
    expect((await s.get<{ tokens: ApiToken[] }>('/tokens')).body.tokens.map((x) => x.id)).not.toContain(t.body.id);
  });

  it('DELETE /tokens/current revokes the token the request is made with, and only that one', async () => {
    const s = await ApiClient.login(c.url, 'token-ada', PASSWORD);
    const doomed = ApiClient.bearer(c.url, (await s.post<CreatedToken>('/tokens', { name: 'doomed' })).body.token);
    const kept = ApiClient.bearer(c.url, (await s.post<CreatedToken>('/tokens', { name: 'kept' })).body.token);
    const r = await doomed.del('/tokens/current');
    expect(r.status).toBe(204);
    expectError(await doomed.get('/session'), 401, 'unauthenticated');
    expectError(await doomed.del('/tokens/current'), 401, 'unauthenticated');
    expect((await kept.get('/session')).status).toBe(200);
    expect((await s.get<{ tokens: ApiToken[] }>('/tokens')).body.tokens.map((t) => t.name)).toContain('kept');
    expect((await s.get<{ tokens: ApiToken[] }>('/tokens')).body.tokens.map((t) => t.name)).not.toContain('doomed');
  });

  it('DELETE /tokens/current with a cookie session (no token) is a 400 that changes nothing', async () => {
    const s = await ApiClient.login(c.url, 'token-ada', PASSWORD);
    const before = state();
    expectError(await s.del('/tokens/current'), 400, 'bad_request', 'tokens/current means the API token of this request; send one');
    expectError(await s.withCsrf(null).del('/tokens/current'), 403, 'forbidden');
    expectError(await anon.del('/tokens/current'), 401, 'unauthenticated');
    expect(state()).toEqual(before);
    expect((await s.get('/session')).status).toBe(200);
  });

  it("refuses to revoke another account's token with 404, and the token keeps working", async () => {
    const other = await admin.post<CreatedToken>('/tokens', { name: 'admin-own' });
    const before = state();
    expectError(await ada.del(`/tokens/${other.body.id}`), 404, 'not_found');
    expect(state()).toEqual(before);
    expect((await ApiClient.bearer(c.url, other.body.token).get('/session')).status).toBe(200);
  });

  it.each(BAD_IDS)('refuses the token id %s with 400', async (id) => {
    const before = state();
    expectError(await ada.del(`/tokens/${id}`), 400, 'bad_request', /token id/);
    expect(state()).toEqual(before);
  });

  it.each([
    ['an empty name', { name: '' }],
    ['a blank name', { name: '   ' }],
    ['a name of 101 characters', { name: 'x'.repeat(101) }],
    ['a number', { name: 3 }],
    ['no name', {}],
    ['an unknown field', { name: 'ok', expires: 3 }],
  ])('refuses a token with %s, with 400 and no token made', async (_what, body) => {
    const before = state();
    expectError(await ada.post('/tokens', body), 400, 'bad_request', /token/);
    expect(state()).toEqual(before);
  });
});

describe('admin: /researchers', () => {
  it('POST makes an account; a generated password is returned once and logs in', async () => {
    const before = Date.now();
    const r = await admin.post<{ account: AccountDetail; password?: string }>('/researchers', { name: 'gen-pw' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      account: { id: expect.any(Number), name: 'gen-pw', role: 'researcher', disabled: false, createdAt: expect.any(Number) },
      password: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/),
    });
    expect(r.body.account.createdAt).toBeGreaterThanOrEqual(before);
    const s = await ApiClient.login(c.url, 'gen-pw', r.body.password!);
    expect(s.account).toEqual({ id: r.body.account.id, name: 'gen-pw', role: 'researcher' });
    // Stored as an scrypt hash, never in the clear.
    const hash = (c.store.db.prepare('SELECT password_hash FROM researchers WHERE id = ?').get(r.body.account.id) as { password_hash: string }).password_hash;
    expect(hash).toMatch(/^scrypt\$/);
    expect(hash).not.toContain(r.body.password!);
  });

  it('POST with a chosen password does not echo it; admins can be made', async () => {
    const r = await admin.post<{ account: AccountDetail }>('/researchers', { name: 'second-admin', role: 'admin', password: PASSWORD });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body)).toEqual(['account']);
    expect(r.body.account).toMatchObject({ name: 'second-admin', role: 'admin', disabled: false });
    const s = await ApiClient.login(c.url, 'second-admin', PASSWORD);
    expect((await s.get('/researchers')).status).toBe(200);
  });

  it('GET lists every account, without password hashes', async () => {
    const r = await admin.get<{ accounts: AccountDetail[] }>('/researchers');
    expect(r.status).toBe(200);
    const names = r.body.accounts.map((a) => a.name);
    expect(names).toEqual(expect.arrayContaining(['admin', 'gen-pw', 'second-admin']));
    for (const a of r.body.accounts) expect(Object.keys(a).sort()).toEqual(['createdAt', 'disabled', 'id', 'name', 'role']);
    expect(r.body.accounts.find((a) => a.name === 'admin')).toEqual({ id: 1, name: 'admin', role: 'admin', disabled: false, createdAt: expect.any(Number) });
  });

  it('refuses a taken name (in any case) with 409', async () => {
    const before = state();
    expectError(await admin.post('/researchers', { name: 'GEN-PW' }), 409, 'conflict', /already exists/);
    expect(state()).toEqual(before);
  });

  it.each([
    ['a name with a space', { name: 'ada lovelace' }, /name/],
    ['an empty name', { name: '' }, /name/],
    ['a name of 65 characters', { name: 'a'.repeat(65) }, /name/],
    ['an unknown role', { name: 'ok-name', role: 'root' }, /role/],
    ['a short password', { name: 'ok-name', password: 'short-pw' }, /at least 12 characters/],
    ['a password of 201 characters', { name: 'ok-name', password: 'p'.repeat(201) }, /password/],
    ['an unknown field', { name: 'ok-name', email: 'a@b.c' }, /email/],
    ['a number for a name', { name: 42 }, /name/],
  ])('POST refuses %s with 400 and makes no account', async (_what, body, message) => {
    const before = state();
    expectError(await admin.post('/researchers', body), 400, 'bad_request', message);
    expect(state()).toEqual(before);
  });

  it('a researcher gets 403 on every admin route, and nothing changes', async () => {
    const r = await newResearcher(admin, 'not-an-admin');
    const before = state();
    expectError(await r.get('/researchers'), 403, 'forbidden', 'only an admin may do this');
    expectError(await r.post('/researchers', { name: 'sneaky', role: 'admin', password: PASSWORD }), 403, 'forbidden');
    expectError(await r.patch(`/researchers/${r.account!.id}`, { role: 'admin' }), 403, 'forbidden');
    expectError(await r.patch('/researchers/1', { disabled: true }), 403, 'forbidden');
    expect(state()).toEqual(before);
  });

  it('PATCH role: the change applies to existing tokens at once', async () => {
    const r = await newResearcher(admin, 'promoted');
    const id = r.account!.id;
    expectError(await r.get('/researchers'), 403, 'forbidden');
    const up = await admin.patch<{ account: AccountDetail }>(`/researchers/${id}`, { role: 'admin' });
    expect(up.status).toBe(200);
    expect(up.body).toEqual({ account: { id, name: 'promoted', role: 'admin', disabled: false, createdAt: expect.any(Number) } });
    expect((await r.get('/researchers')).status).toBe(200);
    await admin.patch(`/researchers/${id}`, { role: 'researcher' });
    expectError(await r.get('/researchers'), 403, 'forbidden');
  });

  it('PATCH password: the account logs in with the new one only, and its sessions end', async () => {
    await newResearcher(admin, 'reset-me');
    const session = await ApiClient.login(c.url, 'reset-me', PASSWORD);
    const id = session.account!.id;
    const r = await admin.patch<{ account: AccountDetail }>(`/researchers/${id}`, { password: 'brand-new-password' });
    expect(r.status).toBe(200);
    expect(r.body.account).toMatchObject({ id, name: 'reset-me', disabled: false });
    expectError(await session.get('/session'), 401, 'unauthenticated');
    expectError(await anon.post('/session', { name: 'reset-me', password: PASSWORD }), 401, 'unauthenticated');
    expect((await ApiClient.login(c.url, 'reset-me', 'brand-new-password')).account!.id).toBe(id);
  });

  it("PATCH password (an admin's reset): the account's API tokens are revoked too", async () => {
    const token = await newResearcher(admin, 'reset-tokens');
    const session = await ApiClient.login(c.url, 'reset-tokens', PASSWORD);
    expect((await admin.patch(`/researchers/${token.account!.id}`, { password: 'brand-new-password-2' })).status).toBe(200);
    expectError(await token.get('/projects'), 401, 'unauthenticated', /not valid/);
    expectError(await session.get('/session'), 401, 'unauthenticated');
    // The admin's own session is another account's: it stays.
    expect((await admin.get('/session')).status).toBe(200);
  });

  it('PATCH disabled: its sessions and tokens stop working and it cannot log in; enabling lets it log in again', async () => {
    const token = await newResearcher(admin, 'to-disable');
    const session = await ApiClient.login(c.url, 'to-disable', PASSWORD);
    const id = token.account!.id;
    expect((await token.post<Project>('/projects', { name: 'before-disable' })).status).toBe(201);

    const r = await admin.patch<{ account: AccountDetail }>(`/researchers/${id}`, { disabled: true });
    expect(r.status).toBe(200);
    expect(r.body.account).toEqual({ id, name: 'to-disable', role: 'researcher', disabled: true, createdAt: expect.any(Number) });
    const before = state();
    expectError(await token.get('/projects'), 401, 'unauthenticated');
    expectError(await token.post('/projects', { name: 'while-disabled' }), 401, 'unauthenticated');
    expectError(await session.get('/session'), 401, 'unauthenticated');
    expectError(await anon.post('/session', { name: 'to-disable', password: PASSWORD }), 401, 'unauthenticated', 'wrong name or password');
    expect(state()).toEqual(before);
    const listed = (await admin.get<{ accounts: AccountDetail[] }>('/researchers')).body.accounts.find((a) => a.id === id);
    expect(listed?.disabled).toBe(true);

    expect((await admin.patch(`/researchers/${id}`, { disabled: false })).status).toBe(200);
    const again = await ApiClient.login(c.url, 'to-disable', PASSWORD);
    expect((await again.get('/session')).status).toBe(200);
    // Tokens ended with the disabling; they do not come back.
    expectError(await token.get('/projects'), 401, 'unauthenticated');
    // The account's projects were kept.
    expect((await again.get<{ projects: Project[] }>('/projects')).body.projects.map((p) => p.name)).toEqual(['before-disable']);
  });

  it('PATCH refuses an admin disabling or demoting themself', async () => {
    const before = state();
    expectError(await admin.patch('/researchers/1', { disabled: true }), 400, 'bad_request', /cannot disable yourself/);
    expectError(await admin.patch('/researchers/1', { role: 'researcher' }), 400, 'bad_request', /admin role/);
    expect(state()).toEqual(before);
  });

  it('PATCH answers 404 for an account that does not exist', async () => {
    const before = state();
    expectError(await admin.patch('/researchers/9999', { disabled: true }), 404, 'not_found', /9999/);
    expect(state()).toEqual(before);
  });

  it.each([
    ['an empty change', {}, /at least one/],
    ['an unknown field', { name: 'renamed' }, /name/],
    ['a string for disabled', { disabled: 'yes' }, /disabled/],
    ['an unknown role', { role: 'owner' }, /role/],
    ['a short password', { password: 'short' }, /at least 12 characters/],
  ])('PATCH refuses %s with 400 and changes nothing', async (_what, body, message) => {
    const before = state();
    expectError(await admin.patch('/researchers/2', body), 400, 'bad_request', message);
    expect(state()).toEqual(before);
  });

  it.each(BAD_IDS)('PATCH refuses the account id %s with 400', async (id) => {
    const before = state();
    expectError(await admin.patch(`/researchers/${id}`, { disabled: true }), 400, 'bad_request', /account id/);
    expect(state()).toEqual(before);
  });
});

describe('POST /session/password', () => {
  it('changes the password, keeps this session and ends the others', async () => {
    await newResearcher(admin, 'changer');
    const here = await ApiClient.login(c.url, 'changer', PASSWORD);
    const elsewhere = await ApiClient.login(c.url, 'changer', PASSWORD);
    const r = await here.post('/session/password', { currentPassword: PASSWORD, newPassword: 'changed-password-2' });
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    expect((await here.get('/session')).status).toBe(200);
    expectError(await elsewhere.get('/session'), 401, 'unauthenticated');
    expectError(await anon.post('/session', { name: 'changer', password: PASSWORD }), 401, 'unauthenticated');
    expect((await ApiClient.login(c.url, 'changer', 'changed-password-2')).account!.name).toBe('changer');
  });

  it('works with an API token too', async () => {
    const t = await newResearcher(admin, 'changer-token');
    expect((await t.post('/session/password', { currentPassword: PASSWORD, newPassword: 'changed-password-3' })).status).toBe(204);
    expect((await ApiClient.login(c.url, 'changer-token', 'changed-password-3')).account!.name).toBe('changer-token');
  });

  // Whoever got a token with the old password (a stolen laptop, a leaked script) must lose it
  // when the password changes: a token is as good as the password it came from.
  it("revokes the account's API tokens and ends its other sessions; the session that changed it stays", async () => {
    const token = await newResearcher(admin, 'changer-revokes');
    const second = await ApiClient.withToken(c.url, 'changer-revokes', PASSWORD, 'second');
    const here = await ApiClient.login(c.url, 'changer-revokes', PASSWORD);
    const elsewhere = await ApiClient.login(c.url, 'changer-revokes', PASSWORD);
    const other = await newResearcher(admin, 'not-the-changer');
    expect((await token.get('/session')).status).toBe(200);

    expect((await here.post('/session/password', { currentPassword: PASSWORD, newPassword: 'changed-password-4' })).status).toBe(204);
    expectError(await token.get('/projects'), 401, 'unauthenticated', /not valid/);
    expectError(await second.get('/projects'), 401, 'unauthenticated', /not valid/);
    expectError(await elsewhere.get('/session'), 401, 'unauthenticated');
    expect((await here.get<{ tokens: ApiToken[] }>('/tokens')).body.tokens).toEqual([]);
    expect((await here.get('/session')).status).toBe(200);
    // Another account's tokens are not touched.
    expect((await other.get('/session')).status).toBe(200);
  });

  it('revokes the token the change was made with too: a script logs in again', async () => {
    const t = await newResearcher(admin, 'changer-by-token');
    expect((await t.post('/session/password', { currentPassword: PASSWORD, newPassword: 'changed-password-5' })).status).toBe(204);
    expectError(await t.get('/session'), 401, 'unauthenticated');
  });

  it.each([
    ['a new password under 12 characters', { currentPassword: PASSWORD, newPassword: 'short' }, /at least 12 characters/],
    ['no current password', { newPassword: 'long-enough-new-one' }, /currentPassword/],
    ['an unknown field', { currentPassword: PASSWORD, newPassword: 'long-enough-new-one', confirm: 'x' }, /confirm/],
  ])('refuses %s with 400 and keeps the password', async (_what, body, message) => {
    const s = await newResearcher(admin, `pw-${Math.random().toString(36).slice(2, 8)}`);
    const before = state();
    expectError(await s.post('/session/password', body), 400, 'bad_request', message);
    expect(state()).toEqual(before);
  });

  // docs/api.md: 401 means "no valid session or token". Here the session is valid and the body
  // wrong: a web UI that treats 401 as "logged out" must not throw the user out on a typo.
  it('refuses a wrong current password without changing it, and not with 401', async () => {
    const s = await ApiClient.login(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const before = state();
    const r = await s.post('/session/password', { currentPassword: 'not-my-password', newPassword: 'whatever-password-1' });
    expect(state()).toEqual(before);
    expect((await s.get('/session')).status).toBe(200);
    expect(r.status).not.toBe(401);
    expectError(r, r.status, r.status === 403 ? 'forbidden' : 'bad_request', /current password is wrong/);
  });
});

describe('login throttle', () => {
  it('answers 429 after 10 failed logins from one address, even for the right password', async () => {
    const t = await startTestCoordinator();
    try {
      const client = ApiClient.anonymous(t.url);
      for (let i = 0; i < 10; i++) {
        expectError(await client.post('/session', { name: 'admin', password: `wrong-${i}` }), 401, 'unauthenticated');
      }
      const sessions = (t.store.db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n;
      const r = await client.post('/session', { name: 'admin', password: TEST_ADMIN_PASSWORD });
      expectError(r, 429, 'rate_limited', /too many failed logins/);
      expect(sessionCookie(r.headers)).toBeUndefined();
      expect((t.store.db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n).toBe(sessions);
      // Existing credentials are not affected.
      const token = (await t.accounts.createToken(1, 'throttle'));
      expect((await ApiClient.bearer(t.url, token.token).get('/session')).status).toBe(200);
    } finally {
      await t.dispose();
    }
  });
});
