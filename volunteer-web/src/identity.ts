// Who this browser is to the coordinator: an Ed25519 key made on the first visit and kept in
// IndexedDB (so the same browser keeps its host record and credit), and the coordinator key it
// trusts, remembered on first use: afterwards a coordinator presenting another key gets nothing.
import { z } from 'zod';
import { Hex32 } from '../../protocol/messages.js';
import type { BrowserCrypto } from './crypto.js';
import type { Idb } from './idb.js';

const HostKeyRecord = z.object({ publicKey: Hex32, seed: Hex32, createdAt: z.number() });
const TrustRecord = z.object({ coordinatorKey: Hex32, firstSeen: z.number() });
export type Trust = z.infer<typeof TrustRecord>;

export interface HostIdentity {
  publicKey: string;
  seed: string;
  createdAt: number;
}

export async function loadOrCreateHostKey(db: Idb, crypto: BrowserCrypto): Promise<HostIdentity> {
  const stored = HostKeyRecord.safeParse(await db.get('meta', 'hostKey'));
  if (stored.success && crypto.publicKeyFromSeed(stored.data.seed) === stored.data.publicKey) return stored.data;
  const seed = crypto.randomSeedHex();
  const identity = { publicKey: crypto.publicKeyFromSeed(seed), seed, createdAt: Date.now() };
  await db.put('meta', 'hostKey', identity, true);
  return identity;
}

export class CoordinatorKeyMismatch extends Error {
  override name = 'CoordinatorKeyMismatch';
  constructor(
    readonly trusted: Trust,
    readonly presented: string,
  ) {
    super(`the coordinator presented key ${presented}, but this browser trusts ${trusted.coordinatorKey} (since ${new Date(trusted.firstSeen).toLocaleString()})`);
  }
}

export async function trustedCoordinatorKey(db: Idb): Promise<Trust | undefined> {
  const stored = TrustRecord.safeParse(await db.get('meta', 'coordinator'));
  return stored.success ? stored.data : undefined;
}

/** Accepts the key a coordinator presents if it is the one trusted (or the first one seen). */
export async function trustCoordinatorKey(db: Idb, presented: string): Promise<{ trust: Trust; firstUse: boolean }> {
  const trusted = await trustedCoordinatorKey(db);
  if (trusted && trusted.coordinatorKey !== presented) throw new CoordinatorKeyMismatch(trusted, presented);
  if (trusted) return { trust: trusted, firstUse: false };
  const trust = { coordinatorKey: presented, firstSeen: Date.now() };
  await db.put('meta', 'coordinator', trust, true);
  return { trust, firstUse: true };
}

/** The volunteer chose to trust a coordinator's new key (it said it changed it). */
export async function forgetCoordinatorKey(db: Idb): Promise<void> {
  await db.delete(['meta'], 'coordinator');
}
