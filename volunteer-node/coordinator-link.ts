// The daemon's connection to the coordinator: Socket.IO with automatic reconnection
// (exponential backoff with jitter), the hello/auth handshake on every connect, calls with
// acknowledgements and timeouts, and heartbeats from this (main) thread.
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import type { Logger } from '../common/log.js';
import type { Ed25519 } from '../protocol/ed25519.js';
import { PROTOCOL_VERSION } from '../protocol/limits.js';
import type { AbortNotice, Capabilities, CreditReceipt, Platform, Reply } from '../protocol/messages.js';
import { signBody } from '../protocol/signing.js';

const CALL_TIMEOUT_MS = 30_000;

export interface LinkOptions {
  url: string;
  ed: Ed25519;
  host: { publicKey: string; seed: string };
  platform: Platform;
  capabilities: Capabilities;
  name?: string;
  accountKey?: string;
  /** Called with the key the coordinator presents; throws to refuse it. */
  trust(coordinatorKey: string): void;
  log: Logger;
}

export interface Session {
  hostId: number;
  userId: number;
  coordinatorKey: string;
  limits: { maxTasksPerRequest: number; maxResultsPerReport: number; heartbeatIntervalMs: number };
}

export class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

/** Events: 'ready' (Session), 'lost', 'fatal' (Error), 'abort' (AbortNotice), 'credit' (CreditReceipt[]). */
export class CoordinatorLink extends EventEmitter {
  session: Session | undefined;
  private readonly socket: Socket;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: LinkOptions) {
    super();
    this.socket = io(`${options.url.replace(/\/$/, '')}/volunteer`, {
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 1_000,
      reconnectionDelayMax: 30_000,
      randomizationFactor: 0.5,
      timeout: 20_000,
    });
    this.socket.on('connect', () => void this.handshake());
    this.socket.on('disconnect', (reason) => this.lost(reason));
    this.socket.on('connect_error', (e) => options.log.debug('cannot reach the coordinator; retrying', { error: e.message }));
    this.socket.on('tasks.abort', (n: AbortNotice) => this.emit('abort', n));
    this.socket.on('credit.granted', (m: { receipts: CreditReceipt[] }) => this.emit('credit', m.receipts));
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  /** Sends a message and returns the reply's fields, or throws CallError. */
  async call<T extends object>(event: string, payload: unknown): Promise<T> {
    let reply: Reply<T>;
    try {
      reply = (await this.socket.timeout(CALL_TIMEOUT_MS).emitWithAck(event, payload)) as Reply<T>;
    } catch {
      throw new CallError('timeout', `no answer to ${event} within ${CALL_TIMEOUT_MS / 1000} s`);
    }
    if (!reply.ok) throw new CallError(reply.error.code, reply.error.message);
    return reply;
  }

  close(): void {
    this.closed = true;
    this.stopHeartbeat();
    this.socket.close();
  }

  private async handshake(): Promise<void> {
    const { ed, host, platform, capabilities, name, accountKey, log } = this.options;
    try {
      const hello = await this.call<{ challenge: string; coordinatorKey: string }>('hello', {
        protocol: PROTOCOL_VERSION,
        hostKey: host.publicKey,
        platform,
        capabilities,
        ...(name === undefined ? {} : { name }),
        ...(accountKey === undefined ? {} : { accountKey }),
      });
      this.options.trust(hello.coordinatorKey);
      const signature = signBody(ed, host.seed, 'auth', { nonce: hello.challenge, hostKey: host.publicKey, coordinatorKey: hello.coordinatorKey });
      const auth = await this.call<Omit<Session, 'coordinatorKey'>>('auth', { signature });
      this.session = { hostId: auth.hostId, userId: auth.userId, limits: auth.limits, coordinatorKey: hello.coordinatorKey };
      this.startHeartbeat(auth.limits.heartbeatIntervalMs);
      this.emit('ready', this.session);
    } catch (e) {
      const err = e as Error;
      if (err instanceof CallError && err.code === 'timeout') {
        log.warn('handshake timed out; reconnecting', {});
        this.socket.disconnect().connect();
        return;
      }
      // A refused key or account will not fix itself by retrying.
      this.socket.close();
      this.emit('fatal', err);
    }
  }

  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      this.call('heartbeat', {}).catch((e: Error) => {
        this.options.log.warn('heartbeat failed; reconnecting', { error: e.message });
        this.socket.disconnect().connect();
      });
    }, intervalMs);
    this.heartbeat.unref();
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
      this.options.log.warn('lost the coordinator; reconnecting', { reason });
      this.emit('lost');
    }
  }
}
