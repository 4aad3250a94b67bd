// A volunteer's connection to its coordinator: Socket.IO to the /volunteer namespace with
// reconnection kept here rather than in Socket.IO (exponential backoff with jitter), so that
// the volunteer can be told what failed and when the next try is; the hello/auth handshake on every
// connect, calls with acknowledgements and timeouts, and heartbeats. The daemon and the page
// differ only in where the coordinator is, how they trust its key and what they log.
import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import { PROTOCOL_VERSION } from '../protocol/limits.js';
import { Hex32, type AbortNotice, type Capabilities, type CreditReceipt, type Platform } from '../protocol/messages.js';
import { unref } from './clock.js';
import { describeConnectError } from './connect-problem.js';
import type { VolunteerCrypto } from './crypto.js';
import { Emitter } from './emitter.js';
import { quietLogger, type Logger } from './logger.js';

const CALL_TIMEOUT_MS = 30_000;
/** Wait before connecting again when the coordinator says this host connects too much. */
const RETRY_REFUSED_MS = 10_000;
/** Waits between attempts: doubling from the first to the longest, each ×0.5–1.5. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export interface Session {
  hostId: number;
  userId: number;
  coordinatorKey: string;
  limits: {
    /** The largest message the coordinator takes: a report of results fits in it. */
    maxMessageBytes: number;
    maxTasksPerRequest: number;
    maxResultsPerReport: number;
    heartbeatIntervalMs: number;
    /** The largest output a task may upload; absent from coordinators that did not say. */
    maxOutputBytes?: number;
  };
}

const HelloReply = z.object({ challenge: Hex32, coordinatorKey: Hex32 });
const AuthReply = z.object({
  hostId: z.number().int(),
  userId: z.number().int(),
  limits: z.object({
    maxMessageBytes: z.number().int().min(64 * 1024),
    maxTasksPerRequest: z.number().int().min(1),
    maxResultsPerReport: z.number().int().min(1),
    heartbeatIntervalMs: z.number().int().min(1000),
    maxOutputBytes: z.number().int().min(1).optional(),
  }),
});

export class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

export interface LinkOptions {
  /** The coordinator's base URL; the page leaves it out and talks to its own origin. */
  url?: string;
  crypto: VolunteerCrypto;
  host: { publicKey: string; seed: string };
  platform: Platform;
  capabilities: Capabilities;
  /** Read at every handshake, so a new nickname or account takes effect on reconnect. */
  hello(): { name?: string; accountKey?: string };
  /** Called with the key the coordinator presents; throws (or rejects) to refuse it. */
  trust(coordinatorKey: string): void | Promise<void>;
  log?: Logger;
  /** How long to wait (×1–2, jittered) after a connection or handshake refused as rate_limited; default 10 s. */
  retryRefusedMs?: number;
  /** The first wait before connecting again (doubling up to 30 s); default 1 s. */
  retryFirstMs?: number;
}

/** Why the link is not connected, and when it tries again. */
export interface LinkProblem {
  problem: string;
  /** When the next attempt starts (the clock's ms). */
  retryAt: number;
  /** Failed attempts in a row. */
  attempts: number;
  /** The coordinator refused it for now (too many connections), rather than it being unreachable. */
  rateLimited: boolean;
}

export type LinkEvents = {
  ready: Session;
  /** The connection dropped; why, in words (describeDisconnect). Socket.IO reconnects. */
  lost: string;
  /** The coordinator refused this volunteer, or the volunteer refused the coordinator: retrying will not help. */
  fatal: Error;
  abort: AbortNotice;
  credit: CreditReceipt[];
  /** The coordinator says there may be work for a host that found none: ask again now. */
  available: void;
  /** An attempt to connect or handshake failed: why, and when the next one is. */
  retrying: LinkProblem;
};

