// A small client of the coordinator's REST API (docs/api.md) on Node's fetch: authenticates
// with an API token (or, only while logging in, a session cookie and its CSRF token), turns the
// API's error bodies and network failures into one-line Failures, and checks answers with zod.
import { z } from 'zod';
import { ApiErrorBodySchema } from '../protocol/api.js';
import { describeError, Failure } from './failure.js';

export type Auth = { token: string } | { cookie: string; csrfToken: string } | Record<string, never>;

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (FormData, a stream…), with `headers` saying what it is. */
  body?: RequestInit['body'];
  headers?: Record<string, string>;
}

export class GridApi {
  constructor(
    readonly url: string,
    private readonly auth: Auth = {},
  ) {}

  /** A request whose answer must match `schema` (null: no body expected, e.g. 204). */
  async call<S extends z.ZodType>(method: string, path: string, schema: S, options?: RequestOptions): Promise<z.infer<S>>;
  async call(method: string, path: string, schema: null, options?: RequestOptions): Promise<undefined>;
  async call(method: string, path: string, schema: z.ZodType | null, options: RequestOptions = {}): Promise<unknown> {
    const response = await this.send(method, path, options);
    if (schema === null) {
      await response.body?.cancel();
      return undefined;
    }
    return readAnswer(response, schema, `${method} ${path}`);
  }

  /** The raw response of a successful request (2xx); anything else becomes a Failure. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const target = new URL(`${this.url.replace(/\/+$/, '')}/api/v1${path}`);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) target.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if ('token' in this.auth) headers.authorization = `Bearer ${this.auth.token}`;
    if ('cookie' in this.auth) {
      headers.cookie = this.auth.cookie;
      headers['x-csrf-token'] = this.auth.csrfToken;
    }
    let body = options.body;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const streamed = typeof ReadableStream !== 'undefined' && body instanceof ReadableStream;
    let response: Response;
    try {
      response = await fetch(target, { method, headers, body: body ?? null, ...(streamed ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (e) {
      throw new Failure(`cannot reach the coordinator at ${this.url}: ${describeError(e)}`);
    }
    if (!response.ok) throw await this.failureOf(response);
    return response;
  }

  private async failureOf(response: Response): Promise<Failure> {
    const text = await response.text().catch(() => '');
    let error: { code: string; message: string } | undefined;
    try {
      const parsed = ApiErrorBodySchema.safeParse(JSON.parse(text));
      if (parsed.success) error = parsed.data.error;
    } catch {
      // not JSON: not the API speaking (a proxy, another server)
    }
    if (!error) {
      return new Failure(`${this.url} answered ${response.status} ${response.statusText}, not as a volunteer-grid coordinator would`, response.status);
    }
    // zod's prettified messages span lines ("✖ … → at name"): fold them into one
    const message = error.message.replace(/\s*\n\s*/g, ' ').replace(/✖ /g, '').trim();
    if (response.status === 401 && 'token' in this.auth) {
      return new Failure(`${this.url} refused the API token: ${message}; log in again with \`volunteer-grid login\``, 401);
    }
    return new Failure(`${message} (${response.status} ${error.code})`, response.status);
  }
}

/** The JSON body of a response, checked against `schema`. */
export async function readAnswer<S extends z.ZodType>(response: Response, schema: S, what: string): Promise<z.infer<S>> {
  let json: unknown;
  try {
    json = await response.json();
  } catch (e) {
    throw new Failure(`${what}: the answer is not JSON (${describeError(e)})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Failure(`${what}: unexpected answer from the coordinator (${issue?.path.join('.') || 'body'}: ${issue?.message})`);
  }
  return parsed.data;
}
