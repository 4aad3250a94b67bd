// Live batch status over Socket.IO (namespace /admin): the server pushes `batch.status`
// whenever a watched batch changes, so the UI never polls.
import { io, type Socket } from 'socket.io-client';
import type { ApiErrorDetail, BatchStatus, WatchAck } from '../../protocol/api';
import { isRecord } from './api';

interface ServerEvents {
  'batch.status': (status: BatchStatus) => void;
}
interface ClientEvents {
  'batch.watch': (req: { batchId: number }, ack: (res: WatchAck) => void) => void;
  'batch.unwatch': (req: { batchId: number }) => void;
}

type Listener = (status: BatchStatus) => void;

let socket: Socket<ServerEvents, ClientEvents> | null = null;
const listeners = new Map<number, Set<Listener>>();

export type ConnectionState = 'connecting' | 'live' | 'offline';
const stateListeners = new Set<(s: ConnectionState) => void>();
let state: ConnectionState = 'connecting';
function setState(next: ConnectionState): void {
  state = next;
  for (const l of stateListeners) l(next);
}

function isStatus(v: unknown): v is BatchStatus {
  return isRecord(v) && typeof v.id === 'number' && isRecord(v.workunits) && isRecord(v.replicas);
}

function connect(): Socket<ServerEvents, ClientEvents> {
  if (socket) return socket;
  const s: Socket<ServerEvents, ClientEvents> = io('/admin', { withCredentials: true });
  s.on('batch.status', (status) => {
    if (!isStatus(status)) return;
    for (const l of listeners.get(status.id) ?? []) l(status);
  });
  // Every (re)connection starts a new server-side session: watch everything again.
  s.on('connect', () => {
    setState('live');
    for (const batchId of listeners.keys()) s.emit('batch.watch', { batchId }, (ack) => deliverAck(batchId, ack));
  });
  s.on('disconnect', () => setState('offline'));
  s.on('connect_error', () => setState('offline'));
  socket = s;
  return s;
}

const errorHandlers = new Map<number, (e: ApiErrorDetail) => void>();

function deliverAck(batchId: number, ack: WatchAck): void {
  if (!isRecord(ack)) return;
  if (ack.ok && isStatus(ack.status)) for (const l of listeners.get(batchId) ?? []) l(ack.status);
  else if (!ack.ok) errorHandlers.get(batchId)?.(ack.error);
}

/**
 * Follows one batch: `onStatus` gets the status at once (the watch ack) and on every change.
 * Returns the function that stops following it.
 */
export function watchBatch(batchId: number, onStatus: Listener, onError: (e: ApiErrorDetail) => void): () => void {
  const s = connect();
  let set = listeners.get(batchId);
  if (!set) listeners.set(batchId, (set = new Set()));
  set.add(onStatus);
  errorHandlers.set(batchId, onError);
  // Not connected yet: the 'connect' handler sends the watch.
  if (s.connected) s.emit('batch.watch', { batchId }, (ack) => deliverAck(batchId, ack));
  return () => {
    set.delete(onStatus);
    if (set.size === 0) {
      listeners.delete(batchId);
      errorHandlers.delete(batchId);
      if (s.connected) s.emit('batch.unwatch', { batchId });
    }
  };
}

export function onConnectionState(l: (s: ConnectionState) => void): () => void {
  stateListeners.add(l);
  l(state);
  return () => stateListeners.delete(l);
}

/** On logout: the socket was authenticated by the old session. */
export function disconnectLive(): void {
  socket?.disconnect();
  socket = null;
  listeners.clear();
  errorHandlers.clear();
  setState('connecting');
}
