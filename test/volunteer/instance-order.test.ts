// Which coordinator instance a host picks, and where it fails over to: rendezvous hashing of its
// key over the listed URLs, and the cursor that walks that order. Pure rules, no network.
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../protocol/bytes.js';
import { sha256Hex } from '../../protocol/hash.js';
import { InstanceCursor } from '../../volunteer-core/instance-cursor.js';
import { connectionOrder, instanceOrder } from '../../volunteer-core/instance-order.js';

const A = 'https://a.grid.example';
const B = 'https://b.grid.example';
const C = 'https://c.grid.example';
const URLS = [A, B, C];

/** 300 host keys that look random and are the same every run (a failure can be replayed). */
const KEYS = Array.from({ length: 300 }, (_, i) => sha256Hex(utf8(`host ${i}`)));

const firstChoices = (urls: readonly string[]) => new Map(KEYS.map((k) => [k, instanceOrder(k, urls)[0]!]));

describe('instanceOrder', () => {
  it('spreads hosts evenly: 300 keys over 3 URLs give each between 70 and 130 (expected 100, σ ≈ 8)', () => {
    const counts = new Map<string, number>();
    for (const url of firstChoices(URLS).values()) counts.set(url, (counts.get(url) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(URLS);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThanOrEqual(70);
      expect(n).toBeLessThanOrEqual(130);
    }
  });

  it('moves only the hosts of a removed URL, each to its own second choice, spread over the rest', () => {
    const before = firstChoices(URLS);
    const after = firstChoices([A, C]);
    const moved = new Map<string, number>();
    for (const k of KEYS) {
      if (before.get(k) !== B) expect(after.get(k)).toBe(before.get(k));
      else {
        // Where it fails over to while B is dead is where it goes when B leaves the list.
        expect(after.get(k)).toBe(instanceOrder(k, URLS)[1]);
        moved.set(after.get(k)!, (moved.get(after.get(k)!) ?? 0) + 1);
      }
    }
    const ofB = [...before.values()].filter((u) => u === B).length;
    expect([...moved.values()].reduce((a, b) => a + b, 0)).toBe(ofB);
    // Each survivor takes a fair part of B's hosts, not all of them.
    for (const url of [A, C]) expect(moved.get(url) ?? 0).toBeGreaterThan(ofB / 4);
  });

  it('adds a URL by taking hosts only onto it', () => {
    const before = firstChoices([A, B]);
    const after = firstChoices(URLS);
    for (const k of KEYS) if (after.get(k) !== C) expect(after.get(k)).toBe(before.get(k));
  });

  it('is deterministic: the same order whatever the order of the list, on every call, duplicates once', () => {
    for (const k of KEYS.slice(0, 20)) {
      const order = instanceOrder(k, URLS);
      expect(order).toHaveLength(3);
      expect(instanceOrder(k, [C, A, B])).toEqual(order);
      expect(instanceOrder(k, [B, C, A, B])).toEqual(order);
    }
  });

  it('is SHA-256 of the host key, a newline and the URL, highest first (what docs/protocol.md tells other clients)', () => {
    const key = toHex(new Uint8Array(32).fill(7));
    const weights = URLS.map((url) => ({ url, w: sha256Hex(utf8(`${key}\n${url}`)) })).sort((x, y) => (x.w < y.w ? 1 : -1));
    expect(instanceOrder(key, URLS)).toEqual(weights.map((x) => x.url));
    // The example in docs/protocol.md §2.
    expect(instanceOrder('acdb0e29743f0ccb8686d0a104cb96e05abefec1538765e7595869f7dc8c49aa', ['https://a.grid.example.org', 'https://b.grid.example.org', 'https://c.grid.example.org'])).toEqual(
      DOCUMENTED_ORDER,
    );
  });
});

describe('connectionOrder', () => {
  const key = KEYS[0]!;
  it('ranks the listed instances, then keeps URLs the volunteer was given that the list leaves out as a last resort', () => {
    const lb = 'https://grid.example';
    expect(connectionOrder(key, [lb], URLS)).toEqual([...instanceOrder(key, URLS), lb]);
    expect(connectionOrder(key, [B], URLS)).toEqual(instanceOrder(key, URLS));
  });
  it('ranks the URLs given when there is no list', () => {
    expect(connectionOrder(key, URLS, undefined)).toEqual(instanceOrder(key, URLS));
    expect(connectionOrder(key, [A], undefined)).toEqual([A]);
  });
});

describe('InstanceCursor', () => {
  it('fails over through the order, the failed one last, and ends a round when every one failed in a row', () => {
    const c = new InstanceCursor([A, B, C]);
    expect(c.url).toBe(A);
    expect(c.atFirstChoice).toBe(true);
    expect(c.failure()).toEqual({ kind: 'failover', url: B });
    expect(c.rank).toBe(2);
    expect(c.failure()).toEqual({ kind: 'failover', url: C });
    expect(c.failure()).toEqual({ kind: 'round-over', url: A });
    // A new round: failures count from nothing again.
    expect(c.failure()).toEqual({ kind: 'failover', url: B });
  });

  it('after a connection, a loss moves on to the next instance, not back to a dead first choice at once', () => {
    const c = new InstanceCursor([A, B, C]);
    c.failure(); // A is dead
    c.connected(); // on B
    expect(c.failure()).toEqual({ kind: 'failover', url: C }); // B lost too
    c.connected();
    expect(c.failure()).toEqual({ kind: 'failover', url: A }); // C lost: A may be back
  });

  it('with one URL, every failure ends a round (the link backs off as it always did)', () => {
    const c = new InstanceCursor([A]);
    expect(c.failure()).toEqual({ kind: 'round-over', url: A });
    c.connected();
    expect(c.failure()).toEqual({ kind: 'round-over', url: A });
  });

  it('goes back to its first choice when told, and keeps its place when the order changes', () => {
    const c = new InstanceCursor([A, B, C]);
    c.failure();
    c.connected();
    expect(c.url).toBe(B);
    c.reorder([C, B, A]);
    expect(c.url).toBe(B);
    expect(c.rank).toBe(2);
    c.reorder([A, C]); // B left the list: the link stays until it moves
    expect(c.url).toBe(B);
    expect(c.rank).toBeUndefined();
    expect(c.atFirstChoice).toBe(false);
    expect(c.failure()).toEqual({ kind: 'failover', url: A });
    c.connected();
    c.failure();
    c.first();
    expect(c.url).toBe(A);
    expect(c.atFirstChoice).toBe(true);
  });

  it('refuses an empty order', () => {
    expect(() => new InstanceCursor([])).toThrow(/at least one coordinator URL/);
  });
});

/** docs/protocol.md §2's example, checked here so the docs cannot drift from the code. */
const DOCUMENTED_ORDER = ['https://b.grid.example.org', 'https://c.grid.example.org', 'https://a.grid.example.org'];