export class CoordinatorLink extends Emitter<LinkEvents> {
  session: Session | undefined;
  private readonly socket: Socket;
  private readonly log: Logger;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private failures = 0;
  /** Why the last attempt failed, until one succeeds. */
  problem: LinkProblem | undefined;

  constructor(private readonly options: LinkOptions) {
    super();
    this.log = options.log ?? quietLogger;
    this.socket = io(options.url === undefined ? '/volunteer' : `${options.url.replace(/\/$/, '')}/volunteer`, {
      transports: ['websocket'],
      reconnection: false, // retryLater() does it, knowing why and when
      timeout: 20_000,
    });
    this.socket.on('connect', () => void this.handshake());
    this.socket.on('disconnect', (reason) => {
      this.lost(reason);
      // Closed on purpose here (to connect again at once, or later): whoever closed it decides.
      if (reason !== 'io client disconnect') this.retryLater(describeDisconnect(reason), false);
    });
    this.socket.on('connect_error', (e) => {
      const problem = describeConnectError(e, options.url);
      // The coordinator refused it (too many connections from this address): retried later.
      if (e.message.startsWith('rate_limited')) {
        this.log.warn('connection refused; trying again later', { error: e.message });
        this.retryLater(problem, true);
      } else {
        const before = this.problem?.problem;
        const at = this.retryLater(problem, false);
        // Said as a warning when it is news; the same problem again, as information.
        const fields = { problem, retryInSeconds: Math.round((at - Date.now()) / 1000), attempts: this.failures };
        if (problem !== before) this.log.warn('cannot connect to the coordinator; retrying', fields);
        else this.log.info('still cannot connect to the coordinator; retrying', fields);
      }
    });
    this.socket.on('tasks.abort', (n: AbortNotice) => this.emit('abort', n));
    this.socket.on('credit.granted', (m: { receipts: CreditReceipt[] }) => this.emit('credit', m.receipts));
    this.socket.on('tasks.available', () => this.emit('available', undefined));
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  /**
   * Sends a message and returns the reply's fields, or throws CallError: `disconnected` when
   * there is no connection or it drops before the answer, `timeout` when the coordinator,
   * connected all along, did not answer in time, or the coordinator's own code.
   */
  async call<T extends object>(event: string, payload: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    // Not buffered for later: it would go out before the next handshake, and time out meanwhile.
    if (!this.socket.connected) throw new CallError('disconnected', `not connected to the coordinator, so ${event} was not sent`);
    let reply: ({ ok: true } & T) | { ok: false; error: { code: string; message: string } };
    try {
      reply = (await this.socket.timeout(timeoutMs).emitWithAck(event, payload)) as typeof reply;
    } catch {
      // socket.io fails every call still waiting when the connection drops: that is no timeout.
      if (!this.socket.connected) throw new CallError('disconnected', `lost the connection to the coordinator before it answered ${event}`);
      throw new CallError('timeout', `no answer to ${event} within ${timeoutMs / 1000} s`);
    }
    if (!reply.ok) throw new CallError(reply.error.code, reply.error.message);
    return reply;
  }

  /** Sends without waiting for the answer: for a page that is going away. */
  fire(event: string, payload: unknown): void {
    if (this.socket.connected) this.socket.emit(event, payload, () => undefined);
  }

  /** Handshakes again (a new nickname or account). */
  reconnect(): void {
    if (this.closed) return;
    clearTimeout(this.retry);
    this.socket.disconnect().connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.stopHeartbeat();
    this.socket.close();
  }

  private async handshake(): Promise<void> {
    const { crypto, host, platform, capabilities } = this.options;
    try {
      const extra = this.options.hello();
      const hello = HelloReply.parse(
        await this.call('hello', {
          protocol: PROTOCOL_VERSION,
          hostKey: host.publicKey,
          platform,
          capabilities,
          ...(extra.name === undefined ? {} : { name: extra.name }),
          ...(extra.accountKey === undefined ? {} : { accountKey: extra.accountKey }),
        }),
      );
      await this.options.trust(hello.coordinatorKey);
      const signature = await crypto.sign(host.seed, 'auth', { nonce: hello.challenge, hostKey: host.publicKey, coordinatorKey: hello.coordinatorKey });
      const auth = AuthReply.parse(await this.call('auth', { signature }));
      this.session = { ...auth, coordinatorKey: hello.coordinatorKey };
      this.failures = 0;
      this.problem = undefined;
      this.startHeartbeat(auth.limits.heartbeatIntervalMs);
      this.emit('ready', this.session);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      // The connection dropped meanwhile: socket.io reconnects, and the handshake runs again.
      if (err instanceof CallError && err.code === 'disconnected') {
        this.log.debug('lost the connection during the handshake; reconnecting', { error: err.message });
        return;
      }
      // No answer, or the coordinator failed on its side: worth another try.
      if (err instanceof CallError && (err.code === 'timeout' || err.code === 'internal')) {
        this.log.warn('handshake failed; reconnecting', { error: err.message });
        this.socket.disconnect().connect();
        return;
      }
      // Too many connections of this host (old ones not yet timed out): try again later.
      if (err instanceof CallError && err.code === 'rate_limited') {
        this.log.warn('handshake refused for now; reconnecting later', { error: err.message });
        this.socket.disconnect();
        this.retryLater(`the coordinator refused the handshake for now: ${err.message}`, true);
        return;
      }
      // A refused key or account will not fix itself by retrying.
      this.socket.disconnect();
      this.emit('fatal', err);
    }
  }

  /**
   * Connects again after a jittered wait (one wait at a time), and says why and when. Returns
   * when the next attempt starts.
   */
  private retryLater(problem: string, rateLimited: boolean): number {
    clearTimeout(this.retry);
    if (this.closed) return Date.now();
    const first = this.options.retryFirstMs ?? RETRY_FIRST_MS;
    const waitMs = rateLimited
      ? (this.options.retryRefusedMs ?? RETRY_REFUSED_MS) * (1 + Math.random())
      : Math.min(RETRY_MAX_MS, first * 2 ** Math.min(this.failures, 16)) * (0.5 + Math.random());
    this.failures++;
    // Not unref'd: the wait keeps a daemon alive, as Socket.IO's own reconnection would.
    this.retry = setTimeout(() => {
      if (!this.closed && !this.socket.connected) this.socket.connect();
    }, waitMs);
    this.problem = { problem, retryAt: Date.now() + waitMs, attempts: this.failures, rateLimited };
    this.emit('retrying', this.problem);
    return this.problem.retryAt;
  }

  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = unref(
      setInterval(() => {
        this.call('heartbeat', {}).catch((e: Error) => {
          if (e instanceof CallError && e.code === 'disconnected') return; // the loss is reported, and socket.io reconnects
          this.log.warn('heartbeat failed; reconnecting', { error: e.message });
          this.socket.disconnect().connect();
        });
      }, intervalMs),
    );
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private lost(reason: string): void {
    const was = this.session !== undefined;
    this.session = undefined;
    this.stopHeartbeat();
    if (was && !this.closed) {
      const why = describeDisconnect(reason);
      this.log.warn('lost the coordinator; reconnecting', { reason: why });
      this.emit('lost', why);
    }
  }
}

/** Socket.IO's reason for a disconnection, in words for a volunteer. */
export function describeDisconnect(reason: string): string {
  switch (reason) {
    case 'transport close':
      return 'the connection closed (the coordinator stopped, or the network failed)';
    case 'transport error':
      return 'the connection failed';
    case 'ping timeout':
      return 'the coordinator stopped answering';
    case 'io server disconnect':
      return 'the coordinator ended the connection';
    case 'io client disconnect':
      return 'this volunteer closed it to open a new one';
    case 'parse error':
      return 'the coordinator sent something unreadable';
    default:
      return reason;
  }
}
