// The files directory may be shared by several instances: one starting, or sweeping now and then,
// removes only temp files nothing wrote to for a day (a crash's leftovers, its own or another's),
// never another instance's upload in progress; and keeping bytes puts their blob in place
// whatever another instance did with it since they were staged.
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../protocol/bytes.js';
import { BlobStore, STALE_TEMP_MS } from '../../coordinator/files/blob-store.js';

let root: string;
beforeEach(() => {
  root = join(mkdtempSync(join(tmpdir(), 'vg-blobs-')), 'files');
});
afterEach(() => rmSync(join(root, '..'), { recursive: true, force: true }));

/** A temp file as an upload leaves it, last written `ageMs` ago. */
function tempFile(blobs: BlobStore, ageMs: number): string {
  const path = blobs.tempPath();
  writeFileSync(path, 'bytes of an upload');
  const at = (Date.now() - ageMs) / 1000;
  utimesSync(path, at, at);
  return path;
}

describe('temp files in a shared files directory', () => {
  it('an instance starting on it leaves the uploads in progress of another alone, and removes leftovers a day old', () => {
    const a = new BlobStore(root);
    const inProgress = tempFile(a, 60_000);
    const stalled = tempFile(a, STALE_TEMP_MS - 60_000);
    const leftover = tempFile(a, STALE_TEMP_MS + 60_000);
    new BlobStore(root); // another instance starts, or this one again
    expect({ inProgress: existsSync(inProgress), stalled: existsSync(stalled), leftover: existsSync(leftover) }).toEqual({ inProgress: true, stalled: true, leftover: false });
  });

  it('a running instance sweeps them now and then, and says how many it removed', () => {
    const blobs = new BlobStore(root);
    const kept = tempFile(blobs, 1000);
    tempFile(blobs, STALE_TEMP_MS + 1000);
    tempFile(blobs, 2 * STALE_TEMP_MS);
    expect(blobs.removeStaleTemps()).toBe(2);
    expect(readdirSync(join(root, 'tmp'))).toEqual([kept.slice(kept.lastIndexOf('/') + 1)]);
    expect(blobs.removeStaleTemps(Date.now() + STALE_TEMP_MS + 1000)).toBe(1);
  });

  it('bytes stored whole go through tmp/ and leave nothing there', () => {
    const blobs = new BlobStore(root);
    const hash = blobs.put(utf8('stored'));
    expect(blobs.read(hash).toString()).toBe('stored');
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(readdirSync(join(root, hash.slice(0, 2)))).toEqual([hash]);
  });
});

describe('keeping staged bytes', () => {
  it('puts the blob in place after the row is written, even when it went since the bytes were staged', async () => {
    const blobs = new BlobStore(root);
    const bytes = utf8('kept');
    const hash = blobs.put(bytes);
    const incoming = blobs.stage(bytes); // there already: nothing written, the bytes kept in hand
    expect(incoming).toEqual({ sha256: hash, bytes });
    blobs.remove(hash); // another instance removed it meanwhile (it held the row then)
    const order: string[] = [];
    await blobs.keep(incoming, async () => void order.push(`row, blob there: ${blobs.has(hash)}`));
    order.push(`kept, blob there: ${blobs.has(hash)}`);
    expect(order).toEqual(['row, blob there: false', 'kept, blob there: true']);
    expect(blobs.read(hash).toString()).toBe('kept');
  });

  it('replaces a blob already there with the same bytes, and leaves nothing in tmp/', async () => {
    const blobs = new BlobStore(root);
    const one = blobs.stage(utf8('twice'));
    const two = blobs.stage(utf8('twice')); // staged twice at once, as two instances might
    await blobs.keep(one, async () => {});
    await blobs.keep(two, async () => {});
    blobs.drop(one);
    blobs.drop(two);
    expect(blobs.read(one.sha256).toString()).toBe('twice');
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });
});
