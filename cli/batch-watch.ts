// Following a batch live over Socket.IO (namespace /admin, docs/api.md "Live updates"): watch
// it on every (re)connection, pass each pushed status on, and fail for good only when the
// coordinator refuses the token or the batch; network drops are retried by socket.io-client.
// With several coordinator instances (the discovery document's `instances`), a connection that
// cannot be made again moves to the next instance: each serves every batch from the database
// they share, so a researcher's `wait` outlives the instance it started on.
import { io, type Socket } from 'socket.io-client';
import { type BatchStatus, BatchStatusSchema, WatchAckSchema } from '../protocol/api.js';
import { WELL_KNOWN_PATH, WellKnownSchema } from '../protocol/discovery.js';
import { Failure } from './failure.js';

export interface BatchWatchEvents {
  status(status: BatchStatus): void;
  /** The connection dropped (true) or came back (false). */
  connection(lost: boolean): void;
  /** The watch cannot go on: the token or the batch was refused. */
  failed(error: Failure): void;
  /** It follows the batch on another instance now, `from` not answering. */
  moved?(from: string, to: string): void;
}

const ACK_TIMEOUT_MS = 15_000;
const DISCOVERY_TIMEOUT_MS = 5_000;
/** Once every instance failed in a row, the wait before the next round grows to this. */
const ROUND_DELAY_MAX_MS = 10_000;

/**
 * The other instances of the coordinator at `url`, from its discovery document: none when it
 * runs alone, sits behind a path prefix (a proxy: its instances are not the researcher's to pick),
 * or cannot be read (the watch then follows `url` alone).
 */
export async function otherInstances(url: string): Promise<string[]> {
  const base = new URL(url);
  if (base.pathname.replace(/\/+$/, '') !== '') return [];
  try {
    const res = await fetch(`${base.origin}${WELL_KNOWN_PATH}`, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
    if (!res.ok) return [];
    const doc = WellKnownSchema.safeParse(await res.json());
    return doc.success ? (doc.data.instances ?? []).filter((u) => u !== base.origin) : [];
  } catch {
    return [];
  }
}

/** Follows `batchId` at `url`, moving to `others` (instance origins) in turn when the one it is on stops answering. */
export function watchBatch(url: string, token: string, batchId: number, on: BatchWatchEvents, others: string[] = []): { close(): void } {
  const targets = [url, ...others];
  let at = 0;
  let socket: Socket;
  let closed = false;
  /** Instances that failed in a row since the last connection. */
  let failedInRow = 0;
  let rounds = 0;
  let pending: NodeJS.Timeout | undefined;
  const fail = (error: Failure) => {
    if (closed) return;
    closed = true;
    socket.close();
    on.failed(error);
  };

  const open = () => {
    const target = targets[at]!;
    const base = new URL(target);
    const prefix = base.pathname.replace(/\/+$/, '');
    const s = io(`${base.origin}/admin`, {
      path: `${prefix}/socket.io`,
      auth: { token },
      reconnectionDelay: 1_000,
      reconnectionDelayMax: 10_000,
      forceNew: true,
    });
    socket = s;
    s.on('connect', () => {
      failedInRow = 0;
      rounds = 0;
      on.connection(false);
      s.timeout(ACK_TIMEOUT_MS).emit('batch.watch', { batchId }, (err: Error | null, raw: unknown) => {
        if (closed || s !== socket) return;
        if (err) {
          // No answer: drop the connection and let the reconnection watch again.
          s.disconnect().connect();
          return;
        }
        const ack = WatchAckSchema.safeParse(raw);
        if (!ack.success) return fail(new Failure(`batch.watch: unexpected answer from the coordinator (${ack.error.issues[0]?.message})`));
        if (!ack.data.ok) return fail(new Failure(`cannot follow batch ${batchId}: ${ack.data.error.message} (${ack.data.error.code})`));
        on.status(ack.data.status);
      });
    });
    s.on('batch.status', (raw: unknown) => {
      const status = BatchStatusSchema.safeParse(raw);
      if (!closed && s === socket && status.success && status.data.id === batchId) on.status(status.data);
    });
    s.on('disconnect', () => {
      if (!closed && s === socket) on.connection(true);
    });
    s.on('connect_error', (e: Error) => {
      if (s !== socket) return;
      // A refusal by the server's middleware (bad token) is final; network errors are retried.
      if (!s.active) fail(new Failure(`the coordinator at ${target} refused live updates: ${e.message}`));
      else on.connection(true);
    });
    // This instance did not answer a reconnection: with others to go to, go to the next.
    s.io.on('reconnect_error', () => {
      if (closed || s !== socket || targets.length === 1) return;
      s.close();
      failedInRow++;
      const from = target;
      at = (at + 1) % targets.length;
      // A whole round failed (every instance down, or the network): wait longer before the next.
      if (failedInRow % targets.length === 0) rounds++;
      const delay = rounds === 0 ? 0 : Math.min(ROUND_DELAY_MAX_MS, 1_000 * 2 ** (rounds - 1));
      pending = setTimeout(() => {
        pending = undefined;
        if (closed) return;
        on.moved?.(from, targets[at]!);
        open();
      }, delay);
    });
  };
  open();

  return {
    close() {
      closed = true;
      clearTimeout(pending);
      socket.close();
    },
  };
}
