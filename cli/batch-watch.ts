// Following a batch live over Socket.IO (namespace /admin, docs/api.md "Live updates"): watch
// it on every (re)connection, pass each pushed status on, and fail for good only when the
// coordinator refuses the token or the batch; network drops are retried by socket.io-client.
import { io } from 'socket.io-client';
import { type BatchStatus, BatchStatusSchema, WatchAckSchema } from '../protocol/api.js';
import { Failure } from './failure.js';

export interface BatchWatchEvents {
  status(status: BatchStatus): void;
  /** The connection dropped (true) or came back (false). */
  connection(lost: boolean): void;
  /** The watch cannot go on: the token or the batch was refused. */
  failed(error: Failure): void;
}

const ACK_TIMEOUT_MS = 15_000;

export function watchBatch(url: string, token: string, batchId: number, on: BatchWatchEvents): { close(): void } {
  const base = new URL(url);
  const prefix = base.pathname.replace(/\/+$/, '');
  const socket = io(`${base.origin}/admin`, {
    path: `${prefix}/socket.io`,
    auth: { token },
    reconnectionDelay: 1_000,
    reconnectionDelayMax: 10_000,
  });
  let closed = false;
  const fail = (error: Failure) => {
    if (closed) return;
    closed = true;
    socket.close();
    on.failed(error);
  };

  socket.on('connect', () => {
    on.connection(false);
    socket.timeout(ACK_TIMEOUT_MS).emit('batch.watch', { batchId }, (err: Error | null, raw: unknown) => {
      if (closed) return;
      if (err) {
        // No answer: drop the connection and let the reconnection watch again.
        socket.disconnect().connect();
        return;
      }
      const ack = WatchAckSchema.safeParse(raw);
      if (!ack.success) return fail(new Failure(`batch.watch: unexpected answer from the coordinator (${ack.error.issues[0]?.message})`));
      if (!ack.data.ok) return fail(new Failure(`cannot follow batch ${batchId}: ${ack.data.error.message} (${ack.data.error.code})`));
      on.status(ack.data.status);
    });
  });
  socket.on('batch.status', (raw: unknown) => {
    const status = BatchStatusSchema.safeParse(raw);
    if (!closed && status.success && status.data.id === batchId) on.status(status.data);
  });
  socket.on('disconnect', () => {
    if (!closed) on.connection(true);
  });
  socket.on('connect_error', (e: Error) => {
    // A refusal by the server's middleware (bad token) is final; network errors are retried.
    if (!socket.active) fail(new Failure(`the coordinator at ${url} refused live updates: ${e.message}`));
    else on.connection(true);
  });

  return {
    close() {
      closed = true;
      socket.close();
    },
  };
}
