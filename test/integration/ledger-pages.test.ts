// GET /api/v1/ledger on the real coordinator: each page carries the hash its first entry links
// to (64 zeros at entry 1), so an auditor verifies the ledger page by page (docs/protocol.md §5, §9).
import { afterEach, describe, expect, it } from 'vitest';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { GENESIS_HASH, verifyLedgerChain } from '../../protocol/ledger.js';
import { LedgerPageSchema, type LedgerPage } from '../../protocol/messages.js';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let coordinator: TestCoordinator | undefined;
let volunteer: TestVolunteer | undefined;
afterEach(async () => {
  volunteer?.close();
  volunteer = undefined;
  await coordinator?.dispose();
  coordinator = undefined;
});

async function page(after: number, limit: number): Promise<LedgerPage> {
  const res = await fetch(`${coordinator!.url}/api/v1/ledger?after=${after}&limit=${limit}`);
  expect(res.status).toBe(200);
  return LedgerPageSchema.parse(await res.json());
}

describe('GET /api/v1/ledger', () => {
  it('has prevHash null and no entries while the ledger is empty', async () => {
    coordinator = await startTestCoordinator();
    expect(await page(0, 10)).toEqual({ coordinatorKey: coordinator.key.publicKey, prevHash: null, entries: [] });
  });

  it('gives each page the hash its first entry links to, 64 zeros at entry 1, so pages verify one by one', async () => {
    coordinator = await startTestCoordinator();
    // Quorum 1: each accepted result is valid at once and earns one ledger entry.
    const batchId = await submitInputs(coordinator, (await addPrimesApp(coordinator)), [1, 2, 3, 4, 5].map((i) => ({ from: i * 100, to: i * 100 + 50 })), { minQuorum: 1, targetNresults: 1 });
    volunteer = await TestVolunteer.connect(coordinator.url);
    await volunteer.work(async () => (await coordinator!.store.reports.workunitCounts(batchId)).done === 5);
    expect((await coordinator.store.ledger.entriesAfter(0, 100))).toHaveLength(5);

    const ed = tweetnaclEd25519();
    const pages: LedgerPage[] = [];
    for (let after = 0; ; ) {
      const p = await page(after, 2);
      pages.push(p);
      if (p.entries.length === 0) break;
      after = p.entries[p.entries.length - 1]!.entryId;
    }
    expect(pages.map((p) => p.entries.map((e) => e.entryId))).toEqual([[1, 2], [3, 4], [5], []]);

    expect(pages[0]!.prevHash).toBe(GENESIS_HASH);
    expect(pages[0]!.entries[0]!.prevHash).toBe(GENESIS_HASH);
    let expected = GENESIS_HASH;
    const key = coordinator.key.publicKey; // as pinned by the auditor
    for (const p of pages.slice(0, -1)) {
      expect(p.coordinatorKey).toBe(key);
      expect(p.prevHash).toBe(expected); // the pages join up
      expect(verifyLedgerChain(ed, key, p.entries, p.prevHash!)).toBeUndefined();
      expected = p.entries[p.entries.length - 1]!.entryHash;
    }
    expect(pages[3]!.prevHash).toBeNull();

    // A page that starts mid-ledger links to the entry before it, not to the genesis hash.
    const mid = await page(3, 1);
    expect(mid.entries.map((e) => e.entryId)).toEqual([4]);
    expect(mid.prevHash).toBe(pages[1]!.entries[0]!.entryHash); // entry 3
    expect(verifyLedgerChain(ed, key, mid.entries, mid.prevHash!)).toBeUndefined();
    expect(verifyLedgerChain(ed, key, mid.entries, GENESIS_HASH)).toMatchObject({ entryId: 4 });
  });
});
