// A volunteer's connection to its coordinator: Socket.IO to the /volunteer namespace of one
// instance at a time, with reconnection kept here rather than in Socket.IO, so that the volunteer
// can be told what failed and when the next try is; the hello/auth handshake on every connect,
// calls with acknowledgements and timeouts, and heartbeats. When the coordinator runs several
// instances (the discovery document lists them), the host takes its first choice of them
// (instance-order.ts), fails over to the next in its order within a second or so when one fails,
// backs off only once every instance has failed in a row (instance-cursor.ts), and moves back to
// its first choice once that one is ready again, between calls. Nothing else has to know: every
// message is idempotent and the instances share one database, so a result reported to another
// instance, or tasks held across the move, are as good as on the first (docs/protocol.md §2).
// The daemon and the page differ only in where the coordinator is, how they trust its key and
// what they log.
import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import { PROTOCOL_VERSION } from '../protocol/limits.js';
import { Hex32, ResultsJudgedSchema, type AbortNotice, type Capabilities, type CreditReceipt, type Platform, type TaskVerdict } from '../protocol/messages.js';
import { unref } from './clock.js';
import { describeConnectError } from './connect-problem.js';
import type { VolunteerCrypto } from './crypto.js';
import { fetchWellKnown, instanceReady } from './discovery.js';
import { Emitter } from './emitter.js';
import { InstanceCursor } from './instance-cursor.js';
import { connectionOrder } from './instance-order.js';
import { quietLogger, type Logger } from './logger.js';

const CALL_TIMEOUT_MS = 30_000;
/** Wait before connecting again when the coordinator says this host connects too much. */
const RETRY_REFUSED_MS = 10_000;
/** Waits between rounds of attempts: doubling from the first to the longest, each ×0.5–1.5. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** Wait before trying the next instance (×0.5–1.5): short, yet spreads a dead instance's hosts over a moment. */
const FAILOVER_MS = 500;
/** How often a host on another instance than its first choice looks whether that one is back (×0.5–1.5). */
const RETURN_CHECK_MS = 60_000;
/**
 * How often a connected host reads the document again (×0.5–1.5): an instance added to the list
 * gets the hosts that rank it first without waiting for them to reconnect. Long: every host asks.
 */
const LIST_REFRESH_MS = 30 * 60_000;
/** How long the start waits for the discovery document before connecting without it. */
const DISCOVERY_WAIT_MS = 3_000;
/** How often a move waits to see no call in flight. */
const QUIET_POLL_MS = 50;

export interface Session {
  hostId: number;
  userId: number;
  coordinatorKey: string;
  /** The instance this session is with (its base URL). */
  url: string;
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
  /**
   * The coordinator's base URLs as the volunteer was given them, one or more (the page: its own
   * origin). With several, or with a discovery document that lists instances, the host picks
   * among them by its key.
   */
  urls: readonly string[];
  /** Learn the instances from the discovery document (at the start, and after each connect); default true. */
  discover?: boolean;
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
  /** The first wait before a new round of attempts (doubling up to 30 s); default 1 s. */
  retryFirstMs?: number;
  /** The wait before trying the next instance after one failed (×0.5–1.5); default 0.5 s. */
  failoverMs?: number;
  /** How often, away from its first choice, the link looks whether that one is ready again (×0.5–1.5); default 60 s. */
  returnCheckMs?: number;
  /** How often, connected, it reads the discovery document again (×0.5–1.5); default 30 min. */
  listRefreshMs?: number;
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
  /** The instance the next attempt goes to. */
  next: string;
}

/** The link moved to another instance: after a failure (`failover`) or back to its first choice (`return`). */
export interface InstanceMove {
  kind: 'failover' | 'return';
  from: string;
  to: string;
  /** Why it left `from`, in words. */
  reason: string;
}

export type LinkEvents = {
  ready: Session;
  /** The connection dropped; why, in words (describeDisconnect). The link connects again. */
  lost: string;
  /** The coordinator refused this volunteer, or the volunteer refused the coordinator: retrying will not help. */
  fatal: Error;
  abort: AbortNotice;
  credit: CreditReceipt[];
  /** Results of this host were judged (results.judged): a lost quorum vote, told at once. */
  judged: TaskVerdict[];
  /** The coordinator says there may be work for a host that found none: ask again now. */
  available: void;
  /** An attempt to connect or handshake failed: why, and when the next one is. */
  retrying: LinkProblem;
  /** It moves to another instance. */
  moved: InstanceMove;
};

