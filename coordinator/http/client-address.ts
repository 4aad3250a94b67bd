// Who a client is. Behind a reverse proxy every connection comes from the proxy, and the client
// is named in X-Forwarded-For — a header any client can send itself. So it is believed only for
// the hops that --trust-proxy names (the proxies' addresses or ranges, or how many proxies are in
// front), with proxy-addr, the library Express computes req.ip with: one rule for Express
// (`trust proxy`), the HTTP and Socket.IO rate limits and the login throttle.
import type { IncomingHttpHeaders } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';

/** false: believe no X-Forwarded-For; a number: that many proxies in front; else the proxies' addresses and ranges. */
export type TrustProxy = false | number | string[];
/** Whether the address `hop` steps from the coordinator (0: the socket's peer) is a proxy to believe. */
export type TrustFn = (addr: string, hop: number) => boolean;

const MAX_HOPS = 32;
const RANGE_NAMES = 'loopback, linklocal, uniquelocal';

/** `--trust-proxy`: false, a hop count, or a comma-separated list of addresses, CIDR ranges and range names. */
export const TrustProxySchema = z
  .union([z.literal(false), z.number(), z.string(), z.array(z.string())])
  .transform((value, ctx): TrustProxy => {
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    let v: false | number | string[];
    if (typeof value === 'string') {
      const s = value.trim();
      if (s === '' || s === 'false') v = false;
      else if (/^\d+$/.test(s)) v = Number(s);
      else v = s.split(',').map((e) => e.trim()).filter((e) => e !== '');
    } else v = value;
    if (v === false) return false;
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0 || v > MAX_HOPS) return fail(`a hop count is a whole number from 0 to ${MAX_HOPS}`);
      return v === 0 ? false : v;
    }
    if (v.length === 0) return false;
    for (const entry of v) {
      if (entry === 'true' || entry === '*') {
        return fail(`"${entry}" would believe any client's X-Forwarded-For: give the proxies' addresses or ranges (${RANGE_NAMES}, 10.0.0.0/8), or how many proxies are in front`);
      }
      try {
        proxyaddr.compile([entry]);
      } catch (e) {
        return fail(`"${entry}": ${(e as Error).message}; give IP addresses, CIDR ranges (10.0.0.0/8) or ${RANGE_NAMES}`);
      }
    }
    return v;
  });

export function trustFunction(trust: TrustProxy): TrustFn {
  if (trust === false) return () => false;
  // A hop count cannot tell a proxy from a client that connects directly: it suits only a
  // coordinator that nothing reaches except through its proxies.
  if (typeof trust === 'number') return (_addr, hop) => hop < trust;
  return proxyaddr.compile(trust);
}

/**
 * The client's address: the socket's peer, or, while the hops from the coordinator are trusted
 * proxies, the address X-Forwarded-For names one hop further out.
 */
export function clientAddress(peer: string | undefined, headers: IncomingHttpHeaders, trust: TrustFn): string {
  // A socket already closed has no peer: nothing to believe a header on.
  if (peer === undefined) return 'unknown';
  return proxyaddr({ headers, socket: { remoteAddress: peer } }, trust);
}

/**
 * What a client pays for when it wants another address: an IPv4 address, or an IPv6 /64 (one
 * customer network; its owner has 2^64 addresses in it). IPv4-mapped IPv6 counts as IPv4.
 */
export function addressGroup(address: string): string {
  if (!ipaddr.isValid(address)) return address.slice(0, 100);
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  return `${(ip as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`;
}
