// The volunteer's Ed25519 key (created on first run, kept 0600 in the data dir) and the
// coordinator key it trusts: pinned with --coordinator-key, or remembered on first use.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../common/durable-file.js';
import { fromHex, toHex } from '../protocol/bytes.js';
import type { Ed25519 } from '../protocol/ed25519.js';
import { Hex32 } from '../protocol/messages.js';

const HostKeyFile = z.strictObject({ publicKey: Hex32, seed: Hex32, createdAt: z.string() });
const TrustFile = z.strictObject({ url: z.string(), coordinatorKey: Hex32, firstSeen: z.string() });

export interface HostIdentity {
  publicKey: string;
  seed: string;
  created: boolean;
}

export function loadOrCreateHostKey(dataDir: string, ed: Ed25519): HostIdentity {
  const file = join(dataDir, 'host-key.json');
  if (existsSync(file)) {
    const parsed = HostKeyFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new Error(`${file} is not a valid host key file; move it away to start as a new host`);
    const { seed, publicKey } = parsed.data;
    if (toHex(ed.publicKeyFromSeed(fromHex(seed))) !== publicKey) throw new Error(`${file}: the public key does not match the seed`);
    return { seed, publicKey, created: false };
  }
  const seed = toHex(ed.randomSeed());
  const publicKey = toHex(ed.publicKeyFromSeed(fromHex(seed)));
  writeFileDurably(file, JSON.stringify({ publicKey, seed, createdAt: new Date().toISOString() }, null, 2), 0o600);
  return { seed, publicKey, created: true };
}

export class CoordinatorKeyMismatch extends Error {
  override name = 'CoordinatorKeyMismatch';
}

/**
 * Decides whether to trust the key a coordinator presents. The first key seen is remembered;
 * afterwards only that key (or the pinned one) is accepted, so a coordinator that changes its
 * key, or an impostor, gets nothing run.
 */
export function trustCoordinatorKey(dataDir: string, url: string, presented: string, pinned?: string): { firstUse: boolean } {
  if (pinned !== undefined) {
    if (presented !== pinned) throw new CoordinatorKeyMismatch(`the coordinator presented key ${presented}, but --coordinator-key pins ${pinned}`);
  }
  const file = join(dataDir, 'coordinator.json');
  if (existsSync(file)) {
    const parsed = TrustFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new Error(`${file} is corrupt; remove it to trust the coordinator's key again`);
    if (parsed.data.coordinatorKey !== presented && pinned === undefined) {
      throw new CoordinatorKeyMismatch(
        `the coordinator presented key ${presented}, but this volunteer trusts ${parsed.data.coordinatorKey} (since ${parsed.data.firstSeen}). ` +
          `If the coordinator really changed its key, remove ${file} or pass --coordinator-key.`,
      );
    }
    if (parsed.data.coordinatorKey === presented) return { firstUse: false };
  }
  writeFileDurably(file, JSON.stringify({ url, coordinatorKey: presented, firstSeen: new Date().toISOString() }, null, 2));
  return { firstUse: true };
}
