import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import { GENESIS_HASH, ledgerEntryHash, verifyLedgerChain } from '../../protocol/ledger.js';
import type { CreditReceipt, TaskBody } from '../../protocol/messages.js';
import { inputMatches, signBody, signingBytes, taskBody, verifyBody, verifyBodyAsync } from '../../protocol/signing.js';

const node = nodeEd25519();
const tweet = tweetnaclEd25519();
const seed = toHex(node.randomSeed());
const publicKey = toHex(node.publicKeyFromSeed(fromHex(seed)));

const task: TaskBody = {
  taskId: 7,
  workunitId: 3,
  hostKey: 'ab'.repeat(32),
  appVersionHash: 'cd'.repeat(32),
  inputHash: jsonHash({ from: 1, to: 10 }),
  deadline: 1_800_000_000_000,
  rngSeed: 'ef'.repeat(32),
  fpopsEst: 1e9,
  issuedAt: 1_700_000_000_000,
};

describe('Ed25519: Node built-in and tweetnacl are interchangeable', () => {
  it('derive the same public key from a seed', () => {
    expect(toHex(tweet.publicKeyFromSeed(fromHex(seed)))).toBe(publicKey);
  });

  it('produce identical signatures (Ed25519 is deterministic)', () => {
    const msg = signingBytes('task', task);
    expect(toHex(node.sign(msg, fromHex(seed)))).toBe(toHex(tweet.sign(msg, fromHex(seed))));
  });

  it('a task signed with the built-in verifies with plain tweetnacl', () => {
    const signature = signBody(node, seed, 'task', task);
    expect(nacl.sign.detached.verify(signingBytes('task', task), fromHex(signature), fromHex(publicKey))).toBe(true);
    expect(verifyBody(tweet, publicKey, 'task', task, signature)).toBe(true);
  });

  it('a signature made by tweetnacl verifies with the built-in', () => {
    const signature = signBody(tweet, seed, 'result', { taskId: 1 });
    expect(verifyBody(node, publicKey, 'result', { taskId: 1 }, signature)).toBe(true);
  });

  it.each([
    ['the deadline', { deadline: task.deadline + 1 }],
    ['the input hash', { inputHash: jsonHash({ from: 1, to: 11 }) }],
    ['the host', { hostKey: 'ac'.repeat(32) }],
    ['the app version', { appVersionHash: 'ce'.repeat(32) }],
    ['the task id', { taskId: 8 }],
  ])('a task with tampered %s fails verification with tweetnacl', (_what, change) => {
    const signature = signBody(node, seed, 'task', task);
    const tampered = taskBody({ ...task, ...change });
    expect(verifyBody(tweet, publicKey, 'task', tampered, signature)).toBe(false);
    expect(verifyBody(node, publicKey, 'task', tampered, signature)).toBe(false);
  });

  it('a signature for one purpose does not verify for another (domain separation)', () => {
    const signature = signBody(node, seed, 'task', task);
    expect(verifyBody(node, publicKey, 'result', task, signature)).toBe(false);
  });

  it('rejects malformed keys and signatures instead of throwing', () => {
    expect(verifyBody(node, 'zz', 'task', task, '00')).toBe(false);
    expect(verifyBody(node, '00'.repeat(32), 'task', task, '00'.repeat(64))).toBe(false);
    expect(verifyBody(tweet, publicKey, 'task', task, '00'.repeat(64))).toBe(false);
  });

  it('an inline input is checked against the signed input hash', () => {
    expect(inputMatches({ to: 10, from: 1 }, task.inputHash)).toBe(true);
    expect(inputMatches({ from: 1, to: 11 }, task.inputHash)).toBe(false);
  });
});

