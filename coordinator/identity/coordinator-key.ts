// The coordinator's Ed25519 identity: created on first start, kept in the data dir.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../../common/durable-file.js';
import { fromHex, toHex } from '../../protocol/bytes.js';
import type { Ed25519 } from '../../protocol/ed25519.js';
import { Hex32 } from '../../protocol/messages.js';
import { signBody, type SigningDomain } from '../../protocol/signing.js';

const KeyFile = z.strictObject({ publicKey: Hex32, seed: Hex32, createdAt: z.string() });

export interface CoordinatorKey {
  publicKey: string;
  sign(domain: SigningDomain, body: unknown): string;
}

export const KEY_FILE_NAME = 'coordinator-key.json';

/**
 * Checks the text of a key file (what `file` names in messages): valid, and its public key is
 * its seed's. Returns the public key, or throws saying what is wrong.
 */
export function parseCoordinatorKeyFile(text: string, file: string, ed: Ed25519): { publicKey: string; seed: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not a valid coordinator key file: ${(e as Error).message}`);
  }
  const parsed = KeyFile.safeParse(json);
  if (!parsed.success) throw new Error(`${file} is not a valid coordinator key file: ${parsed.error.message}`);
  if (toHex(ed.publicKeyFromSeed(fromHex(parsed.data.seed))) !== parsed.data.publicKey) {
    throw new Error(`${file}: the public key does not match the seed; the file is corrupt`);
  }
  return { publicKey: parsed.data.publicKey, seed: parsed.data.seed };
}

export function loadOrCreateCoordinatorKey(dataDir: string, ed: Ed25519): { key: CoordinatorKey; created: boolean } {
  const file = join(dataDir, KEY_FILE_NAME);
  let seed: string;
  let created = false;
  if (existsSync(file)) {
    seed = parseCoordinatorKeyFile(readFileSync(file, 'utf8'), file, ed).seed;
  } else {
    seed = toHex(ed.randomSeed());
    const body = JSON.stringify(
      { publicKey: toHex(ed.publicKeyFromSeed(fromHex(seed))), seed, createdAt: new Date().toISOString() },
      null,
      2,
    );
    writeFileDurably(file, body, 0o600);
    created = true;
  }
  const publicKey = toHex(ed.publicKeyFromSeed(fromHex(seed)));
  return { key: { publicKey, sign: (domain, body) => signBody(ed, seed, domain, body) }, created };
}