export class CoordinatorLink extends Emitter<LinkEvents> {
  session: Session | undefined;
  private socket: Socket | undefined;
  private readonly log: Logger;
  private readonly given: string[];
  private cursor: InstanceCursor;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private returnCheck: ReturnType<typeof setTimeout> | undefined;
  private listRefresh: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Failed rounds in a row (every instance failed): what the wait backs off by. */
  private rounds = 0;
  /** Failed attempts in a row, over every instance. */
  private attempts = 0;
  /** Calls waiting for their answer: the link moves on purpose only when there are none. */
  private inFlight = 0;
  /** Why the last attempt failed, until one succeeds. */
  problem: LinkProblem | undefined;

  constructor(private readonly options: LinkOptions) {
    super();
    this.log = options.log ?? quietLogger;
    this.given = [...new Set(options.urls.map((u) => u.replace(/\/+$/, '')))];
    this.cursor = new InstanceCursor(connectionOrder(options.host.publicKey, this.given, undefined));
    void this.start();
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  /** The instance it is on, or tries next. */
  get url(): string {
    return this.cursor.url;
  }

  /** The instances in this host's order, first choice first. */
  get instances(): readonly string[] {
    return this.cursor.instances;
  }

  /** Its instance's place in that order, from 1; undefined for one the order no longer lists. */
  get rank(): number | undefined {
    return this.cursor.rank;
  }

  /**
   * Sends a message and returns the reply's fields, or throws CallError: `disconnected` when
   * there is no connection or it drops before the answer, `timeout` when the coordinator,
   * connected all along, did not answer in time, or the coordinator's own code.
   */
  async call<T extends object>(event: string, payload: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    const socket = this.socket;
    // Not buffered for later: it would go out before the next handshake, and time out meanwhile.
    if (!socket?.connected) throw new CallError('disconnected', `not connected to the coordinator, so ${event} was not sent`);
    let reply: ({ ok: true } & T) | { ok: false; error: { code: string; message: string } };
    this.inFlight++;
    try {
      reply = (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as typeof reply;
    } catch {
      // socket.io fails every call still waiting when the connection drops: that is no timeout.
      if (!socket.connected || socket !== this.socket) throw new CallError('disconnected', `lost the connection to the coordinator before it answered ${event}`);
      throw new CallError('timeout', `no answer to ${event} within ${timeoutMs / 1000} s`);
    } finally {
      this.inFlight--;
    }
    if (!reply.ok) throw new CallError(reply.error.code, reply.error.message);
    return reply;
  }

  /** Sends without waiting for the answer: for a page that is going away. */
  fire(event: string, payload: unknown): void {
    if (this.socket?.connected) this.socket.emit(event, payload, () => undefined);
  }

  /** Handshakes again (a new nickname or account), on the same instance. */
  reconnect(): void {
    if (this.closed) return;
    clearTimeout(this.retry);
    this.drop('this volunteer closed it to open a new one', true);
    this.open();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    clearTimeout(this.returnCheck);
    clearTimeout(this.listRefresh);
    this.drop('this volunteer closed it', true);
  }

  // ---- instances ----

  /** Reads the discovery document first, briefly, so that the first connection goes to the host's first choice. */
  private async start(): Promise<void> {
    if (this.options.discover !== false) {
      const first = this.cursor.url;
      const found = await Promise.race([fetchWellKnown(first), sleep(DISCOVERY_WAIT_MS).then(() => ({ error: 'no answer yet' }))]);
      if ('coordinatorKey' in found && found.instances) {
        this.cursor = new InstanceCursor(connectionOrder(this.options.host.publicKey, this.given, found.instances));
        this.log.info('coordinator instances', { instances: [...this.cursor.instances], from: first });
      } else if ('error' in found) this.log.debug('no list of instances at the start; trying the URLs given', { problem: found.error });
    }
    if (!this.closed) this.open();
  }

  /** After a connect: the instance's document may list instances this host does not know yet. */
  private async learnInstances(from: string): Promise<void> {
    const found = await fetchWellKnown(from);
    if (this.closed) return;
    if ('error' in found) return void this.log.debug('could not read the list of instances', { problem: found.error });
    const order = connectionOrder(this.options.host.publicKey, this.given, found.instances);
    if (order.join() === this.cursor.instances.join()) return;
    this.cursor.reorder(order);
    this.log.info('coordinator instances', { instances: order, from });
    this.watchFirstChoice();
  }

  /** Connected: reads the document again now and then, from the instance it is on. */
  private refreshListLater(): void {
    clearTimeout(this.listRefresh);
    if (this.closed || this.options.discover === false) return;
    this.listRefresh = setTimeout(() => {
      const on = this.session?.url;
      if (on === undefined) return;
      void this.learnInstances(on).finally(() => this.refreshListLater());
    }, (this.options.listRefreshMs ?? LIST_REFRESH_MS) * (0.5 + Math.random()));
    unref(this.listRefresh);
  }

  /** Away from its first choice and connected: looks now and then whether that one is ready again. */
  private watchFirstChoice(): void {
    if (this.closed || this.returnCheck !== undefined || this.cursor.atFirstChoice || !this.session) return;
    const waitMs = (this.options.returnCheckMs ?? RETURN_CHECK_MS) * (0.5 + Math.random());
    this.returnCheck = setTimeout(() => {
      this.returnCheck = undefined;
      void this.returnIfReady();
    }, waitMs);
    unref(this.returnCheck); // never what keeps a daemon alive
  }

  /**
   * Moves back to the first choice when it answers /readyz, between calls: protocol-wise a move
   * is safe at any moment (tasks held stay the host's, a result reported twice is a duplicate),
   * but one made mid-call would cut an answer short and send the call again for nothing.
   */
  private async returnIfReady(): Promise<void> {
    const first = this.cursor.instances[0]!;
    if (!(await instanceReady(first))) return this.watchFirstChoice();
    while (this.inFlight > 0 && this.session && !this.closed) await sleep(QUIET_POLL_MS);
    if (this.closed || !this.session || this.cursor.atFirstChoice) return;
    const move: InstanceMove = { kind: 'return', from: this.cursor.url, to: first, reason: 'its first-choice instance is ready again' };
    this.log.info('moving back to its first-choice coordinator instance', { from: move.from, to: move.to });
    this.emit('moved', move);
    this.drop('moving back to its first-choice instance', true);
    this.cursor.first();
    this.open();
  }

  // ---- connecting ----

  /** Opens a connection to the instance the cursor points at (a fresh one for every attempt). */
  private open(): void {
    if (this.closed) return;
    const url = this.cursor.url;
    const socket = io(`${url}/volunteer`, {
      transports: ['websocket'],
      reconnection: false, // this link does it, knowing why and where
      timeout: 20_000,
      forceNew: true, // one connection per attempt, not one shared by every attempt at this URL
    });
    this.socket = socket;
    socket.on('connect', () => void this.handshake(socket, url));
    socket.on('disconnect', (reason) => {
      if (socket !== this.socket) return;
      const why = describeDisconnect(reason);
      this.drop(why, false);
      this.failed(why, 'lost');
    });
    socket.on('connect_error', (e) => {
      if (socket !== this.socket) return;
      const problem = describeConnectError(e, url);
      this.drop(problem, true);
      // The coordinator refused it (too many connections from this address): the same instance, later.
      if (e.message.startsWith('rate_limited')) {
        this.log.warn('connection refused; trying again later', { error: e.message });
        this.retryLater(problem, true);
      } else this.failed(problem, 'connect');
    });
    socket.on('tasks.abort', (n: AbortNotice) => this.emit('abort', n));
    socket.on('credit.granted', (m: { receipts: CreditReceipt[] }) => this.emit('credit', m.receipts));
    socket.on('tasks.available', () => this.emit('available', undefined));
    // Checked here, as every reply is where it is used: a push this client cannot read is as none.
    socket.on('results.judged', (m: unknown) => {
      const parsed = ResultsJudgedSchema.safeParse(m);
      if (parsed.success) this.emit('judged', parsed.data.verdicts);
    });
  }

  /**
   * Closes the connection (if any) and forgets it. `quietly`: on purpose, so the loss is not
   * warned of (it is still told to listeners, who must stop using the session).
   */
  private drop(why: string, quietly: boolean): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.removeAllListeners();
      socket.disconnect();
    }
    this.stopHeartbeat();
    const was = this.session !== undefined;
    this.session = undefined;
    clearTimeout(this.returnCheck);
    this.returnCheck = undefined;
    clearTimeout(this.listRefresh);
    if (!was || this.closed) return;
    if (!quietly) this.log.warn('lost the coordinator; reconnecting', { reason: why, instance: this.cursor.url });
    this.emit('lost', why);
  }

