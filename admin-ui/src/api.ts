// The REST client: JSON in and out, the session's CSRF token on writes, errors as values.
import type { ApiErrorDetail, Session } from '../../protocol/api';

export interface ApiError extends ApiErrorDetail {
  /** HTTP status, or 0 when the request never got an answer. */
  status: number;
}

export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

/** A cheap runtime check of a response's shape. */
export type Check<T> = (value: unknown) => value is T;

let csrfToken: string | null = null;
let onUnauthenticated: () => void = () => {};

export function setSession(session: Session | null): void {
  csrfToken = session?.csrfToken ?? null;
}

/** Called when any request (other than the session's own) answers 401: the session is gone. */
export function onSessionLost(handler: () => void): void {
  onUnauthenticated = handler;
}

const BASE = '/api/v1';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
/** An object whose `key` is an array. */
export const hasArray =
  <T>(key: string): Check<T> =>
  (v: unknown): v is T =>
    isRecord(v) && Array.isArray(v[key]);
/** An object with a numeric `key` (usually `id`). */
export const hasNumber =
  <T>(key: string): Check<T> =>
  (v: unknown): v is T =>
    isRecord(v) && typeof v[key] === 'number';

function errorFrom(status: number, body: unknown, fallback: string): ApiError {
  if (isRecord(body) && isRecord(body.error) && typeof body.error.message === 'string') {
    return { status, code: typeof body.error.code === 'string' ? body.error.code : 'error', message: body.error.message };
  }
  return { status, code: status === 0 ? 'network' : 'error', message: fallback };
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function settle<T>(status: number, text: string, path: string, check: Check<T> | null): ApiResult<T> {
  const body = parseBody(text);
  if (status === 401 && !path.startsWith('/session')) onUnauthenticated();
  if (status < 200 || status >= 300) return { ok: false, error: errorFrom(status, body, `${status}: the server refused the request`) };
  if (check && !check(body)) return { ok: false, error: { status, code: 'bad_response', message: `unexpected answer from ${path}` } };
  return { ok: true, value: body as T };
}

const MUTATING = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

function headersFor(method: string, contentType: string | null): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (contentType) headers['content-type'] = contentType;
  if (MUTATING.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  return headers;
}

export interface RequestOptions<T> {
  json?: unknown;
  check?: Check<T>;
}

export async function request<T>(method: string, path: string, options: RequestOptions<T> = {}): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(BASE + path, {
      method,
      credentials: 'same-origin',
      headers: headersFor(method, options.json === undefined ? null : 'application/json'),
      body: options.json === undefined ? null : JSON.stringify(options.json),
    });
  } catch (e) {
    return { ok: false, error: { status: 0, code: 'network', message: `cannot reach the coordinator (${e instanceof Error ? e.message : String(e)})` } };
  }
  return settle(res.status, await res.text(), path, options.check ?? null);
}

export const get = <T>(path: string, check?: Check<T>) => request<T>('GET', path, check ? { check } : {});
export const post = <T>(path: string, json?: unknown, check?: Check<T>) => request<T>('POST', path, { json: json ?? {}, ...(check ? { check } : {}) });
export const patch = <T>(path: string, json: unknown, check?: Check<T>) => request<T>('PATCH', path, { json, ...(check ? { check } : {}) });
export const del = (path: string) => request<unknown>('DELETE', path);

export interface Upload<T> {
  done: Promise<ApiResult<T>>;
  abort(): void;
}

/**
 * Sends a large body (a file, a form) with XMLHttpRequest, which reports upload progress
 * (fetch does not). `contentType` null lets the browser set it (multipart boundaries).
 */
export function upload<T>(
  path: string,
  body: Blob | FormData | string,
  contentType: string | null,
  onProgress: (sent: number, total: number) => void,
  check?: Check<T>,
): Upload<T> {
  const xhr = new XMLHttpRequest();
  const done = new Promise<ApiResult<T>>((resolve) => {
    xhr.open('POST', BASE + path);
    for (const [k, v] of Object.entries(headersFor('POST', contentType))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    xhr.onload = () => resolve(settle(xhr.status, xhr.responseText, path, check ?? null));
    xhr.onerror = () => resolve({ ok: false, error: { status: 0, code: 'network', message: 'the upload failed: the connection to the coordinator was lost' } });
    xhr.onabort = () => resolve({ ok: false, error: { status: 0, code: 'aborted', message: 'the upload was cancelled' } });
    xhr.send(body);
  });
  return { done, abort: () => xhr.abort() };
}
