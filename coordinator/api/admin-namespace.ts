// Socket.IO namespace /admin: researchers watch batches and get their status pushed when they
// change (coalesced to at most one push per batch per PUSH_INTERVAL_MS), instead of polling.
import type { Namespace, Server, Socket } from 'socket.io';
import { z } from 'zod';
import type { BatchStatus, UnwatchAck, WatchAck } from '../../protocol/api.js';
import { describeIssues } from '../../common/zod-message.js';
import { errorFields, type Logger } from '../../common/log.js';
import type { AccountService } from '../accounts/account-service.js';
import type { OriginPolicy } from '../http/origin-policy.js';
import type { StatusOf } from '../research/batch-status.js';
import type { AccountRecord } from '../store/account-store.js';
import type { Store } from '../store/store.js';
import { Access } from './access.js';
import { ApiError } from './api-error.js';
import { identify, type CredentialSource } from './auth.js';

export const ADMIN_NAMESPACE = '/admin';
export const PUSH_INTERVAL_MS = 500;
const COST_SHARE = 20;
/** However slow a status is to read (a busy database), a watcher hears of changes this often. */
export const MAX_PUSH_INTERVAL_MS = 3000;
/** How often open connections' credentials are checked again. */
export const CREDENTIAL_RECHECK_MS = 30_000;

const WatchSchema = z.strictObject({ batchId: z.number().int().positive() });
const AuthSchema = z.object({ token: z.string().max(200).optional() });
const TOKEN_HINT = 'log in first, or pass auth: { token }';
const room = (batchId: number) => `batch:${batchId}`;


export interface BatchWatch {
  nsp: Namespace;
  /** Tells watchers of these batches (after their changes committed). */
  batchesChanged(batchIds: number[]): void;
  close(): void;
}

export function attachAdminNamespace(
  io: Server,
  deps: { store: Store; accounts: AccountService; statusOf: StatusOf; origins: OriginPolicy; log: Logger },
): BatchWatch {
  const { store, accounts, statusOf, origins, log } = deps;
  const access = new Access(store);
  const nsp = io.of(ADMIN_NAMESPACE);
  const nextPush = new Map<number, number>();
  const timers = new Map<number, NodeJS.Timeout>();

  nsp.use(async (socket, next) => {
    try {
      const auth = AuthSchema.safeParse(socket.handshake.auth ?? {});
      const token = auth.success ? auth.data.token : undefined;
      const { headers: h, address, secure } = socket.handshake;
      // With a token, from any page or program; with the cookie, only from the coordinator's own
      // pages (or --allowed-origins): identify() checks the Origin the handshake came with.
      const source: CredentialSource = {
        method: 'GET',
        headers: token !== undefined ? { authorization: `Bearer ${token}` } : { cookie: h.cookie, origin: h.origin, host: h.host, 'x-forwarded-proto': h['x-forwarded-proto'], 'x-forwarded-host': h['x-forwarded-host'] },
        peer: address,
        secure,
      };
      const c = await identify(accounts, origins, source);
      if (!c) return next(new Error(`unauthenticated: ${TOKEN_HINT}`));
      socket.data.account = c.account;
      socket.data.source = source;
      next();
    } catch (e) {
      next(new Error(e instanceof ApiError ? `${e.code}: ${e.message}` : 'unauthenticated'));
    }
  });

  /**
   * The socket's account as it is now (its role may have changed), or undefined when its
   * credentials no longer hold (logged out, revoked or disabled since it connected).
   */
  const currentAccount = async (socket: Socket): Promise<AccountRecord | undefined> => {
    try {
      const c = await identify(accounts, origins, socket.data.source as CredentialSource);
      return c !== undefined && c.account.id === (socket.data.account as AccountRecord).id ? c.account : undefined;
    } catch {
      return undefined;
    }
  };
  const sweep = setInterval(() => {
    for (const socket of nsp.sockets.values()) void currentAccount(socket).then((account) => account || socket.disconnect(true));
  }, CREDENTIAL_RECHECK_MS);
  sweep.unref();

  nsp.on('connection', async (socket: Socket) => {
    socket.on('batch.watch', async (payload: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return;
      const reply = ack as (reply: WatchAck) => void;
      const account = await currentAccount(socket);
      if (!account) {
        reply({ ok: false, error: { code: 'unauthenticated', message: 'the session or token this connection used is no longer valid' } });
        socket.disconnect(true);
        return;
      }
      const msg = WatchSchema.safeParse(payload);
      if (!msg.success) return reply({ ok: false, error: { code: 'bad_request', message: describeIssues(msg.error) } });
      try {
        const batch = await access.batch(account, msg.data.batchId);
        void socket.join(room(batch.id));
        reply({ ok: true, status: (await statusOf(batch, Date.now())) });
      } catch (e) {
        if (e instanceof ApiError) return reply({ ok: false, error: { code: e.code, message: e.message } });
        log.error('batch.watch failed', errorFields(e));
        reply({ ok: false, error: { code: 'internal', message: 'internal error' } });
      }
    });
    socket.on('batch.unwatch', (payload: unknown, ack: unknown) => {
      const msg = WatchSchema.safeParse(payload);
      if (msg.success) void socket.leave(room(msg.data.batchId));
      if (typeof ack === 'function') (ack as (reply: UnwatchAck) => void)({ ok: true });
    });
  });

  /** Batches whose push is being computed: a change meanwhile waits for it, then for nextPush. */
  const pushing = new Set<number>();
  const push = async (batchId: number) => {
    timers.delete(batchId);
    pushing.add(batchId);
    const started = Date.now();
    try {
      const batch = await store.reports.batch(batchId);
      if (batch) nsp.to(room(batchId)).emit('batch.status', (await statusOf(batch, started)) satisfies BatchStatus);
    } catch (e) {
      log.error('batch status push failed', { batchId, ...errorFields(e) });
    }
    // A status reads counters, but its series grows with the batch's life: one that is slow to
    // compute is pushed less often, so watching never takes more than ~1/COST_SHARE of the coordinator;
    // the cost is wall time, which on PostgreSQL is mostly waiting, so the slowing is capped.
    const cost = Date.now() - started;
    nextPush.set(batchId, Date.now() + Math.min(MAX_PUSH_INTERVAL_MS, Math.max(PUSH_INTERVAL_MS, cost * COST_SHARE)));
    pushing.delete(batchId);
    // A change that came while this status was read may not be in it: one more push, in turn.
    if (changedWhilePushing.delete(batchId)) schedule(batchId);
  };
  const changedWhilePushing = new Set<number>();
  const schedule = (id: number) => {
    if (timers.has(id) || !nsp.adapter.rooms.has(room(id))) return;
    if (pushing.has(id)) {
      changedWhilePushing.add(id);
      return;
    }
    const wait = Math.max(0, (nextPush.get(id) ?? 0) - Date.now());
    timers.set(id, setTimeout(() => push(id), wait));
  };

  return {
    nsp,
    batchesChanged(batchIds) {
      for (const id of batchIds) schedule(id);
    },
    close() {
      clearInterval(sweep);
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      changedWhilePushing.clear();
    },
  };
}
