// The coordinator's Ed25519 identity, in one key file: by default the data dir's, made at the
// first start; in a cluster one file every instance is given (--key-file), made once by
// `volunteer-grid admin init-key`, never by an instance (each would make a key of its own).
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { syncDir } from '../../common/durable-file.js';
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

/** The key file unless --key-file names another: coordinator-key.json in the data dir. */
export function keyFileOf(o: { dataDir: string; keyFile?: string | undefined }): string {
  return resolve(o.keyFile ?? join(o.dataDir, KEY_FILE_NAME));
}

/** createCoordinatorKeyFile found a key file there already. */
export class KeyFileExistsError extends Error {
  override name = 'KeyFileExistsError';
}

/**
 * Makes a new key in `file`, owner-only (0600), written whole and synced before it appears, and
 * never over an existing file: the key is the platform's identity. Returns its public key.
 */
export function createCoordinatorKeyFile(file: string, ed: Ed25519): string {
  const path = resolve(file);
  if (!existsSync(dirname(path))) throw new Error(`${dirname(path)} does not exist: make it first (owner-only: the key file is a secret)`);
  const seed = toHex(ed.randomSeed());
  const publicKey = toHex(ed.publicKeyFromSeed(fromHex(seed)));
  const text = JSON.stringify({ publicKey, seed, createdAt: new Date().toISOString() }, null, 2);
  const temp = `${path}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    // A link, unlike a rename, fails if the name is taken: two makers at once make one key.
    linkSync(temp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyFileExistsError(`${path} exists already: a coordinator key is made once, and every instance is given that file (remove it by hand only if no coordinator ever started with it)`);
    }
    throw e;
  } finally {
    rmSync(temp, { force: true });
  }
  syncDir(dirname(path));
  return publicKey;
}

export interface LoadedKey {
  key: CoordinatorKey;
  /** This start made the key file (only ever the data dir's). */
  created: boolean;
  /** The file's mode when group or others may read it ('644'): the key is a secret. */
  looseMode?: string;
}

/**
 * Loads the key from `file`. When it is missing, `create` makes it (the data dir's own, at a
 * first start); otherwise the start is refused, saying how to make the one file every instance
 * is given.
 */
export function loadCoordinatorKey(file: string, ed: Ed25519, options: { create: boolean }): LoadedKey {
  const path = resolve(file);
  let created = false;
  if (!existsSync(path)) {
    if (!options.create) {
      throw new Error(`no coordinator key at ${path}: make it once with \`volunteer-grid admin init-key --key-file ${path}\` and give every instance that file (--key-file)`);
    }
    try {
      createCoordinatorKeyFile(path, ed);
      created = true;
    } catch (e) {
      if (!(e instanceof KeyFileExistsError)) throw e; // made meanwhile by another start: that one
    }
  }
  const seed = parseCoordinatorKeyFile(readFileSync(path, 'utf8'), path, ed).seed;
  const publicKey = toHex(ed.publicKeyFromSeed(fromHex(seed)));
  const mode = statSync(path).mode & 0o777;
  return {
    key: { publicKey, sign: (domain, body) => signBody(ed, seed, domain, body) },
    created,
    ...((mode & 0o077) !== 0 ? { looseMode: mode.toString(8) } : {}),
  };
}
