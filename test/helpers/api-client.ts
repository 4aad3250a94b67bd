// A small typed client for the researcher API (docs/api.md), for tests: real HTTP with fetch,
// authenticated by a bearer API token or by the session cookie plus its CSRF token. Every call
// answers { status, body } and never throws on an HTTP error, so tests can assert on refusals.
import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { expect } from 'vitest';
import type { Account, AccountDetail, ApiErrorBody, App, AppVersion, CreatedToken, Project, Role, Session } from '../../protocol/api.js';

export const API = '/api/v1';

// The documented shapes, as the coordinator sends them (one definition for every client).
export type {
  Account,
  AccountDetail,
  ApiErrorBody,
  ApiToken,
  App,
  AppVersion,
  BatchErrors,
  BatchStatus,
  CreatedToken,
  Host,
  Leaderboard,
  Project,
  ProjectDetail,
  Role,
  Session,
  Submitted,
  ValidationView,
  WorkunitDetail,
  WorkunitSummary,
} from '../../protocol/api.js';

// ---- the client ----

export interface Reply<T> {
  status: number;
  /** Parsed JSON when the answer is JSON, else the text (null for an empty body). */
  body: T;
  text: string;
  headers: Headers;
}

type Query = Record<string, string | number | boolean | undefined>;
type Auth = { kind: 'none' } | { kind: 'bearer'; token: string } | { kind: 'cookie'; cookie: string; csrfToken: string | null };

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON with Content-Type application/json. */
  json?: unknown;
  /** A raw body; give its content type. */
  body?: RequestInit['body'];
  contentType?: string;
  headers?: Record<string, string>;
}

export interface UploadFile {
  name: string;
  content: string | Uint8Array;
  /** The part name; the API wants "files". */
  field?: string;
}

export class ApiClient {
  private constructor(
    readonly url: string,
    private readonly auth: Auth,
    /** The account behind the credentials, when known. */
    readonly account?: Account,
  ) {}

  static anonymous(url: string): ApiClient {
    return new ApiClient(url, { kind: 'none' });
  }

  static bearer(url: string, token: string, account?: Account): ApiClient {
    return new ApiClient(url, { kind: 'bearer', token }, account);
  }

  /** Logs in with the session cookie (as the web UI does); throws unless it worked. */
  static async login(url: string, name: string, password: string): Promise<ApiClient> {
    const r = await ApiClient.anonymous(url).post<Session>('/session', { name, password });
    if (r.status !== 200) throw new Error(`login as ${name}: HTTP ${r.status} ${r.text}`);
    const cookie = sessionCookie(r.headers);
    if (!cookie) throw new Error(`login as ${name}: no ${SESSION_COOKIE} cookie`);
    return new ApiClient(url, { kind: 'cookie', cookie, csrfToken: r.body.csrfToken }, r.body.account);
  }

  /** Logs in and makes an API token: a client as the CLI would be. */
  static async withToken(url: string, name: string, password: string, tokenName = 'tests'): Promise<ApiClient> {
    const session = await ApiClient.login(url, name, password);
    const r = await session.post<CreatedToken>('/tokens', { name: tokenName });
    if (r.status !== 201) throw new Error(`token for ${name}: HTTP ${r.status} ${r.text}`);
    return ApiClient.bearer(url, r.body.token, session.account);
  }

  get token(): string | undefined {
    return this.auth.kind === 'bearer' ? this.auth.token : undefined;
  }

  get cookie(): string | undefined {
    return this.auth.kind === 'cookie' ? this.auth.cookie : undefined;
  }

  get csrfToken(): string | null | undefined {
    return this.auth.kind === 'cookie' ? this.auth.csrfToken : undefined;
  }

  /** The same session cookie, sending no CSRF token (or the one given). */
  withCsrf(csrfToken: string | null): ApiClient {
    if (this.auth.kind !== 'cookie') throw new Error('only a cookie session has a CSRF token');
    return new ApiClient(this.url, { ...this.auth, csrfToken }, this.account);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...this.authHeaders(method), ...opts.headers };
    let body: RequestInit['body'] = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body };
    // A streamed body needs half duplex.
    if (body instanceof ReadableStream) init.duplex = 'half';
    const res = await fetch(this.url + API + path + queryString(opts.query), init);
    return readReply<T>(res);
  }

  get<T>(path: string, query?: Query): Promise<Reply<T>> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, json?: unknown, query?: Query): Promise<Reply<T>> {
    return this.request<T>('POST', path, { json, query });
  }

  put<T>(path: string, json?: unknown): Promise<Reply<T>> {
    return this.request<T>('PUT', path, { json });
  }

  patch<T>(path: string, json?: unknown): Promise<Reply<T>> {
    return this.request<T>('PATCH', path, { json });
  }

  del<T = null>(path: string): Promise<Reply<T>> {
    return this.request<T>('DELETE', path);
  }

  /** multipart/form-data with one part per file (named "files" unless told) and text fields. */
  upload<T = AppVersion>(path: string, files: UploadFile[], fields: Record<string, string> = {}): Promise<Reply<T>> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    for (const f of files) form.append(f.field ?? 'files', new Blob([typeof f.content === 'string' ? f.content : new Uint8Array(f.content)]), f.name);
    return this.request<T>('POST', path, { body: form });
  }

  /**
   * A streamed body (NDJSON batches). Sent with Connection: close so that the socket is not
   * reused: the coordinator leaves a connection unusable after refusing a body half-way
   * (see the keep-alive test in test/api/batches.test.ts).
   */
  stream<T>(path: string, contentType: string, body: ReadableStream<Uint8Array>, query?: Query): Promise<Reply<T>> {
    return this.request<T>('POST', path, { body, contentType, query, headers: { connection: 'close' } });
  }

  private authHeaders(method: string): Record<string, string> {
    const a = this.auth;
    if (a.kind === 'bearer') return { authorization: `Bearer ${a.token}` };
    if (a.kind === 'cookie') {
      const h: Record<string, string> = { cookie: a.cookie };
      if (a.csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes(method)) h['x-csrf-token'] = a.csrfToken;
      return h;
    }
    return {};
  }
}