describe('Ed25519 verified on the thread pool (the coordinator checks result signatures so)', () => {
  const message = signingBytes('result', { taskId: 1 });
  const signature = node.sign(message, fromHex(seed));
  const key = fromHex(publicKey);
  // y = 2 gives no point on the curve (x² would be a non-square): no signature can verify with it.
  const notAPoint = fromHex('02' + '00'.repeat(31));

  it('accepts a real signature, and agrees with the synchronous check', async () => {
    await expect(node.verifyAsync(message, signature, key)).resolves.toBe(true);
    expect(node.verify(message, signature, key)).toBe(true);
  });

  it('resolves false for a wrong signature, another message or another key', async () => {
    const wrong = signature.slice();
    wrong[0]! ^= 1;
    const other = node.publicKeyFromSeed(node.randomSeed());
    await expect(node.verifyAsync(message, wrong, key)).resolves.toBe(false);
    await expect(node.verifyAsync(signingBytes('result', { taskId: 2 }), signature, key)).resolves.toBe(false);
    await expect(node.verifyAsync(message, signature, other)).resolves.toBe(false);
  });

  it('resolves false, never rejects, for a key or signature of the wrong length or a key off the curve', async () => {
    await expect(node.verifyAsync(message, signature, key.subarray(0, 31))).resolves.toBe(false);
    await expect(node.verifyAsync(message, signature, new Uint8Array([...key, 0]))).resolves.toBe(false);
    await expect(node.verifyAsync(message, signature.subarray(0, 63), key)).resolves.toBe(false);
    await expect(node.verifyAsync(message, signature, notAPoint)).resolves.toBe(false);
    expect(node.verify(message, signature, notAPoint)).toBe(false);
  });

  it('verifyBodyAsync: a signed body verifies; a tampered one, another domain or hex that is not hex does not', async () => {
    const signed = signBody(node, seed, 'task', task);
    await expect(verifyBodyAsync(node, publicKey, 'task', task, signed)).resolves.toBe(true);
    await expect(verifyBodyAsync(node, publicKey, 'task', { ...task, taskId: 8 }, signed)).resolves.toBe(false);
    await expect(verifyBodyAsync(node, publicKey, 'result', task, signed)).resolves.toBe(false);
    await expect(verifyBodyAsync(node, 'zz', 'task', task, signed)).resolves.toBe(false);
    await expect(verifyBodyAsync(node, publicKey, 'task', task, 'not hex')).resolves.toBe(false);
  });

  it('many at once each get their own verdict', async () => {
    const bodies = Array.from({ length: 64 }, (_, i) => ({ taskId: i }));
    const signatures = bodies.map((body, i) => (i % 3 === 0 ? '00'.repeat(64) : signBody(node, seed, 'result', body)));
    const verdicts = await Promise.all(bodies.map((body, i) => verifyBodyAsync(node, publicKey, 'result', body, signatures[i]!)));
    expect(verdicts).toEqual(bodies.map((_, i) => i % 3 !== 0));
  });
});

describe('credit ledger hash chain', () => {
  function chain(n: number): CreditReceipt[] {
    const out: CreditReceipt[] = [];
    let prevHash = GENESIS_HASH;
    for (let i = 1; i <= n; i++) {
      const content = { entryId: i, taskId: 100 + i, workunitId: 50 + i, hostKey: publicKey, amount: i * 0.5, grantedAt: 1000 * i, prevHash };
      const body = { ...content, entryHash: ledgerEntryHash(content) };
      out.push({ ...body, signature: signBody(node, seed, 'creditReceipt', body) });
      prevHash = body.entryHash;
    }
    return out;
  }

  it('verifies an honest chain with tweetnacl', () => {
    expect(verifyLedgerChain(tweet, publicKey, chain(5))).toBeUndefined();
  });

  it('detects a rewritten amount, a dropped entry and a re-signed forgery', () => {
    const rewritten = chain(5);
    rewritten[2] = { ...rewritten[2]!, amount: 1000 };
    expect(verifyLedgerChain(node, publicKey, rewritten)?.entryId).toBe(3);

    const dropped = chain(5);
    dropped.splice(1, 1);
    expect(verifyLedgerChain(node, publicKey, dropped)).toMatchObject({ entryId: 3, problem: expect.stringMatching(/link/) });

    const other = toHex(node.randomSeed());
    const forged = chain(3).map((e) => ({ ...e, signature: signBody(node, other, 'creditReceipt', { ...e, signature: undefined }) }));
    expect(verifyLedgerChain(node, publicKey, forged)).toMatchObject({ entryId: 1, problem: expect.stringMatching(/signature/) });
  });
});