  /**
   * The instance failed (`connect`: an attempt or its handshake; `lost`: a connection it had):
   * the next instance soon, or, once every instance failed in a row, a wait that backs off.
   */
  private failed(problem: string, how: 'connect' | 'lost'): void {
    if (this.closed) return;
    const from = this.cursor.url;
    const step = this.cursor.failure();
    if (step.kind === 'failover') {
      const waitMs = (this.options.failoverMs ?? FAILOVER_MS) * (0.5 + Math.random());
      const move: InstanceMove = { kind: 'failover', from, to: step.url, reason: problem };
      this.log.warn('failing over to another coordinator instance', { from, to: step.url, problem });
      this.emit('moved', move);
      this.schedule(waitMs, problem, false);
      return;
    }
    const before = this.problem?.problem;
    const first = this.options.retryFirstMs ?? RETRY_FIRST_MS;
    const waitMs = Math.min(RETRY_MAX_MS, first * 2 ** Math.min(this.rounds, 16)) * (0.5 + Math.random());
    this.rounds++;
    const at = this.schedule(waitMs, problem, false);
    if (how === 'lost' && this.cursor.instances.length === 1) return; // 'lost the coordinator' said it
    // Said as a warning when it is news; the same problem again, as information.
    const several = this.cursor.instances.length > 1;
    const fields = { problem, retryInSeconds: Math.round((at - Date.now()) / 1000), attempts: this.attempts, ...(several ? { next: step.url } : {}) };
    const msg = several ? 'cannot connect to any coordinator instance; retrying' : 'cannot connect to the coordinator; retrying';
    if (problem !== before) this.log.warn(msg, fields);
    else this.log.info(msg.replace('cannot', 'still cannot'), fields);
  }