export const SESSION_COOKIE = 'vg_session';

/** `vg_session=…` from a Set-Cookie header, if there is one. */
export function sessionCookie(headers: Headers): string | undefined {
  for (const c of headers.getSetCookie()) {
    const first = c.split(';')[0]!;
    if (first.startsWith(`${SESSION_COOKIE}=`)) return first;
  }
  return undefined;
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.append(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

async function readReply<T>(res: Response): Promise<Reply<T>> {
  const text = await res.text();
  let body: unknown = text === '' ? null : text;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json') && text !== '') body = JSON.parse(text);
  return { status: res.status, body: body as T, text, headers: res.headers };
}

// ---- assertions and fixtures ----

/** Asserts an error answer: the status, the stable code, and a message that says what was wrong. */
export function expectError(reply: Reply<unknown>, status: number, code: string, message?: RegExp | string): ApiErrorBody['error'] {
  const where = `${reply.status} ${reply.text.slice(0, 300)}`;
  expect(reply.status, where).toBe(status);
  expect(reply.headers.get('content-type') ?? '', where).toMatch(/^application\/json/);
  const body = reply.body as ApiErrorBody;
  expect(Object.keys(body), where).toEqual(['error']);
  expect(Object.keys(body.error).sort(), where).toEqual(['code', 'message']);
  expect(body.error.code, where).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length, where).toBeGreaterThan(5);
  if (message !== undefined) expect(body.error.message, where).toMatch(message);
  return body.error;
}

/** A password good enough for the API (12+ characters). */
export const PASSWORD = 'long-enough-password-1';

/** As an admin: creates an account and returns a token client for it. */
export async function newResearcher(admin: ApiClient, name: string, role: Role = 'researcher', password = PASSWORD): Promise<ApiClient> {
  const r = await admin.post<{ account: AccountDetail }>('/researchers', { name, role, password });
  if (r.status !== 201) throw new Error(`create ${name}: HTTP ${r.status} ${r.text}`);
  return ApiClient.withToken(admin.url, name, password);
}

/** A trivial app bundle: what it computes does not matter, the tests report chosen outputs. */
export const TRIVIAL_MAIN = 'export default async function run(input) { return { echo: input }; }\n';

/** A project with one app and one version; throws unless every step answered as documented. */
export async function newApp(client: ApiClient, projectName: string, appSpec: Record<string, unknown> = {}): Promise<{ project: Project; app: App; version: AppVersion }> {
  const p = await client.post<Project>('/projects', { name: projectName });
  if (p.status !== 201) throw new Error(`project ${projectName}: HTTP ${p.status} ${p.text}`);
  const a = await client.post<App>(`/projects/${p.body.id}/apps`, { name: 'app', ...appSpec });
  if (a.status !== 201) throw new Error(`app: HTTP ${a.status} ${a.text}`);
  const v = await client.upload(`/apps/${a.body.id}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN }]);
  if (v.status !== 201) throw new Error(`app version: HTTP ${v.status} ${v.text}`);
  return { project: p.body, app: a.body, version: v.body };
}

/** NDJSON lines as a stream, made lazily a thousand lines at a time. */
export function ndjsonStream(count: number, line: (i: number) => string): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (i >= count) return ctl.close();
      let s = '';
      for (let k = 0; k < 1000 && i < count; k++, i++) s += `${line(i)}\n`;
      ctl.enqueue(enc.encode(s));
    },
  });
}

const COUNTED = ['researchers', 'sessions', 'api_tokens', 'projects', 'apps', 'app_versions', 'files', 'batches', 'workunits', 'replicas', 'credit_ledger'];

/**
 * What a refused request must leave alone: row counts of every table an API call can touch,
 * and digests of the rows that can be edited (accounts, projects, apps, batches, work unit
 * and replica states).
 */
export function dbState(db: Database): Record<string, number | string> {
  const state: Record<string, number | string> = {};
  for (const t of COUNTED) state[t] = (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  const digest = (sql: string) => createHash('sha256').update(JSON.stringify(db.prepare(sql).all())).digest('hex').slice(0, 16);
  state.accountRows = digest('SELECT id, name, role, disabled, password_hash FROM researchers ORDER BY id');
  state.tokenRows = digest('SELECT id, name, researcher_id FROM api_tokens ORDER BY id');
  state.projectRows = digest('SELECT id, name, description, status, owner_id FROM projects ORDER BY id');
  state.appRows = digest('SELECT * FROM apps ORDER BY id');
  state.batchRows = digest('SELECT id, name, client_key, status, staged, workunit_count FROM batches ORDER BY id');
  state.workunitStates = digest('SELECT batch_id, status, COUNT(*) FROM workunits GROUP BY batch_id, status ORDER BY 1, 2');
  state.replicaStates = digest('SELECT status, outcome, COUNT(*) FROM replicas GROUP BY status, outcome ORDER BY 1, 2');
  return state;
}
