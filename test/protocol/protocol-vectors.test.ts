// docs/protocol.md prints a signed task, result and upload proof from fixed seeds, for clients in
// other languages to check their encoding and signatures against (a full-size random task id
// included). This checks that block against the code, so the doc cannot drift from it.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { Hex32, Hex64, ResultBodySchema, TaskBodySchema, UploadProofSchema } from '../../protocol/messages.js';
import { signBody, verifyBody, type SigningDomain } from '../../protocol/signing.js';

const ROOT = resolve(import.meta.dirname, '../..');
const Signed = <T extends z.ZodType>(body: T) => z.strictObject({ body, signature: Hex64 });
const VectorsSchema = z.strictObject({
  coordinatorSeed: Hex32,
  coordinatorKey: Hex32,
  hostSeed: Hex32,
  hostKey: Hex32,
  task: z.strictObject({ body: TaskBodySchema, canonical: z.string(), signature: Hex64 }),
  result: Signed(ResultBodySchema),
  upload: Signed(UploadProofSchema),
});

/** The first json block after the "Test vectors: signed messages" heading of docs/protocol.md. */
function docVectors(): z.infer<typeof VectorsSchema> {
  const doc = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8');
  const at = doc.indexOf('### Test vectors: signed messages');
  expect(at, 'docs/protocol.md has a "### Test vectors: signed messages" heading').toBeGreaterThan(0);
  const m = /```json\n([\s\S]*?)\n```/.exec(doc.slice(at));
  if (!m) throw new Error('docs/protocol.md has no json block after "### Test vectors: signed messages"');
  return VectorsSchema.parse(JSON.parse(m[1]!));
}

describe('the signed messages printed in docs/protocol.md', () => {
  const v = docVectors();

  it('name the keys their seeds make', () => {
    const ed = nodeEd25519();
    expect(toHex(ed.publicKeyFromSeed(fromHex(v.coordinatorSeed)))).toBe(v.coordinatorKey);
    expect(toHex(ed.publicKeyFromSeed(fromHex(v.hostSeed)))).toBe(v.hostKey);
  });

  it('carry a full-size task id, repeated as it came', () => {
    expect(v.task.body.taskId).toBeGreaterThan(2 ** 52);
    expect(Number.isSafeInteger(v.task.body.taskId)).toBe(true);
    expect([v.result.body.taskId, v.upload.body.taskId, v.result.body.workunitId]).toEqual([v.task.body.taskId, v.task.body.taskId, v.task.body.workunitId]);
    expect(v.task.body.hostKey).toBe(v.hostKey);
  });

  it('give the task’s canonical JSON', () => {
    expect(canonicalJson(v.task.body)).toBe(v.task.canonical);
  });

  it.each([
    ['task', 'coordinator'],
    ['result', 'host'],
    ['upload', 'host'],
  ] as const)('sign the %s as the code does, and verify with both Ed25519 implementations', (name, signer) => {
    const { body, signature } = v[name];
    const seed = signer === 'coordinator' ? v.coordinatorSeed : v.hostSeed;
    const key = signer === 'coordinator' ? v.coordinatorKey : v.hostKey;
    const domain: SigningDomain = name;
    expect(signBody(nodeEd25519(), seed, domain, body)).toBe(signature);
    expect(verifyBody(tweetnaclEd25519(), key, domain, body, signature)).toBe(true);
  });
});
