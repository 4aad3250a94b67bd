// Which web pages may use a researcher's session cookie. Browsers attach the cookie to requests
// that other pages make, and SameSite does not help against a page on another port of the same
// host (ports are the same site): a WebSocket from there to /admin read a researcher's batches.
// So a request that would be authenticated by the cookie is refused when it comes from another
// origin than the coordinator's own (or one of --allowed-origins, for a coordinator whose public
// URL a proxy serves). Browsers send Origin on every cross-origin request and every WebSocket;
// a request without it is a same-origin page's GET or a program, which holds the cookie itself.
// API tokens are not sent by browsers on their own, so token requests may come from anywhere.
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { TrustFn } from './client-address.js';

/** `--allowed-origins`: a comma-separated list of origins (scheme://host[:port]), normalized. */
export const AllowedOriginsSchema = z.union([z.string(), z.array(z.string())]).transform((value, ctx): string[] => {
  const entries = (typeof value === 'string' ? value.split(',') : value).map((e) => e.trim()).filter((e) => e !== '');
  const origins: string[] = [];
  for (const entry of entries) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    const bare = entry.replace(/\/$/, '').toLowerCase();
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== bare) {
      ctx.addIssue({ code: 'custom', message: `"${entry}" is not an origin: give scheme://host[:port] without a path, e.g. https://grid.example.org` });
      return z.NEVER;
    }
    origins.push(url.origin);
  }
  return origins;
});

/** What a request tells about where it comes from. */
export interface RequestSource {
  headers: IncomingHttpHeaders;
  /** The socket's peer: a trusted proxy's X-Forwarded-Proto and X-Forwarded-Host are believed. */
  peer: string | undefined;
  /** Whether the connection itself is TLS. */
  secure: boolean;
}

const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h)?.split(',')[0]?.trim() || undefined;

export class OriginPolicy {
  private readonly allowed: Set<string>;

  constructor(
    allowed: readonly string[],
    private readonly trust: TrustFn,
  ) {
    this.allowed = new Set(allowed);
  }

  /** The coordinator's origin as this request's client addressed it (as Express's req.protocol and req.host see it). */
  ownOrigin(req: RequestSource): string | undefined {
    const proxied = req.peer !== undefined && this.trust(req.peer, 0);
    const proto = req.secure ? 'https' : ((proxied ? first(req.headers['x-forwarded-proto']) : undefined) ?? 'http');
    const host = (proxied ? first(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host;
    return host === undefined ? undefined : `${proto}://${host}`.toLowerCase();
  }

  /** Why a request from its origin may not use the session cookie, or undefined when it may. */
  refusal(req: RequestSource): string | undefined {
    const origin = first(req.headers.origin);
    if (origin === undefined) return undefined;
    const own = this.ownOrigin(req);
    if (origin.toLowerCase() === own || this.allowed.has(origin.toLowerCase())) return undefined;
    const listed = this.allowed.size > 0 ? ' nor one of --allowed-origins' : '';
    return (
      `a page at ${origin} may not use this coordinator's session cookie (it is not ${own ?? 'the coordinator'}${listed}); ` +
      `log in on the coordinator's own page, or send an API token (a coordinator served at that address through a proxy lists it in --allowed-origins)`
    );
  }
}