  /** The same instance again after a wait that says it was refused for now. */
  private retryLater(problem: string, rateLimited: boolean): void {
    this.schedule((this.options.retryRefusedMs ?? RETRY_REFUSED_MS) * (1 + Math.random()), problem, rateLimited);
  }

  /** Connects again after `waitMs` (one wait at a time), and says why and when. Returns when. */
  private schedule(waitMs: number, problem: string, rateLimited: boolean): number {
    clearTimeout(this.retry);
    if (this.closed) return Date.now();
    this.attempts++;
    // Not unref'd: the wait keeps a daemon alive, as Socket.IO's own reconnection would.
    this.retry = setTimeout(() => {
      if (!this.closed && !this.socket) this.open();
    }, waitMs);
    this.problem = { problem, retryAt: Date.now() + waitMs, attempts: this.attempts, rateLimited, next: this.cursor.url };
    this.emit('retrying', this.problem);
    return this.problem.retryAt;
  }

  private async handshake(socket: Socket, url: string): Promise<void> {
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
      if (socket !== this.socket) return; // closed meanwhile
      this.session = { ...auth, coordinatorKey: hello.coordinatorKey, url };
      this.rounds = 0;
      this.attempts = 0;
      this.problem = undefined;
      this.cursor.connected();
      this.startHeartbeat(auth.limits.heartbeatIntervalMs);
      this.emit('ready', this.session);
      if (this.options.discover !== false) void this.learnInstances(url);
      this.refreshListLater();
      this.watchFirstChoice();
    } catch (e) {
      if (socket !== this.socket) return;
      const err = e instanceof Error ? e : new Error(String(e));
      // The connection dropped meanwhile: its 'disconnect' moves on.
      if (err instanceof CallError && err.code === 'disconnected') {
        this.log.debug('lost the connection during the handshake; reconnecting', { error: err.message });
        return;
      }
      // No answer, or the instance failed on its side: worth another try, maybe elsewhere.
      if (err instanceof CallError && (err.code === 'timeout' || err.code === 'internal')) {
        this.log.warn('handshake failed; reconnecting', { error: err.message });
        this.drop(err.message, true);
        this.failed(`the handshake failed: ${err.message}`, 'connect');
        return;
      }
      // Too many connections of this host (old ones not yet timed out): try again later.
      if (err instanceof CallError && err.code === 'rate_limited') {
        this.log.warn('handshake refused for now; reconnecting later', { error: err.message });
        this.drop(err.message, true);
        this.retryLater(`the coordinator refused the handshake for now: ${err.message}`, true);
        return;
      }
      // A refused key or account will not fix itself by retrying.
      this.drop(err.message, true);
      this.emit('fatal', err);
    }
  }

  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = unref(
      setInterval(() => {
        this.call('heartbeat', {}).catch((e: Error) => {
          if (e instanceof CallError && e.code === 'disconnected') return; // the loss is reported, and the link moves on
          this.log.warn('heartbeat failed; reconnecting', { error: e.message });
          this.drop(`the heartbeat failed: ${e.message}`, true);
          this.failed(`the heartbeat failed: ${e.message}`, 'lost');
        });
      }, intervalMs),
    );
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
