// proxy-addr (what Express computes req.ip with) ships no types; only what client-address.ts uses.
declare module 'proxy-addr' {
  import type { IncomingHttpHeaders } from 'node:http';

  type Trust = (addr: string, hop: number) => boolean;
  interface ProxyAddr {
    /** The client's address: the socket's, then X-Forwarded-For from the right while `trust` holds. */
    (req: { headers: IncomingHttpHeaders; socket: { remoteAddress?: string | undefined } }, trust: Trust): string;
    /** A trust function from addresses, CIDR ranges and the names loopback, linklocal, uniquelocal; throws on a bad one. */
    compile(val: string | string[]): Trust;
  }
  const proxyaddr: ProxyAddr;
  export = proxyaddr;
}
