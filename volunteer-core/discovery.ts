// What a volunteer asks of a coordinator instance over HTTP besides its work: the discovery
// document (protocol/discovery.ts), from which the daemon and the page learn which instances
// there are, and whether an instance is ready for volunteers again. Errors are values: a volunteer
// carries on with the URLs it has when a document cannot be read.
import { z } from 'zod';
import { WELL_KNOWN_PATH, WellKnownSchema, type WellKnownView } from '../protocol/discovery.js';

const FETCH_TIMEOUT_MS = 5_000;

/** Whether the instance at `baseUrl` answers /readyz with 200 (its database answers, and it is not shutting down). */
export async function instanceReady(baseUrl: string, timeoutMs = FETCH_TIMEOUT_MS): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

export async function fetchWellKnown(baseUrl: string, timeoutMs = FETCH_TIMEOUT_MS): Promise<WellKnownView | { error: string }> {
  let body: unknown;
  try {
    const res = await fetch(`${baseUrl}${WELL_KNOWN_PATH}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { error: `${baseUrl}${WELL_KNOWN_PATH} answered HTTP ${res.status}` };
    body = await res.json();
  } catch (e) {
    return { error: `cannot read ${baseUrl}${WELL_KNOWN_PATH}: ${fetchProblem(e)}` };
  }
  const parsed = WellKnownSchema.safeParse(body);
  return parsed.success ? parsed.data : { error: `${baseUrl}${WELL_KNOWN_PATH} is not a volunteer-grid discovery document: ${z.prettifyError(parsed.error)}` };
}

/** Node's fetch says only "fetch failed"; the cause (ECONNREFUSED…) is what a volunteer can act on. */
function fetchProblem(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string' && cause.message !== '') return cause.message;
  return e instanceof Error ? e.message : String(e);
}
