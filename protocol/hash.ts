import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from './bytes.js';
import { canonicalJson } from './canonical.js';

/** SHA-256 of bytes, lower-case hex: the content address of files and inputs. */
export function sha256Hex(bytes: Uint8Array): string {
  return toHex(nobleSha256(bytes));
}

/** SHA-256 of a JSON value's canonical encoding: how inline inputs and outputs are addressed. */
export function jsonHash(value: unknown): string {
  return sha256Hex(utf8(canonicalJson(value)));
}
