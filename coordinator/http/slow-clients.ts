// Clients that hold connections without using them: too many connections from one address, and
// request bodies that trickle in. Headers that trickle are Node's own headersTimeout (set in
// coordinator.ts). A body has no total time limit of its own that would cut a big batch over a
// slow uplink (--request-timeout-ms bounds it, generously): it must keep coming, at least
// `minBytesPerSecond` over every stretch of `windowMs` — except while the coordinator itself is
// not reading it (busy with what came, so the socket is paused): that time is not the client's.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hasBody } from '../api/body.js';
import { addressGroup, type TrustFn } from './client-address.js';

/**
 * Caps the connections open at once from one address (an IPv6 /64 counting as one); one more is
 * answered 429 and closed. 0: no cap. A trusted proxy's connections are not counted: every
 * client behind it shares its address, and which client a connection serves is known only from
 * its requests' X-Forwarded-For (the proxy limits its own clients' connections).
 */
export function limitConnectionsPerAddress(server: Server, max: number, trust: TrustFn): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  // Before the HTTP server's own listener, so that a refused socket is never served.
  server.prependListener('connection', (socket: Socket) => {
    const peer = socket.remoteAddress;
    if (peer !== undefined && trust(peer, 0)) return;
    const address = peer === undefined ? 'unknown' : addressGroup(peer);
    const n = open.get(address) ?? 0;
    if (n >= max) {
      const body = JSON.stringify({ error: { code: 'rate_limited', message: `too many connections from this address (at most ${max} at once); close some, or retry later` } });
      socket.on('error', () => {});
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 10\r\nConnection: close\r\n\r\n${body}`);
      socket.destroySoon();
      return;
    }
    open.set(address, n + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

export interface BodyProgress {
  /** The stretch over which a body's progress is measured; 0: not measured. */
  windowMs: number;
  /** What a body must average over each stretch. */
  minBytesPerSecond: number;
}

/**
 * Cuts a request whose body comes slower than the policy allows: 408, and the connection closed.
 * Watches every request the server gets, before anything routes it (the API, Socket.IO's
 * long-polling and uploads alike). Only the time the client could have been sending counts: not
 * while the socket is paused (the coordinator has not read what came), nor while the event loop
 * was busy (the bytes wait in the kernel meanwhile, and are counted when read).
 */
export function watchBodyProgress(server: Server, policy: BodyProgress): void {
  if (policy.windowMs <= 0) return;
  const tickMs = Math.max(10, Math.floor(policy.windowMs / 5));
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.complete || !hasBody(req)) return;
    const socket = req.socket;
    let mark = socket.bytesRead;
    let lastTick = performance.now();
    let pausedAt: number | undefined = socket.isPaused() ? lastTick : undefined;
    let pausedMs = 0;
    let activeMs = 0;
    let bytes = 0;
    const onPause = () => (pausedAt ??= performance.now());
    const onResume = () => {
      if (pausedAt !== undefined) pausedMs += performance.now() - pausedAt;
      pausedAt = undefined;
    };
    socket.on('pause', onPause);
    socket.on('resume', onResume);
    const timer = setInterval(() => {
      if (req.complete || socket.destroyed) return stop();
      const now = performance.now();
      const paused = pausedMs + (pausedAt === undefined ? 0 : now - Math.max(pausedAt, lastTick));
      // A tick that came late was the coordinator's time: at most a tick counts.
      activeMs += Math.max(0, Math.min(tickMs, now - lastTick - paused));
      pausedMs = 0;
      if (pausedAt !== undefined) pausedAt = now;
      lastTick = now;
      bytes += socket.bytesRead - mark;
      mark = socket.bytesRead;
      if (activeMs < policy.windowMs) return;
      const enough = bytes >= (policy.minBytesPerSecond * activeMs) / 1000;
      activeMs = 0;
      bytes = 0;
      if (!enough) cut();
    }, tickMs);
    const stop = () => {
      clearInterval(timer);
      socket.off('pause', onPause);
      socket.off('resume', onResume);
    };
    const cut = () => {
      stop();
      // What the route is reading will not come: once the connection is gone, its reading fails
      // (a batch half in is discarded, as when a client goes away). Destroyed without an error,
      // which a request with no 'error' listener would throw: a reader sees a premature close.
      const failReading = () => req.destroy();
      if (res.headersSent) {
        socket.destroy();
        return failReading();
      }
      socket.once('close', failReading);
      const body = JSON.stringify({ error: { code: 'timeout', message: `the body came too slowly: under ${policy.minBytesPerSecond} bytes a second over ${policy.windowMs} ms` } });
      // With Connection: close, the server closes the socket once this is out.
      res.writeHead(408, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' }).end(body);
    };
    req.once('end', stop);
    req.once('close', stop);
    res.once('close', stop);
  });
}
