// Which hosts are connected now. On one instance, its own sockets say; in a cluster a host may be
// connected to any instance, and the Socket.IO adapter asks them all (fetchSockets, through
// Redis). A disconnect grace that asked only its own instance would give up the tasks of a host
// that moved to another one.
import type { Namespace } from 'socket.io';
import { hostRoom } from './namespace.js';

export interface Presence {
  /** Whether the host has an authenticated connection to any instance now. Rejects when an instance did not answer in time. */
  isOnline(hostId: number): Promise<boolean>;
  /** The hosts with an authenticated connection to any instance now (this instance's alone when the others are slow to say). */
  onlineHostIds(): Promise<Set<number>>;
  /** The same, for deciding to give hosts up: rejects when an instance did not answer in time. */
  onlineEverywhere(): Promise<Set<number>>;
  /** How many authenticated connections the host has to all instances now (this instance's alone when the others are slow to say). */
  connectionsOf(hostId: number): Promise<number>;
}

/** This instance's own sockets: all there is without a cluster. */
export function localPresence(nsp: () => Namespace | undefined): Presence {
  const ids = () => {
    const found = new Set<number>();
    for (const name of nsp()?.adapter.rooms.keys() ?? []) if (name.startsWith('host:')) found.add(Number(name.slice(5)));
    return found;
  };
  return {
    isOnline: async (hostId) => (nsp()?.adapter.rooms.get(hostRoom(hostId))?.size ?? 0) > 0,
    onlineHostIds: async () => ids(),
    onlineEverywhere: async () => ids(),
    connectionsOf: async (hostId) => nsp()?.adapter.rooms.get(hostRoom(hostId))?.size ?? 0,
  };
}

/** How long a cluster-wide list of online hosts is reused: status pages ask for it often. */
const LIST_REUSE_MS = 1_000;
/** How long the other instances have to answer (one silent or Redis away must not hang a request). */
const ASK_TIMEOUT_MS = 2_000;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer from every instance within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Every instance's sockets, through the adapter. Whether one host is online, and which are when
 * hosts are to be given up, reject when not every instance answered in time (the caller waits
 * and asks again); the list of online hosts for status pages falls back to this instance's own
 * then (they must answer).
 */
export function clusterPresence(nsp: () => Namespace | undefined): Presence {
  const local = localPresence(nsp);
  let list: { at: number; ids: Promise<Set<number>> } | undefined;
  const everywhere = async (): Promise<Set<number>> => {
    const n = nsp();
    const found = new Set<number>();
    if (!n) return found;
    for (const s of await within(n.fetchSockets(), ASK_TIMEOUT_MS, 'who is connected')) {
      const hostId = (s.data as { hostId?: number } | undefined)?.hostId;
      if (hostId !== undefined && s.rooms.has(hostRoom(hostId))) found.add(hostId);
    }
    return found;
  };
  return {
    async isOnline(hostId) {
      const n = nsp();
      return n !== undefined && (await within(n.in(hostRoom(hostId)).fetchSockets(), ASK_TIMEOUT_MS, 'who is connected')).length > 0;
    },
    async connectionsOf(hostId) {
      const n = nsp();
      if (!n) return 0;
      // A limit, not a safety property: an instance slow to answer must not keep a host out.
      return within(n.in(hostRoom(hostId)).fetchSockets(), ASK_TIMEOUT_MS, 'who is connected').then(
        (sockets) => sockets.length,
        () => local.connectionsOf(hostId),
      );
    },
    onlineEverywhere: everywhere,
    onlineHostIds() {
      if (list && Date.now() - list.at < LIST_REUSE_MS) return list.ids;
      const answer = everywhere().catch(() => local.onlineHostIds());
      list = { at: Date.now(), ids: answer };
      return answer;
    },
  };
}
